import { loadToken } from './session';

/** The API's `{error, details}` with the HTTP status. */
export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly error: string,
    public readonly details?: string,
    /** From `Retry-After` on a 429 or 503: when the API says the same request may succeed. */
    public readonly retryAfterMs?: number,
  ) {
    super(details ? `${error}: ${details}` : error);
  }

  /** The field an error names (`Field 'name' ...`), so a form can show it next to that field. */
  get field(): string | undefined {
    return /Field '([A-Za-z.]+)'/.exec(`${this.details ?? ''} ${this.error}`)?.[1];
  }
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date in the form servers send (IMF-fixdate,
 * RFC 9110 5.6.7; Date.parse alone would read `-3` as a year); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

type Listener = () => void;
const expiredListeners = new Set<Listener>();

/** Called when the API answers 401 to a signed-in request: the token expired or was revoked. */
export function onUnauthorized(listener: Listener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

export interface Timed<T> {
  body: T;
  status: number;
  ms: number;
}

export async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Timed<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = loadToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const started = performance.now();
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: 'omit',
  });
  const text = await response.text();
  const ms = Math.round(performance.now() - started);
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    if (response.status === 401 && token) expiredListeners.forEach((l) => l());
    const e = (parsed ?? {}) as { error?: unknown; details?: unknown };
    throw new ApiError(
      response.status,
      typeof e.error === 'string' ? e.error : `HTTP ${response.status}`,
      typeof e.details === 'string' ? e.details : undefined,
      parseRetryAfter(response.headers.get('Retry-After'), Date.now()),
    );
  }
  return { body: parsed as T, status: response.status, ms };
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path).then((r) => r.body),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body).then((r) => r.body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body).then((r) => r.body),
  del: <T>(path: string) => request<T>('DELETE', path).then((r) => r.body),
};

/** `?namespace=` for admins acting in one tenant; tenants never need it. */
export function withNamespace(path: string, namespace?: string): string {
  if (!namespace) return path;
  return `${path}${path.includes('?') ? '&' : '?'}namespace=${encodeURIComponent(namespace)}`;
}

export function modelPath(name: string, namespace?: string, suffix = ''): string {
  return withNamespace(`/api/models/${encodeURIComponent(name)}${suffix}`, namespace);
}

/** The API's one paging, on the lists and the audit trail alike: `limit`, and the `continue` token the previous page's
 * answer carried, passed back under the same name. */
export interface Paged {
  continue?: string | null;
}

/** `path` asking for at most `limit` items, after the page whose answer carried `token` (none: the first page). */
export function pagePath(path: string, limit: number, token?: string | null): string {
  const query = new URLSearchParams({ limit: String(limit) });
  if (token) query.set('continue', token);
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

/** The largest page the API gives. */
export const MAX_PAGE = 500;

/** Every item of a paged list, read page by page so that no single answer grows with the whole list. */
export async function listAll<T>(path: string, items: string, get: <R>(path: string) => Promise<R> = api.get): Promise<T[]> {
  const all: T[] = [];
  let token: string | null | undefined;
  do {
    const page = await get<Paged & Record<string, unknown>>(pagePath(path, MAX_PAGE, token));
    all.push(...((page[items] as T[] | undefined) ?? []));
    token = page.continue;
  } while (token);
  return all;
}
