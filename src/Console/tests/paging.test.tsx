import { afterEach, describe, expect, test, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { listAll, MAX_PAGE, pagePath } from '../src/api';
import { AuditPage } from '../src/pages/Admin';
import { ModelsPage } from '../src/pages/Models';
import type { User } from '../src/session';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const tenantUser: User = { subject: 'u', name: 'u', tenant: 'tenant-a', isAdmin: false, exp: 0 };

/** A fetch answering each request with the body `answer` gives for its URL, and the URLs asked for. */
function fakeApi(answer: (url: URL) => unknown) {
  const urls: URL[] = [];
  vi.stubGlobal('fetch', vi.fn(async (path: string) => {
    const url = new URL(path, 'http://console.test');
    urls.push(url);
    return new Response(JSON.stringify(answer(url)), { status: 200, headers: { 'Content-Type': 'application/json' } });
  }));
  return urls;
}

function renderWith(node: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(<QueryClientProvider client={client}>{node}</QueryClientProvider>);
}

function model(name: string) {
  const at = new Date().toISOString();
  return { name, namespace: 'tenant-a', status: 'Ready', ready: true, url: null, predictor: { framework: 'sklearn', storageUri: 'gs://b/m' }, createdAt: at, statusDetails: { ready: true, phase: 'Ready', replicas: { desired: 1, ready: 1, total: 1 }, conditions: [] } };
}

describe('paging: one name, continue, on the lists and the audit trail', () => {
  test('a page path asks for limit items after the token, as continue', () => {
    expect(pagePath('/api/models', 500)).toBe('/api/models?limit=500');
    expect(pagePath('/api/audit?action=model.create', 25, 'a+b/c.d')).toBe('/api/audit?action=model.create&limit=25&continue=a%2Bb%2Fc.d');
    expect(pagePath('/api/audit', 25, null)).toBe('/api/audit?limit=25');
  });

  test('a whole list is read page by page, passing back each answer\'s continue until there is none', async () => {
    const pages: Record<string, { models: { name: string }[]; total: number; continue?: string }> = {
      '': { models: [{ name: 'm-a' }, { name: 'm-b' }], total: 2, continue: 't1' },
      t1: { models: [{ name: 'm-c' }], total: 1, continue: 't2' },
      t2: { models: [], total: 0 },
    };
    const asked: string[] = [];
    const get = async <R,>(path: string): Promise<R> => {
      asked.push(path);
      const url = new URL(path, 'http://console.test');
      return pages[url.searchParams.get('continue') ?? ''] as R;
    };
    const all = await listAll<{ name: string }>('/api/models?namespace=tenant-a', 'models', get);
    expect(all.map((m) => m.name)).toEqual(['m-a', 'm-b', 'm-c']);
    expect(asked).toEqual([
      `/api/models?namespace=tenant-a&limit=${MAX_PAGE}`,
      `/api/models?namespace=tenant-a&limit=${MAX_PAGE}&continue=t1`,
      `/api/models?namespace=tenant-a&limit=${MAX_PAGE}&continue=t2`,
    ]);
  });

  test('the models page shows every page of the list', async () => {
    const urls = fakeApi((url) =>
      url.searchParams.get('continue') === 'next' ? { models: [model('m-c')], total: 1 } : { models: [model('m-a'), model('m-b')], total: 2, continue: 'next' },
    );
    renderWith(<ModelsPage user={tenantUser} />);
    await waitFor(() => expect(document.querySelectorAll('[data-model]').length).toBe(3));
    expect(urls.map((u) => u.searchParams.get('continue'))).toEqual([null, 'next']);
    expect(urls.every((u) => u.pathname === '/api/models' && u.searchParams.get('limit') === String(MAX_PAGE))).toBe(true);
  });

  test("the audit page's next page passes the answer's continue back as continue, and previous goes back", async () => {
    const record = (action: string) => ({ time: new Date().toISOString(), actor: 'u', tenant: 'tenant-a', action, outcome: 'success', status: 200, count: 1 });
    const urls = fakeApi((url) =>
      url.searchParams.get('continue') === 'tok/2+' ? { records: [record('model.delete')], count: 1 } : { records: [record('model.create')], count: 1, continue: 'tok/2+' },
    );
    renderWith(<AuditPage user={tenantUser} />);
    await screen.findByText('model.create');
    const next = screen.getByRole('button', { name: 'Next page' });
    fireEvent.click(next);
    await screen.findByText('model.delete');
    expect(urls.at(-1)!.pathname).toBe('/api/audit');
    expect(urls.at(-1)!.searchParams.get('continue')).toBe('tok/2+');
    expect(urls.some((u) => u.searchParams.has('continuationToken'))).toBe(false);
    expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    await screen.findByText('model.create');
  });
});
