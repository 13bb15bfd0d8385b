// The dedicated Web Worker that owns the wasm module, the replica, IndexedDB
// and the WebSocket (started by urbis.js as a module worker). Every API call
// arrives here by postMessage RPC (rpc.js) and runs in Engine (engine.js).
import createUrbisModule from './urbis_web.mjs';
import { Engine, UrbisError } from './engine.js';
import { serve } from './rpc.js';

let engine = null;
let opening = null;

const emit = serve(self, async (method, args) => {
  if (method === 'open') {
    if (!opening) opening = open(args[0] || {});
    return opening;
  }
  if (!engine) throw UrbisError.of('InvalidArgument', 'call open() first');
  if (method === 'setOnline') return engine.setOnline(!!args[0]);
  if (method === 'stats') return engine.stats();
  if (typeof engine[method] !== 'function' || method.startsWith('_') || method === 'call' || method === 'init')
    throw UrbisError.of('InvalidArgument', `unknown method '${method}'`);
  return engine[method](...args);
});

async function open(options) {
  const t0 = performance.now();
  const module = await createUrbisModule();
  const moduleMs = performance.now() - t0;
  engine = new Engine({
    ...options,
    module,
    indexedDB: self.indexedDB,
    WebSocket: self.WebSocket,
    locks: self.navigator && self.navigator.locks,
    online: options.online ?? self.navigator.onLine,
    emit,
  });
  const info = await engine.init();
  return { ...info, moduleMs };
}

self.addEventListener('online', () => engine && engine.setOnline(true));
self.addEventListener('offline', () => engine && engine.setOnline(false));
