// Scenario 1 (issue 4): data created with the browser context offline
// survives a reload; back online it reaches a second browser context and the
// `urbis` CLI of another device.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, cli, tempDir, until } from './harness.mjs';

after(cleanup);

test('offline data survives a reload, then reaches another browser and the CLI', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startNode();
  const chrome = await launchBrowser();
  const pageA = await openPage(chrome.context, node);
  const ctxB = await chrome.newContext();
  const pageB = await openPage(ctxB, node);
  const devB = await openDb(pageB, node, { create: true });
  const cliHome = path.join(tempDir('cli'), 'home');
  const devC = cli(cliHome, ['init']).device;

  // B listens for live changes of any space (it holds none yet).
  await pageB.evaluate(() => {
    window.remoteEvents = [];
    db.subscribe('*', (e) => window.remoteEvents.push(e));
  });

  await chrome.context.setOffline(true);
  await openDb(pageA, node, { create: true });
  const made = await pageA.evaluate(
    async ({ devB, devC }) => {
      const before = await db.syncStatus();
      const space = await db.createSpace('Field office');
      await db.addMember(space, devB, 'editor');
      await db.addMember(space, devC, 'viewer');
      const { id } = await db.put(space, 'project', 'new', {
        'title@ko': '스마트 버스 정류장',
        'title@en': 'Smart bus stops',
        sector: 'mobility',
        '+tags': ['pilot', 'offline'],
      });
      return { space, id, before, after: await db.syncStatus(), hash: await db.stateHash(space) };
    },
    { devB, devC },
  );
  assert.equal(made.before.state, 'offline');
  assert.equal(made.after.state, 'offline');
  assert.ok(made.after.pending >= 4, `pending ${made.after.pending}`);

  // Reload while still offline (the page comes from the service worker's cache).
  await pageA.reload({ timeout: 20000 });
  await pageA.waitForFunction(() => !!window.Urbis, null, { timeout: 20000 });
  await openDb(pageA, node);
  const reloaded = await pageA.evaluate(
    async ({ space, id }) => ({
      entity: await db.get(space, 'project', id, { lang: 'ko' }),
      hash: await db.stateHash(space),
      status: await db.syncStatus(),
      stats: await db.stats(),
    }),
    made,
  );
  assert.equal(reloaded.entity.values.title, '스마트 버스 정류장');
  assert.deepEqual(reloaded.entity.values.tags, ['offline', 'pilot']);
  assert.equal(reloaded.hash, made.hash);
  assert.equal(reloaded.status.state, 'offline');
  assert.ok(reloaded.stats.restore.replayed + reloaded.stats.restore.snapshotKey >= 4);

  // Back online: A catches up with the node by itself.
  await chrome.context.setOffline(false);
  await pageA.evaluate(() => db.waitForSync({ timeoutMs: 30000 }));

  // B (already connected) is offered the new space and receives it live.
  await until(
    'the second context to show the project',
    () =>
      pageB.evaluate(
        ({ space, id }) =>
          db.get(space, 'project', id).then(
            (e) => e.values.title === 'Smart bus stops',
            () => false,
          ),
        made,
      ),
    30000,
  );
  assert.equal(await pageB.evaluate((space) => db.stateHash(space), made.space), made.hash);
  const events = await pageB.evaluate(() => window.remoteEvents);
  assert.ok(events.length > 0 && events.every((e) => e.space === made.space && e.origin === 'remote'), JSON.stringify(events));
  // What B received is durable too: B reloads offline and still has it.
  await ctxB.setOffline(true);
  await pageB.reload({ timeout: 20000 });
  await pageB.waitForFunction(() => !!window.Urbis, null, { timeout: 20000 });
  await openDb(pageB, node);
  assert.equal(await pageB.evaluate((space) => db.stateHash(space), made.space), made.hash);
  await ctxB.setOffline(false);

  // The CLI of a third device (a viewer) syncs and reads it.
  const synced = cli(cliHome, ['sync', node.ws]);
  assert.ok(synced.received >= 4, JSON.stringify(synced));
  const got = cli(cliHome, ['get', made.space, 'project', made.id, '--lang', 'ko']);
  assert.equal(got.values.title, '스마트 버스 정류장');
  assert.equal(cli(cliHome, ['state-hash', made.space]).state_hash, made.hash);
});
