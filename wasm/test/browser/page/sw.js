// The test page's service worker: cache-first for the web root, so the page
// reloads while the browser is offline (what the PWA of issue 5 does for
// real). The WebSocket to the node never passes through it.
const CACHE = 'urbis-test-v1';
const FILES = ['index.html', 'urbis.js', 'worker.js', 'engine.js', 'storage.js', 'transport.js', 'rpc.js', 'passphrase.js',
  'codes.js', 'urbis_web.mjs', 'urbis_web.wasm'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== self.location.origin) return;
  e.respondWith(caches.match(e.request, { ignoreSearch: true }).then((r) => r || fetch(e.request)));
});
