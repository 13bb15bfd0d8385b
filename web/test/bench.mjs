// Web app benchmarks (docs/BENCHMARKS.md, "Web app"), printed as
// "BENCH <name> <value> <unit>" lines and a table:
//   - bundle sizes, gzipped, from the built app: app code, catalogs, the
//     wasm module and the client's worker JavaScript, the service worker
//   - joining the demo space in the browser (the newcomer's first wait)
//   - a cold offline start: a fresh Chromium on the profile of a first visit,
//     offline, node stopped: navigation start -> unlock form interactive, the
//     unlock (the passphrase hash, Argon2id interactive, as shipped), and
//     -> first Discover results after the unlock
//   - search-as-you-type over the demo space: keystroke -> results shown
//     (p50/p99), through the UI when Discover has its search box, and
//     through the API (urbisDb.find with each prefix)
// Not a test: run by `toolchains/bootstrap.sh bench`, or by hand after
// building both release presets:
//   URBIS_BINARY=build/native-release/node/urbis-test URBIS_WEBAPP=build/wasm-release/web/dist \
//     node web/test/bench.mjs
// URBIS_BENCH_PROJECTS shrinks the demo space (default 3,000 projects, 175
// cities, as `urbis demo-data`); URBIS_BENCH_STARTS sets the cold starts (3).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { APP, PASS, checkSetup, cleanup, startAppNode, seedSpace, launchBrowser, until, tempDir } from './harness.mjs';

const PROJECTS = Number(process.env.URBIS_BENCH_PROJECTS || 3000);
const CITIES = Math.min(175, Math.max(12, Math.round((175 * PROJECTS) / 3000)));
const STARTS = Number(process.env.URBIS_BENCH_STARTS || 3);
// Typed character by character: ≥ 100 keystrokes, words of the demo data in
// several of its languages.
const QUERIES = [
  'smart bus stops',
  'water leak detection',
  'solar',
  'recycling',
  'school bus',
  'air quality',
  '스마트 버스',
  '智慧公交',
  'حافلات ذكية',
  'énergie',
  'transporte',
];

const rows = [];
function report(name, value, unit, label) {
  console.log(`BENCH ${name} ${Number(value).toFixed(1)} ${unit}`);
  if (label) rows.push([label, `${fmt(value)} ${unit}`]);
}
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en') : Number(v).toFixed(1));
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(p * v.length))];
const median = (v) => pct(v, 0.5);

// ---- bundle sizes ----------------------------------------------------------------

function bundleSizes() {
  const files = (dir) => fs.readdirSync(path.join(APP, dir)).map((f) => path.join(dir, f));
  const size = (list) => {
    let raw = 0;
    let gz = 0;
    for (const f of list) {
      const data = fs.readFileSync(path.join(APP, f));
      raw += data.length;
      gz += zlib.gzipSync(data, { level: 9 }).length;
    }
    return { raw, gz, n: list.length };
  };
  const assets = files('assets');
  // The catalog chunks, named in the entry's import map of src/locales/*/*.json.
  const catalogs = new Map(); // file -> locale
  for (const f of assets.filter((f) => f.endsWith('.js'))) {
    const code = fs.readFileSync(path.join(APP, f), 'utf8');
    for (const m of code.matchAll(/"\.\/locales\/(\w+)\/\w+\.json"[^"]*"\.\/([\w.-]+\.js)"/g))
      catalogs.set(path.join('assets', m[2]), m[1]);
  }
  if (!catalogs.size)
    throw new Error(`no catalog chunks found in ${APP}/assets (has the build changed how it imports src/locales?)`);
  const top = fs.readdirSync(APP);
  const groups = [
    [
      'app code (assets/*.js, *.css; no catalogs)',
      assets.filter((f) => !catalogs.has(f) && /\.(js|css)$/.test(f)),
      'webapp_code_gzip_kb',
    ],
    ['catalogs, all 8 languages', [...catalogs.keys()], 'webapp_catalogs_gzip_kb'],
    [
      'catalogs, one language (ar)',
      [...catalogs].filter(([, l]) => l === 'ar').map(([f]) => f),
      'webapp_catalogs_one_locale_gzip_kb',
    ],
    ['wasm module (urbis/urbis_web.wasm)', ['urbis/urbis_web.wasm'], 'webapp_wasm_gzip_kb'],
    [
      'client worker JavaScript (urbis/*.js, *.mjs)',
      files('urbis').filter((f) => /\.m?js$/.test(f)),
      'webapp_client_js_gzip_kb',
    ],
    [
      'service worker (sw.js, workbox-*.js)',
      top.filter((f) => f === 'sw.js' || /^workbox-.*\.js$/.test(f)),
      'webapp_sw_gzip_kb',
    ],
    [
      'index.html, manifest, icons',
      [...top.filter((f) => /\.(html|webmanifest)$/.test(f)), ...files('icons')],
      'webapp_shell_gzip_kb',
    ],
  ];
  let totalRaw = 0;
  let totalGz = 0;
  for (const [label, list, name] of groups) {
    const s = size(list);
    if (!label.includes('one language')) {
      totalRaw += s.raw;
      totalGz += s.gz;
    }
    report(name, s.gz / 1024, 'KB');
    rows.push([`${label}, gzipped (raw)`, `${fmt(s.gz / 1024)} KB (${fmt(s.raw / 1024)} KB, ${s.n} files)`]);
  }
  report('webapp_total_gzip_kb', totalGz / 1024, 'KB');
  rows.push([
    'everything the service worker precaches, gzipped (raw)',
    `${fmt(totalGz / 1024)} KB (${fmt(totalRaw / 1024)} KB)`,
  ]);
}

// ---- the browser -------------------------------------------------------------------

// Marks (performance.now(), ms since navigation start) of what a person
// sees: the unlock form, the header after unlocking, the first Discover
// results (a results list with data-total or children, a count with
// data-total, or a hit).
function installMarks() {
  const RESULTS =
    '[data-testid=results][data-total], [data-testid=results] > *, [data-total]:not([data-total=""]), [data-testid=hit]';
  window.__marks = {};
  const mark = (k) => {
    if (!(k in window.__marks)) window.__marks[k] = performance.now();
  };
  new MutationObserver(() => {
    if (document.querySelector('[data-testid=unlock] #pass')) mark('unlockForm');
    if (document.querySelector('header.top')) mark('header');
    if (document.querySelector(RESULTS)) mark('results');
  }).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener('submit', () => mark('submit'), true);
}

async function newPage(context) {
  await context.addInitScript(() => localStorage.setItem('urbis.lang', 'en'));
  await context.addInitScript(installMarks);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  return page;
}

// A first visit: identity (production passphrase hash) and the join.
async function firstVisit(profile, node, admin) {
  const chrome = await launchBrowser(profile);
  const page = await newPage(chrome.context);
  await page.goto(`${node.http}/`, { timeout: 20000 });
  await page.getByTestId('create-identity').waitFor({ timeout: 30000 });
  await page.locator('#pass').fill(PASS);
  await page.locator('#pass2').fill(PASS);
  await page.getByTestId('create-identity').locator('button[type=submit]').click();
  await page.getByTestId('join').waitFor({ timeout: 30000 });
  await page.locator('#code').fill(admin.invite());
  const t0 = Date.now();
  await page.getByTestId('join').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 600000 });
  const joinMs = Date.now() - t0;
  const j = (await page.evaluate(() => window.urbisDb.stats())).join;
  if (j)
    console.log(
      `(join: the invite's session ${j.syncMs} ms, of which the module on its frames ${j.receiveMs} ms ` +
        `[verify and store; the longest frame, the redeem that brings the keys and the space materialized, ${j.receiveMaxMs} ms]; joinFinish ${j.finishMs} ms; ` +
        `appended to IndexedDB ${j.persistMs} ms)`,
    );
  await until(
    'the service worker',
    () => page.evaluate(() => navigator.serviceWorker.ready.then((r) => !!r.active)),
    60000,
  );
  // What a closed tab leaves: the first snapshot copies every chunk of the store file.
  const t1 = Date.now();
  const snap = await page.evaluate(() => window.urbisDb.snapshot());
  const snapMs = Date.now() - t1;
  if (snap)
    console.log(
      `(snapshot after the join: ${(snap.bytes / 1048576).toFixed(1)} MB in ${snapMs} ms, of which the IndexedDB write ${snap.ms} ms)`,
    );
  await chrome.close();
  return { joinMs, snapMs: snap ? snapMs : null };
}

// What a snapshot costs once the demo replica is in IndexedDB: one edit,
// then ten, each followed by a snapshot (the idle snapshot a person's edit
// triggers). It copies the chunks SQLite wrote, not the store file.
async function snapshotAfterEdits(page, space) {
  for (const edits of [1, 10]) {
    const r = await page.evaluate(
      async ({ space, edits }) => {
        const db = window.urbisDb;
        await db.snapshot();
        const { hits } = await db.find(space, { type: 'project', limit: edits });
        for (let i = 0; i < edits; i++)
          await db.put(space, 'project', hits[i % hits.length].id, { stage: i % 2 ? 'pilot' : 'idea' });
        const t = performance.now();
        const snap = await db.snapshot();
        return { ...snap, wall: performance.now() - t };
      },
      { space, edits },
    );
    console.log(
      `(snapshot after ${edits} edit(s): ${r.chunks} chunks, ${(r.written / 1024).toFixed(0)} KiB of a ${(r.bytes / 1048576).toFixed(1)} MB store, ${r.wall.toFixed(0)} ms)`,
    );
    report(
      `webapp_snapshot_after_${edits}_edit_ms`,
      r.wall,
      'ms',
      `a snapshot after ${edits} edit(s) of the demo replica (the chunks written since the last one)`,
    );
    report(
      `webapp_snapshot_after_${edits}_edit_kib`,
      r.written / 1024,
      'KiB',
      `copied into IndexedDB by it, of a ${(r.bytes / 1048576).toFixed(1)} MB store`,
    );
  }
}

async function coldStart(profile, url, space) {
  const chrome = await launchBrowser(profile);
  await chrome.context.setOffline(true);
  const page = await newPage(chrome.context);
  await page.goto(`${url}#/discover`, { timeout: 30000 }); // the node is stopped: the service worker answers
  await page.getByTestId('unlock').waitFor({ timeout: 30000 });
  await page.locator('#pass').fill(PASS);
  await page.getByTestId('unlock').locator('button[type=submit]').click();
  await page.locator('header.top').waitFor({ timeout: 60000 });
  let via = 'UI';
  try {
    await until('Discover results', () => page.evaluate(() => 'results' in window.__marks), 15000);
  } catch (e) {
    // Discover shows no results list yet: the header plus the first query
    // through the API stands in for it.
    via = 'API';
    await page.evaluate(async (space) => {
      const t = performance.now();
      await window.urbisDb.find(space, { type: 'project', limit: 20 });
      window.__marks.results = window.__marks.header + (performance.now() - t);
    }, space);
  }
  const m = await page.evaluate(() => window.__marks);
  const { restore } = await page.evaluate(() => window.urbisDb.stats());
  return { chrome, page, via, form: m.unlockForm, unlock: m.header - m.submit, results: m.results - m.submit, restore };
}

// The production passphrase hash alone: createIdentity on a scratch database.
function hashCost(page) {
  return page.evaluate(async () => {
    const { Urbis } = await import(new URL('urbis/urbis.js', document.baseURI).href);
    const db = await Urbis.open({ node: null, name: 'bench-pwhash' });
    const t = performance.now();
    await db.createIdentity('a passphrase for the benchmark');
    const ms = performance.now() - t;
    await db.close();
    indexedDB.deleteDatabase('bench-pwhash');
    return ms;
  });
}

// Keystroke -> results: each prefix through the API, then each keystroke in
// the Discover search box when there is one.
async function searchAsYouType(page, space) {
  const api = await page.evaluate(
    async ({ space, queries }) => {
      const times = [];
      for (const q of queries)
        for (let i = 1; i <= q.length; i++) {
          const t = performance.now();
          await window.urbisDb.find(space, { text: q.slice(0, i), limit: 20 });
          times.push(performance.now() - t);
        }
      return times;
    },
    { space, queries: QUERIES },
  );
  report(
    'webapp_search_api_p50_ms',
    pct(api, 0.5),
    'ms',
    `search as you type, API (urbisDb.find per prefix, ${api.length} keystrokes), p50`,
  );
  report('webapp_search_api_p99_ms', pct(api, 0.99), 'ms', 'search as you type, API, p99');

  const box = page.locator('input[type=search]').first();
  try {
    await box.waitFor({ timeout: 5000 });
  } catch (e) {
    rows.push(['search as you type, UI', 'not measured: Discover has no input[type=search] yet']);
    return;
  }
  const target = (await page.locator('[data-testid=results]').count()) ? '[data-testid=results]' : 'main';
  // In the page: from the input event to the last change of the results
  // (quiet for 400 ms; nothing within 1.5 s: the keystroke changed nothing).
  const measure = (target) =>
    new Promise((resolve) => {
      const input = document.querySelector('input[type=search]');
      let t0 = null;
      let last = null;
      let timer;
      const done = () => {
        obs.disconnect();
        resolve(last === null ? null : last - t0);
      };
      const arm = (ms) => {
        clearTimeout(timer);
        timer = setTimeout(done, ms);
      };
      const obs = new MutationObserver(() => {
        if (t0 !== null) {
          last = performance.now();
          arm(400);
        }
      });
      obs.observe(document.querySelector(target), {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
      input.addEventListener('input', () => ((t0 = performance.now()), arm(1500)), { once: true, capture: true });
      arm(5000);
    });
  const ui = [];
  let unchanged = 0;
  for (const q of QUERIES) {
    await box.fill('');
    await page.waitForTimeout(600);
    await box.focus();
    for (const ch of q) {
      const pending = page.evaluate(measure, target);
      await page.keyboard.type(ch);
      const ms = await pending;
      if (ms === null) unchanged++;
      else ui.push(ms);
    }
  }
  if (!ui.length) {
    rows.push(['search as you type, UI', `not measured: no keystroke changed ${target}`]);
    return;
  }
  const where = `input[type=search] -> ${target}`;
  report(
    'webapp_search_ui_p50_ms',
    pct(ui, 0.5),
    'ms',
    `search as you type, UI (${where}, ${ui.length} keystrokes, ${unchanged} changed nothing), p50`,
  );
  report('webapp_search_ui_p99_ms', pct(ui, 0.99), 'ms', 'search as you type, UI, p99');
}

async function main() {
  checkSetup();
  bundleSizes();

  const node = await startAppNode();
  console.log(`seeding the demo space: ${CITIES} cities, ${PROJECTS} projects (urbis demo-data)`);
  const admin = seedSpace(node, { cities: CITIES, projects: PROJECTS });
  const profile = tempDir('bench-profile');
  const { joinMs, snapMs } = await firstVisit(profile, node, admin);
  report(
    'webapp_join_demo_s',
    joinMs / 1000,
    's',
    `joining the demo space in the browser (${PROJECTS} projects, ${CITIES} cities, with plans)`,
  );
  if (snapMs !== null)
    report(
      'webapp_snapshot_demo_ms',
      snapMs,
      'ms',
      'the first snapshot of the demo replica (every chunk of the store file into IndexedDB)',
    );
  await node.stop();

  const starts = [];
  let last;
  for (let i = 0; i < STARTS; i++) {
    if (last) await last.chrome.close();
    last = await coldStart(profile, `${node.http}/`, admin.space);
    starts.push(last);
    const r = last.restore;
    console.log(
      `(cold start ${i + 1}: unlock form at ${last.form.toFixed(0)} ms; unlock ${last.unlock.toFixed(0)} ms ` +
        `[snapshot read ${r.readSnapshotMs}, open ${r.openMs}, replay ${r.replayMs} of ${r.replayed}, snapshot ${(r.snapshotBytes / 1048576).toFixed(1)} MB]; ` +
        `first results ${last.results.toFixed(0)} ms after the unlock click, via the ${last.via})`,
    );
  }
  const via = starts[starts.length - 1].via;
  report(
    'webapp_cold_offline_unlock_form_ms',
    median(starts.map((s) => s.form)),
    'ms',
    `cold offline start: navigation start -> unlock form interactive (median of ${STARTS})`,
  );
  report(
    'webapp_cold_offline_unlock_ms',
    median(starts.map((s) => s.unlock)),
    'ms',
    'unlock: passphrase hash + open the replica (submit -> header)',
  );
  const restore = median(starts.map((s) => s.restore.readSnapshotMs + s.restore.openMs + s.restore.replayMs));
  report(
    'webapp_cold_offline_restore_ms',
    restore,
    'ms',
    'of which the replica restored from IndexedDB (snapshot read, open, replay)',
  );
  report(
    'webapp_pwhash_interactive_ms',
    await hashCost(last.page),
    'ms',
    'the passphrase hash alone (Argon2id interactive, createIdentity)',
  );
  report(
    'webapp_cold_offline_first_results_ms',
    median(starts.map((s) => s.results)),
    'ms',
    `unlock click -> first Discover results (${via === 'UI' ? 'shown' : 'API: no results list yet'})`,
  );
  report(
    'webapp_cold_offline_total_ms',
    median(starts.map((s) => s.form + s.results)),
    'ms',
    'navigation -> first results, without the typing',
  );

  await searchAsYouType(last.page, admin.space);
  await snapshotAfterEdits(last.page, admin.space);

  console.log('\n| web app | figure |\n| --- | --- |');
  for (const [label, value] of rows) console.log(`| ${label} | ${value} |`);
}

main().then(cleanup, async (e) => {
  console.error(e);
  await cleanup();
  process.exitCode = 1;
});
