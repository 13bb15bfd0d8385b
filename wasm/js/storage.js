// IndexedDB persistence for one replica (wasm/README.md, "Durability").
//
// Object stores of database `name`:
//   meta       small records by name: 'identity' (the wrapped key, bytes),
//              'sync' ({acked, lastSync}: what the node last acknowledged)
//   log        every change envelope the replica stored, under an increasing
//              integer key assigned here when the append is issued
//   snapshots  'current': {key, size, chunkBytes, wal, time} — the SQLite
//              database file copied from Emscripten's MEMFS (its `size`
//              bytes are in `chunks`) and its WAL (usually null: the copy
//              follows a checkpoint), holding every log entry <= key.
//              Version 1 stored the whole file as `db` instead; such a
//              record still opens (latestSnapshot).
//   chunks     the database file in chunks of `chunkBytes`, by index: a
//              snapshot rewrites only the chunks SQLite wrote since the last
//              one (wasm/src/dirty_vfs.h), so its cost follows what changed,
//              not the size of the history
//
// appendLog resolves when the IndexedDB transaction completes; with
// {strict: true} it asks for durability 'strict' (flushed to disk before
// 'complete'). Transactions on one connection whose scopes overlap run in the
// order they were created, so appends complete in key order, and a snapshot
// (which deletes the entries it holds) runs after every append issued before it.
//
// Works with the browser's IndexedDB and with fake-indexeddb under Node.

import { Codes } from './codes.js';

const VERSION = 2; // 2: the database file in chunks

// Resolves when `tx` completes; rejects (with a Storage-coded error) on error or abort.
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    const fail = () => reject(storageError(tx.error));
    tx.onerror = fail;
    tx.onabort = fail;
  });
}

// db.transaction() throws when the connection is closed or the store is
// unknown; callers get a rejected promise instead.
function begin(db, stores, mode, options) {
  try {
    return db.transaction(stores, mode, options);
  } catch (e) {
    throw storageError(e);
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(storageError(req.error));
  });
}

export function storageError(cause) {
  const err = new Error(`IndexedDB: ${cause ? cause.message || cause.name : 'transaction failed'}`);
  err.code = Codes.Storage;
  err.codeName = 'Storage';
  err.cause = cause;
  return err;
}

export class Storage {
  // Opens (creating or upgrading) the database `name` of `idb` (an IDBFactory).
  static async open(idb, name) {
    const req = idb.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const store of ['meta', 'log', 'snapshots', 'chunks'])
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
    };
    const db = await request(req);
    const storage = new Storage(db);
    await storage.#loadKeys();
    return storage;
  }

  constructor(db) {
    this.db = db;
    this.nextKey = 1;
    // Settles when every append issued so far has completed (never rejects).
    this.lastAppend = Promise.resolve();
    // The durability each append asked for and how long it took (ms), for
    // the benchmarks: the last few hundred only.
    this.appendTimes = [];
  }

  async #loadKeys() {
    const tx = this.db.transaction(['log', 'snapshots'], 'readonly');
    const last = await request(tx.objectStore('log').openKeyCursor(null, 'prev'));
    const snap = await request(tx.objectStore('snapshots').get('current'));
    this.nextKey = Math.max(last ? last.key : 0, snap ? snap.key : 0) + 1;
  }

  async getMeta(key) {
    const tx = this.db.transaction('meta', 'readonly');
    return request(tx.objectStore('meta').get(key));
  }

  putMeta(key, value, { strict = false } = {}) {
    try {
      const tx = begin(this.db, 'meta', 'readwrite', { durability: strict ? 'strict' : 'relaxed' });
      tx.objectStore('meta').put(value, key);
      return done(tx);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // Appends `envelopes` (Uint8Arrays) under the next keys, in order. The keys
  // are taken now, so a snapshot taken after this call covers them.
  appendLog(envelopes, { strict = false } = {}) {
    const start = now();
    let p;
    try {
      const tx = begin(this.db, 'log', 'readwrite', { durability: strict ? 'strict' : 'relaxed' });
      const store = tx.objectStore('log');
      for (const env of envelopes) store.put(env, this.nextKey++);
      p = done(tx);
    } catch (e) {
      p = Promise.reject(storageError(e)); // e.g. QuotaExceededError thrown by put()
    }
    p = p.then(() => {
      if (strict) {
        this.appendTimes.push(now() - start);
        if (this.appendTimes.length > 1000) this.appendTimes.splice(0, 500);
      }
    });
    this.lastAppend = p.catch(() => {});
    return p;
  }

  // Calls `onBatch(envelopes)` (up to `batch` at a time, in key order) for
  // every log entry with a key above `after`.
  async readLogAfter(after, onBatch, batch = 500) {
    let lower = after;
    for (;;) {
      const tx = this.db.transaction('log', 'readonly');
      const store = tx.objectStore('log');
      const range = IDBKeyRangeOf().lowerBound(lower, true);
      const [keys, values] = await Promise.all([
        request(store.getAllKeys(range, batch)),
        request(store.getAll(range, batch)),
      ]);
      if (values.length === 0) return;
      await onBatch(values.map((v) => (v instanceof Uint8Array ? v : new Uint8Array(v))));
      lower = keys[keys.length - 1];
      if (values.length < batch) return;
    }
  }

  async countLog() {
    const tx = this.db.transaction('log', 'readonly');
    return request(tx.objectStore('log').count());
  }

  // The latest snapshot's record, or undefined.
  async latestSnapshot() {
    const tx = this.db.transaction('snapshots', 'readonly');
    return request(tx.objectStore('snapshots').get('current'));
  }

  // The database file of snapshot record `snap` (latestSnapshot()), whole:
  // its chunks read in key order, `batch` at a time, or a version 1 record's
  // `db`. Rejects with Storage when a chunk is missing.
  async snapshotFile(snap, batch = 256) {
    if (snap.db) return new Uint8Array(snap.db);
    if (!Number.isSafeInteger(snap.size) || snap.size < 0 || !Number.isSafeInteger(snap.chunkBytes) || snap.chunkBytes <= 0)
      throw storageError(new Error(`the snapshot record is damaged (size ${snap.size}, chunkBytes ${snap.chunkBytes})`));
    const file = new Uint8Array(snap.size);
    const count = Math.ceil(snap.size / snap.chunkBytes);
    for (let from = 0; from < count; from += batch) {
      const tx = this.db.transaction('chunks', 'readonly');
      const range = IDBKeyRangeOf().bound(from, Math.min(from + batch, count) - 1);
      const store = tx.objectStore('chunks');
      const [keys, values] = await Promise.all([request(store.getAllKeys(range)), request(store.getAll(range))]);
      for (let i = 0; i < keys.length; i++) {
        const bytes = values[i] instanceof Uint8Array ? values[i] : new Uint8Array(values[i]);
        // Every chunk is whole but the last, which ends the file.
        const want = Math.min(snap.chunkBytes, snap.size - keys[i] * snap.chunkBytes);
        if (bytes.length !== want)
          throw storageError(new Error(`the snapshot's chunk ${keys[i]} holds ${bytes.length} bytes, not ${want}`));
        file.set(bytes, keys[i] * snap.chunkBytes);
      }
      const want = Math.min(from + batch, count) - from;
      if (keys.length !== want)
        throw storageError(new Error(`the snapshot lacks ${want - keys.length} of chunks ${from}..${from + want - 1}`));
    }
    return file;
  }

  // Stores the snapshot holding every log entry <= key and drops those
  // entries, in one transaction (all or nothing). `file`: {size,
  // chunkBytes, chunks: Map index -> bytes, all, wal}: the chunks written
  // since the last snapshot, or (all) every chunk of the file.
  writeSnapshot(key, file) {
    let tx = null;
    try {
      tx = begin(this.db, ['snapshots', 'log', 'chunks'], 'readwrite', { durability: 'strict' });
      const chunks = tx.objectStore('chunks');
      const count = Math.ceil(file.size / file.chunkBytes);
      if (file.all) chunks.clear();
      else chunks.delete(IDBKeyRangeOf().lowerBound(count)); // past the end: a shorter file
      for (const [index, bytes] of file.chunks) chunks.put(bytes, index);
      const record = { key, size: file.size, chunkBytes: file.chunkBytes, wal: file.wal || null, time: Date.now() };
      tx.objectStore('snapshots').put(record, 'current');
      tx.objectStore('log').delete(IDBKeyRangeOf().upperBound(key));
      return done(tx);
    } catch (e) {
      // A request that throws (quota) must not let the others commit: a
      // cleared or partial chunk store under the old record.
      try {
        if (tx) tx.abort();
      } catch (ignored) {
        // already finished
      }
      return Promise.reject(storageError(e));
    }
  }

  close() {
    this.db.close();
  }
}

// The global IDBKeyRange (the browser's, or fake-indexeddb/auto's under Node).
function IDBKeyRangeOf() {
  if (typeof IDBKeyRange === 'undefined') throw new Error('IDBKeyRange is not available');
  return IDBKeyRange;
}

function now() {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
