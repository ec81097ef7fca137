// The real embedded box for the end-to-end tests, started once for the whole run: the Kubernetes API emulator and the
// API host (co-hosting a silo) built by `./box test`, on random free loopback ports, grain state in the test Azurite
// (TEST_STORAGE_CONNECTION_STRING, as ./box test sets it) or in an Azurite started here. Only processes started here
// are stopped, by their PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

const root = resolve(import.meta.dirname, '../../..');
const started: ChildProcess[] = [];
let work = '';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    tenantBToken: string;
    jwtSecret: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => ok(port));
    });
  });
}

function binary(project: string, assembly: string): string {
  for (const config of [process.env.E2E_CONFIG, 'Debug', 'Release'].filter(Boolean) as string[]) {
    const path = join(root, 'src', project, 'bin', config, 'net10.0', `${assembly}.dll`);
    if (existsSync(path)) return path;
  }
  throw new Error(`src/${project} is not built (dotnet build Actors.sln); ./box test builds it`);
}

/** The environment of a started process: Vite's own MODE (which .NET configuration reads as the host's Mode) left out. */
function hostEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { MODE: _mode, ...rest } = process.env;
  return { ...rest, ...env };
}

const logs = new Map<ChildProcess, string[]>();

function start(name: string, command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, { env: hostEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  logs.set(child, log);
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString());
    if (log.length > 200) log.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code) => {
    if (code !== null && code !== 0 && !stopping) console.error(`e2e: ${name} exited with ${code}:\n${log.join('').slice(-4000)}`);
  });
  started.push(child);
  return child;
}

let stopping = false;

async function waitFor(what: string, child: ChildProcess, check: () => Promise<boolean>, seconds = 180): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`e2e: ${what}: the process exited (${child.exitCode ?? child.signalCode}):\n${(logs.get(child) ?? []).join('').slice(-4000)}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`e2e: ${what}: not up after ${seconds} s:\n${(logs.get(child) ?? []).join('').slice(-4000)}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

const ok = (url: string) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok);

function run(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { env: hostEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? done(out.trim()) : fail(new Error(`${command} ${args.join(' ')}: ${code}: ${err}`))));
  });
}

export default async function setup(project: TestProject) {
  try {
    return await startBox(project);
  } catch (e) {
    await stopAll();
    throw e;
  }
}

async function stopAll() {
  stopping = true;
  for (const child of started.reverse()) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      child.kill('SIGTERM');
      await new Promise<void>((r) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
}

async function startBox(project: TestProject) {
  work = mkdtempSync(join(tmpdir(), 'console-e2e-'));
  let storage = process.env.TEST_STORAGE_CONNECTION_STRING ?? '';
  if (!storage) {
    const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
    const azurite = start('azurite', 'node', [join(root, 'node_modules/azurite/dist/src/azurite.js'), '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--location', join(work, 'azurite'),
      '--blobHost', '127.0.0.1', '--blobPort', `${blob}`, '--queueHost', '127.0.0.1', '--queuePort', `${queue}`, '--tableHost', '127.0.0.1', '--tablePort', `${table}`], {});
    await waitFor('azurite', azurite, async () => (await portOpen(blob)) && (await portOpen(queue)) && (await portOpen(table)));
    storage = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:${queue}/devstoreaccount1;TableEndpoint=http://127.0.0.1:${table}/devstoreaccount1;`;
  }

  const emulatorPort = await freePort();
  const kubeconfig = join(work, 'kubeconfig');
  const emulator = start('kube-emulator', 'dotnet', [binary('KubeEmulator', 'KubeEmulator'), '--urls', `http://127.0.0.1:${emulatorPort}`, '--kubeconfig', kubeconfig, '--data', join(work, 'k8s.json')], {});
  await waitFor('kube-emulator', emulator, async () => (await ok(`http://127.0.0.1:${emulatorPort}/readyz`)) && existsSync(kubeconfig) && readFileSync(kubeconfig, 'utf8').length > 0);

  const port = await freePort();
  const jwtSecret = randomBytes(48).toString('base64');
  const env = {
    PORT: `${port}`,
    HOST: '127.0.0.1',
    KUBECONFIG: kubeconfig,
    JWT_SECRET: jwtSecret,
    KeyValidation__SigningKeys__k1: randomBytes(48).toString('base64'),
    ConnectionStrings__Storage: storage,
    Cluster__TablePrefix: `e${randomBytes(5).toString('hex')}`,
    Cluster__SiloPort: `${await freePort()}`,
    Cluster__GatewayPort: `${await freePort()}`,
    // The console being tested, straight from its build.
    Console__Path: join(root, 'src/Console/dist'),
    LOG_LEVEL: 'warn',
  };
  const apihost = binary('ApiHost', 'Inference.ApiHost');
  const host = start('apihost', 'dotnet', [apihost], env);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('API host', host, () => ok(`${baseUrl}/ready`));
  // A tenant-b user's token, minted as `./box token tenant-b` does.
  const tenantBToken = await run('dotnet', [apihost, 'token', 'tenant-b'], { JWT_SECRET: jwtSecret });

  project.provide('baseUrl', baseUrl);
  project.provide('tenantBToken', tenantBToken);
  project.provide('jwtSecret', jwtSecret);

  return stopAll;
}
