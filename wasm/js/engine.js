// Engine: the worker's side of the JavaScript API. It owns the wasm module
// (one Client: identity, replica, sync session — wasm/src/client.h), the
// IndexedDB storage (storage.js) and the WebSocket transport (transport.js),
// and implements every call of the main-thread API (urbis.js) as an async
// method. Environment-agnostic: the worker passes the browser's IndexedDB,
// WebSocket and Web Locks; the Node unit tests pass fake-indexeddb and fakes.
//
// Durability (wasm/README.md): a local edit's promise resolves only after
// the change envelope is in IndexedDB (durability 'strict'); frames that
// could carry it to the node leave only after that (a change the node holds
// but the device lost would fork the device's own chain on the next edit).
// Changes from the node are appended too ('relaxed': the node still has
// them), before the Ack that tells the node we hold them. Snapshots of the
// SQLite file bound the log that a reload replays.

import { Codes } from './codes.js';
import { Storage } from './storage.js';
import { Transport } from './transport.js';
import { weakPassphraseReason } from './passphrase.js';

const OUTBOX_FRAMES = 0;
const OUTBOX_LOG = 1;
const OUTBOX_JOIN = 2;
const DB_PATH = '/urbis/replica.db';

export class UrbisError extends Error {
  constructor(code, codeName, message) {
    super(message ? `${codeName}: ${message}` : codeName);
    this.name = 'UrbisError';
    this.code = code;
    this.codeName = codeName;
  }
  // An error of the code named `codeName` (a key of Codes, generated from
  // core/include/urbis/error_codes.def).
  static of(codeName, message) {
    if (!(codeName in Codes)) throw new TypeError(`no error code named '${codeName}'`);
    return new UrbisError(Codes[codeName], codeName, message);
  }
}

const InvalidArgument = (m) => UrbisError.of('InvalidArgument', m);

// setTimeout that does not keep a Node process alive (tests); the same in browsers.
function later(fn, ms) {
  const t = setTimeout(fn, ms);
  if (t && typeof t.unref === 'function') t.unref();
  return t;
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Engine {
  // options: module (the instantiated Emscripten module), indexedDB,
  // WebSocket, locks (navigator.locks or undefined), name (IndexedDB
  // database, default 'urbis'), node (ws:// URL or null for no sync),
  // pwhashCost ('interactive' default; 'minimal' for tests only), reconnect
  // ({minDelayMs, maxDelayMs}), online (initial), snapshotEvery (changes),
  // snapshotIdleMs, emit(event, data).
  constructor(options) {
    this.m = options.module;
    this.options = options;
    this.name = options.name || 'urbis';
    this.cost = options.pwhashCost || 'interactive';
    this.emit = options.emit || (() => {});
    this.snapshotEvery = options.snapshotEvery ?? 1000;
    this.snapshotIdleMs = options.snapshotIdleMs ?? 3000;
    this.online = options.online ?? true;
    this.storage = null;
    this.wrapped = null;
    this.replicaOpen = false;
    this.transport = null;
    this.sinceSnapshot = 0;
    this.snapshotTimer = null;
    this.snapshotting = null;
    this.failed = null;
    this.lastSync = null;
    this.lastStatus = null;
    this.syncSaved = '';
    this.syncSaveTimer = null;
    this.purge = false; // a dropped space: vacuum before the next snapshot
    this.refreshPending = false; // a burst's snapshot left Discover's refresh to the idle one
    this.droppedSpaces = [];
  }

  // Opens storage (and takes the per-database lock); tells whether an
  // identity exists here.
  async init() {
    await this.#lock();
    this.storage = await Storage.open(this.options.indexedDB, this.name);
    const wrapped = await this.storage.getMeta('identity');
    this.wrapped = wrapped ? new Uint8Array(wrapped) : null;
    return { hasIdentity: !!this.wrapped, device: null };
  }

  // One replica per database: a second tab (or worker) with the same
  // database would write the same device's seqs twice.
  async #lock() {
    const locks = this.options.locks;
    if (!locks) return;
    const controller = new AbortController();
    const waitMs = this.options.lockWaitMs ?? 10000;
    const timer = setTimeout(() => controller.abort(), waitMs);
    await new Promise((resolve, reject) => {
      locks
        .request(`urbis:${this.name}`, { signal: controller.signal }, () => {
          clearTimeout(timer);
          resolve();
          return new Promise(() => {}); // held until the worker ends
        })
        .catch(() =>
          reject(UrbisError.of('Forbidden', `database '${this.name}' is open in another tab or worker`)),
        );
    });
  }

  // ---- the module ---------------------------------------------------------

  call(method, params = {}) {
    const m = this.m;
    const req = JSON.stringify({ method, params });
    const n = m.lengthBytesUTF8(req) + 1;
    const p = m._malloc(n);
    m.stringToUTF8(req, p, n);
    return this.#finishCall(p, n);
  }

  #finishCall(p, n) {
    const m = this.m;
    const r = m._urbis_call(p);
    m.HEAPU8.fill(0, p, p + n); // freed heap keeps its bytes: wipe the request first
    m._free(p);
    const text = m.UTF8ToString(r);
    m._urbis_free(r);
    const out = JSON.parse(text);
    if (out.error) throw new UrbisError(out.error.code, out.error.codeName, out.error.message);
    return out.result;
  }

  // call() with params[field] = the UTF-8 `secret` (a Uint8Array), written
  // into the request bytes in the wasm heap without ever becoming a
  // JavaScript string (strings cannot be wiped); every copy made here is
  // zeroed before returning. The caller zeroes `secret`.
  #callWithSecret(method, params, field, secret) {
    const m = this.m;
    const marker = 'urbis-secret-7f3a';
    const [before, after] = JSON.stringify({ method, params: { ...params, [field]: marker } }).split(marker);
    const enc = new TextEncoder();
    const head = enc.encode(before);
    const tail = enc.encode(after);
    // JSON string escaping of the bytes: quote, backslash and controls.
    const escaped = new Uint8Array(secret.length * 6);
    let k = 0;
    const hex = '0123456789abcdef';
    for (const b of secret) {
      if (b === 0x22 || b === 0x5c) {
        escaped[k++] = 0x5c;
        escaped[k++] = b;
      } else if (b < 0x20) {
        for (const c of '\\u00') escaped[k++] = c.charCodeAt(0);
        escaped[k++] = hex.charCodeAt(b >> 4);
        escaped[k++] = hex.charCodeAt(b & 15);
      } else {
        escaped[k++] = b;
      }
    }
    const n = head.length + k + tail.length + 1;
    const p = m._malloc(n);
    m.HEAPU8.set(head, p);
    m.HEAPU8.set(escaped.subarray(0, k), p + head.length);
    m.HEAPU8.set(tail, p + head.length + k);
    m.HEAPU8[p + n - 1] = 0;
    escaped.fill(0);
    return this.#finishCall(p, n);
  }

  #take(box) {
    const m = this.m;
    const n = m._urbis_outbox_count(box);
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const ptr = m._urbis_outbox_data(box, i);
      out[i] = m.HEAPU8.slice(ptr, ptr + m._urbis_outbox_size(box, i));
    }
    m._urbis_outbox_clear(box);
    return out;
  }

  // Persists what the last call stored and queues the frames it produced to
  // leave after that. Returns the append's promise.
  #flush({ strict }) {
    const log = this.#take(OUTBOX_LOG);
    const frames = this.#take(OUTBOX_FRAMES);
    const durable = log.length ? this.storage.appendLog(log, { strict }) : this.storage.lastAppend;
    if (this.transport) this.transport.sendAfter(durable, frames);
    if (log.length) {
      this.sinceSnapshot += log.length;
      this.#planSnapshot();
      durable.catch((e) => this.#fail(e));
    }
    return durable;
  }

  #events(origin) {
    const { changed, dropped } = this.call('takeEvents');
    for (const [space, changes] of Object.entries(changed)) this.emit('change', { space, changes, origin });
    if (dropped && dropped.length) this.#dropped(dropped);
  }

  // Spaces the session dropped (a node offered them unasked and this device
  // is no member, sync/session.h "Unsolicited spaces"). Their changes were
  // held back from the log; an older store may still hold some, and the
  // store's free pages hold their rows: the next snapshot vacuums the file
  // and, as every snapshot does, replaces the last one and deletes every log
  // entry it covers, so nothing of them stays in IndexedDB. Taken as soon as
  // no other space is being judged.
  #dropped(spaces) {
    for (const space of spaces) {
      this.droppedSpaces.push(space);
      this.emit('dropped', { space });
    }
    this.purge = true;
    this.sinceSnapshot = Math.max(this.sinceSnapshot, 1);
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = later(() => this.snapshot().catch(() => {}), 0);
  }

  #fail(e) {
    if (this.failed) return;
    this.failed = e;
    if (this.transport) this.transport.stop();
    this.emit('failed', { message: e.message, code: e.code, codeName: e.codeName });
  }

  #check() {
    if (this.failed) throw this.failed;
  }

  #needReplica() {
    this.#check();
    if (!this.replicaOpen)
      throw UrbisError.of('NoKey', this.wrapped ? 'locked: call unlock(passphrase) first' : 'no identity: call createIdentity(passphrase) first');
  }

  // A local write: run it, make it durable, then resolve.
  async #write(method, params) {
    this.#needReplica();
    let result;
    let error = null;
    try {
      result = this.call(method, params);
    } catch (e) {
      error = e; // a refused write stored nothing, but flush whatever did happen
    }
    await this.#flush({ strict: true });
    if (error) throw error;
    this.#events('local');
    this.#status();
    return result;
  }

  // ---- identity and opening ----------------------------------------------

  // The passphrase: a Uint8Array of its UTF-8 bytes (urbis.js sends one),
  // zeroed here once used; a string is still taken (tests, older callers),
  // but a string cannot be wiped.
  static #passphraseBytes(passphrase) {
    if (passphrase instanceof Uint8Array) return passphrase;
    if (typeof passphrase === 'string') return new TextEncoder().encode(passphrase);
    throw InvalidArgument('the passphrase must be a string or a Uint8Array of UTF-8');
  }

  async createIdentity(passphrase) {
    this.#check();
    const bytes = Engine.#passphraseBytes(passphrase);
    let r;
    try {
      if (this.wrapped) throw InvalidArgument('this browser already holds an identity: unlock it');
      if (!bytes.length) throw InvalidArgument('the passphrase must not be empty');
      // A new identity only: the policy of the core's check_new_passphrase.
      const weak = weakPassphraseReason(bytes);
      if (weak) throw InvalidArgument(weak);
      r = this.#callWithSecret('identityCreate', { cost: this.cost }, 'passphrase', bytes);
    } finally {
      bytes.fill(0);
    }
    const wrapped = hexToBytes(r.wrapped);
    await this.storage.putMeta('identity', wrapped, { strict: true });
    this.wrapped = wrapped;
    await this.#openReplica();
    return r.device;
  }

  async unlock(passphrase) {
    this.#check();
    const bytes = Engine.#passphraseBytes(passphrase);
    let r;
    try {
      if (!this.wrapped) throw UrbisError.of('NotFound', 'no identity in this browser: call createIdentity(passphrase)');
      r = this.#callWithSecret('identityUnlock', { wrapped: bytesToHex(this.wrapped) }, 'passphrase', bytes);
    } finally {
      bytes.fill(0);
    }
    if (!this.replicaOpen) await this.#openReplica();
    return r.device;
  }

  device() {
    return this.call('device');
  }

  // Snapshot into MEMFS, open, replay the log after it, start syncing.
  async #openReplica() {
    const fs = this.m.FS;
    const t0 = Date.now();
    const snap = await this.storage.latestSnapshot();
    try {
      fs.mkdirTree('/urbis');
    } catch (e) {
      // exists
    }
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        fs.unlink(DB_PATH + suffix);
      } catch (e) {
        // absent
      }
    }
    let file = null;
    if (snap) {
      file = await this.storage.snapshotFile(snap);
      fs.writeFile(DB_PATH, file);
      if (snap.wal) fs.writeFile(DB_PATH + '-wal', new Uint8Array(snap.wal));
    }
    // IndexedDB holds the file as written: the next snapshot copies the
    // chunks SQLite writes from now on. All of them when that copy is not
    // in chunks of this build's size (none, a version 1 whole file).
    const chunked = !!snap && !snap.db && snap.chunkBytes === this.call('dirtyChunkBytes');
    this.call('dirtyReset', { path: DB_PATH, all: !chunked });
    const t1 = Date.now();
    this.call('replicaOpen', { path: DB_PATH });
    this.replicaOpen = true;
    // Members' last seen as of the snapshot; the replay adds the log's.
    const seen = await this.storage.getMeta('seen');
    if (seen) this.call('setSeen', { seen });
    const t2 = Date.now();
    let replayed = 0;
    await this.storage.readLogAfter(snap ? snap.key : 0, (batch) => {
      this.#restore(batch);
      replayed += batch.length;
    });
    // How the start went (stats(); the benchmarks print it).
    this.restoreStats = {
      snapshotKey: snap ? snap.key : 0,
      snapshotBytes: file ? file.byteLength + (snap.wal ? snap.wal.byteLength : 0) : 0,
      replayed,
      readSnapshotMs: t1 - t0,
      openMs: t2 - t1,
      replayMs: Date.now() - t2,
    };
    this.sinceSnapshot = replayed;
    const sync = await this.storage.getMeta('sync');
    if (sync) {
      this.call('setAcked', { acked: sync.acked || {} });
      this.lastSync = sync.lastSync || null;
    }
    this.#startSync();
    this.#status();
  }

  #restore(envelopes) {
    const m = this.m;
    let total = 0;
    for (const e of envelopes) total += 4 + e.length;
    const p = m._malloc(total);
    let at = p;
    for (const e of envelopes) {
      const n = e.length;
      m.HEAPU8[at] = n & 255;
      m.HEAPU8[at + 1] = (n >>> 8) & 255;
      m.HEAPU8[at + 2] = (n >>> 16) & 255;
      m.HEAPU8[at + 3] = (n >>> 24) & 255;
      m.HEAPU8.set(e, at + 4);
      at += 4 + n;
    }
    const r = m._urbis_restore(p, total);
    m._free(p);
    const text = m.UTF8ToString(r);
    m._urbis_free(r);
    const out = JSON.parse(text);
    if (out.error) throw new UrbisError(out.error.code, out.error.codeName, out.error.message);
    // Whatever the replay stored is in the log already.
    this.#take(OUTBOX_LOG);
    this.#take(OUTBOX_FRAMES);
    this.call('takeEvents');
    return out.result;
  }

  // ---- sync --------------------------------------------------------------

  #startSync() {
    if (!this.options.node || this.transport) return;
    const r = this.options.reconnect || {};
    this.transport = new Transport({
      url: this.options.node,
      WebSocket: this.options.WebSocket,
      minDelayMs: r.minDelayMs,
      maxDelayMs: r.maxDelayMs,
      connectTimeoutMs: r.connectTimeoutMs,
      online: this.online,
      handler: {
        opened: () => {
          this.call('sessionOpen');
          this.#flush({ strict: false });
          this.#status();
        },
        frame: (bytes) => this.#receive(bytes),
        closed: () => {
          this.call('sessionClose'); // drops the spaces it was still judging
          this.#events('remote');
          this.#status();
        },
        failed: () => this.#status(),
      },
    });
    this.transport.start();
  }

  #receive(bytes) {
    if (this.failed) return;
    const m = this.m;
    const p = m._malloc(bytes.length || 1);
    m.HEAPU8.set(bytes, p);
    const code = m._urbis_receive(p, bytes.length);
    m._free(p);
    // An admin device settles the keys of what the node has sent it all of
    // (Replica::heal, after concurrent membership changes). What it commits
    // is this device's own change: durable ('strict') before the frames
    // that carry it leave, like any local edit.
    let healed = [];
    try {
      healed = this.call('heal').healed;
    } catch (e) {
      this.#fail(e); // the store failed
    }
    this.#flush({ strict: healed.length > 0 });
    if (code !== Codes.Ok) this.transport.closeAfterSent();
    this.#events('remote');
    this.#status();
  }

  setOnline(online) {
    this.online = online;
    if (this.transport) this.transport.setOnline(online);
    this.#status();
  }

  #status() {
    if (!this.replicaOpen) return this.lastStatus;
    const s = this.call('status');
    const connected = !!(this.transport && this.transport.connected);
    let state = 'offline';
    if (connected) state = s.session === 'live' && s.pending === 0 ? 'online' : 'syncing';
    if (state === 'online') this.lastSync = Date.now();
    if (connected && s.session === 'live') this.transport.markHealthy();
    // refused: spaces held here that the node no longer serves this device
    // (removed from them): the app tells the person.
    const status = { state, pending: s.pending, lastSync: this.lastSync, session: s.session, refused: s.refused || [] };
    const prev = this.lastStatus;
    this.lastStatus = status;
    if (!prev || prev.state !== state || prev.pending !== status.pending || prev.refused.join() !== status.refused.join())
      this.emit('status', status);
    this.#saveSync(s.acked);
    return status;
  }

  // Persists the node's acknowledgements (for "pending" after a reload),
  // at most once a second.
  #saveSync(acked) {
    const text = JSON.stringify(acked);
    if (text === this.syncSaved || this.syncSaveTimer) return;
    this.syncSaveTimer = later(() => {
      this.syncSaveTimer = null;
      const st = this.call('status');
      const now = JSON.stringify(st.acked);
      this.syncSaved = now;
      this.storage.putMeta('sync', { acked: st.acked, lastSync: this.lastSync }).catch(() => {});
    }, 1000);
  }

  syncStatus() {
    return this.#status() || { state: 'offline', pending: 0, lastSync: this.lastSync, session: null, refused: [] };
  }

  // ---- snapshots -----------------------------------------------------------

  #planSnapshot() {
    if (this.sinceSnapshot >= this.snapshotEvery) {
      this.snapshot().catch(() => {});
      return;
    }
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = later(() => this.snapshot().catch(() => {}), this.snapshotIdleMs);
  }

  // Copies the SQLite files (db and WAL, consistent: nothing runs between
  // JavaScript turns) into IndexedDB with the highest log key they hold,
  // and drops the log entries they make redundant.
  async snapshot() {
    if (!this.replicaOpen || this.failed) return null;
    if (this.snapshotting) return this.snapshotting;
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = null;
    if (this.sinceSnapshot === 0 && !this.purge && !this.refreshPending) return null;
    // A space still being judged is in the store but not in the log: no
    // snapshot may copy it. Its verdict comes with the node's Live, or the
    // session's end drops it.
    if (this.call('status').judging > 0) {
      this.snapshotTimer = later(() => this.snapshot().catch(() => {}), this.snapshotIdleMs);
      return null;
    }
    const fs = this.m.FS;
    const key = this.storage.nextKey - 1;
    const purge = this.purge;
    this.purge = false;
    // A snapshot of a burst (snapshotEvery changes, as in a catch-up) leaves
    // what reads derive to the next read or the idle snapshot: refreshed
    // once, not at every thousand changes.
    const refresh = this.sinceSnapshot < this.snapshotEvery;
    try {
      // What reads derive, refreshed (puts and catch-ups leave it stale);
      // the WAL into the db file, WAL truncated; vacuumed after a drop.
      this.call('checkpoint', { path: DB_PATH, vacuum: purge, refresh });
      this.refreshPending = !refresh;
    } catch (e) {
      if (purge) {
        this.purge = true; // a snapshot with the dropped rows' pages: not now
        this.sinceSnapshot = Math.max(this.sinceSnapshot, 1);
        return null;
      }
      // then the WAL is copied as it is
    }
    // The chunks of the file SQLite wrote since the last snapshot (all of
    // them after a failed one), read now: nothing runs between turns. The
    // take clears the marks: anything that fails before IndexedDB holds
    // these chunks makes the next snapshot copy every chunk, or IndexedDB
    // would mix pages of two states of the file.
    const dirty = this.call('dirtyTake', { path: DB_PATH });
    let file;
    try {
      file = this.#readChunks(fs, dirty);
    } catch (e) {
      this.call('dirtyReset', { path: DB_PATH, all: true });
      if (purge) this.purge = true;
      throw e;
    }
    const size = file.size;
    let written = file.wal ? file.wal.length : 0;
    for (const bytes of file.chunks.values()) written += bytes.length;
    // The snapshot replaces log entries that told members' last seen: keep
    // it first (a hint for people, not state: losing it loses no data).
    try {
      this.storage.putMeta('seen', this.call('seen')).catch(() => {});
    } catch (e) {
      // a hint for people only
    }
    const taken = this.sinceSnapshot;
    this.sinceSnapshot = 0;
    const t0 = Date.now();
    this.snapshotting = this.storage
      .writeSnapshot(key, file)
      // bytes: the file's; written: the chunks (and WAL) this one copied.
      .then(() => ({ key, bytes: size + (file.wal ? file.wal.length : 0), written, chunks: file.chunks.size, ms: Date.now() - t0 }))
      .catch((e) => {
        this.sinceSnapshot += taken;
        if (purge) this.purge = true;
        // What IndexedDB holds of the file is unknown now: next time, all.
        if (this.replicaOpen) this.call('dirtyReset', { path: DB_PATH, all: true });
        throw e;
      })
      .finally(() => {
        this.snapshotting = null;
        // A burst's snapshot: the idle one refreshes and copies that too.
        if (this.refreshPending && !this.snapshotTimer && this.replicaOpen)
          this.snapshotTimer = later(() => this.snapshot().catch(() => {}), this.snapshotIdleMs);
      });
    return this.snapshotting;
  }

  // The chunks `dirty` (dirtyTake) names of the database file, or all of
  // them, and the WAL if it holds frames.
  #readChunks(fs, dirty) {
    const size = fs.stat(DB_PATH).size;
    const count = Math.ceil(size / dirty.chunkBytes);
    const file = { size, chunkBytes: dirty.chunkBytes, all: dirty.all, chunks: new Map(), wal: null };
    const stream = fs.open(DB_PATH, 'r');
    try {
      const read = (index) => {
        const at = index * dirty.chunkBytes;
        const bytes = new Uint8Array(Math.min(dirty.chunkBytes, size - at));
        if (fs.read(stream, bytes, 0, bytes.length, at) !== bytes.length) throw new Error(`short read of chunk ${index}`);
        file.chunks.set(index, bytes);
      };
      if (dirty.all) for (let i = 0; i < count; i++) read(i);
      else for (const i of dirty.chunks) if (i < count) read(i);
    } finally {
      fs.close(stream);
    }
    try {
      file.wal = fs.readFile(DB_PATH + '-wal');
      if (file.wal.length === 0) file.wal = null;
    } catch (e) {
      file.wal = null;
    }
    return file;
  }

  // ---- the data API --------------------------------------------------------

  spaces() {
    this.#needReplica();
    return this.call('spaces');
  }
  createSpace(name) {
    return this.#write('createSpace', { name });
  }
  addMember(space, device, role = 'editor') {
    return this.#write('addMember', { space, device, role });
  }
  // `witness`: the key of the node that dates the redeem (default: the node
  // this device last synced with).
  createInvite(space, role = 'editor', ttlSeconds = 7 * 24 * 3600, { witness = null } = {}) {
    return this.#write('createInvite', { space, role, ttlSeconds, witness });
  }
  removeMember(space, device) {
    return this.#write('removeMember', { space, device });
  }
  // A member's role ('admin' | 'editor' | 'commenter' | 'viewer') and city
  // scope (ids of `city` entities; [] or absent: the whole space).
  setRole(space, device, role, { scope = [] } = {}) {
    return this.#write('setRole', { space, device, role, scope });
  }
  // Revokes a pending invite by its key (members(): an entry with inviteExpires).
  revokeInvite(space, key) {
    return this.#write('revokeInvite', { space, key });
  }
  members(space) {
    this.#needReplica();
    return this.call('members', { space });
  }
  put(space, type, id, fields) {
    // The compact object form goes as [key, value] pairs: the core's JSON
    // objects sort their keys, and the order matters (the first locale
    // written becomes a text's original).
    if (fields && typeof fields === 'object' && !Array.isArray(fields)) fields = Object.entries(fields);
    return this.#write('put', { space, type, id, fields });
  }
  // The entity as the core's Entity::to_json has it, with the API's keys
  // (camelCase: `missingTranslations`, the core's `missing_translations`).
  get(space, type, id, options = {}) {
    this.#needReplica();
    const { missing_translations: missingTranslations, ...entity } = this.call('get', {
      space,
      type,
      id,
      lang: options.lang || 'en',
    });
    return { ...entity, missingTranslations };
  }
  remove(space, type, id) {
    return this.#write('remove', { space, type, id });
  }
  resolve(space, type, id, field, value) {
    return this.#write('resolve', { space, type, id, field, value });
  }
  find(space, query = {}) {
    this.#needReplica();
    return this.call('find', { space, query });
  }
  stateHash(space) {
    this.#needReplica();
    return this.call('stateHash', { space });
  }
  // What other devices changed since `since` (an earlier answer's cursor):
  // client.cc, rpc_activity.
  activity(space, { since = null, limit = 200, lang = 'en', max_bytes = null } = {}) {
    this.#needReplica();
    return this.call('activity', { space, since, limit, lang, max_bytes });
  }
  // Joins a space with an invite code (`urbis space invite`), through the
  // node: as the invite, fetch the space and push the redeem on a second
  // connection; once the node acknowledged it, the space joins the replica
  // (durably, before this resolves) and the main session syncs it.
  // Resolves to {space, role}.
  async joinSpace(code) {
    this.#needReplica();
    if (typeof code !== 'string') throw InvalidArgument('the invite code must be a string');
    const info = this.call('joinOpen', { code: code.trim() });
    if (info.member) {
      const held = this.call('spaces').find((s) => s.space === info.space);
      return { space: info.space, role: held ? held.role : 'none' };
    }
    const t0 = Date.now();
    this.joinReceiveMs = 0;
    this.joinReceiveMaxMs = 0; // the frame with the receipted redeem: the space materialized
    try {
      if (!this.options.node) throw InvalidArgument('joining a space needs a node: open with {node}');
      await this.#runJoin();
    } catch (e) {
      // Drops what the join stored of the space; the next snapshot vacuums.
      this.call('joinCancel');
      this.#events('local');
      throw e;
    }
    let result;
    let error = null;
    const t1 = Date.now();
    try {
      result = this.call('joinFinish');
    } catch (e) {
      error = e;
    }
    const t2 = Date.now();
    await this.#flush({ strict: true });
    // How the join went (stats(); the benchmarks print it): the invite's
    // session (of which the module's time on its frames: verifying and
    // storing the log, and materializing it once the redeem brings the
    // keys), joinFinish (handing the log to the host) and the append to
    // IndexedDB.
    this.joinStats = { syncMs: t1 - t0, receiveMs: this.joinReceiveMs, receiveMaxMs: this.joinReceiveMaxMs, finishMs: t2 - t1, persistMs: Date.now() - t2 };
    if (error) throw error;
    this.#events('local');
    this.#status();
    return result;
  }

  // Drives the join session over its own WebSocket until the node accepted
  // or refused the redeem (at most joinTimeoutMs).
  #runJoin() {
    const m = this.m;
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new this.options.WebSocket(this.options.node);
      ws.binaryType = 'arraybuffer';
      const send = () => {
        for (const f of this.#take(OUTBOX_JOIN)) if (ws.readyState === 1) ws.send(f);
      };
      const finish = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch (e) {
          // closed
        }
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        const st = this.call('joinStatus');
        if (st.state === 'accepted') finish();
        else if (st.state === 'refused') finish(new UrbisError(st.code, st.codeName, st.message));
      };
      // The deadline is for silence, not for the whole join: a large space
      // over a slow link may take minutes, as long as data keeps coming.
      const idleMs = this.options.joinTimeoutMs ?? 30000;
      const timeout = () => finish(UrbisError.of('Internal', `joining timed out: nothing from the node for ${idleMs / 1000} s (is it reachable?)`));
      let timer = setTimeout(timeout, idleMs);
      // Progress for the person waiting: bytes received so far, at most 4 times a second.
      let received = 0;
      let reported = 0;
      ws.onopen = send;
      ws.onmessage = (e) => {
        if (!(e.data instanceof ArrayBuffer)) return;
        clearTimeout(timer);
        timer = setTimeout(timeout, idleMs);
        received += e.data.byteLength;
        if (Date.now() - reported > 250) {
          reported = Date.now();
          this.emit('joinProgress', { bytes: received });
        }
        const bytes = new Uint8Array(e.data);
        const p = m._malloc(bytes.length || 1);
        m.HEAPU8.set(bytes, p);
        const tr = Date.now();
        m._urbis_join_receive(p, bytes.length);
        const spent = Date.now() - tr;
        this.joinReceiveMs += spent;
        this.joinReceiveMaxMs = Math.max(this.joinReceiveMaxMs, spent);
        m._free(p);
        send();
        check();
      };
      ws.onerror = () => {};
      ws.onclose = () => {
        check();
        finish(UrbisError.of('NotAMember', 'the node closed the connection before the invite was redeemed'));
      };
    });
  }

  // Diagnostics for tests and benchmarks.
  stats() {
    const times = this.storage ? [...this.storage.appendTimes] : [];
    return {
      restore: this.restoreStats || null,
      join: this.joinStats || null,
      appendMs: times,
      connects: this.transport ? this.transport.connects : 0,
      nextKey: this.storage ? this.storage.nextKey : 0,
      dropped: [...this.droppedSpaces], // spaces not kept, this run
      purgePending: this.purge,
    };
  }

  async close() {
    if (this.transport) this.transport.stop();
    this.transport = null;
    clearTimeout(this.snapshotTimer);
    clearTimeout(this.syncSaveTimer);
    if (this.replicaOpen && !this.failed) {
      await this.storage.lastAppend;
      await this.snapshot().catch(() => {});
    }
    if (this.replicaOpen) this.call('replicaClose');
    this.replicaOpen = false;
    if (this.storage) this.storage.close();
  }
}
