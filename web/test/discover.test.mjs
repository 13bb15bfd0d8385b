// Discover from a fresh browser profile (issue 5, test 1): the app is
// installable (a valid manifest, its icons, a service worker controlling the
// page), onboarding joins the demo space by invite, search finds projects by
// a Korean and by an Arabic word, facets narrow the results and live in the
// URL, the map and the charts count the same projects, a missing English
// title is added from the entity page and reaches another device, a deleted
// project says so, and a viewer gets no edit controls. axe-core finds no
// WCAG 2.1 AA violation on these pages. Screenshots in English and Arabic.
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
  screenshot,
  cli,
  assertAccessible,
  online,
  total,
  totalWhere,
} from './harness.mjs';

after(cleanup);

const PROJECTS = 240;
const CITIES = 24;

// Words of a text as a person would type them.
const words = (text) => text.split(/[\s,.:;!?()«»"“”—-]+/u).filter(Boolean);

// A project whose title has text in `lang`, and the word of that title found
// in the fewest entities (in any field), so the project is among the first
// hits of a search for it.
function rareTitleWord(entities, lang) {
  const seen = new Map();
  for (const e of entities) {
    const inEntity = new Set();
    for (const tr of Object.values(e.translations))
      if (tr.values[lang]) for (const w of words(tr.values[lang])) inEntity.add(w);
    for (const w of inEntity) seen.set(w, (seen.get(w) || 0) + 1);
  }
  let best = null;
  for (const e of entities) {
    const title = e.type === 'project' && e.translations.title?.values[lang];
    if (!title) continue;
    for (const w of words(title)) {
      const n = seen.get(w);
      if (!best || n < best.n || (n === best.n && w.length > best.word.length)) best = { n, word: w, id: e.id, title };
    }
  }
  assert.ok(best, `the demo data has a project titled in ${lang}`);
  return best;
}

test('install, join, search in Korean and Arabic, facets, map, charts, entity', { timeout: 280000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const admin = seedSpace(node, { cities: CITIES, projects: PROJECTS });
  const { entities } = cli(admin.home, ['export', admin.space, '--format', 'json']);
  const chrome = await launchBrowser();
  const page = await openApp(chrome.context, node);
  await page.setViewportSize({ width: 1280, height: 900 });

  // ---- installable: manifest, icons, a controlling service worker ----------
  const manifestHref = await page.locator('link[rel="manifest"]').getAttribute('href');
  assert.ok(manifestHref, 'index.html links a manifest');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await page.reload();
  await until(
    'the service worker to control the page',
    () => page.evaluate(() => !!navigator.serviceWorker.controller),
    20000,
  );
  const cdp = await page.context().newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], `manifest errors: ${JSON.stringify(manifest.errors)}`);
  const parsed = JSON.parse(manifest.data);
  assert.equal(parsed.display, 'standalone');
  assert.ok(parsed.name && parsed.short_name && parsed.start_url);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, [], `installability: ${JSON.stringify(installabilityErrors)}`);
  const icons = await page.evaluate(
    async ({ icons, base }) =>
      Promise.all(
        icons.map(async (icon) => {
          const r = await fetch(new URL(icon.src, base));
          const bitmap = await createImageBitmap(await r.blob());
          return {
            sizes: icon.sizes,
            status: r.status,
            type: r.headers.get('content-type'),
            size: `${bitmap.width}x${bitmap.height}`,
          };
        }),
      ),
    { icons: parsed.icons, base: manifest.url },
  );
  assert.ok(
    icons.some((i) => i.sizes === '192x192') && icons.some((i) => i.sizes === '512x512'),
    JSON.stringify(icons),
  );
  for (const icon of icons) {
    assert.equal(icon.status, 200, JSON.stringify(icon));
    assert.match(icon.type, /^image\/png/);
    assert.equal(icon.size, icon.sizes);
  }
  await cdp.detach();

  // ---- onboarding and join -------------------------------------------------
  await onboard(page, { invite: admin.invite() });
  await online(page, 'the app');
  const everything = await totalWhere(page, 'the whole space in Discover', (n) => n >= PROJECTS + CITIES);

  // ---- search in every language ------------------------------------------------
  const search = page.getByTestId('search');
  for (const lang of ['ko', 'ar']) {
    const { word, id, title } = rareTitleWord(entities, lang);
    await search.fill(word);
    const row = page.locator(`[data-testid="hit"][data-id="${id}"]`);
    await row.waitFor({ timeout: 20000 });
    assert.ok((await row.textContent()).length > 0, `${lang}: "${word}" finds "${title}"`);
    assert.equal(new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]).get('q'), word);
    assert.ok((await total(page)) < everything);
  }
  await screenshot(page, 'discover-en');
  await assertAccessible(page, 'Discover');
  await search.fill('');
  await totalWhere(page, 'the search cleared', (n) => n === everything);

  // ---- facets narrow, and live in the URL --------------------------------------
  const hitsMatch = (attr, value) =>
    page.$$eval(
      '[data-testid="hit"]',
      (els, [attr, value]) => els.length > 0 && els.every((e) => e.getAttribute(attr) === value),
      [attr, value],
    );
  await page.getByTestId('facet-type').selectOption('project');
  await totalWhere(page, 'projects only', (n) => n === PROJECTS);
  assert.ok(await hitsMatch('data-type', 'project'));
  assert.equal(await page.getByTestId('hit').count(), 20);
  await page.getByTestId('show-more').click();
  await until('a second page of hits', async () => (await page.getByTestId('hit').count()) === 40);

  await page.getByTestId('facet-sector').selectOption('energy');
  const energy = cli(admin.home, [
    'find',
    admin.space,
    '--type',
    'project',
    '--where',
    'sector=energy',
    '--limit',
    '1',
  ]).total;
  assert.ok(energy > 0 && energy < PROJECTS);
  await totalWhere(page, 'energy projects', (n) => n === energy);
  assert.ok(await hitsMatch('data-sector', 'energy'));

  const stage = entities.find((e) => e.type === 'project' && e.values.sector === 'energy').values.stage;
  await page.getByTestId('facet-stage').selectOption(stage);
  const both = await totalWhere(page, `energy projects at stage ${stage}`, (n) => n < energy);
  assert.ok(both > 0);
  assert.ok(await hitsMatch('data-sector', 'energy'));
  assert.ok(await hitsMatch('data-stage', stage));
  const query = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
  assert.deepEqual([query.get('type'), query.get('sector'), query.get('stage')], ['project', 'energy', stage]);

  // Back drops the stage again; forward brings it back.
  await page.goBack();
  await totalWhere(page, 'back to energy projects', (n) => n === energy);
  assert.equal(await page.getByTestId('facet-stage').inputValue(), '');
  await page.goForward();
  await totalWhere(page, 'forward to the stage again', (n) => n === both);
  assert.equal(await page.getByTestId('facet-stage').inputValue(), stage);

  // ---- map and charts count the same projects ------------------------------------
  await page.goto(`${node.http}/#/map`);
  await until(
    'the map of every project',
    async () => (await page.getByTestId('map-count').getAttribute('data-count')) === String(PROJECTS),
    30000,
  );
  await page.getByTestId('map').waitFor();
  const cityCounts = await page.$$eval('[data-testid="city-table"] tbody tr', (rows) =>
    rows.map((r) => Number(r.dataset.count)),
  );
  assert.equal(cityCounts.length, CITIES);
  assert.equal(
    cityCounts.reduce((a, b) => a + b, 0),
    PROJECTS,
  );

  // One dot per city, numbered with its projects; cities near each other
  // share a dot (the sum) until zoomed in.
  const perCity = new Map(
    await page.$$eval('[data-testid="city-table"] tbody tr', (rows) =>
      rows.map((r) => [r.dataset.city, Number(r.dataset.count)]),
    ),
  );
  const withProjects = [...perCity.keys()].filter((c) => perCity.get(c) > 0).sort();
  const zoom = async () => Number(await page.getByTestId('map').getAttribute('data-zoom'));
  const dots = async (what) => {
    const list = await page.$$eval('[data-testid="map-dot"]', (els) =>
      els.map((e) => ({
        count: Number(e.dataset.count),
        cities: e.dataset.cities.split(' ').filter(Boolean),
        label: e.querySelector('text').textContent,
      })),
    );
    assert.equal(
      list.reduce((n, d) => n + d.count, 0),
      PROJECTS,
      `${what}: the dots hold every project`,
    );
    const all = list.flatMap((d) => d.cities);
    assert.deepEqual([...all].sort(), withProjects, `${what}: every city with projects is in exactly one dot`);
    for (const d of list) {
      assert.equal(
        d.count,
        d.cities.reduce((n, c) => n + perCity.get(c), 0),
        `${what}: a dot counts its cities' projects`,
      );
      assert.equal(d.label, String(d.count), `${what}: a dot shows its count`);
    }
    return list;
  };
  assert.equal(await zoom(), 1);
  const world = await dots('the whole map');
  assert.ok(world.length < withProjects.length, 'on the whole map, nearby cities share a dot');
  // A city's own dot opens its projects in Discover.
  const single = page.locator('[data-testid="map-dot"][data-places="1"]').first();
  const singleCity = await single.getAttribute('data-cities');
  await single.click();
  await totalWhere(page, "a city's projects from its dot", (n) => n === perCity.get(singleCity));
  assert.equal(await page.getByTestId('facet-city').inputValue(), singleCity);
  await page.goBack();
  await page.getByTestId('map').waitFor({ timeout: 20000 });
  await until('the dots again', async () => (await page.getByTestId('map-dot').count()) === world.length);
  // A shared dot zooms in on its cities; at the closest zoom each city has its own.
  await page.locator('[data-testid="map-dot"]:not([data-places="1"])').first().click();
  await until('zoomed in on the shared dot', async () => (await zoom()) === 2);
  assert.ok((await dots('zoomed in once')).length > world.length - 1);
  while (await page.getByTestId('zoom-in').isEnabled()) await page.getByTestId('zoom-in').click();
  assert.equal(await zoom(), 32);
  assert.equal((await dots('the closest zoom')).length, withProjects.length, 'one dot per city');
  await page.getByTestId('zoom-out').click();
  assert.equal(await zoom(), 16);
  await page.getByTestId('zoom-reset').click();
  assert.equal(await zoom(), 1);
  assert.equal((await dots('the whole map again')).length, world.length);
  await screenshot(page, 'map-en');
  await assertAccessible(page, 'the map');

  await page.locator('nav a[href="#/charts"]').click();
  await until(
    'the charts',
    async () => (await page.getByTestId('charts-total').getAttribute('data-total')) === String(PROJECTS),
    30000,
  );
  const stageBars = await until('the bars of the stage chart', async () => {
    const bars = await page.$$eval('[data-testid="chart-stage"] [data-testid="bar"]', (els) =>
      els.map((b) => [b.dataset.key, Number(b.dataset.value)]),
    );
    return bars.length === 7 && bars;
  });
  assert.equal(
    stageBars.reduce((n, [, v]) => n + v, 0),
    PROJECTS,
  );
  for (const chart of ['sector', 'region'])
    assert.equal(
      await page.$$eval(`[data-testid="chart-${chart}"] [data-testid="bar"]`, (b) =>
        b.reduce((n, e) => n + Number(e.dataset.value), 0),
      ),
      PROJECTS,
    );
  await screenshot(page, 'charts-en');
  await assertAccessible(page, 'the charts');
  // A bar opens Discover filtered by it.
  const [pilotKey, pilots] = stageBars.find(([k]) => k === 'pilot');
  await page.locator(`[data-testid="chart-stage"] [data-testid="bar"][data-key="${pilotKey}"]`).click();
  await totalWhere(page, 'Discover filtered by the bar', (n) => n === pilots);
  assert.equal(await page.getByTestId('facet-stage').inputValue(), 'pilot');
  assert.ok(await hitsMatch('data-stage', 'pilot'));

  // ---- entity page: a title missing in English gets its translation ---------------
  const untranslated = entities.find(
    (e) => e.type === 'project' && e.translations.title && !e.translations.title.values.en,
  );
  assert.ok(untranslated, 'the demo data has a project without an English title');
  await page.goto(`${node.http}/#/entity/project/${untranslated.id}`);
  await page.getByTestId('missing-title').waitFor({ timeout: 20000 });
  const original = untranslated.translations.title.values[untranslated.translations.title.original];
  assert.equal(await page.getByTestId('entity-title').textContent(), original);
  // No help needed: the language it was written in, the others it exists in,
  // and the translation form in place (the text it translates shown with it).
  const tr = untranslated.translations.title;
  const help = page.getByTestId('lang-help-title');
  assert.equal(await help.getByTestId('original-language').getAttribute('data-locale'), tr.original);
  const others = Object.keys(tr.values)
    .filter((l) => l !== tr.original)
    .sort();
  if (others.length)
    assert.deepEqual(
      (await help.getByTestId('available-languages').getAttribute('data-locales')).split(',').sort(),
      others,
    );
  else assert.equal(await help.getByTestId('available-languages').count(), 0);
  assert.match(await page.getByTestId('add-title-en').textContent(), /^Translate into English/);
  await screenshot(page, 'entity-en');
  await assertAccessible(page, 'the entity page');
  await page.getByTestId('add-title-en').click();
  assert.equal(
    await page.locator('form.add-text .hint span[dir=auto]').textContent(),
    original,
    'the form shows the text it translates',
  );
  await page.locator('#add-title-en').fill('Harbour test translation');
  await page.locator('form.add-text button[type=submit]').click();
  await until(
    'the English title',
    async () => (await page.getByTestId('entity-title').textContent()) === 'Harbour test translation',
  );
  assert.equal(await page.getByTestId('missing-title').count(), 0);
  await page.evaluate(() => window.urbisDb.waitForSync({ timeoutMs: 20000 }));
  admin.sync();
  const got = cli(admin.home, ['get', admin.space, 'project', untranslated.id, '--lang', 'en']);
  assert.equal(got.translations.title.values.en, 'Harbour test translation');
  assert.equal(got.translations.title.original, untranslated.translations.title.original);

  // A project deleted on another device: a clear notice, nothing to edit,
  // and (for this editor) a way to restore it.
  const gone = entities.find((e) => e.type === 'project' && e.id !== untranslated.id);
  cli(admin.home, ['delete', admin.space, 'project', gone.id]);
  admin.sync();
  await page.goto(`${node.http}/#/entity/project/${gone.id}`);
  await page.getByTestId('deleted').waitFor({ timeout: 20000 });
  assert.equal(await page.locator('[data-testid="entity"] button:not([data-testid="restore"])').count(), 0);
  assert.equal(await page.getByTestId('restore').count(), 1);
  assert.equal(await page.getByTestId('edit-entity').count(), 0);

  // ---- Arabic (one project fewer now) ------------------------------------------------
  await page.getByTestId('language').selectOption('ar');
  await until('right-to-left', () =>
    page.evaluate(() => document.documentElement.dir === 'rtl' && document.documentElement.lang === 'ar'),
  );
  await page.goto(`${node.http}/#/discover?q=${encodeURIComponent(rareTitleWord(entities, 'ar').word)}`);
  await page.getByTestId('hit').first().waitFor({ timeout: 20000 });
  assert.equal(await page.locator('h1').first().textContent(), 'استكشاف');
  await screenshot(page, 'discover-ar');
  await assertAccessible(page, 'Discover in Arabic');
  await page.goto(`${node.http}/#/map`);
  await until(
    'the map in Arabic',
    async () => (await page.getByTestId('map-count').getAttribute('data-count')) === String(PROJECTS - 1),
    30000,
  );
  await page.getByTestId('map').waitFor();
  await screenshot(page, 'map-ar');
  await page.goto(`${node.http}/#/charts`);
  await until(
    'the charts in Arabic',
    async () => (await page.getByTestId('charts-total').getAttribute('data-total')) === String(PROJECTS - 1),
    30000,
  );
  await screenshot(page, 'charts-ar');
  await assertAccessible(page, 'the charts in Arabic');
  await page.goto(`${node.http}/#/entity/project/${untranslated.id}`);
  await page.getByTestId('entity').waitFor({ timeout: 20000 });
  await screenshot(page, 'entity-ar');

  // ---- a viewer reads but sees nothing to edit ------------------------------------
  const viewerContext = await chrome.newContext();
  const viewer = await openApp(viewerContext, node, { hash: `#/entity/project/${untranslated.id}` });
  await onboard(viewer, { invite: admin.invite('viewer') });
  await viewer.getByTestId('field-title').waitFor({ timeout: 30000 });
  await viewer.getByText('You can read this space but not edit it.').waitFor();
  assert.equal(
    await viewer.locator('[data-testid="entity"] [data-testid^="edit-"]').count(),
    0,
    'no Edit link or button',
  );
  assert.equal(await viewer.locator('[data-testid="entity"] form').count(), 0);
  assert.deepEqual(await viewer.$$eval('[data-testid="entity"] button', (els) => els.map((e) => e.textContent)), []);
});
