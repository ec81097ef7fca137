// The signed-in user's token: in sessionStorage (gone with the tab, never in localStorage or a cookie), sent as a
// bearer header to the API and as ?access_token= to /ws (browsers cannot set headers on a WebSocket).
const KEY = 'inference-console.token';

export interface User {
  subject: string;
  name: string;
  tenant: string;
  isAdmin: boolean;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export function decodeToken(token: string): User | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(parts[1].length / 4) * 4, '='));
    const claims = JSON.parse(json) as Record<string, unknown>;
    const isAdmin = claims.isAdmin === true || claims.isAdmin === 'true';
    return {
      subject: String(claims.sub ?? ''),
      name: String(claims.name ?? claims.sub ?? ''),
      tenant: String(claims.tenant ?? ''),
      isAdmin,
      exp: typeof claims.exp === 'number' ? claims.exp : Number(claims.exp ?? 0),
    };
  } catch {
    return null;
  }
}

export function isExpired(user: User, nowMs = Date.now()): boolean {
  return user.exp > 0 && user.exp * 1000 <= nowMs;
}

export function loadToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/** `./box token tenant-a --console` opens the console with `#token=...`: a fragment never reaches a server or its
 * logs. Taken into sessionStorage and removed from the address bar at once. */
export function takeTokenFromFragment(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return null;
  const token = decodeURIComponent(match[1]);
  history.replaceState(null, '', window.location.pathname + '#/models');
  return token;
}
