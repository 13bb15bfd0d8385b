// After a sync an admin's browser settles the space's keys (Replica::heal,
// wasm/README.md "Membership after a sync"). An admin in the browser removes
// a member while offline (a new key epoch, sealed to the members it knows)
// and writes a project under the new key; meanwhile another admin (the CLI)
// invites someone, who joins (holding the old epoch's key only). Back online,
// the browser learns of the joiner and grants them the new key, unasked: the
// joiner then reads the project. The other admin never syncs again, so only
// the browser can have granted it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  checkSetup,
  cleanup,
  startAppNode,
  seedSpace,
  launchBrowser,
  openApp,
  onboard,
  until,
  syncState,
  cli,
  tempDir,
} from './harness.mjs';

after(cleanup);

test(
  'an admin browser grants the current key to a member who joined during its removal of another',
  { timeout: 240000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const seed = seedSpace(node, { cities: 3, projects: 6 });
    const leaver = path.join(tempDir('leaver'), 'home');
    const { device: leaverKey } = cli(leaver, ['init']);
    cli(seed.home, ['space', 'add-member', seed.space, leaverKey, '--role', 'editor']);
    seed.sync();
    cli(leaver, ['sync', node.ws]);
    assert.ok(
      cli(leaver, ['find', seed.space, '--type', 'project']).total > 0,
      'the member to be removed holds the space',
    );

    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node);
    await onboard(page, { invite: seed.invite('admin') });
    await until('the browser online', async () => (await syncState(page)) === 'online', 30000);

    // Offline, the browser's admin removes a member and writes under the new key.
    await page.context().setOffline(true);
    await until('the browser offline', async () => (await syncState(page)) === 'offline');
    const marker = 'MARKER-after-rotation-7e21';
    await page.evaluate(
      async ({ space, leaverKey, marker }) => {
        await window.urbisDb.removeMember(space, leaverKey);
        await window.urbisDb.put(space, 'project', 'new', { 'title@en': marker });
      },
      { space: seed.space, leaverKey, marker },
    );

    // Meanwhile the CLI admin invites someone, who joins through the node.
    const joiner = path.join(tempDir('joiner'), 'home');
    cli(joiner, ['init']);
    const joined = cli(joiner, ['space', 'join', seed.invite('editor'), node.ws]);
    assert.equal(joined.space, seed.space);

    // Back online: the browser sends its removal and project, learns of the
    // joiner, and grants them the key of the epoch it started.
    await page.context().setOffline(false);
    await until('the browser online again', async () => (await syncState(page)) === 'online', 30000);
    let found = null;
    await until(
      'the joiner to read the project written under the new key',
      async () => {
        cli(joiner, ['sync', node.ws]);
        found = cli(joiner, ['find', seed.space, '--text', marker]);
        return found.total === 1;
      },
      30000,
      500,
    );
    assert.equal(found.total, 1);
    // And the member removed reads nothing of it.
    cli(leaver, ['sync', node.ws], { allowFail: true });
    assert.equal(cli(leaver, ['find', seed.space, '--text', marker]).total, 0);
  },
);
