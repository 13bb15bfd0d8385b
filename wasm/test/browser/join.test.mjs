// Joining by invite code: an admin on the `urbis` CLI invites; the browser
// joins through the node, reads the space and writes to it; the same code
// then fails in a second browser context ("already been used").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, cli, tempDir } from './harness.mjs';

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
