import { afterEach, describe, expect, test, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { ApiError, parseRetryAfter, request } from '../src/api';
import { longestRetryWaitMs, retryDelay, shouldRetry } from '../src/retry';

describe('Retry-After', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');

  test.each([
    ['7', 7000],
    [' 0 ', 0],
    ['Tue, 01 Dec 2026 10:00:05 GMT', 5000],
    ['Tue, 01 Dec 2026 09:59:00 GMT', 0],
  ])('%j is %i ms', (value, ms) => expect(parseRetryAfter(value, now)).toBe(ms));

  test.each([null, '', '-3', '1.5', 'soon'])('%j is no instruction', (value) => expect(parseRetryAfter(value, now)).toBeUndefined());
});

describe('which reads are tried again', () => {
  const limited = (ms?: number, status = 429) => new ApiError(status, 'Too many requests', undefined, ms);

  test('a 429 or 503 that says when is waited out, a few times', () => {
    expect(shouldRetry(0, limited(2000))).toBe(true);
    expect(shouldRetry(2, limited(2000, 503))).toBe(true);
    expect(shouldRetry(3, limited(2000))).toBe(false);
    expect(retryDelay(0, limited(2000))).toBe(2000);
  });

  test('a wait longer than a page should seem to hang is shown instead', () => {
    expect(shouldRetry(0, limited(longestRetryWaitMs + 1000))).toBe(false);
  });

  test('other refusals are answers: not retried', () => {
    expect(shouldRetry(0, limited(undefined))).toBe(false);
    expect(shouldRetry(0, new ApiError(404, 'Not found'))).toBe(false);
    expect(shouldRetry(0, new ApiError(403, 'Forbidden'))).toBe(false);
  });

  test('server errors and network failures are retried twice with back-off', () => {
    expect(shouldRetry(1, new ApiError(500, 'Internal'))).toBe(true);
    expect(shouldRetry(2, new ApiError(500, 'Internal'))).toBe(false);
    expect(shouldRetry(0, new TypeError('Failed to fetch'))).toBe(true);
    expect(retryDelay(1, new TypeError('Failed to fetch'))).toBe(2000);
  });
});

describe('a read the API rate-limits', () => {
  afterEach(() => vi.unstubAllGlobals());

  test('arrives after the wait the API asked for', async () => {
    const answers = [
      new Response(JSON.stringify({ error: 'Too many requests', details: 'retry later' }), { status: 429, headers: { 'Retry-After': '0' } }),
      new Response(JSON.stringify({ models: [] }), { status: 200 }),
    ];
    const fetch = vi.fn(async () => answers.shift()!);
    vi.stubGlobal('fetch', fetch);
    const client = new QueryClient({ defaultOptions: { queries: { retry: shouldRetry, retryDelay } } });

    const data = await client.fetchQuery({ queryKey: ['models'], queryFn: () => request<{ models: unknown[] }>('GET', '/api/models').then((r) => r.body) });

    expect(data).toEqual({ models: [] });
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  test('carries the wait on the error it throws', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('{"error":"Too many requests"}', { status: 429, headers: { 'Retry-After': '12' } })));
    await expect(request('GET', '/api/models')).rejects.toMatchObject({ status: 429, retryAfterMs: 12000 });
  });
});
