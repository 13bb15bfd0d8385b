// Concurrent offline edits (issue 5, test 3): two devices (two browser
// contexts, each onboarded with its own invite) change the same project's
// English title while offline. Back online, both show the conflict on that
// field with both versions and who wrote them; keeping one version on one
// device clears the conflict on both, which then show the kept title.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
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
  screenshot,
  cli,
  online,
} from './harness.mjs';

after(cleanup);

const conflictOn = (page) => page.locator('[data-testid="conflict"][data-field="title@en"]');

test(
  'offline edits of one title conflict on both devices; keeping one clears it everywhere',
  { timeout: 240000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 6, projects: 30 });
    const { entities } = cli(admin.home, ['export', admin.space, '--format', 'json']);
    const project = entities.find((e) => e.type === 'project' && e.translations.title?.values.en);
    assert.ok(project, 'the demo data has a project with an English title');

    const chrome = await launchBrowser();
    const devices = [
      { name: 'Amina', context: chrome.context, title: 'Bus stops with solar roofs' },
      { name: 'Jun', context: await chrome.newContext(), title: 'Smart shelters at every bus stop' },
    ];
    for (const d of devices) {
      d.page = await openApp(d.context, node, { hash: `#/entity/project/${project.id}` });
      await d.page.getByTestId('create-identity').waitFor({ timeout: 20000 });
      await d.page.locator('#name').fill(d.name);
      await onboard(d.page, { invite: admin.invite() });
      await online(d.page, d.name);
    }
    // Each device knows the other's name (its profile) before they part.
    for (const d of devices)
      await until(
        `${d.name} to know both profiles`,
        () =>
          d.page.evaluate(
            (space) => window.urbisDb.find(space, { type: 'profile' }).then((r) => r.total === 2),
            admin.space,
          ),
        30000,
      );

    // Both edit the English title while offline.
    for (const d of devices) {
      await d.page.goto(`${d.page.url().split('#')[0]}#/entity/project/${project.id}`);
      await d.page.getByTestId('edit-entity').waitFor({ timeout: 20000 });
      await d.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      await d.context.setOffline(true);
      await until(`${d.name} offline`, async () => (await syncState(d.page)) === 'offline');
      // One Edit for the entry: its form, with the title in the chosen language.
      await d.page.getByTestId('edit-entity').click();
      await d.page.locator('[data-testid=intake][data-mode=edit]').waitFor({ timeout: 10000 });
      assert.equal(await d.page.locator('#intake-textLang').inputValue(), 'en');
      await d.page.locator('#intake-title').fill(d.title);
      await d.page.getByTestId('intake-save').click();
      await until(
        `${d.name}'s title saved`,
        async () =>
          (await d.page
            .getByTestId('entity-title')
            .textContent()
            .catch(() => '')) === d.title,
      );
      assert.equal(await conflictOn(d.page).count(), 0);
    }

    // Back online: the conflict shows on both, with both versions and their authors.
    for (const d of devices) await d.context.setOffline(false);
    for (const d of devices) {
      const conflict = conflictOn(d.page);
      await conflict.waitFor({ timeout: 30000 });
      const versions = conflict.getByTestId('conflict-version');
      await until(`${d.name} to see both versions`, async () => (await versions.count()) === 2);
      const other = devices.find((o) => o !== d);
      const mine = versions.filter({ hasText: d.title });
      const theirs = versions.filter({ hasText: other.title });
      assert.equal(await mine.count(), 1);
      assert.equal(await theirs.count(), 1);
      assert.match(await mine.textContent(), /by you,/);
      await until(`${d.name} to name ${other.name} as the author`, async () =>
        (await theirs.textContent()).includes(`by ${other.name},`),
      );
    }
    await screenshot(devices[0].page, 'conflict-en');

    // Amina keeps Jun's title: the conflict clears on both devices.
    const [amina, jun] = devices;
    await conflictOn(amina.page)
      .getByTestId('conflict-version')
      .filter({ hasText: jun.title })
      .getByTestId('keep-version')
      .click();
    for (const d of devices) {
      await until(
        `${d.name} to show the conflict resolved`,
        async () =>
          (await conflictOn(d.page).count()) === 0 &&
          (await d.page.getByTestId('entity-title').textContent()) === jun.title,
        30000,
      );
      const got = await d.page.evaluate(({ space, id }) => window.urbisDb.get(space, 'project', id, { lang: 'en' }), {
        space: admin.space,
        id: project.id,
      });
      assert.deepEqual(got.conflicts, {});
      assert.equal(got.values.title, jun.title);
    }
    // The admin's device (the CLI) agrees.
    admin.sync();
    const cliView = cli(admin.home, ['get', admin.space, 'project', project.id, '--lang', 'en']);
    assert.equal(cliView.values.title, jun.title);
    assert.deepEqual(cliView.conflicts, {});
  },
);
