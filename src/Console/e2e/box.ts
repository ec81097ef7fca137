// The real box for the end-to-end tests, started once for the whole run from the binaries `./box test` builds, on
// random free loopback ports, grain state in the test Azurite (TEST_STORAGE_CONNECTION_STRING, as ./box test sets it)
// or in an Azurite started here:
// - by default the embedded box: the Kubernetes API emulator and one API host co-hosting a silo (`./box up`);
// - with E2E_CLUSTER=SILOSxAPIHOSTS (e.g. 2x2) the cluster box as `./box cluster SILOS APIHOSTS` runs it: that many
//   silos and API hosts in client mode, Azure Table membership, mutual TLS between them, a token audience and a
//   non-default admin password. The browser uses the first API host; the tests make changes through the last one.
// Only processes started here are stopped, by their PID.
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
    /** Another API host of a cluster box (the same as baseUrl for the embedded box). */
    otherUrl: string;
    adminPassword: string;
    tenantBToken: string;
    jwtSecret: string;
    /** 'embedded', or 'cluster SxA'. */
    mode: string;
    /** How many silos the box runs. */
    silos: number;
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

  const jwtSecret = randomBytes(48).toString('base64');
  const common: Record<string, string> = {
    KUBECONFIG: kubeconfig,
    JWT_SECRET: jwtSecret,
    KeyValidation__SigningKeys__k1: randomBytes(48).toString('base64'),
    ConnectionStrings__Storage: storage,
    Cluster__TablePrefix: `e${randomBytes(5).toString('hex')}`,
    LOG_LEVEL: 'warn',
  };
  const apihost = binary('ApiHost', 'Inference.ApiHost');
  const cluster = /^([1-9])x([1-9])$/.exec(process.env.E2E_CLUSTER ?? '');
  if (process.env.E2E_CLUSTER && !cluster) throw new Error(`E2E_CLUSTER must be SILOSxAPIHOSTS, e.g. 2x2 (got '${process.env.E2E_CLUSTER}')`);
  let adminPassword = 'password';
  const urls: string[] = [];
  if (cluster) {
    const silo = binary('Silo', 'Inference.Silo');
    const certs = join(work, 'certs');
    await run('dotnet', [silo, 'certs', certs], {});
    adminPassword = randomBytes(12).toString('hex');
    Object.assign(common, {
      Cluster__Clustering: 'AzureTable',
      Cluster__ClusterId: `e2e-${randomBytes(4).toString('hex')}`,
      Auth__Audience: 'inference-management',
      ADMIN_PASSWORD: adminPassword,
      Cluster__Tls__CertificatePath: join(certs, 'tls.crt'),
      Cluster__Tls__KeyPath: join(certs, 'tls.key'),
      Cluster__Tls__CaPath: join(certs, 'ca.crt'),
      // As Cluster.Tests' BoxCluster: the flow is not about timeouts, and on a machine as loaded as the shared test
      // box a cold grain call can take longer than the failure detection time an API host waits by default (a 503).
      Cluster__ClientResponseTimeout: '00:00:10',
    });
    // Silos at once (they meet in the membership table), then the API hosts at once: the slow part is each
    // process's start, which overlaps.
    await Promise.all(Array.from({ length: Number(cluster[1]) }, async (_, i) => {
      const http = await freePort();
      const child = start(`silo-${i}`, 'dotnet', [silo, '--urls', `http://127.0.0.1:${http}`],
        { ...common, Cluster__SiloPort: `${await freePort()}`, Cluster__GatewayPort: `${await freePort()}` });
      // /ready: an active member of the cluster.
      await waitFor(`silo-${i}`, child, () => ok(`http://127.0.0.1:${http}/ready`));
    }));
    urls.push(...await Promise.all(Array.from({ length: Number(cluster[2]) }, async (_, i) => {
      const port = await freePort();
      const child = start(`apihost-${i}`, 'dotnet', [apihost],
        // The console being tested, straight from its build.
        { ...common, Mode: 'Client', PORT: `${port}`, HOST: '127.0.0.1', Console__Path: join(root, 'src/Console/dist') });
      await waitFor(`apihost-${i}`, child, () => ok(`http://127.0.0.1:${port}/ready`));
      return `http://127.0.0.1:${port}`;
    })));
  } else {
    const port = await freePort();
    const host = start('apihost', 'dotnet', [apihost], {
      ...common,
      PORT: `${port}`,
      HOST: '127.0.0.1',
      Cluster__SiloPort: `${await freePort()}`,
      Cluster__GatewayPort: `${await freePort()}`,
      Console__Path: join(root, 'src/Console/dist'),
    });
    await waitFor('API host', host, () => ok(`http://127.0.0.1:${port}/ready`));
    urls.push(`http://127.0.0.1:${port}`);
  }
  // A tenant-b user's token, minted as `./box token tenant-b` does (with the cluster's audience, if any).
  const tenantBToken = await run('dotnet', [apihost, 'token', 'tenant-b'], { JWT_SECRET: jwtSecret, ...(common.Auth__Audience ? { Auth__Audience: common.Auth__Audience } : {}) });

  project.provide('baseUrl', urls[0]);
  project.provide('otherUrl', urls[urls.length - 1]);
  project.provide('adminPassword', adminPassword);
  project.provide('tenantBToken', tenantBToken);
  project.provide('jwtSecret', jwtSecret);
  project.provide('mode', cluster ? `cluster ${cluster[1]}x${cluster[2]}` : 'embedded');
  project.provide('silos', cluster ? Number(cluster[1]) : 1);

  return stopAll;
}
