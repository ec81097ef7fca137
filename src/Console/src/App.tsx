import { useCallback, useEffect, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { onUnauthorized } from './api';
import { ConnectionBadge, LiveProvider } from './live';
import { href, useRoute, type Route } from './router';
import { clearToken, decodeToken, isExpired, loadToken, saveToken, takeTokenFromFragment, type User } from './session';
import { SignIn } from './pages/SignIn';
import { ModelsPage } from './pages/Models';
import { ModelPage } from './pages/ModelDetail';
import { AuditPage, KubectlPage, SystemPage, TenantsPage } from './pages/Admin';

function initialSession(): { token: string; user: User } | null {
  const fromUrl = takeTokenFromFragment();
  if (fromUrl) saveToken(fromUrl);
  const token = loadToken();
  const user = token ? decodeToken(token) : null;
  if (!token || !user || isExpired(user)) {
    clearToken();
    return null;
  }
  return { token, user };
}

export function App() {
  const [session, setSession] = useState(initialSession);
  const [notice, setNotice] = useState<string | null>(null);
  const queryClient = useQueryClient();

  const signOut = useCallback(
    (reason?: string) => {
      clearToken();
      queryClient.clear();
      setSession(null);
      setNotice(reason ?? null);
    },
    [queryClient],
  );

  useEffect(() => onUnauthorized(() => signOut('Your session has expired. Sign in again.')), [signOut]);
  useEffect(() => {
    if (!session || session.user.exp <= 0) return;
    const left = session.user.exp * 1000 - Date.now();
    const timer = setTimeout(() => signOut('Your session has expired. Sign in again.'), Math.max(0, Math.min(left, 2_147_000_000)));
    return () => clearTimeout(timer);
  }, [session, signOut]);

  if (!session) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(token) => {
          const user = decodeToken(token);
          if (!user) return;
          saveToken(token);
          setNotice(null);
          setSession({ token, user });
          if (!window.location.hash.startsWith('#/')) window.location.hash = '#/models';
        }}
      />
    );
  }
  return (
    <LiveProvider token={session.token} onExpired={() => signOut('Your session has expired. Sign in again.')}>
      <Shell user={session.user} onSignOut={() => signOut()} />
    </LiveProvider>
  );
}

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem('inference-console.theme') ?? '');
  useEffect(() => {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }, [theme]);
  const toggle = () => {
    const dark = theme ? theme === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
    const next = dark ? 'light' : 'dark';
    localStorage.setItem('inference-console.theme', next);
    setTheme(next);
  };
  return [theme, toggle];
}

function Shell({ user, onSignOut }: { user: User; onSignOut: () => void }) {
  const route = useRoute();
  const [, toggleTheme] = useTheme();
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    // A page change moves focus to the page's heading region, as a screen reader user expects after navigation.
    main.current?.focus();
  }, [route.page]);
  const links: { route: Route; label: string; admin?: boolean }[] = [
    { route: { page: 'models' }, label: 'Models' },
    { route: { page: 'audit' }, label: 'Audit' },
    { route: { page: 'system' }, label: 'System', admin: true },
    { route: { page: 'tenants' }, label: 'Tenants', admin: true },
    { route: { page: 'kubectl' }, label: 'kubectl', admin: true },
  ];
  const current = route.page === 'model' ? 'models' : route.page;
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Inference-in-a-Box</span>
        <nav aria-label="Main">
          <ul>
            {links
              .filter((l) => !l.admin || user.isAdmin)
              .map((l) => (
                <li key={l.label}>
                  <a href={href(l.route)} aria-current={current === l.route.page ? 'page' : undefined}>
                    {l.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div className="top-right">
          <ConnectionBadge />
          <span className="who" data-testid="who">
            {user.isAdmin ? `${user.name} (admin)` : `${user.tenant}`}
          </span>
          <button type="button" className="secondary" onClick={toggleTheme}>
            Theme
          </button>
          <button type="button" className="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {route.page === 'models' ? <ModelsPage user={user} /> : null}
        {route.page === 'model' ? <ModelPage user={user} namespace={route.namespace} name={route.name} /> : null}
        {route.page === 'audit' ? <AuditPage user={user} /> : null}
        {route.page === 'system' ? (user.isAdmin ? <SystemPage /> : <AdminOnly />) : null}
        {route.page === 'tenants' ? (user.isAdmin ? <TenantsPage /> : <AdminOnly />) : null}
        {route.page === 'kubectl' ? (user.isAdmin ? <KubectlPage /> : <AdminOnly />) : null}
      </main>
    </>
  );
}

function AdminOnly() {
  return (
    <p className="error" role="alert">
      This page is for administrators.
    </p>
  );
}
