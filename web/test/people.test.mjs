// People in the web app (issue 11, requirement 4), end to end with a real
// node: an admin (a browser) invites two people at once (two codes, a list
// to print); a second browser context redeems one code; the admin sees that
// person as a member (name, role, last seen), makes them a commenter for one
// city (picked from the space's cities), whose app then shows no edit button
// on a project but their own profile with that role and city; the commenter
// changes their name and the admin sees the new one; the admin revokes the
// other invite (its code then joins nothing) and removes the member (confirm
// dialog, by keyboard), and the
// member's next sync tells them they lost access. Then axe on the Settings
// page in Arabic (right to left).
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
  unlock,
  until,
  screenshot,
  cli,
  audit,
  tempDir,
  replicaView,
  goTo as go,
  online,
  firstOf,
} from './harness.mjs';

after(cleanup);

test(
  'an admin invites two people, makes one a commenter, removes them; the person sees each step',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const seed = seedSpace(node, { cities: 6, projects: 30 });
    const project = firstOf(seed, 'project');
    const chrome = await launchBrowser();

    // The admin: a browser that joined as an administrator.
    const admin = await openApp(chrome.context, node);
    await admin.setViewportSize({ width: 1280, height: 900 });
    await admin.getByTestId('create-identity').waitFor({ timeout: 20000 });
    await admin.locator('#name').fill('Ana Admin');
    await onboard(admin, { invite: seed.invite('admin') });
    await online(admin, 'the admin');
    await go(admin, '#/settings');
    await admin.getByTestId('invite-form').waitFor({ timeout: 20000 });
    assert.equal(await admin.getByTestId('my-role').getAttribute('data-role'), 'admin');

    // Two people at once: two codes, one per person, each with its role and expiry.
    const form = admin.getByTestId('invite-form');
    await form.locator('#invite-role').selectOption('editor');
    await form.locator('#invite-count').fill('2');
    await form.locator('#invite-days').selectOption('7');
    const asked = Date.now();
    await form.locator('button[type=submit]').click();
    const sheet = admin.getByTestId('invite-sheet');
    await sheet.waitFor({ timeout: 20000 });
    const rows = sheet.getByTestId('invite-code');
    assert.equal(await rows.count(), 2);
    const codes = await rows.getByTestId('code').allTextContents();
    assert.equal(new Set(codes).size, 2, 'one code per person');
    for (const code of codes) assert.match(code, /^urbis1-[a-z2-7]{64}$/);
    for (const text of await rows.allTextContents()) assert.match(text, /editor/);
    const pending = admin.getByTestId('pending-invite');
    await until('two pending invites', async () => (await pending.count()) === 2);
    const expiries = await admin.evaluate((space) => window.urbisDb.members(space), seed.space);
    const invites = expiries.filter((m) => m.inviteExpires);
    assert.equal(invites.length, 2);
    for (const inv of invites) {
      assert.equal(inv.role, 'editor');
      const off = inv.inviteExpires - asked - 7 * 86400000;
      assert.ok(Math.abs(off) < 60000, `valid for 7 days (off by ${off} ms)`);
    }
    // The printed list: the codes alone, without the app around them.
    await admin.emulateMedia({ media: 'print' });
    assert.equal(await sheet.isVisible(), true);
    assert.equal(await admin.locator('header.top').isVisible(), false);
    assert.equal(await admin.getByTestId('invite-form').isVisible(), false);
    assert.equal(await admin.getByTestId('people').isVisible(), false);
    assert.equal(await sheet.getByTestId('print').isVisible(), false);
    await screenshot(admin, 'people-print');
    await admin.emulateMedia({ media: 'screen' });
    await online(admin, 'the admin, the invites sent');

    // The person redeems the first code in another browser context.
    const member = await openApp(await chrome.newContext(), node);
    await member.getByTestId('create-identity').waitFor({ timeout: 20000 });
    await member.locator('#name').fill('Bo Member');
    await onboard(member, { invite: codes[0] });
    await online(member, 'the member');
    const memberKey = await member.evaluate(() => window.urbisDb.device());

    // The admin sees them: name, role, last seen; one invite still pending.
    const row = admin.locator(`[data-testid="member"][data-device="${memberKey}"]`);
    await until(
      'the admin to list the member by name',
      async () => (await row.count()) === 1 && (await row.textContent()).includes('Bo Member'),
      30000,
    );
    assert.equal(await row.getAttribute('data-role'), 'editor');
    assert.doesNotMatch(
      await row.textContent(),
      /no changes yet/,
      'the member wrote (their profile): a last-seen time shows',
    );
    await until('one pending invite', async () => (await pending.count()) === 1);

    // The admin makes them a commenter for one of the space's cities.
    await row.getByTestId('change-role').click();
    const roleForm = row.getByTestId('role-form');
    await roleForm.locator('select').selectOption('commenter');
    const cityBox = roleForm.getByTestId('city-scope').locator('input[type=checkbox]').first();
    const cityId = await cityBox.getAttribute('value');
    const cityName = (await roleForm.locator(`label[for="${await cityBox.getAttribute('id')}"]`).textContent()).trim();
    await cityBox.check();
    await row.getByTestId('save-role').click();
    await until(
      'the row to show a commenter',
      async () => (await row.getAttribute('data-role')) === 'commenter',
      20000,
    );
    assert.match(await row.getByTestId('member-role').textContent(), /^commenter$/);
    assert.ok((await row.textContent()).includes(cityName), `the row names the city ${cityName}`);
    const entry = (await admin.evaluate((space) => window.urbisDb.members(space), seed.space)).find(
      (m) => m.device === memberKey,
    );
    assert.deepEqual(entry.scope, [cityId]);

    // The commenter's app: no edit button on a project, a note instead; the
    // plan takes comments; their own profile says commenter.
    await go(member, `#/entity/project/${project.id}`);
    await until(
      'the member to become a commenter',
      () =>
        member
          .evaluate((space) => window.urbisDb.spaces().then((l) => l.find((s) => s.space === space)?.role), seed.space)
          .then((r) => r === 'commenter'),
      30000,
    );
    await member.getByTestId('entity').waitFor({ timeout: 20000 });
    await until(
      'the project page to drop its edit buttons',
      async () =>
        (await member.getByTestId('edit-title').count()) === 0 &&
        (await member.locator('main button[aria-label^="Edit"]').count()) === 0,
    );
    await go(member, `#/plan/${project.id}`);
    await member.getByTestId('plan-page').waitFor({ timeout: 20000 });
    assert.equal(await member.getByTestId('new-project-open').count(), 0);
    assert.match(await member.getByTestId('read-only').textContent(), /comment/i);
    await member.getByTestId('add-comment').waitFor();
    await go(member, '#/settings');
    await until(
      'the commenter to see their own role',
      async () => (await member.getByTestId('my-role').getAttribute('data-role')) === 'commenter',
    );
    await until('the commenter to see their city', async () =>
      (await member.getByTestId('profile').textContent()).includes(cityName),
    );
    assert.equal(await member.getByTestId('invite-form').count(), 0, 'no invites for a commenter');
    assert.equal(await member.getByTestId('change-role').count(), 0, 'no role changes for a commenter');

    // The commenter renames themselves; the admin sees the new name.
    await member.locator('#display-name').fill('Bo Commenter');
    await member.getByTestId('name-form').locator('button[type=submit]').click();
    await member.getByText('Your name is saved.').waitFor({ timeout: 20000 });
    await until(
      'the admin to see the new name',
      async () => (await row.textContent()).includes('Bo Commenter'),
      30000,
      100,
      async () => ({
        member: await replicaView(member, seed.space),
        admin: await replicaView(admin, seed.space),
        row: await row.textContent(),
      }),
    );
    await screenshot(admin, 'people-admin');

    // The admin revokes the other invite.
    await admin.getByTestId('pending-invite').getByTestId('revoke').click();
    await until('no pending invite', async () => (await pending.count()) === 0);
    await online(admin, 'the admin, the revocation sent');
    const late = path.join(tempDir('late'), 'home');
    cli(late, ['init']);
    const refused = cli(late, ['space', 'join', codes[1], node.ws], { allowFail: true });
    assert.notEqual(refused.status, undefined, 'the revoked code joins nothing');
    assert.match(refused.error, /revoked|already been used|not a member|NotAMember/i);

    // And removes the member, with the keyboard: the dialog takes the focus
    // (on Cancel), Escape closes it and gives the focus back.
    const remove = row.getByTestId('remove-member');
    await remove.focus();
    await admin.keyboard.press('Enter');
    const dialog = admin.getByTestId('remove-dialog');
    await dialog.waitFor({ timeout: 5000 });
    assert.equal(
      await admin.evaluate(() => document.activeElement.closest('dialog') !== null),
      true,
      'the focus is in the dialog',
    );
    await admin.keyboard.press('Escape');
    await until('the dialog to close', async () => (await dialog.count()) === 0);
    assert.equal(
      await admin.evaluate(() => document.activeElement.dataset.testid),
      'remove-member',
      'the focus is back on Remove',
    );
    await admin.keyboard.press('Enter');
    await dialog.getByTestId('confirm-remove').click();
    await until('the member to be gone', async () => (await row.count()) === 0, 20000);
    await online(admin, 'the admin, the removal sent');
    const after = await admin.evaluate((space) => window.urbisDb.members(space), seed.space);
    assert.equal(
      after.find((m) => m.device === memberKey),
      undefined,
    );

    // The member's next sync: the node refuses them the space, and the app says so.
    await member.reload();
    await unlock(member);
    await member.getByTestId('lost-access').waitFor({ timeout: 30000 });
    const status = await member.evaluate(() => window.urbisDb.syncStatus());
    assert.ok(status.refused.includes(seed.space), `the node refused the space: ${JSON.stringify(status)}`);
    await go(member, '#/settings');
    await until(
      'the member to see no role',
      async () => (await member.getByTestId('my-role').getAttribute('data-role')) === 'none',
    );
    await screenshot(member, 'people-lost-access');

    // The Settings page in Arabic (right to left), with a role form open: axe
    // finds nothing serious or critical.
    await go(admin, '#/settings');
    await admin.getByTestId('language').selectOption('ar');
    await until('the page in Arabic, right to left', () =>
      admin.evaluate(() => document.documentElement.dir === 'rtl'),
    );
    await admin.getByTestId('change-role').first().click();
    const bad = await audit(admin, 'Settings (ar)');
    await screenshot(admin, 'people-settings-ar');
    assert.deepEqual(bad, [], `serious or critical accessibility violations:\n${bad.join('\n')}`);
  },
);
