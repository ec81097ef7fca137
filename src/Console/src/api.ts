import { loadToken } from './session';

/** The API's `{error, details}` with the HTTP status. */
export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly error: string,
    public readonly details?: string,
  ) {
    super(details ? `${error}: ${details}` : error);
  }

  /** The field an error names (`Field 'name' ...`), so a form can show it next to that field. */
  get field(): string | undefined {
    return /Field '([A-Za-z.]+)'/.exec(`${this.details ?? ''} ${this.error}`)?.[1];
  }
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
