// The console end to end, in Debian's Chromium driven by playwright-core, against the real box (e2e/box.ts): the
// flow of issue 15's Tests section, an axe-core scan of every page, and the screenshots in docs/.
import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';

const baseUrl = inject('baseUrl');
const docs = resolve(import.meta.dirname, '../../../docs');
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
  await p.screenshot({ path: resolve(docs, file), fullPage: false });
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
    await page.getByLabel('Password (required)').fill('password');
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
    let listReads = 0;
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/models' && r.method() === 'GET') listReads++;
    });
    await expect.poll(() => row.getByTestId('status').textContent(), { timeout: 60_000 }).toBe('Ready');
    expect(listReads).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
    await scan(page, 'models');
    await shot(page, 'console-models.png');
  });

  let firstKey = '';

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
    await expect.poll(() => keyDialog.getByRole('button', { name: /Copy key/ }).textContent()).toContain('copied');
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

  test('the audit page lists the actions', async () => {
    await page.goto(`${baseUrl}/#/audit`);
    const table = page.locator('table');
    await expect.poll(() => table.textContent(), { timeout: 30_000 }).toContain('key.rotate');
    const text = (await table.textContent()) ?? '';
    expect(text).toContain('model.create');
    expect(text).toContain('publication.create');
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
    expect(await page.locator('main').textContent()).toContain('Silos');
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
    await p.evaluate((token) => sessionStorage.setItem('inference-console.token', token), expiredToken());
    await p.reload();
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
    await context.close();
  });

  test('works in a 390 px wide window and in the dark theme', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    const p = await context.newPage();
    await p.goto(baseUrl);
    await p.getByLabel('Username').fill('admin');
    await p.getByLabel('Password (required)').fill('password');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator(`tr[data-model="${model}"]`).waitFor({ timeout: 30_000 });
    // Nothing wider than the window but the table, which scrolls in its own box.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await scan(p, 'models (390 px, dark)');
    await p.screenshot({ path: resolve(docs, 'console-mobile-dark.png') });
    await context.close();
  });

  test('no page broke the Content-Security-Policy', () => {
    expect(cspViolations).toEqual([]);
  });
});

/** A tenant token that expired a minute ago, signed with the box's secret (what a stale tab holds). */
function expiredToken(): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'tenant-b-user', name: 'tenant-b user', tenant: 'tenant-b', isAdmin: false, iat: now - 3600, exp: now - 60 })}`;
  return `${body}.${createHmac('sha256', inject('jwtSecret')).update(body).digest('base64url')}`;
}
