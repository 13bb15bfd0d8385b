// The worker's Engine under Node: identity, writes and reads through the
// flat C ABI, error codes, durability in (fake) IndexedDB, snapshots and
// replay after a "reload" (a fresh module on the same database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEngine, uniqueName } from './helpers.mjs';

async function rejectsWith(promiseOrFn, codeName) {
  await assert.rejects(
    async () => (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn),
    (err) => {
      assert.equal(err.codeName, codeName, `expected ${codeName}, got ${err.codeName}: ${err.message}`);
      assert.equal(typeof err.code, 'number');
      return true;
    },
  );
}

test('identity: create, lock state, unlock, wrong passphrase', async () => {
  const name = uniqueName();
  const a = await openEngine(name);
  await rejectsWith(() => a.spaces(), 'NoKey');
  await rejectsWith(() => a.unlock('x'), 'NotFound');
  const device = await a.createIdentity('correct horse');
  assert.match(device, /^[0-9a-f]{64}$/);
  assert.equal(a.device(), device);
  await rejectsWith(() => a.createIdentity('again'), 'InvalidArgument');
  await a.close();

  const b = await openEngine(name);
  assert.equal(b.device(), null);
  await rejectsWith(() => b.spaces(), 'NoKey');
  await rejectsWith(() => b.unlock('wrong'), 'WrongPassphrase');
  assert.equal(await b.unlock('correct horse'), device);
  assert.deepEqual(b.spaces(), []);
  await b.close();
});

test('identity: a weak passphrase is refused for a new identity; passphrase bytes are zeroed', async () => {
  const name = uniqueName();
  const a = await openEngine(name);
  for (const weak of ['', 'short', 'aaaaaaaaaaaa', '1234567890', 'qwertyuiop', 'Password123'])
    await rejectsWith(() => a.createIdentity(weak), 'InvalidArgument');
  await rejectsWith(() => a.spaces(), 'NoKey'); // nothing was created
  // Bytes that JSON must escape (quote, backslash, a control character) and
  // non-ASCII, passed as a Uint8Array: used, then zeroed.
  const bytes = new TextEncoder().encode('a "quoted\\ pass\u0001phrase" 부산');
  const again = bytes.slice();
  const device = await a.createIdentity(bytes);
  assert.ok(bytes.every((b) => b === 0), 'the passphrase bytes are zeroed after createIdentity');
  await a.close();
  const b = await openEngine(name);
  assert.equal(await b.unlock(again), device);
  assert.ok(again.every((x) => x === 0), 'the passphrase bytes are zeroed after unlock');
  await b.close();
});

test('put/get/find/remove/resolve with compact and structured fields', async () => {
  const e = await openEngine(uniqueName());
  await e.createIdentity('correct horse');
  const { space } = await e.createSpace('Plan');
  const { id } = await e.put(space, 'project', 'new', {
    'title@ko': '스마트 교통',
    sector: 'mobility',
    budget: 120000,
    '+tags': ['pilot', 'bus'],
  });
  await e.put(space, 'project', id, { 'title@en': 'Smart traffic' });
  let p = e.get(space, 'project', id, { lang: 'ko' });
  assert.equal(p.values.title, '스마트 교통');
  assert.equal(p.values.budget, 120000);
  assert.deepEqual(p.values.tags, ['bus', 'pilot']);
  assert.equal(p.translations.title.original, 'ko');
  // The API's keys are camelCase (the core's missing_translations).
  assert.deepEqual(p.missingTranslations, []);
  assert.equal('missing_translations' in p, false);

  await e.put(space, 'project', id, [
    { op: 'remove', field: 'tags', value: 'bus' },
    { op: 'text', field: 'summary', locale: 'es', value: 'Semáforos', source: 'en' },
  ]);
  p = e.get(space, 'project', id);
  assert.deepEqual(p.values.tags, ['pilot']);
  assert.equal(p.translations.summary.values.es, 'Semáforos');

  // Space by name, find with facets and text.
  const found = e.find('Plan', { type: 'project', text: 'smart', where: { sector: 'mobility', budget: 120000 } });
  assert.equal(found.total, 1);
  assert.equal(found.hits[0].id, id);
  assert.equal(e.find(space, { where: { sector: 'energy' } }).total, 0);

  await e.resolve(space, 'project', id, 'sector', 'energy');
  assert.equal(e.get(space, 'project', id).values.sector, 'energy');

  // Errors carry the core's codes.
  await rejectsWith(() => e.get(space, 'need', id), 'NotFound');
  await rejectsWith(() => e.put(space, 'project', 'nothex', { a: 1 }), 'InvalidArgument');
  await rejectsWith(() => e.put(space, 'project', id, { 'title@': 'x' }), 'InvalidArgument');
  await rejectsWith(() => e.put(space, 'project', id, { 'title@en': 5 }), 'InvalidArgument');
  await rejectsWith(() => e.find('nope', {}), 'UnknownSpace');
  await rejectsWith(() => e.find(space, { limit: 1001 }), 'InvalidArgument');
  await rejectsWith(() => e.find(space, { limit: -1 }), 'InvalidArgument');
  assert.deepEqual(e.find(space, { type: 'project', limit: 0 }), { total: 1, hits: [] }); // a count
  await rejectsWith(() => e.joinSpace('code'), 'InvalidArgument');

  await e.remove(space, 'project', id);
  assert.equal(e.get(space, 'project', id).deleted, true);
  assert.equal(e.find(space, { type: 'project' }).total, 0);

  const localChanges = e.events.filter((x) => x.event === 'change' && x.data.origin === 'local');
  assert.ok(localChanges.length >= 5);
  assert.ok(localChanges.every((x) => x.data.space === space));
  await e.close();
});

test('an edit resolves only once its envelope is in IndexedDB; a reload replays the log', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  const before = await a.storage.countLog();
  await a.put(space, 'need', 'new', { title: 'water' });
  assert.equal(await a.storage.countLog(), before + 1, 'the change is in the log when put resolves');
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push((await a.put(space, 'need', 'new', { n: i })).id);
  const hash = a.stateHash(space);
  // No snapshot, no close: as if the tab died right after the last put.
  a.storage.close();

  const b = await openEngine(name);
  await b.unlock('correct horse');
  assert.equal(b.stateHash(space), hash);
  assert.equal(b.get(space, 'need', ids[19]).values.n, 19);
  assert.equal(b.stats().restore.snapshotKey, 0);
  assert.ok(b.stats().restore.replayed >= 22);
  await b.close();
});

// A commit hands its own envelope to the log (no query of the space's
// history): each write, local edits and membership changes interleaved,
// adds exactly one entry, and the log alone rebuilds the same state.
test('each write appends exactly its change to the log, in an order that replays', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const peer = await openEngine(uniqueName());
  const other = await peer.createIdentity('correct horse');
  await peer.close();
  const { space } = await a.createSpace('S');
  const { space: second } = await a.createSpace('T');
  let count = await a.storage.countLog();
  const one = async (what, write) => {
    const out = await write();
    const now = await a.storage.countLog();
    assert.equal(now, count + 1, `${what} appends one change`);
    count = now;
    return out;
  };
  const { id } = await one('a create', () => a.put(space, 'need', 'new', { title: 'water' }));
  await one('an edit', () => a.put(space, 'need', id, { title: 'water, clean' }));
  await one('a membership change', () => a.setRole(space, other, 'editor'));
  await one('an edit after it', () => a.put(space, 'need', id, { '+tags': 'wells' }));
  await one('an invite', () => a.createInvite(space, 'viewer', 3600, { witness: 'ab'.repeat(32) }));
  await one('a write to another space', () => a.put(second, 'city', 'new', { 'name@en': 'Lima' }));
  await one('a resolve', () => a.resolve(space, 'need', id, 'title', 'water, clean and near'));
  await one('a remove', () => a.remove(space, 'need', id));
  const hashes = [a.stateHash(space), a.stateHash(second)];
  a.storage.close(); // no snapshot: the log alone

  const b = await openEngine(name);
  await b.unlock('correct horse');
  assert.equal(b.stats().restore.snapshotKey, 0);
  assert.equal(b.stats().restore.replayed, count);
  assert.deepEqual([b.stateHash(space), b.stateHash(second)], hashes);
  // After the replay, writes continue the chain and still append one each.
  const before = await b.storage.countLog();
  await b.put(space, 'need', 'new', { title: 'roads' });
  await b.put(second, 'city', 'new', { 'name@en': 'Quito' });
  assert.equal(await b.storage.countLog(), before + 2);
  const hashes2 = [b.stateHash(space), b.stateHash(second)];
  b.storage.close();
  const c = await openEngine(name);
  await c.unlock('correct horse');
  assert.deepEqual([c.stateHash(space), c.stateHash(second)], hashes2);
  await c.close();
});

test('snapshots bound the replay and drop the log entries they hold', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  for (let i = 0; i < 10; i++) await a.put(space, 'city', 'new', { i });
  const snap = await a.snapshot();
  assert.ok(snap.key >= 11);
  assert.equal(await a.storage.countLog(), 0);
  assert.equal((await a.storage.latestSnapshot()).wal, null, 'checkpointed: the database file alone');
  for (let i = 0; i < 5; i++) await a.put(space, 'city', 'new', { i: 100 + i });
  const hash = a.stateHash(space);
  a.storage.close();

  const b = await openEngine(name);
  await b.unlock('correct horse');
  assert.equal(b.stateHash(space), hash);
  assert.equal(b.stats().restore.snapshotKey, snap.key);
  assert.equal(b.stats().restore.replayed, 5);
  assert.equal(b.find(space, { type: 'city', limit: 100 }).total, 15);
  // Writing after the reload continues the device's chain.
  await b.put(space, 'city', 'new', { i: 999 });
  await b.close();

  const c = await openEngine(name);
  await c.unlock('correct horse');
  assert.equal(c.find(space, { type: 'city', limit: 100 }).total, 16);
  await c.close();
});

// The copy of the database file in IndexedDB, whole, and the file in MEMFS
// after the checkpoint a snapshot makes.
async function storedFile(engine) {
  return engine.storage.snapshotFile(await engine.storage.latestSnapshot());
}
const memfsFile = (engine) => engine.m.FS.readFile('/urbis/replica.db');

test('a snapshot copies the chunks written since the last one, and IndexedDB holds the file byte for byte', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  const text = 'a long description of a project in a city, written once, '.repeat(20);
  for (let i = 0; i < 300; i++) await a.put(space, 'project', 'new', { title: `Project ${i}`, description: text, n: i });
  const first = await a.snapshot();
  assert.equal(first.written, first.bytes, 'the first snapshot copies the whole file');
  assert.deepEqual(await storedFile(a), memfsFile(a));
  assert.ok(first.bytes > 1e6, `a file of some size (${first.bytes} bytes)`);

  // One edit: a few chunks, not the file.
  const one = await a.put(space, 'project', 'new', { title: 'One more' });
  const second = await a.snapshot();
  assert.ok(second.chunks > 0, 'the edit wrote chunks');
  assert.ok(second.written * 20 < second.bytes, `one edit copies ${second.written} of ${second.bytes} bytes`);
  assert.deepEqual(await storedFile(a), memfsFile(a), 'the copy is the file, byte for byte');

  // Edits, a removal and more snapshots; each time the same bytes.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 25; i++) await a.put(space, 'project', 'new', { title: `Round ${round} ${i}`, description: text });
    await a.remove(space, 'project', one.id);
    await a.snapshot();
    assert.deepEqual(await storedFile(a), memfsFile(a), `round ${round}`);
  }
  // A snapshot that fails (IndexedDB refuses it) loses nothing: the next one
  // copies every chunk, not only what changed since the failed one.
  const write = a.storage.writeSnapshot.bind(a.storage);
  a.storage.writeSnapshot = () => Promise.reject(new Error('quota (test)'));
  await a.put(space, 'project', 'new', { title: 'Before the failure' });
  await assert.rejects(a.snapshot(), /quota/);
  a.storage.writeSnapshot = write;
  await a.put(space, 'project', 'new', { title: 'After the failure' });
  const recovered = await a.snapshot();
  assert.equal(recovered.written, recovered.bytes, 'after a failed snapshot, every chunk');
  assert.deepEqual(await storedFile(a), memfsFile(a));

  // A chunk of the wrong length is refused at start, not read as zeros.
  {
    const snap = await a.storage.latestSnapshot();
    const probe = await a.storage.snapshotFile(snap);
    assert.equal(probe.length, snap.size);
    const bad = { ...snap, chunkBytes: snap.chunkBytes * 2 };
    await assert.rejects(a.storage.snapshotFile(bad), (e) => e.codeName === 'Storage' && /holds \d+ bytes|lacks/.test(e.message));
    await assert.rejects(a.storage.snapshotFile({ ...snap, chunkBytes: undefined }), /damaged/);
  }
  const hash = a.stateHash(space);
  await a.close();

  // A reload starts from the chunks: the same state, nothing to replay.
  const b = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await b.unlock('correct horse');
  assert.equal(b.stateHash(space), hash);
  assert.equal(b.stats().restore.replayed, 0);
  await b.put(space, 'project', 'new', { title: 'After the reload' });
  const third = await b.snapshot();
  assert.ok(third.written * 20 < third.bytes, 'after a reload, still only what changed');
  assert.deepEqual(await storedFile(b), memfsFile(b));
  await b.close();
});

// A database of storage version 1 (the whole file in one record) opens: the
// upgrade adds the chunk store, and the first snapshot writes every chunk.
test('a version 1 snapshot (the whole file in one record) opens and is rewritten in chunks', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  for (let i = 0; i < 50; i++) await a.put(space, 'city', 'new', { i });
  const snap = await a.snapshot();
  for (let i = 0; i < 3; i++) await a.put(space, 'city', 'new', { i: 100 + i });
  const hash = a.stateHash(space);
  const file = await storedFile(a);
  a.storage.close(); // no snapshot at close: the three edits stay in the log

  // The same records in a version 1 database.
  const req = (r) => new Promise((resolve, reject) => ((r.onsuccess = () => resolve(r.result)), (r.onerror = () => reject(r.error))));
  const v2 = await req(indexedDB.open(name));
  const read = async (store) => {
    const tx = v2.transaction(store, 'readonly');
    return Promise.all([req(tx.objectStore(store).getAllKeys()), req(tx.objectStore(store).getAll())]);
  };
  const meta = await read('meta');
  const log = await read('log');
  v2.close();
  await req(indexedDB.deleteDatabase(name));
  const open1 = indexedDB.open(name, 1);
  open1.onupgradeneeded = () => {
    for (const store of ['meta', 'log', 'snapshots']) open1.result.createObjectStore(store);
  };
  const v1 = await req(open1);
  const tx = v1.transaction(['meta', 'log', 'snapshots'], 'readwrite');
  meta[0].forEach((k, i) => tx.objectStore('meta').put(meta[1][i], k));
  log[0].forEach((k, i) => tx.objectStore('log').put(log[1][i], k));
  tx.objectStore('snapshots').put({ key: snap.key, db: file, wal: null, time: Date.now() }, 'current');
  await new Promise((resolve, reject) => ((tx.oncomplete = resolve), (tx.onerror = () => reject(tx.error))));
  v1.close();

  const b = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await b.unlock('correct horse');
  assert.equal(b.stateHash(space), hash);
  assert.equal(b.stats().restore.replayed, 3);
  assert.equal(b.stats().restore.snapshotBytes, file.length);
  await b.put(space, 'city', 'new', { i: 999 });
  const rewritten = await b.snapshot();
  assert.equal(rewritten.written, rewritten.bytes, 'the first snapshot after the upgrade copies every chunk');
  assert.equal((await b.storage.latestSnapshot()).db, undefined, 'the whole-file record is replaced');
  assert.deepEqual(await storedFile(b), memfsFile(b));
  const after = b.stateHash(space);
  await b.close();

  const c = await openEngine(name);
  await c.unlock('correct horse');
  assert.equal(c.stateHash(space), after);
  await c.close();
});

test('snapshots happen by themselves after N changes', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 5, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  for (let i = 0; i < 12; i++) await a.put(space, 'city', 'new', { i });
  await a.snapshotting;
  const snap = await a.storage.latestSnapshot();
  assert.ok(snap && snap.key >= 5, 'a snapshot was written');
  assert.ok((await a.storage.countLog()) < 13);
  await a.close();
});

// A snapshot a burst made (snapshotEvery changes, as in a catch-up) leaves
// Discover's refresh to later; the idle snapshot that follows, with no new
// change, refreshes and copies the store.
test('a snapshot after a burst is followed by an idle one, with no new change', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 5, snapshotIdleMs: 300 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  let writes = 0;
  const write = a.storage.writeSnapshot.bind(a.storage);
  a.storage.writeSnapshot = (...args) => ((writes += 1), write(...args));
  for (let i = 0; writes === 0 && i < 20; i++) await a.put(space, 'project', 'new', { title: `Project ${i}` });
  assert.equal(writes, 1, 'the burst took a snapshot');
  await a.snapshotting;
  for (let i = 0; writes < 2 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(writes, 2, 'an idle snapshot followed');
  await a.snapshotting;
  assert.deepEqual(await storedFile(a), memfsFile(a), 'the copy is the file, byte for byte');
  assert.equal(a.find(space, { text: 'project', limit: 100 }).total >= 1, true);
  await a.close();
});

test('invites: an admin makes a code; joining needs the node; a member joins trivially', async () => {
  const admin = await openEngine(uniqueName());
  await admin.createIdentity('correct horse');
  const { space } = await admin.createSpace('S');
  // No node synced with yet: nothing to witness the join, a clear error.
  await rejectsWith(() => admin.createInvite(space, 'viewer', 3600), 'NotFound');
  const invite = await admin.createInvite(space, 'viewer', 3600, { witness: 'ab'.repeat(32) });
  assert.match(invite.code, /^urbis1-[a-z2-7]{64}$/);
  assert.ok(invite.expires > Date.now());
  assert.ok(admin.members(space).some((m) => m.device === invite.key));
  // Already a member: nothing to redeem.
  assert.deepEqual(await admin.joinSpace(invite.code), { space, role: 'admin' });

  const joiner = await openEngine(uniqueName());
  await joiner.createIdentity('correct horse');
  await rejectsWith(() => joiner.joinSpace(invite.code), 'InvalidArgument'); // no node configured
  await rejectsWith(() => joiner.joinSpace(invite.code.slice(0, -1) + 'a'), 'InvalidArgument'); // check fails
  await rejectsWith(() => joiner.joinSpace(invite.code.replace(/a/g, '1')), 'InvalidArgument');
  await admin.close();
  await joiner.close();
});

test('members: setRole with a scope, revokeInvite, lastSeen kept across a snapshot', async () => {
  const name = uniqueName();
  const admin = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  const me = await admin.createIdentity('correct horse');
  const { space } = await admin.createSpace('S');
  const peer = await openEngine(uniqueName());
  const other = await peer.createIdentity('correct horse');
  await peer.close();
  const { id: city } = await admin.put(space, 'city', 'new', { 'name@en': 'Lima' });
  assert.deepEqual(await admin.setRole(space, other, 'commenter'), { space, device: other, role: 'commenter', scope: [] });
  let entry = admin.members(space).find((m) => m.device === other);
  assert.equal(entry.role, 'commenter');
  assert.deepEqual(entry.scope, []);
  assert.equal(entry.lastSeen, undefined, 'a member that never wrote has no last seen');
  const scoped = await admin.setRole(space, other, 'editor', { scope: [city, city] });
  assert.deepEqual(scoped.scope, [city], 'a scope lists each city once');
  entry = admin.members(space).find((m) => m.device === other);
  assert.equal(entry.role, 'editor');
  assert.deepEqual(entry.scope, [city]);
  // The same role over the whole space again: a change of scope alone.
  await admin.setRole(space, other, 'editor');
  assert.deepEqual(admin.members(space).find((m) => m.device === other).scope, []);
  await rejectsWith(() => admin.setRole(space, other, 'none'), 'InvalidArgument');
  await rejectsWith(() => admin.setRole(space, other, 'editor', { scope: ['xyz'] }), 'InvalidArgument');
  await rejectsWith(() => admin.setRole(space, other, 'editor', { scope: 'all' }), 'InvalidArgument');

  // A pending invite is revoked by its key; revoking it twice is NotFound.
  const invite = await admin.createInvite(space, 'commenter', 3600, { witness: 'ab'.repeat(32) });
  entry = admin.members(space).find((m) => m.device === invite.key);
  assert.equal(entry.role, 'commenter');
  assert.ok(entry.inviteExpires > Date.now());
  assert.deepEqual(await admin.revokeInvite(space, invite.key), { space, key: invite.key });
  assert.equal(admin.members(space).find((m) => m.device === invite.key), undefined);
  await rejectsWith(() => admin.revokeInvite(space, invite.key), 'NotFound');
  await rejectsWith(() => admin.revokeInvite(space, other), 'NotFound');

  // Last seen: the time of this device's newest change, still known after a
  // snapshot replaced the log that told it and the store was reopened.
  const seen = admin.members(space).find((m) => m.device === me).lastSeen;
  assert.ok(Math.abs(seen - Date.now()) < 60000, `last seen ${seen} is about now`);
  await admin.snapshot();
  assert.equal(await admin.storage.countLog(), 0);
  admin.storage.close();
  const again = await openEngine(name);
  await again.unlock('correct horse');
  assert.equal(again.members(space).find((m) => m.device === me).lastSeen, seen);
  await again.close();
});

test('joining: a silent node fails the join after the idle timeout, leaving nothing', async () => {
  const admin = await openEngine(uniqueName());
  await admin.createIdentity('correct horse');
  const { space } = await admin.createSpace('S');
  const invite = await admin.createInvite(space, 'editor', 3600, { witness: 'ab'.repeat(32) });
  // A "node" that accepts the connection and then says nothing.
  class SilentSocket {
    constructor() {
      this.readyState = 0;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen && this.onopen();
      }, 5);
    }
    send() {}
    close() {
      this.readyState = 3;
    }
  }
  const joiner = await openEngine(uniqueName(), { node: 'ws://127.0.0.1:9/sync', WebSocket: SilentSocket, joinTimeoutMs: 300 });
  await joiner.createIdentity('correct horse');
  await assert.rejects(joiner.joinSpace(invite.code), (e) => e.codeName === 'Internal' && /nothing from the node for 0.3 s/.test(e.message));
  assert.deepEqual(joiner.spaces(), []);
  await admin.close();
  await joiner.close();
});

test('storage full: the edit rejects with Storage, nothing more is accepted, a reload has all that resolved', async () => {
  const name = uniqueName();
  const a = await openEngine(name, { snapshotEvery: 1e9, snapshotIdleMs: 1e9 });
  await a.createIdentity('correct horse');
  const { space } = await a.createSpace('S');
  const { id } = await a.put(space, 'project', 'new', { 'title@en': 'Kept' });
  // The disk fills up: IndexedDB refuses the next log entry.
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (...args) {
    if (this.name === 'log') throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
    return put.apply(this, args);
  };
  try {
    await rejectsWith(() => a.put(space, 'project', id, { 'title@en': 'Lost' }), 'Storage');
    await rejectsWith(() => a.put(space, 'project', 'new', { 'title@en': 'Refused' }), 'Storage');
    await rejectsWith(() => a.find(space, {}), 'Storage'); // the memory is ahead of the disk: reload to recover
  } finally {
    IDBObjectStore.prototype.put = put;
  }
  await a.close();

  const b = await openEngine(name);
  await b.unlock('correct horse');
  assert.equal(b.get(space, 'project', id).values.title, 'Kept');
  assert.equal(b.find(space, { type: 'project' }).total, 1);
  // The device's chain goes on from what is on disk.
  await b.put(space, 'project', id, { 'title@en': 'Written again' });
  assert.equal(b.get(space, 'project', id).values.title, 'Written again');
  await b.close();
});

test('activity: a cursor to start from, nothing of this device listed, bad input refused', async () => {
  const e = await openEngine(uniqueName());
  const me = await e.createIdentity('correct horse');
  const { space } = await e.createSpace('S');
  const first = e.activity(space);
  assert.deepEqual({ changes: first.changes, entities: first.entities }, { changes: 0, entities: [] }, 'no cursor: the cursor alone');
  assert.equal(typeof first.cursor[me], 'number');
  await e.put(space, 'task', 'new', { 'title@en': 'mine' });
  const after = e.activity(space, { since: first.cursor });
  assert.deepEqual({ changes: after.changes, entities: after.entities, complete: after.complete }, { changes: 0, entities: [], complete: true },
    'this device\'s own edits are not activity');
  assert.equal(after.cursor[me], first.cursor[me] + 1, 'the cursor moves past the edit');
  assert.deepEqual({ more: after.more, capped: after.capped }, { more: false, capped: false });
  // The count reads at most max_bytes of new changes (at least one), and says when more are left.
  await e.put(space, 'task', 'new', { 'title@en': 'mine too' });
  const cut = e.activity(space, { since: first.cursor, max_bytes: 1 });
  assert.deepEqual({ changes: cut.changes, more: cut.more, complete: cut.complete, entities: cut.entities },
    { changes: 0, more: true, complete: false, entities: [] }, 'two changes, one read: more left');
  assert.equal(e.activity(space, { since: first.cursor, max_bytes: 1 << 20 }).more, false);
  await rejectsWith(() => e.activity(space, { since: first.cursor, max_bytes: 0 }), 'InvalidArgument');
  await rejectsWith(() => e.activity(space, { since: { nothex: 1 } }), 'InvalidArgument');
  await rejectsWith(() => e.activity(space, { since: [] }), 'InvalidArgument');
  await rejectsWith(() => e.activity(space, { since: first.cursor, limit: 0 }), 'InvalidArgument');
  await e.close();
});
