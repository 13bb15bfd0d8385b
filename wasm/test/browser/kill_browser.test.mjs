// Scenario 3 (issue 4): kill -9 the browser right after writes were
// acknowledged; a fresh browser on the same profile still has them (offline
// throughout, so they can only have come from the browser's own storage).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, tempDir } from './harness.mjs';

after(cleanup);

test('acknowledged writes survive kill -9 of the browser', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startNode();
  const profile = tempDir('profile');
  let chrome = await launchBrowser(profile);
  let page = await openPage(chrome.context, node);
  await chrome.context.setOffline(true);
  await openDb(page, node, { create: true });
  const made = await page.evaluate(async () => {
    const space = await db.createSpace('Survey');
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await db.put(space, 'response', 'new', { n: i, 'answer@en': `answer ${i}` })).id);
    return { space, ids, hash: await db.stateHash(space) };
  });
  await chrome.kill(); // the moment the last put resolved

  chrome = await launchBrowser(profile);
  await chrome.context.setOffline(true);
  page = await openPage(chrome.context, node);
  await openDb(page, node);
  const after = await page.evaluate(
    async ({ space, ids }) => ({
      last: await db.get(space, 'response', ids[ids.length - 1]),
      total: (await db.find(space, { type: 'response', limit: 100 })).total,
      hash: await db.stateHash(space),
      status: await db.syncStatus(),
    }),
    made,
  );
  assert.equal(after.last.values.n, 19);
  assert.equal(after.total, 20);
  assert.equal(after.hash, made.hash);
  assert.equal(after.status.state, 'offline');
  assert.ok(after.status.pending >= 21, 'the node never saw them');
});
