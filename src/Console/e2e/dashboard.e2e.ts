// The Orleans Dashboard at /dashboard/ in Debian's Chromium (playwright-core), against the real box (e2e/box.ts): an
// admin's browser renders its silos and grain types; a browser without the admin's token gets nothing of it. The page
// has no login of its own, so the admin's browser sends the token as a bearer header, as README's Observability
// section tells admins to (a header extension or a proxy): here the browser context's extra headers.
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';

const baseUrl = inject('baseUrl');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser;

async function adminToken(): Promise<string> {
  const response = await fetch(`${baseUrl}/api/admin/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: inject('adminPassword') }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
});

test('an admin browser renders the dashboard with the silo and the service grain types', async () => {
  const context = await browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${await adminToken()}` } });
  const page = await context.newPage();
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.url().startsWith(`${baseUrl}/dashboard`) && r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  // Something the service owns is active: the tenant directory answers readiness probes.
  expect((await fetch(`${baseUrl}/ready`)).status).toBe(200);

  // The page is a script that polls the dashboard's data API: what it draws comes from there, not from the HTML.
  await page.goto(`${baseUrl}/dashboard/#/silos`);
  const silos = page.locator('a[href^="#/host/"]');
  await expect.poll(() => silos.count(), { timeout: 60_000 }).toBeGreaterThan(0);
  expect(await silos.first().innerText()).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+@\d+$/);
  await expect.poll(() => page.locator('body').innerText(), { timeout: 60_000 }).toContain('Active');

  await page.goto(`${baseUrl}/dashboard/#/grains`);
  const serviceGrainTypes = page.locator('a[href^="#/grain/Inference.Grains."]');
  await expect.poll(() => serviceGrainTypes.count(), { timeout: 60_000 }).toBeGreaterThan(0);
  expect(await serviceGrainTypes.evaluateAll((links) => links.map((l) => l.getAttribute('href')))).toContain('#/grain/Inference.Grains.Tenants.TenantDirectoryGrain');
  expect(failed).toEqual([]);
  await context.close();
});

test('a browser without the admin token gets no dashboard', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const response = await page.goto(`${baseUrl}/dashboard/`);
  expect(response?.status()).toBe(401);
  expect(await page.locator('body').innerText()).not.toContain('Inference.Grains');
  await context.close();
});
