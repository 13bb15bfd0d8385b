// Scenario 4 (issue 4): the node stops for a while and comes back on the same
// address; the browser reconnects by itself, pushes what it wrote meanwhile
// and catches up with what another device wrote.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, cli, tempDir, until, sleep } from './harness.mjs';

after(cleanup);

test('the browser reconnects to a restarted node and catches up', { timeout: 240000 }, async () => {
  checkSetup();
  let node = await startNode();
  const chrome = await launchBrowser();
  const page = await openPage(chrome.context, node);
  await openDb(page, node, { create: true });
  const cliHome = path.join(tempDir('cli'), 'home');
  const devC = cli(cliHome, ['init']).device;

  const made = await page.evaluate(async (devC) => {
    const space = await db.createSpace('Regional office');
    await db.addMember(space, devC, 'editor');
    const { id } = await db.put(space, 'plan_item', 'new', { 'title@en': 'Procurement', stage: 'planning' });
    await db.waitForSync({ timeoutMs: 20000 });
    return { space, id };
  }, devC);
  cli(cliHome, ['sync', node.ws]);

  const { home, port } = node;
  await node.stop();
  await until('the browser to notice', () => page.evaluate(() => db.syncStatus().then((s) => s.state === 'offline')), 15000);
  await page.evaluate(({ space, id }) => db.put(space, 'plan_item', id, { owner: 'browser' }), made);
  await sleep(3000);

  const restartedAt = Date.now();
  node = await startNode({ home, port });
  // Another device writes through the restarted node.
  cli(cliHome, ['put', made.space, 'plan_item', made.id, 'budget=250000']);
  cli(cliHome, ['sync', node.ws]);

  await until(
    'the browser to reconnect and catch up',
    () =>
      page.evaluate(
        ({ space, id }) =>
          db.get(space, 'plan_item', id).then(async (e) => e.values.budget === 250000 && (await db.syncStatus()).pending === 0),
        made,
      ),
    30000,
  );
  cli(cliHome, ['sync', node.ws]);
  const fromCli = cli(cliHome, ['get', made.space, 'plan_item', made.id]);
  assert.equal(fromCli.values.owner, 'browser');
  const hash = await page.evaluate((space) => db.stateHash(space), made.space);
  assert.equal(cli(cliHome, ['state-hash', made.space]).state_hash, hash);
  const stats = await page.evaluate(() => db.stats());
  assert.ok(stats.connects >= 2, `reconnected (${stats.connects} attempts)`);
  const status = await page.evaluate(() => db.waitForSync({ timeoutMs: 10000 }));
  assert.equal(status.state, 'online');
  assert.ok(status.lastSync >= restartedAt, 'lastSync moved on after the restart');
});
