// Issue 10, finding 4 (the browser side): a hostile node pushes a space the
// browser's device is no member of. The device stores only spaces it is a
// member of: the session drops the space at the node's Live, and nothing of
// it may reach IndexedDB, so a reload (offline: no session to drop it again)
// shows no trace of it, in the API or in the raw IndexedDB records.
//
// The hostile node is a real `urbis node` told to serve the browser's device
// every space (--trust-peer, as for a peer node): it offers the device a
// space a stranger (the CLI) seeded there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, cli, tempDir, until, sleep } from './harness.mjs';

after(cleanup);

// In the page: every record of every object store of IndexedDB database
// `name`, searched for each id (hex): its 32 raw bytes in any byte array, or
// its hex text in any string. Returns {hex: hits}, and the stores' sizes.
async function scanIndexedDb(page, name, ids) {
  return page.evaluate(
    async ({ name, ids }) => {
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open(name);
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const records = [];
      for (const store of db.objectStoreNames) {
        const all = await new Promise((resolve, reject) => {
          const req = db.transaction(store, 'readonly').objectStore(store).getAll();
          req.onsuccess = () => resolve(req.result);
          req.onerror = () => reject(req.error);
        });
        for (const v of all) records.push({ store, v });
      }
      db.close();
      const bytesOf = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));
      const contains = (hay, needle) => {
        outer: for (let i = 0; i + needle.length <= hay.length; i++) {
          for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
          return true;
        }
        return false;
      };
      const hits = Object.fromEntries(ids.map((id) => [id, 0]));
      const sizes = {};
      const visit = (store, v, depth) => {
        if (v == null || depth > 8) return;
        if (v instanceof ArrayBuffer) v = new Uint8Array(v);
        if (ArrayBuffer.isView(v)) {
          const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          sizes[store] = (sizes[store] || 0) + bytes.length;
          const text = new TextDecoder('latin1').decode(bytes).toLowerCase();
          for (const id of ids) if (contains(bytes, bytesOf(id)) || text.includes(id)) hits[id] += 1;
          return;
        }
        if (typeof v === 'string') {
          for (const id of ids) if (v.toLowerCase().includes(id)) hits[id] += 1;
          return;
        }
        if (typeof v === 'object') {
          for (const [k, x] of Object.entries(v)) {
            for (const id of ids) if (k.toLowerCase().includes(id)) hits[id] += 1;
            visit(store, x, depth + 1);
          }
        }
      };
      for (const { store, v } of records) visit(store, v, 0);
      return { hits, sizes, records: records.length };
    },
    { name, ids },
  );
}

test('a space a node pushes unasked is dropped and leaves nothing in IndexedDB', { timeout: 240000 }, async () => {
  checkSetup();
  let node = await startNode();
  const chrome = await launchBrowser();
  const page = await openPage(chrome.context, node);
  const device = await openDb(page, node, { create: true });

  // The browser's own space: the control (the scan finds what is stored).
  const own = await page.evaluate(async () => {
    const space = await db.createSpace('Own office');
    await db.put(space, 'project', 'new', { 'title@en': 'Bike lanes' });
    await db.waitForSync({ timeoutMs: 20000 });
    return space;
  });

  // A stranger seeds a space on the node (it takes new spaces from anyone:
  // --open-spaces) that names the browser's device nowhere.
  const strangerHome = path.join(tempDir('stranger'), 'home');
  cli(strangerHome, ['init']);
  const { space: phish } = cli(strangerHome, ['space', 'create', 'Official notices']);
  cli(strangerHome, ['put', phish, 'practice', 'new', 'title@en=Your account is locked: sign in at evil.example']);
  cli(strangerHome, ['sync', node.ws]);

  // Every change the engine hands to IndexedDB's log is announced as a change
  // event: none may name the pushed space (held back while judged).
  await page.evaluate(() => {
    window.changeEvents = [];
    db.subscribe('*', (e) => window.changeEvents.push(e));
  });

  // The node turns hostile: it serves the browser's device every space.
  const { home, port } = node;
  await node.stop();
  node = await startNode({ home, port, args: ['--trust-peer', device] });

  // The browser reconnects and discovers; the node sends the whole space.
  // The session is live (the sync indicator says online) only once the node
  // said Live for every space it offered, the pushed one too: judged by then.
  await until(
    'the browser to reconnect and sync every offered space',
    () =>
      page.evaluate(async () => {
        const [st, stats] = await Promise.all([db.syncStatus(), db.stats()]);
        return st.state === 'online' && stats.connects >= 2;
      }),
    40000,
  );
  const stats = await page.evaluate(() => db.stats());
  const events = await page.evaluate(() => window.changeEvents.map((e) => e.space));
  assert.ok(!events.includes(phish), `no change of the pushed space reached the log (${JSON.stringify(events)})`);
  const listed = await page.evaluate(() => db.spaces().then((l) => l.map((s) => s.space)));
  assert.ok(listed.includes(own), 'own space listed');
  assert.ok(!listed.includes(phish), 'the pushed space is not kept');
  // The purge snapshot (vacuumed) replaces the last one.
  await until('the purge snapshot', () => page.evaluate(() => db.stats().then((s) => !s.purgePending)), 20000);
  await page.evaluate(() => db.snapshot());
  await sleep(500);

  // Reload offline: no session runs, so only what IndexedDB holds comes back.
  await chrome.context.setOffline(true);
  await page.reload({ timeout: 20000 });
  await page.waitForFunction(() => !!window.Urbis, null, { timeout: 20000 });
  await openDb(page, node);
  const after = await page.evaluate(async () => ({
    spaces: (await db.spaces()).map((s) => s.space),
    status: await db.syncStatus(),
  }));
  assert.equal(after.status.state, 'offline');
  assert.ok(after.spaces.includes(own), 'own space restored');
  assert.ok(!after.spaces.includes(phish), 'the pushed space is not restored');

  const scan = await scanIndexedDb(page, 'urbis', [own, phish]);
  assert.ok(scan.hits[own] > 0, `the scan finds the own space (${JSON.stringify(scan)})`);
  assert.equal(scan.hits[phish], 0, `nothing of the pushed space in IndexedDB (${JSON.stringify(scan)})`);
  // The session did judge it (and said so to the engine).
  assert.ok(stats.dropped.includes(phish), `reported dropped (${JSON.stringify(stats.dropped)})`);
});
