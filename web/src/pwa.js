// Service worker registration (vite-plugin-pwa, Workbox). The worker precaches
// the app shell, the wasm module and worker, the catalogs and the base map, so
// a later start works with no network. A new version installs in the
// background and waits; the app announces it (UpdateBanner) and it takes over
// on the next start, or at once when the person chooses "Reload now".
import { Workbox } from 'workbox-window';

const listeners = new Set();
let waiting = null;
export const pwa = { registered: false, error: null };

export function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  const wb = new Workbox(new URL('sw.js', document.baseURI).href, { scope: './' });
  wb.addEventListener('waiting', () => {
    waiting = wb;
    for (const cb of listeners) cb(true);
  });
  wb.register().then(
    (reg) => {
      pwa.registered = !!reg;
      window.swReady = true;
    },
    (e) => {
      pwa.error = e;
      window.swError = String(e);
    },
  );
}

export function onUpdateReady(cb) {
  listeners.add(cb);
  if (waiting) cb(true);
  return () => listeners.delete(cb);
}

// Activates the waiting version and reloads once it controls the page.
export function applyUpdate() {
  if (!waiting) return;
  waiting.addEventListener('controlling', () => location.reload());
  waiting.messageSkipWaiting();
}
