// Harness of the web app's browser tests: the browser client's harness
// (wasm/test/browser/harness.mjs: a real `urbis node`, Debian's Chromium over
// CDP, the `urbis` CLI as another device) plus what the app adds: a node
// serving the built app (URBIS_WEBAPP), a seeded demo space, pages opened in
// a given interface language, onboarding through the UI, artifacts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PASS,
  cleanup,
  tempDir,
  sleep,
  until,
  startNode,
  launchBrowser,
  cli,
} from '../../wasm/test/browser/harness.mjs';

export { PASS, cleanup, tempDir, sleep, until, launchBrowser, cli };

export const APP = process.env.URBIS_WEBAPP;
const BIN = process.env.URBIS_BINARY;
const CHROMIUM = process.env.URBIS_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.URBIS_ARTIFACTS || path.join(process.cwd(), 'artifacts');

export function checkSetup() {
  const missing = [];
  if (!BIN || !fs.existsSync(BIN)) missing.push(`urbis binary (${BIN}; build the native-release preset first)`);
  if (!APP || !fs.existsSync(path.join(APP, 'index.html')))
    missing.push(`the built web app (${APP}; build urbis_webapp)`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  if (missing.length) throw new Error(`web app tests need: ${missing.join('; ')}`);
}

// A node serving the built app.
export function startAppNode(options = {}) {
  return startNode({ ...options, web: APP });
}

// An admin device (CLI) with a space of demo data (small by default, the
// same generator as the README's run command), synced to `node`. Returns
// {home, space, invite(role)} where invite() makes a fresh one-use code and
// syncs it to the node.
export function seedSpace(node, { cities = 24, projects = 240, name = 'Urbis demo — fictional cities' } = {}) {
  const home = path.join(tempDir('admin'), 'home');
  cli(home, ['init', '--name', 'Demo admin']);
  const { space } = cli(home, ['space', 'create', name]);
  cli(home, ['demo-data', space, '--cities', String(cities), '--projects', String(projects)]);
  cli(home, ['sync', node.ws]);
  return {
    home,
    space,
    invite(role = 'editor') {
      const { invite } = cli(home, ['space', 'invite', space, '--role', role, '--ttl', '3600']);
      cli(home, ['sync', node.ws]);
      return invite;
    },
    sync() {
      return cli(home, ['sync', node.ws]);
    },
  };
}

// The first entity of `type` the seeded space's CLI device finds (a find hit).
export function firstOf(seed, type) {
  return cli(seed.home, ['find', seed.space, '--type', type, '--limit', '1']).hits[0];
}

// A new page of `context` on the app, in interface language `lang` (set the
// way a person's choice is remembered; null: the browser's languages decide), with fast passphrase hashing (a test
// knob the app reads from localStorage). Page errors fail loudly in the log.
export async function openApp(context, node, { lang = 'en', hash = '' } = {}) {
  await context.addInitScript(
    ({ lang }) => {
      localStorage.setItem('urbis.pwhashCost', 'minimal');
      if (lang && !localStorage.getItem('urbis.lang')) localStorage.setItem('urbis.lang', lang);
    },
    { lang },
  );
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('[page console]', m.text());
  });
  await page.goto(`${node.http}/${hash}`, { timeout: 20000 });
  return page;
}

// Onboarding through the UI: creates the identity, then joins with `invite`
// (when given). Ends on the Discover page.
export async function onboard(page, { invite, pass = PASS } = {}) {
  await page.getByTestId('create-identity').waitFor({ timeout: 20000 });
  await page.locator('#pass').fill(pass);
  await page.locator('#pass2').fill(pass);
  await page.getByTestId('create-identity').locator('button[type=submit]').click();
  await page.getByTestId('join').waitFor({ timeout: 20000 });
  if (!invite) return;
  await page.locator('#code').fill(invite);
  await page.getByTestId('join').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 120000 });
}

// Unlocks after a reload.
export async function unlock(page, pass = PASS) {
  await page.getByTestId('unlock').waitFor({ timeout: 20000 });
  await page.locator('#pass').fill(pass);
  await page.getByTestId('unlock').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 60000 });
}

// Saves a full-page screenshot as ARTIFACTS/screenshots/<name>.png.
export async function screenshot(page, name) {
  const dir = path.join(ARTIFACTS, 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// The sync indicator's state, from the DOM.
export async function syncState(page) {
  return page.getByTestId('sync-status').getAttribute('data-state');
}

// The sync indicator's state and count of changes not yet sent, from the DOM.
export async function sync(page) {
  const s = page.getByTestId('sync-status');
  return { state: await s.getAttribute('data-state'), pending: Number(await s.getAttribute('data-pending')) };
}

// Waits until `page` is online with nothing pending (`what` names it).
export async function settled(page, what) {
  await until(
    `${what}: online with nothing pending`,
    async () => {
      const s = await sync(page);
      return s.state === 'online' && s.pending === 0;
    },
    30000,
  );
}

// Waits until `page`'s sync indicator says online (`who` names the page).
export function online(page, who) {
  return until(`${who}: online`, async () => (await syncState(page)) === 'online', 30000);
}

// Opens `hash` (#/...) in the app.
export async function go(page, hash) {
  await page.evaluate((h) => (location.hash = h), hash);
}

// Opens `hash` and waits until the location holds it.
export async function goTo(page, hash) {
  await go(page, hash);
  await until(`route ${hash}`, () => page.evaluate((h) => location.hash === h, hash));
}

// Discover's result count as the page shows it; null while it has none.
export async function total(page) {
  const v = await page.getByTestId('total').getAttribute('data-total');
  return v === '' ? null : Number(v);
}

// Waits until the result count settles on a value `ok` accepts; resolves to it.
export async function totalWhere(page, what, ok) {
  return until(
    what,
    async () => {
      const n = await total(page);
      return n !== null && ok(n) ? n : false;
    },
    20000,
  );
}

// What one browser's replica holds of `space`, for a failure message: its
// sync status, state hash, and the display names its people wrote.
export async function replicaView(page, space) {
  return page.evaluate(async (space) => {
    const db = window.urbisDb;
    const [status, hash, profiles, notes] = await Promise.all([
      db.syncStatus(),
      db.stateHash(space),
      db.find(space, { type: 'profile', limit: 100 }),
      db.find(space, { type: 'comment', where: { kind: 'profile' }, limit: 100 }),
    ]);
    const names = [...profiles.hits, ...notes.hits].map((h) => ({ type: h.type, ...h.summary }));
    return { status, hash, names, input: document.querySelector('#display-name')?.value };
  }, space);
}

// ---- accessibility (axe-core) ----

const AXE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'axe-core', 'axe.min.js');

// Waits until the page holds still: its main heading is there, nothing in
// main is busy, and main's markup is the same twice 300 ms apart.
export async function settle(page) {
  await page.locator('main h1, main h2').first().waitFor({ timeout: 20000 });
  let last = '';
  await until(
    'the page to settle',
    async () => {
      const now = await page.evaluate(() => {
        const main = document.querySelector('main');
        return main.querySelector('[aria-busy=true], .busy') ? null : main.innerHTML;
      });
      const still = now !== null && now === last;
      last = now;
      return still;
    },
    20000,
    300,
  );
}

// Asserts axe-core finds no violation at all (WCAG 2.1 A/AA and best
// practice) on the page as it is.
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () =>
    (
      await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
    ).violations.map(
      (v) =>
        `${v.id}: ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    ),
  );
  assert.deepEqual(violations, [], `${what}: accessibility violations`);
}

// Runs axe on the page; prints every violation, returns the serious and
// critical ones as lines.
export async function audit(page, name) {
  await settle(page);
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  const { violations } = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    }),
  );
  const bad = [];
  for (const v of violations) {
    const line = `[axe] ${name}: ${v.impact} ${v.id} — ${v.help} (${v.helpUrl})`;
    console.log(line);
    for (const n of v.nodes)
      console.log(
        `    ${n.target.join(' > ')}: ${(n.failureSummary || '').replace(/\s*\n\s*/g, ' / ')}\n      ${n.html}`,
      );
    if (v.impact === 'serious' || v.impact === 'critical')
      bad.push(`${line}: ${v.nodes.map((n) => n.target.join(' > ')).join(', ')}`);
  }
  console.log(`[axe] ${name}: ${violations.length} violation(s), ${bad.length} serious or critical`);
  return bad;
}
