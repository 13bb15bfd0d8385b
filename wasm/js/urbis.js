// Urbis — the JavaScript API of the browser client (ES module, main thread).
//
//   import { Urbis } from './urbis.js';
//   const db = await Urbis.open({ node: 'ws://host:port/sync' });
//   if (db.hasIdentity) await db.unlock(passphrase); else await db.createIdentity(passphrase);
//   const space = await db.createSpace('Planning');
//   const { id } = await db.put(space, 'project', 'new', { 'title@ko': '스마트 교통', '+tags': 'pilot' });
//
// Every call is a promise answered by a dedicated Web Worker that owns the
// wasm core, the replica, IndexedDB and the WebSocket: the page's thread never
// runs the core. Errors reject with an Error carrying `.code` (the number from
// core/include/urbis/error_codes.def, also exported here as `Codes`) and
// `.codeName`. The full contract is in wasm/README.md.

import { RpcClient } from './rpc.js';
import { Codes } from './codes.js';

export { Codes };

// Keys the API answered in snake_case before it was camelCase throughout,
// readable under the old name (not enumerated, not copied by a spread) for
// one release: wasm/README.md, "Renamed keys". Remove in the next release.
const OLD_NAMES = { missing_translations: 'missingTranslations' };
function withOldNames(value) {
  for (const [old, name] of Object.entries(OLD_NAMES))
    if (value && name in value && !(old in value))
      Object.defineProperty(value, old, {
        get() {
          return this[name];
        },
        enumerable: false,
        configurable: true,
      });
  return value;
}

export class UrbisDB {
  constructor(rpc, info, worker) {
    this.rpc = rpc;
    this.worker = worker;
    this.hasIdentity = info.hasIdentity;
    this.moduleMs = info.moduleMs; // time the worker took to load and instantiate the module
    this.subscribers = new Map(); // space (or '*') -> Set of callbacks
    this.statusListeners = new Set();
    this.joinListeners = new Set();
    this.status = { state: 'offline', pending: 0, lastSync: null, refused: [] };
    rpc.onEvent((event, data) => this.#onEvent(event, data));
  }

  #onEvent(event, data) {
    if (event === 'change') {
      for (const key of [data.space, '*'])
        for (const cb of this.subscribers.get(key) || []) {
          try {
            cb(data);
          } catch (e) {
            setTimeout(() => {
              throw e;
            });
          }
        }
    } else if (event === 'joinProgress') {
      for (const cb of this.joinListeners) cb(data);
    } else if (event === 'status') {
      this.status = data;
      for (const cb of this.statusListeners) cb(data);
    }
  }

  // ---- identity ----
  // A new device identity; its secret key is stored only wrapped with
  // `passphrase`. Resolves to the device key (hex).
  // A weak passphrase is refused (InvalidArgument "weak passphrase: ...",
  // passphrase.js). `passphrase`: a string, or better a Uint8Array of its
  // UTF-8 bytes (new TextEncoder().encode(...)), which is zeroed once sent:
  // the worker gets a copy, which it zeroes after use. A string cannot be
  // wiped from JavaScript memory; keep it short-lived.
  createIdentity(passphrase) {
    return this.#withPassphrase('createIdentity', passphrase).then((d) => ((this.hasIdentity = true), d));
  }
  // Unwraps the stored identity (WrongPassphrase on a bad passphrase) and
  // opens the replica. Resolves to the device key. `passphrase` as above.
  unlock(passphrase) {
    return this.#withPassphrase('unlock', passphrase);
  }
  #withPassphrase(method, passphrase) {
    const bytes = typeof passphrase === 'string' ? new TextEncoder().encode(passphrase) : passphrase;
    try {
      return this.rpc.call(method, bytes); // postMessage copies it now
    } finally {
      if (bytes instanceof Uint8Array) bytes.fill(0);
    }
  }
  // The device key (hex) once created or unlocked, else null.
  device() {
    return this.rpc.call('device');
  }

  // ---- spaces ----
  // Joins the space of an invite code (from `urbis space invite` or an
  // admin's app), through the node; resolves to {space, role}. Rejects with
  // NotAMember ("already been used"), Expired, UnknownSpace (the invite has
  // not reached the node yet) or InvalidArgument (a mistyped code).
  // `onProgress({bytes})` reports the bytes received from the node so far.
  async joinSpace(code, { onProgress } = {}) {
    if (onProgress) this.joinListeners.add(onProgress);
    try {
      return await this.rpc.call('joinSpace', code);
    } finally {
      if (onProgress) this.joinListeners.delete(onProgress);
    }
  }
  spaces() {
    return this.rpc.call('spaces');
  }
  createSpace(name) {
    return this.rpc.call('createSpace', name).then((r) => r.space);
  }
  addMember(space, device, role = 'editor') {
    return this.rpc.call('addMember', space, device, role);
  }
  removeMember(space, device) {
    return this.rpc.call('removeMember', space, device);
  }
  // Changes a member's role (admin only): 'admin' | 'editor' | 'commenter' |
  // 'viewer', limited to the `city` entities in `scope` (ids; [] or absent:
  // the whole space). Resolves to {space, device, role, scope} once durable.
  setRole(space, device, role, { scope = [] } = {}) {
    return this.rpc.call('setRole', space, device, role, { scope });
  }
  // Revokes a pending invite (admin only) by its key: createInvite's `key`,
  // or the `device` of a members() entry with `inviteExpires`. NotFound when
  // it is no pending invite.
  revokeInvite(space, key) {
    return this.rpc.call('revokeInvite', space, key);
  }
  // An invite code for `space` (admin only): {code, expires (ms), key}. It
  // works once this change reached the node (sync first); treat it as a password.
  createInvite(space, role = 'editor', ttlSeconds = 7 * 24 * 3600, options = {}) {
    return this.rpc.call('createInvite', space, role, ttlSeconds, options);
  }
  // [{device, role, scope: [city ids], inviteExpires?, lastSeen?}]: members
  // and pending invites (inviteExpires, ms); lastSeen: the time (ms, from its
  // HLC) of the newest change of that device this replica holds.
  members(space) {
    return this.rpc.call('members', space);
  }

  // ---- entities ----
  // Writes fields of entity `id` ('new' creates one) in one change; resolves
  // when the change is durable in IndexedDB, to {id, type, seq}. `fields`:
  //   { budget: 120000, 'title@ko': '…', '+tags': 'x' | ['x','y'], '-tags': 'y' }
  // or the structured form
  //   [{op: 'set'|'text'|'add'|'remove', field, value, locale?, source?}, …]
  put(space, type, id, fields) {
    return this.rpc.call('put', space, type, id, fields);
  }
  // {id, type, deleted, values, translations, conflicts, missingTranslations}
  get(space, type, id, options = {}) {
    return this.rpc.call('get', space, type, id, options).then(withOldNames);
  }
  remove(space, type, id) {
    return this.rpc.call('remove', space, type, id);
  }
  // Writes `value` over every live value of `field` (or 'field@LOCALE'),
  // which clears its conflict everywhere.
  resolve(space, type, id, field, value) {
    return this.rpc.call('resolve', space, type, id, field, value);
  }
  // {type, text, where: {field: value}, lang, limit, offset, sort} ->
  // {total, hits: [{id, type, title, summary}]}
  find(space, query = {}) {
    return this.rpc.call('find', space, query);
  }
  stateHash(space) {
    return this.rpc.call('stateHash', space);
  }
  // What other devices changed in `space` since `since` (a cursor an earlier
  // answer returned; null: nothing yet, the cursor alone): {cursor, changes,
  // more (changes is a lower bound: max_bytes of them were read), authors:
  // {device: {changes, at}}, entities: [{id, type, deleted, title, summary,
  // fields, authors, at}], capped (the entity walk's cap), complete}.
  // Options: since, limit, lang, max_bytes (default 4 MiB).
  activity(space, options = {}) {
    return this.rpc.call('activity', space, options);
  }

  // Calls `callback({space, changes, origin: 'local'|'remote'})` after each
  // batch of changes stored in `space` ('*': every space). Returns an
  // unsubscribe function.
  subscribe(space, callback) {
    if (!this.subscribers.has(space)) this.subscribers.set(space, new Set());
    this.subscribers.get(space).add(callback);
    return () => this.subscribers.get(space).delete(callback);
  }

  // ---- sync ----
  // {state: 'offline'|'online'|'syncing', pending, lastSync (ms since epoch or null)}
  syncStatus() {
    return this.rpc.call('syncStatus').then((s) => ((this.status = s), s));
  }
  onStatus(callback) {
    this.statusListeners.add(callback);
    return () => this.statusListeners.delete(callback);
  }
  // Resolves when the client is online and the node has acknowledged every
  // local change; rejects after `timeoutMs`.
  async waitForSync({ timeoutMs = 10000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.syncStatus();
      if (s.state === 'online' && s.pending === 0) return s;
      if (Date.now() > deadline)
        throw Object.assign(new Error(`not in sync after ${timeoutMs} ms (${JSON.stringify(s)})`), {
          code: Codes.Internal,
          codeName: 'Internal',
        });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  setOnline(online) {
    return this.rpc.call('setOnline', online);
  }

  // Writes a snapshot of the store now (also done by itself; see README).
  snapshot() {
    return this.rpc.call('snapshot');
  }
  stats() {
    return this.rpc.call('stats');
  }
  // Snapshots, closes the connection and ends the worker.
  async close() {
    try {
      await this.rpc.call('close');
    } finally {
      if (this.worker) this.worker.terminate();
    }
  }
}

export const Urbis = {
  Codes,
  // options: node (ws:// URL of the sync node; default: this page's origin +
  // /sync; null: no sync), name (IndexedDB database, default 'urbis'),
  // pwhashCost ('interactive' | 'moderate' | 'minimal' — tests only),
  // reconnect ({minDelayMs, maxDelayMs}), port (tests: a MessagePort served
  // by rpc.js instead of a new Worker).
  async open(options = {}) {
    const { port, ...rest } = options;
    let worker = null;
    let target = port;
    if (!target) {
      worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'urbis' });
      target = worker;
    }
    const rpc = new RpcClient(target);
    if (worker) {
      worker.onerror = (e) =>
        rpc.failAll(Object.assign(new Error(`worker failed: ${e.message || 'load error'}`), { code: Codes.Internal, codeName: 'Internal' }));
    }
    if (rest.node === undefined && typeof location !== 'undefined')
      rest.node = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
    const info = await rpc.call('open', rest);
    const db = new UrbisDB(rpc, info, worker);
    if (typeof window !== 'undefined') {
      // The worker sees these too in Chromium; forwarding makes it certain.
      window.addEventListener('online', () => db.setOnline(true).catch(() => {}));
      window.addEventListener('offline', () => db.setOnline(false).catch(() => {}));
      // Best effort: a fresh snapshot makes the next load replay less.
      window.addEventListener('pagehide', () => db.snapshot().catch(() => {}));
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'hidden') db.snapshot().catch(() => {});
      });
    }
    return db;
  },
};

export default Urbis;
