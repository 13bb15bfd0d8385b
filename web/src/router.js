// Hash routes: #/discover?q=…, #/entity/<type>/<id>, #/new/<type>,
// #/edit/<type>/<id>, #/plan/<project id>,
// #/map, #/charts, #/join/<code>, #/settings. Hash routing keeps every page a
// request for index.html, which the service worker answers offline.
import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [p, q = ''] = raw.split('?');
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || 'discover', parts: parts.slice(1), query: new URLSearchParams(q) };
}

export function href(...parts) {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', to);
  else location.hash = to.replace(/^#/, '');
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
