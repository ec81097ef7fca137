import { useEffect, useState } from 'react';

/** Routes live in the URL fragment (#/models, #/models/tenant-a/iris, #/admin/system ...): the API host serves the
 * console at / only, so no server route is taken from other endpoints. */
export type Route =
  | { page: 'models' }
  | { page: 'model'; namespace: string; name: string }
  | { page: 'system' }
  | { page: 'tenants' }
  | { page: 'audit' }
  | { page: 'kubectl' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'models' && parts.length === 3) return { page: 'model', namespace: parts[1], name: parts[2] };
  if (parts[0] === 'admin' && parts[1] === 'system') return { page: 'system' };
  if (parts[0] === 'admin' && parts[1] === 'tenants') return { page: 'tenants' };
  if (parts[0] === 'audit') return { page: 'audit' };
  if (parts[0] === 'admin' && parts[1] === 'kubectl') return { page: 'kubectl' };
  return { page: 'models' };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'model':
      return `#/models/${encodeURIComponent(route.namespace)}/${encodeURIComponent(route.name)}`;
    case 'system':
    case 'tenants':
    case 'kubectl':
      return `#/admin/${route.page}`;
    default:
      return `#/${route.page}`;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
