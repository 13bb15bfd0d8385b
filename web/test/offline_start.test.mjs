// Offline start and updates (the service worker).
//  1. After one visit online (identity created, space joined), with the node
//     stopped and the browser offline, a new page and then a fresh Chromium
//     on the same profile still open the app, unlock, and find the data.
//  2. A new release of the app is announced (update banner) while the old
//     one keeps running; "Reload now" switches to it, and so does the next
//     start of the browser.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startNode } from '../../wasm/test/browser/harness.mjs';
import {
  APP,
  checkSetup,
  cleanup,
  startAppNode,
  seedSpace,
  launchBrowser,
  openApp,
  onboard,
  unlock,
  until,
  syncState,
  tempDir,
  online,
  firstOf,
} from './harness.mjs';

after(cleanup);

// Resolves once a service worker is active for the page (so its precache,
// done at install, is complete).
const swActive = (page) =>
  page.evaluate(() =>
    Promise.race([
      navigator.serviceWorker.ready.then((r) => !!r.active),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no active service worker after 30 s')), 30000)),
    ]),
  );
const controlled = (page) => page.evaluate(() => !!navigator.serviceWorker.controller);

test(
  'offline start: a new page and a fresh browser open the app, unlock and find the data',
  { timeout: 240000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 60 });
    const project = firstOf(admin, 'project');
    const chrome = await launchBrowser();
    const first = await openApp(chrome.context, node);
    await onboard(first, { invite: admin.invite() });
    await online(first, 'the first page');
    assert.ok(await swActive(first));
    await first.close(); // its worker holds this profile's replica

    await node.stop();
    await chrome.context.setOffline(true);
    const startsOffline = async (context, where) => {
      const page = await openApp(context, node); // the node is gone: only the service worker answers
      assert.ok(await controlled(page), `${where}: the page comes from the service worker`);
      await unlock(page);
      assert.equal(await syncState(page), 'offline', `${where}: shown as offline`);
      // The title's words (a query holding the title's "—" finds nothing today).
      const words = project.title.replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
      const found = await page.evaluate(
        ({ space, words }) => window.urbisDb.find(space, { type: 'project', text: words, limit: 50 }),
        { space: admin.space, words },
      );
      assert.ok(
        found.hits.some((h) => h.id === project.id),
        `${where}: "${project.title}" found offline (${JSON.stringify(found)})`,
      );
      const all = await page.evaluate(
        (space) => window.urbisDb.find(space, { type: 'project', limit: 1 }),
        admin.space,
      );
      assert.equal(all.total, 60, `${where}: every project is there`);
      return page;
    };
    const second = await startsOffline(chrome.context, 'a new page');
    await second.close();
    await chrome.close();

    const fresh = await launchBrowser(chrome.profile);
    await fresh.context.setOffline(true);
    await startsOffline(fresh.context, 'a fresh Chromium on the same profile');
  },
);

// Makes the app in `dir` look like release `n`: index.html gets a marker
// and its new revision goes into the service worker's precache manifest, as
// a rebuild would write them.
function release(dir, n) {
  const indexFile = path.join(dir, 'index.html');
  const html = fs
    .readFileSync(indexFile, 'utf8')
    .replace(
      /<meta name="urbis-release"[^>]*>|<\/head>/,
      (m) => `<meta name="urbis-release" content="${n}">${m === '</head>' ? m : ''}`,
    );
  fs.writeFileSync(indexFile, html);
  const swFile = path.join(dir, 'sw.js');
  const sw = fs.readFileSync(swFile, 'utf8');
  const entry = /\{url:"index\.html",revision:"[0-9a-f]+"\}/;
  assert.match(sw, entry, 'sw.js precaches index.html with a revision (the shape vite-plugin-pwa writes)');
  const revision = crypto.createHash('md5').update(html).digest('hex');
  fs.writeFileSync(swFile, sw.replace(entry, `{url:"index.html",revision:"${revision}"}`));
  // The build's precompressed copies (served to gzip clients) must not go stale.
  for (const file of [indexFile, swFile]) fs.rmSync(`${file}.gz`, { force: true });
}
const releaseOf = (page) => page.evaluate(() => document.querySelector('meta[name=urbis-release]')?.content ?? null);

test('a new release is announced, and used after "Reload now" or the next start', { timeout: 240000 }, async () => {
  checkSetup();
  const dir = tempDir('app');
  fs.cpSync(APP, dir, { recursive: true });
  const node = await startNode({ web: dir });
  const chrome = await launchBrowser();
  const first = await openApp(chrome.context, node);
  await first.getByTestId('create-identity').waitFor({ timeout: 20000 });
  assert.ok(await swActive(first));
  await first.close();

  // Release 2 is published; the app opened again finds it, announces it and
  // keeps running release 1 (also across a reload, while 2 waits).
  release(dir, 2);
  const page = await openApp(chrome.context, node);
  assert.ok(await controlled(page));
  await page.getByTestId('update-ready').waitFor({ timeout: 30000 });
  assert.equal(await releaseOf(page), null, 'release 1 keeps running');
  await page.reload();
  await page.getByTestId('update-ready').waitFor({ timeout: 30000 });
  assert.equal(await releaseOf(page), null, 'a reload keeps release 1 while 2 waits');

  await page.getByTestId('update-ready').locator('button').click();
  await until('release 2 after "Reload now"', async () => (await releaseOf(page)) === '2', 30000);
  await page.getByTestId('create-identity').waitFor({ timeout: 20000 });
  assert.equal(await page.getByTestId('update-ready').count(), 0, 'no banner once updated');

  // Release 3: announced on the next visit, used on the browser's next start.
  release(dir, 3);
  await page.reload();
  await page.getByTestId('update-ready').waitFor({ timeout: 30000 });
  assert.equal(await releaseOf(page), '2');
  await page.close();
  await chrome.close();
  const fresh = await launchBrowser(chrome.profile);
  const restarted = await openApp(fresh.context, node);
  await restarted.getByTestId('create-identity').waitFor({ timeout: 20000 });
  assert.equal(await releaseOf(restarted), '3', 'the next start runs release 3');
  assert.equal(await restarted.getByTestId('update-ready').count(), 0);
});
