// Scenario 2 (issue 4): two browser contexts edit the same field offline;
// once both reconnect they show the same winner and the same conflict;
// resolving it in one clears it in both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, until } from './harness.mjs';

after(cleanup);

const view = (page, made) =>
  page.evaluate(async ({ space, id }) => {
    const e = await db.get(space, 'project', id);
    return {
      sector: e.values.sector,
      conflict: (e.conflicts.sector || []).map((v) => v.value).sort(),
      hash: await db.stateHash(space),
    };
  }, made);

test('concurrent offline edits converge to one winner and one conflict; resolve clears both', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startNode();
  const chrome = await launchBrowser();
  const ctxA = chrome.context;
  const ctxB = await chrome.newContext();
  const pageA = await openPage(ctxA, node);
  const pageB = await openPage(ctxB, node);
  await openDb(pageA, node, { create: true });
  const devB = await openDb(pageB, node, { create: true });

  const made = await pageA.evaluate(async (devB) => {
    const space = await db.createSpace('Joint plan');
    await db.addMember(space, devB, 'editor');
    const { id } = await db.put(space, 'project', 'new', { 'title@en': 'District heating', sector: 'energy' });
    await db.waitForSync({ timeoutMs: 20000 });
    return { space, id };
  }, devB);
  await until('B to hold the project', () => view(pageB, made).then((v) => v.sector === 'energy'), 30000);

  await ctxA.setOffline(true);
  await ctxB.setOffline(true);
  await until('A offline', () => pageA.evaluate(() => db.syncStatus().then((s) => s.state === 'offline')));
  await until('B offline', () => pageB.evaluate(() => db.syncStatus().then((s) => s.state === 'offline')));
  await pageA.evaluate(({ space, id }) => db.put(space, 'project', id, { sector: 'environment' }), made);
  await pageB.evaluate(({ space, id }) => db.put(space, 'project', id, { sector: 'housing' }), made);
  assert.equal((await view(pageA, made)).sector, 'environment');
  assert.equal((await view(pageB, made)).sector, 'housing');

  await ctxA.setOffline(false);
  await ctxB.setOffline(false);
  const both = await until(
    'both contexts to show the same conflict',
    async () => {
      const [a, b] = [await view(pageA, made), await view(pageB, made)];
      return a.conflict.length === 2 && b.conflict.length === 2 && a.hash === b.hash ? [a, b] : null;
    },
    30000,
  );
  assert.equal(both[0].sector, both[1].sector, 'same winner');
  assert.deepEqual(both[0].conflict, ['environment', 'housing']);
  assert.deepEqual(both[1].conflict, ['environment', 'housing']);

  await pageA.evaluate(({ space, id }) => db.resolve(space, 'project', id, 'sector', 'energy'), made);
  const resolved = await until(
    'the resolution to reach both',
    async () => {
      const [a, b] = [await view(pageA, made), await view(pageB, made)];
      return a.conflict.length === 0 && b.conflict.length === 0 && a.hash === b.hash ? [a, b] : null;
    },
    30000,
  );
  assert.equal(resolved[0].sector, 'energy');
  assert.equal(resolved[1].sector, 'energy');
});
