// Joining by invite code: an admin on the `urbis` CLI invites; the browser
// joins through the node, reads the space and writes to it; the same code
// then fails in a second browser context ("already been used").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { PASS, checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, cli, tempDir } from './harness.mjs';

after(cleanup);

test('a browser joins a space with an invite code; the code works once', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startNode();
  const adminHome = path.join(tempDir('admin'), 'home');
  cli(adminHome, ['init']);
  const { space } = cli(adminHome, ['space', 'create', 'Secretariat']);
  const { id } = cli(adminHome, ['put', space, 'practice', 'new', 'title@en=Open budget portal', 'sector=e-government']);
  cli(adminHome, ['sync', node.ws]); // the node the admin syncs with witnesses the join
  const { invite } = cli(adminHome, ['space', 'invite', space, '--role', 'editor', '--ttl', '3600']);
  cli(adminHome, ['sync', node.ws]);

  const chrome = await launchBrowser();
  const page = await openPage(chrome.context, node);
  const device = await openDb(page, node, { create: true });
  const joined = await page.evaluate(async (code) => {
    const progress = [];
    const r = await db.joinSpace(code, { onProgress: (p) => progress.push(p.bytes) });
    return { ...r, progress, spaces: await db.spaces() };
  }, invite);
  assert.ok(joined.progress.length >= 1 && joined.progress[0] > 0, `join progress reported: ${joined.progress}`);
  assert.equal(joined.space, space);
  assert.equal(joined.role, 'editor');
  assert.ok(joined.spaces.some((s) => s.space === space && s.role === 'editor'));

  const mine = await page.evaluate(
    async ({ space, id }) => {
      const p = await db.get(space, 'practice', id);
      const { id: mine } = await db.put(space, 'practice', 'new', { 'title@fr': 'Budget participatif' });
      await db.waitForSync({ timeoutMs: 20000 });
      return { title: p.values.title, mine };
    },
    { space, id },
  );
  assert.equal(mine.title, 'Open budget portal');
  cli(adminHome, ['sync', node.ws]);
  assert.equal(cli(adminHome, ['get', space, 'practice', mine.mine, '--lang', 'fr']).values.title, 'Budget participatif');
  const members = cli(adminHome, ['space', 'members', space]);
  assert.ok(JSON.stringify(members).includes(device), 'the browser device is a member');

  // The same code in another context: refused, and nothing joined.
  const ctxB = await chrome.newContext();
  const pageB = await openPage(ctxB, node);
  await openDb(pageB, node, { create: true });
  const second = await pageB.evaluate(async (code) => {
    try {
      await db.joinSpace(code);
      return { ok: true };
    } catch (e) {
      return { code: e.code, codeName: e.codeName, message: e.message, spaces: await db.spaces() };
    }
  }, invite);
  assert.equal(second.codeName, 'NotAMember', JSON.stringify(second));
  assert.match(second.message, /already been used/);
  assert.deepEqual(second.spaces, []);
});

// Two browsers redeem one code at once: the node takes one redeem. The
// other stored the space while joining (in its replica, before it was a
// member); refused, it drops all of it: no space listed, none after a
// reload, nothing of it in IndexedDB; and it can still join with a new code.
test('a refused join leaves the replica as it was', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startNode();
  const adminHome = path.join(tempDir('admin'), 'home');
  cli(adminHome, ['init']);
  const { space } = cli(adminHome, ['space', 'create', 'Race']);
  for (let i = 0; i < 20; i++) cli(adminHome, ['put', space, 'practice', 'new', `title@en=Practice ${i}`]);
  cli(adminHome, ['sync', node.ws]);

  const chrome = await launchBrowser();
  const open = async () => {
    const ctx = await chrome.newContext();
    const page = await openPage(ctx, node);
    await openDb(page, node, { create: true });
    return page;
  };
  const join = (page, code) =>
    page.evaluate(async (code) => {
      try {
        const r = await db.joinSpace(code);
        return { ok: true, role: r.role };
      } catch (e) {
        return { ok: false, codeName: e.codeName, message: e.message };
      }
    }, code);
  // The loser was served the space (the drop path) in most races; a loser
  // that came after the winner's redeem was served nothing. Race again
  // until one was served.
  let loser = null;
  let served = false;
  for (let attempt = 0; attempt < 5 && !served; attempt++) {
    const { invite } = cli(adminHome, ['space', 'invite', space, '--role', 'editor', '--ttl', '3600']);
    cli(adminHome, ['sync', node.ws]);
    const [a, b] = [await open(), await open()];
    const results = await Promise.all([join(a, invite), join(b, invite)]);
    assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results));
    loser = results[0].ok ? b : a;
    const refused = results[0].ok ? results[1] : results[0];
    assert.equal(refused.codeName, 'NotAMember', JSON.stringify(refused));
    const after = await loser.evaluate(async () => ({ spaces: await db.spaces(), stats: await db.stats() }));
    assert.deepEqual(after.spaces, [], 'a refused join lists no space');
    served = after.stats.dropped.length > 0;
    if (served) assert.deepEqual(after.stats.dropped, [space], 'what the join stored was dropped');
  }
  assert.ok(served, 'one race in five had the loser served the space');

  // Nothing of the space reaches IndexedDB: the snapshot (the store
  // vacuumed after the drop) and the log hold no byte string of its id.
  const stored = await loser.evaluate(async ({ pass, space }) => {
    await db.snapshot();
    const purgePending = (await db.stats()).purgePending;
    await db.close();
    const idb = await new Promise((resolve, reject) => {
      const req = indexedDB.open('urbis');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const all = (store) =>
      new Promise((resolve, reject) => {
        const req = idb.transaction(store, 'readonly').objectStore(store).getAll();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const blobs = [];
    for (const snap of await all('snapshots')) blobs.push(snap.db, snap.wal);
    // The database file's chunks, joined in key order (an id may straddle two).
    const chunks = (await all('chunks')).map((c) => new Uint8Array(c.buffer ? c.buffer : c, c.byteOffset || 0, c.byteLength));
    const file = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (file.set(c, at), at + c.length), 0);
    if (file.length) blobs.push(file);
    blobs.push(...(await all('log')));
    idb.close();
    const id = Uint8Array.from(space.match(/../g), (h) => parseInt(h, 16));
    const holds = (bytes) => {
      if (!bytes) return false;
      const b = new Uint8Array(bytes.buffer ? bytes.buffer : bytes, bytes.byteOffset || 0, bytes.byteLength);
      outer: for (let i = 0; i + id.length <= b.length; i++) {
        for (let k = 0; k < id.length; k++) if (b[i + k] !== id[k]) continue outer;
        return true;
      }
      return false;
    };
    window.db = await window.Urbis.open({ node: null, pwhashCost: 'minimal' });
    await window.db.unlock(pass);
    return { purgePending, found: blobs.some(holds), blobs: blobs.filter(Boolean).length, spaces: await window.db.spaces() };
  }, { pass: PASS, space });
  assert.equal(stored.purgePending, false, 'the snapshot after the drop vacuumed the store');
  assert.ok(stored.blobs >= 1, 'a snapshot was written');
  assert.equal(stored.found, false, 'no byte of the space reached IndexedDB');
  assert.deepEqual(stored.spaces, [], 'reloaded: no space');

  // The same device joins with a fresh code.
  await loser.evaluate(async () => db.close());
  await openDb(loser, node);
  const { invite: fresh } = cli(adminHome, ['space', 'invite', space, '--role', 'viewer', '--ttl', '3600']);
  cli(adminHome, ['sync', node.ws]);
  const again = await join(loser, fresh);
  assert.ok(again.ok, JSON.stringify(again));
  const found = await loser.evaluate(async (space) => db.find(space, { type: 'practice', limit: 100 }), space);
  assert.equal(found.total, 20);
});
