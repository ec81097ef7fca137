// The console end to end, in Debian's Chromium driven by playwright-core, against the real box (e2e/box.ts, embedded
// or with E2E_CLUSTER=2x2 a cluster): the flow of issue 15's Tests section, an axe-core scan of every page, and
// screenshots of the main pages (into docs/ with UPDATE_SCREENSHOTS=1, else into E2E_SCREENSHOTS or a temp folder, so a
// test run leaves the working tree as it was).
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';

const baseUrl = inject('baseUrl');
const otherUrl = inject('otherUrl');
const adminPassword = inject('adminPassword');
const screenshots = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../../docs') : (process.env.E2E_SCREENSHOTS || join(tmpdir(), 'console-e2e-screenshots'));
mkdirSync(screenshots, { recursive: true });
const model = `iris-${Date.now().toString(36)}`;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser;
let admin: BrowserContext;
let page: Page;
const cspViolations: string[] = [];

async function newContext(width = 1280, height = 900): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: 'light' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  return context;
}

function watch(p: Page) {
  p.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}

/** axe-core on the page as it is: no serious or critical violation (WCAG 2.x A and AA rules). */
async function scan(p: Page, name: string) {
  await p.evaluate(axe.source);
  const result = await p.evaluate(() => (window as unknown as { axe: typeof axe }).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${name}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

async function shot(p: Page, file: string) {
  await p.screenshot({ path: join(screenshots, file), fullPage: false });
}

const adminTokens = new Map<string, string>();

/** An admin token from the API host at `url` (in a cluster, not necessarily the one the browser uses); one sign-in
 * per host, as the login endpoint limits attempts. */
async function adminToken(url: string): Promise<string> {
  const known = adminTokens.get(url);
  if (known) return known;
  const response = await fetch(`${url}/api/admin/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: adminPassword }) });
  expect(response.status).toBe(200);
  const { token } = (await response.json()) as { token: string };
  adminTokens.set(url, token);
  return token;
}

async function callApi(url: string, method: string, path: string, body?: object): Promise<number> {
  // The admin's calls here and the browser's share the user's rate limit: a 429 is waited out as its Retry-After says,
  // as any well-behaved client does, so the answer checked is the one the call itself gets.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${await adminToken(url)}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (response.status !== 429 || attempt >= 5) return response.status;
    await new Promise((done) => setTimeout(done, 1000 * Math.max(1, Number(response.headers.get('Retry-After')) || 1)));
  }
}

/** Counts the page's reads of the models list from now on. */
function countListReads(p: Page): () => number {
  let reads = 0;
  p.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/models' && r.method() === 'GET') reads++;
  });
  return () => reads;
}

async function validate(key: string): Promise<number> {
  const response = await fetch(`${baseUrl}/api/validate-api-key`, { method: 'POST', headers: { 'X-API-Key': key } });
  return response.status;
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  admin = await newContext();
  page = await admin.newPage();
  watch(page);
});

afterAll(async () => {
  await browser?.close();
});

describe.sequential('console', () => {
  test('admin signs in, creates a model in tenant-a and sees it turn Ready without reloading', async () => {
    await page.goto(baseUrl);
    await scan(page, 'sign-in');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password (required)').fill(adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Live: connected');
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'no reload'));

    await page.getByRole('button', { name: 'Create model' }).click();
    await page.getByLabel('Tenant (namespace) (required)').fill('tenant-a');
    await page.getByLabel('Name (required)').fill(model);
    // The API's own refusal is shown by the field it names (a loopback storage host passes the form's checks).
    await page.getByLabel('Storage URI (required)').fill('https://127.0.0.1/model');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await expect.poll(() => page.locator('.field-error').allTextContents(), { timeout: 20_000 }).toEqual([expect.stringMatching(/loopback/)]);
    await page.getByLabel('Storage URI (required)').fill('gs://kfserving-examples/models/sklearn/1.0/model');
    await page.getByRole('button', { name: 'Create', exact: true }).click();

    const row = page.locator(`tr[data-model="${model}"]`);
    await row.waitFor({ timeout: 30_000 });
    // Ready arrives as a model.status event over /ws: the page was not reloaded and the table not re-read.
    const listReads = countListReads(page);
    await expect.poll(() => row.getByTestId('status').textContent(), { timeout: 60_000 }).toBe('Ready');
    expect(listReads()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
    await scan(page, 'models');
    await shot(page, 'console-models.png');
  });

  let firstKey = '';
  let lastKey = '';

  test('publishes it, copies the key, the key validates through the API and the usage chart shows the request', async () => {
    await page.getByRole('link', { name: model }).click();
    await page.getByRole('heading', { name: 'Publication' }).waitFor();
    await page.getByRole('button', { name: 'Publish…' }).click();
    const dialog = page.getByRole('dialog', { name: `Publish ${model}` });
    await dialog.getByLabel('Requests per minute').fill('2');
    await dialog.getByLabel('Burst limit').fill('2');
    await scan(page, 'publish dialog');
    await dialog.getByRole('button', { name: 'Publish', exact: true }).click();

    const keyDialog = page.getByRole('dialog', { name: 'API key' });
    firstKey = (await keyDialog.getByTestId('full-key').textContent()) ?? '';
    expect(firstKey).toMatch(/^pk_live_/);
    await keyDialog.getByRole('button', { name: 'Copy key' }).click();
    await expect.poll(() => keyDialog.getByRole('button', { name: /Copy key/ }).textContent(), { timeout: 10_000 }).toContain('copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(firstKey);
    await keyDialog.getByRole('button', { name: 'Close API key' }).click();
    // Shown once: the page keeps only the masked key.
    expect(await page.getByTestId('masked-key').textContent()).not.toBe(firstKey);

    expect(await validate(firstKey)).toBe(200);
    await expect.poll(() => page.getByTestId('usage-summary').textContent(), { timeout: 60_000 }).toMatch(/^1 requests, 0 refused/);
    await page.getByTestId('usage-chart').locator('canvas').waitFor();
    await page.getByRole('heading', { name: 'Publication' }).scrollIntoViewIfNeeded();
    await page.evaluate(() => document.getElementById('publish-heading')?.scrollIntoView({ block: 'start' }));
    await scan(page, 'model');
    await shot(page, 'console-model.png');
  });

  test('rotates the key: the new key works, the old one is refused, and the history (with a 429) carries over', async () => {
    await page.getByLabel('Old key keeps working for').selectOption('0');
    await page.getByRole('button', { name: 'Rotate key' }).click();
    const keyDialog = page.getByRole('dialog', { name: 'New API key' });
    const newKey = (await keyDialog.getByTestId('full-key').textContent()) ?? '';
    expect(newKey).toMatch(/^pk_live_/);
    expect(newKey).not.toBe(firstKey);
    lastKey = newKey;
    await keyDialog.getByRole('button', { name: 'Close New API key' }).click();
    expect(await validate(newKey)).toBe(200);
    expect(await validate(firstKey)).toBe(401);
    // The limits carried over too: the third request this minute is over the limit of two.
    expect(await validate(newKey)).toBe(429);
    await expect.poll(() => page.getByTestId('usage-summary').textContent(), { timeout: 60_000 }).toMatch(/^2 requests, 1 refused/);
  });

  test('the predict panel sends JSON and shows the answer, status and latency', async () => {
    await page.getByRole('button', { name: 'Predict' }).click();
    const answer = page.getByTestId('predict-answer');
    await expect.poll(() => answer.textContent(), { timeout: 30_000 }).toMatch(/Status 200 in \d+ ms/);
    expect(await answer.locator('pre').textContent()).toContain('predictions');
  });

  test('unpublishes after a confirmation: the key stops working', async () => {
    await page.getByRole('button', { name: 'Unpublish' }).click();
    const confirm = page.getByRole('dialog', { name: `Unpublish ${model}?` });
    // Cancel leaves it published.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await page.getByTestId('masked-key').count()).toBe(1);
    await page.getByRole('button', { name: 'Unpublish' }).click();
    await scan(page, 'unpublish dialog');
    await confirm.getByRole('button', { name: `Unpublish ${model}`, exact: true }).click();
    await page.getByText('Not published.').waitFor({ timeout: 30_000 });
    expect(await validate(lastKey)).toBe(401);
  });

  test('the audit page lists the actions', async () => {
    await page.goto(`${baseUrl}/#/audit`);
    const table = page.locator('table');
    await expect.poll(() => table.textContent(), { timeout: 30_000 }).toContain('key.rotate');
    const text = (await table.textContent()) ?? '';
    expect(text).toContain('model.create');
    expect(text).toContain('publication.create');
    expect(text).toContain('publication.delete');
    expect(text).toContain(`tenant-a/${model}`);
    await scan(page, 'audit');
    await shot(page, 'console-audit.png');
  });

  test('the kubectl console answers get pods -n tenant-a and shows a refusal with what is allowed', async () => {
    await page.goto(`${baseUrl}/#/admin/kubectl`);
    const input = page.getByLabel('kubectl', { exact: true });
    await input.fill('get pods -n tenant-a');
    await page.getByRole('button', { name: 'Run' }).click();
    const output = page.getByTestId('kubectl-output');
    await expect.poll(() => output.textContent(), { timeout: 30_000 }).toContain(model);
    await input.fill('get secrets -n tenant-a');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toMatch(/allowed|supported|not/i);
    // Up arrow recalls the previous command.
    await input.fill('');
    await input.press('ArrowUp');
    expect(await input.inputValue()).toBe('get secrets -n tenant-a');
    await scan(page, 'kubectl');
    await shot(page, 'console-kubectl.png');
  });

  test('the system and tenants pages show the cluster', async () => {
    await page.goto(`${baseUrl}/#/admin/system`);
    await page.getByRole('heading', { name: /Activations by grain type/ }).waitFor({ timeout: 30_000 });
    // Every silo, also when the API host is only a client of the cluster.
    await expect.poll(() => page.getByRole('table', { name: 'Silos' }).locator('tbody tr').count(), { timeout: 30_000 }).toBe(inject('silos'));
    expect(await page.getByRole('table', { name: 'Silos' }).locator('tbody').textContent()).not.toMatch(/Dead|ShuttingDown/);
    await scan(page, 'system');
    await shot(page, 'console-system.png');
    await page.goto(`${baseUrl}/#/admin/tenants`);
    await expect.poll(() => page.locator('table').textContent(), { timeout: 30_000 }).toContain('tenant-a');
    await scan(page, 'tenants');
  });

  test('a tenant-b user sees none of tenant-a models and the API 403 as a message', async () => {
    const context = await newContext();
    const tenantB = await context.newPage();
    watch(tenantB);
    // The sign-in link ./box token tenant-b --console prints: the token in the fragment, never sent to the server.
    await tenantB.goto(`${baseUrl}/#token=${inject('tenantBToken')}`);
    await expect.poll(() => tenantB.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Live: connected');
    expect(tenantB.url()).not.toContain('token=');
    await expect.poll(() => tenantB.locator('main').textContent(), { timeout: 30_000 }).toContain('No models yet.');
    expect(await tenantB.locator('main').textContent()).not.toContain(model);

    await tenantB.goto(`${baseUrl}/#/models/tenant-a/${model}`);
    await expect.poll(() => tenantB.getByRole('alert').first().textContent(), { timeout: 30_000 }).toMatch(/^Not allowed: /);
    await tenantB.getByRole('heading', { name: new RegExp(model) }).waitFor();
    await scan(tenantB, 'tenant-b model');
    await context.close();
  });

  test('an expired token leads back to sign-in', async () => {
    const context = await newContext();
    const p = await context.newPage();
    await p.goto(baseUrl);
    await p.evaluate((token) => sessionStorage.setItem('inference-console.token', token), tenantBToken({ expired: true }));
    await p.reload();
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
    // A token the page cannot tell is dead (unexpired, but refused by the API: signed with another secret, as after a
    // secret rotation): the API's 401 leads back to sign-in, with a message, instead of pages of errors.
    await p.evaluate((token) => sessionStorage.setItem('inference-console.token', token), tenantBToken({ secret: 'not-the-box-secret' }));
    await p.reload();
    await p.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 30_000 });
    expect(await p.getByRole('status').filter({ hasText: 'Your session has expired' }).count()).toBe(1);
    expect(await p.evaluate(() => sessionStorage.getItem('inference-console.token'))).toBeNull();
    await context.close();
  });

  test('works in a 390 px wide window and in the dark theme', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    const p = await context.newPage();
    await p.goto(baseUrl);
    await p.getByLabel('Username').fill('admin');
    await p.getByLabel('Password (required)').fill(adminPassword);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator(`tr[data-model="${model}"]`).waitFor({ timeout: 30_000 });
    // Nothing wider than the window but the table, which scrolls in its own box.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await scan(p, 'models (390 px, dark)');
    // The other pages too, each once loaded.
    for (const [hash, ready] of [
      [`#/models/tenant-a/${model}`, p.getByRole('heading', { name: 'Publication' })],
      ['#/audit', p.getByRole('table', { name: 'Audit events' })],
      ['#/admin/system', p.getByRole('table', { name: 'Silos' })],
      ['#/admin/tenants', p.getByRole('table', { name: 'Tenants' })],
      ['#/admin/kubectl', p.getByLabel('kubectl', { exact: true })],
    ] as const) {
      await p.goto(`${baseUrl}/${hash}`);
      await ready.waitFor({ timeout: 30_000 });
      expect({ hash, tooWide: await p.evaluate(() => document.documentElement.scrollWidth > 390) }).toEqual({ hash, tooWide: false });
    }
    await p.goto(`${baseUrl}/#/models`);
    await p.locator(`tr[data-model="${model}"]`).waitFor({ timeout: 30_000 });
    await shot(p, 'console-mobile-dark.png');
    // The system's dark palette, then the Theme button's light over it, then its dark.
    const background = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(await background()).toBe('rgb(17, 20, 24)');
    await p.getByRole('button', { name: 'Theme' }).click();
    expect(await p.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    expect(await background()).toBe('rgb(255, 255, 255)');
    await scan(p, 'models (390 px, light over a dark system)');
    await p.getByRole('button', { name: 'Theme' }).click();
    expect(await p.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await background()).toBe('rgb(17, 20, 24)');
    await context.close();
  });

  test('/ws lost: shows reconnecting with backoff, reconnects, re-reads over REST, then live events from another API host', async () => {
    const context = await newContext();
    const p = await context.newPage();
    watch(p);
    // Every /ws of this page goes through this route: passed to the server while the network is up, closed at once
    // (as a dropped connection would be) while it is down.
    let down = false;
    const sockets: { close: (o: { code: number; reason: string }) => Promise<void> }[] = [];
    await p.routeWebSocket(/\/ws(\?|$)/, (ws) => {
      if (down) {
        void ws.close({ code: 1011, reason: 'test: network down' });
        return;
      }
      ws.connectToServer();
      sockets.push(ws);
    });
    await p.goto(baseUrl);
    await p.evaluate((token) => sessionStorage.setItem('inference-console.token', token), await adminToken(baseUrl));
    await p.reload();
    await expect.poll(() => p.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Live: connected');
    await p.locator(`tr[data-model="${model}"]`).waitFor({ timeout: 30_000 });
    // Every state the badge goes through, as the page shows it.
    await p.evaluate(() => {
      const badge = document.querySelector('[data-testid="connection"]')!;
      const seen: { attempt: number; retryMs: number; text: string }[] = [];
      (window as unknown as { badgeStates: typeof seen }).badgeStates = seen;
      new MutationObserver(() => {
        const attempt = Number(badge.getAttribute('data-attempt') ?? 0);
        seen.push({ attempt, retryMs: Number(badge.getAttribute('data-retry-ms') ?? 0), text: badge.textContent ?? '' });
      }).observe(badge, { attributes: true, childList: true, subtree: true, characterData: true });
    });

    down = true;
    for (const ws of sockets) await ws.close({ code: 1011, reason: 'test: network down' });
    await expect.poll(() => p.getByTestId('connection').getAttribute('data-attempt'), { timeout: 30_000 }).toBe('3');
    // A change while the page hears nothing, made through another API host when the box is a cluster.
    const missed = `${model}-missed`;
    expect(await callApi(otherUrl, 'POST', '/api/models', { name: missed, namespace: 'tenant-a', framework: 'sklearn', storageUri: 'gs://kfserving-examples/models/sklearn/1.0/model' })).toBe(201);
    expect(await p.locator(`tr[data-model="${missed}"]`).count()).toBe(0);

    const states = await p.evaluate(() => (window as unknown as { badgeStates: { attempt: number; retryMs: number; text: string }[] }).badgeStates);
    const waits = states.filter((s) => s.retryMs > 0);
    expect(waits.map((s) => s.attempt).slice(0, 3)).toEqual([1, 2, 3]);
    expect(waits[0].text).toMatch(/^Live: reconnecting in \d+\.\d s \(attempt 1\)/);
    // Exponential backoff: each wait at least as long as the one before (jitter stays within half of the step).
    for (let i = 1; i < waits.length; i++) expect(waits[i].retryMs).toBeGreaterThanOrEqual(waits[i - 1].retryMs);
    await scan(p, 'reconnecting');

    const listReads = countListReads(p);
    down = false;
    await expect.poll(() => p.getByTestId('connection').textContent(), { timeout: 60_000 }).toBe('Live: connected');
    // The missed change arrives by the REST re-read that follows every reconnect.
    await p.locator(`tr[data-model="${missed}"]`).waitFor({ timeout: 30_000 });
    expect(listReads()).toBeGreaterThan(0);

    // Live again: a deletion through the other API host reaches this page's /ws, and no list is re-read for it.
    const readsBefore = listReads();
    expect(await callApi(otherUrl, 'DELETE', `/api/models/${missed}?namespace=tenant-a`)).toBe(200);
    await p.locator(`tr[data-model="${missed}"]`).waitFor({ state: 'detached', timeout: 30_000 });
    expect(listReads()).toBe(readsBefore);
    await context.close();
  });

  test('deletes the model after a confirmation', async () => {
    await page.goto(`${baseUrl}/#/models/tenant-a/${model}`);
    await page.getByRole('heading', { name: new RegExp(model) }).waitFor({ timeout: 30_000 });
    // By keyboard: Enter opens the confirmation, Escape dismisses it and gives the focus back, nothing is deleted.
    const deleteButton = page.getByRole('button', { name: 'Delete', exact: true });
    await deleteButton.focus();
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: `Delete ${model}?` });
    await confirm.waitFor();
    expect(await confirm.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    expect(await deleteButton.evaluate((b) => b === document.activeElement)).toBe(true);
    expect(await callApi(baseUrl, 'GET', `/api/models/${model}?namespace=tenant-a`)).toBe(200);
    await deleteButton.click();
    await scan(page, 'delete dialog');
    await confirm.getByRole('button', { name: `Delete ${model}`, exact: true }).click();
    await expect.poll(() => page.url(), { timeout: 30_000 }).toMatch(/#\/models$/);
    await page.locator(`tr[data-model="${model}"]`).waitFor({ state: 'detached', timeout: 30_000 });
    expect(await callApi(otherUrl, 'GET', `/api/models/${model}?namespace=tenant-a`)).toBe(404);
  });

  test('no page broke the Content-Security-Policy', () => {
    expect(cspViolations).toEqual([]);
  });
});

/** The tenant-b token remade: its claims (audience included, in a cluster) with a past expiry, or signed with another
 * secret (what a stale tab holds). */
function tenantBToken({ expired = false, secret = inject('jwtSecret') }: { expired?: boolean; secret?: string }): string {
  const [, payload] = inject('tenantBToken').split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(expired ? { ...claims, iat: now - 3600, nbf: now - 3600, exp: now - 60 } : claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
