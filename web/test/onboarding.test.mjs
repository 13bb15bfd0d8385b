// Onboarding through the UI: a fresh profile creates its identity, joins the
// demo space with an invite code from a link, sees the sync status, reloads
// and unlocks; a wrong passphrase is refused with a clear message; a second
// tab is told the app is open in the first.
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
} from './harness.mjs';

after(cleanup);

test('create an identity, join by invite link, reload and unlock', { timeout: 240000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const admin = seedSpace(node, { cities: 12, projects: 60 });
  const chrome = await launchBrowser();
  const page = await openApp(chrome.context, node);
  // The code arrives as a link; the form is prefilled after the identity exists.
  await onboard(page);
  await page.goto(`${node.http}/#/join/${admin.invite()}`);
  await page.getByTestId('join').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 120000 });
  await until('online', async () => (await syncState(page)) === 'online', 30000);

  await page.reload();
  await page.getByTestId('unlock').waitFor({ timeout: 20000 });
  await page.locator('#pass').fill('not the passphrase');
  await page.getByTestId('unlock').locator('button[type=submit]').click();
  const error = await page.getByTestId('error').textContent({ timeout: 20000 });
  assert.match(error, /passphrase is not correct/);
  await page.locator('#pass').fill('correct horse battery');
  await page.getByTestId('unlock').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 60000 });
  const spaces = await page.evaluate(() => window.urbisDb.spaces());
  assert.equal(spaces.length, 1);
  assert.equal(spaces[0].space, admin.space);

  // A second tab of the same browser profile cannot open the same device (it
  // would fork its change chain): it says so, and works once the first closes.
  const second = await chrome.context.newPage();
  await second.goto(node.http);
  const refused = await second.getByRole('alert').textContent({ timeout: 30000 });
  assert.match(refused, /already open in another tab/);
  await page.close();
  await second.getByRole('button', { name: 'Try again' }).click();
  await second.getByTestId('unlock').waitFor({ timeout: 30000 });
});

test('a stale "had an identity" hint (storage cleared) still ends on creating one', { timeout: 120000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const chrome = await launchBrowser();
  const context = await chrome.newContext();
  await context.addInitScript(() => localStorage.setItem('urbis.hasIdentity', '1'));
  const page = await openApp(context, node);
  await page.getByTestId('create-identity').waitFor({ timeout: 30000 });
});

test(
  'a weak passphrase is refused for a new identity with a clear message; nothing is created',
  { timeout: 120000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node);
    const form = page.getByTestId('create-identity');
    await form.waitFor({ timeout: 30000 });
    // Long enough for the form's own length check, refused by the client's
    // policy (wasm/js/passphrase.js): a run of neighbouring keys.
    await page.locator('#pass').fill('qwertyuiop');
    await page.locator('#pass2').fill('qwertyuiop');
    await form.locator('button[type=submit]').click();
    const error = await page.getByTestId('error').textContent({ timeout: 20000 });
    assert.match(error, /too easy to guess/);
    assert.equal(await page.evaluate(() => window.urbisDb.hasIdentity), false);
    // A passphrase that passes creates the identity.
    await onboard(page);
  },
);
