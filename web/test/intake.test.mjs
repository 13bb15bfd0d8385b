// Intake of the Discover types (issue 14, item 1). An editor whose role is
// limited to one city reports a need while offline, through the form (its
// city pre-filled from that scope, the validation messages first), and adds
// a Spanish translation of its title; back online, a second device finds it
// by that Spanish word and by its facets (the CLI and a viewer's browser),
// and the CLI's `find --type need` total equals the page's count for
// type=need. The viewer sees no New links and the form refuses them. The
// editor edits the need with the same form, deletes it (the CLI and the
// viewer's Discover lose it) and restores it (both find it again). An admin
// adds a member city through the city form (refusing a bad population and
// latitude) and the editor's form offers it. axe finds nothing serious on
// the forms; screenshots of the need and city forms in English and Arabic.
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
  audit,
  cli,
  sync,
  settled,
  go,
} from './harness.mjs';

after(cleanup);

const TITLE = 'Cold storage for the fish market';
const TITLE_ES = 'Cámaras frigoríficas para la lonja';
const WORD_ES = 'lonja'; // a word of the Spanish translation alone
const DESCRIPTION = 'Fishers lose a third of the catch in summer for want of cold rooms near the quay.';

async function total(page) {
  return until(
    'the result count',
    async () => {
      const v = await page.getByTestId('total').getAttribute('data-total');
      const busy = await page.locator('.results-count .searching').count();
      return v !== '' && busy === 0 ? Number(v) : false;
    },
    20000,
  );
}

// What the CLI device finds after syncing with the node.
function find(admin, args) {
  admin.sync();
  return cli(admin.home, ['find', admin.space, ...args, '--limit', '1000']);
}

test(
  'intake: report a need offline, find it elsewhere, edit, delete and restore it; admins add cities',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 60 });
    const cities = cli(admin.home, ['find', admin.space, '--type', 'city', '--lang', 'en', '--limit', '100']).hits;
    const home = cities[3];

    const chrome = await launchBrowser();
    const editor = await openApp(chrome.context, node);
    await editor.setViewportSize({ width: 1280, height: 1000 });
    await onboard(editor, { invite: admin.invite('editor') });
    const viewerCtx = await chrome.newContext();
    const viewer = await openApp(viewerCtx, node);
    await onboard(viewer, { invite: admin.invite('viewer') });

    // The editor's role is limited to one city.
    admin.sync();
    const editorKey = await editor.evaluate(() => window.urbisDb.device());
    cli(admin.home, ['space', 'add-member', admin.space, editorKey, '--role', 'editor', '--scope', home.id]);
    admin.sync();
    await until(
      'the editor to learn its scope',
      () =>
        editor
          .evaluate(
            async ({ space, me }) => (await window.urbisDb.members(space)).find((m) => m.device === me)?.scope?.join(),
            { space: admin.space, me: editorKey },
          )
          .then((s) => s === home.id),
      30000,
    );

    // ---- a viewer: no New links, and the form refuses them ------------------------------
    await viewer.getByTestId('total').waitFor({ timeout: 20000 });
    await total(viewer);
    await until('the viewer to know its role', () =>
      viewer
        .evaluate((space) => window.urbisDb.spaces().then((l) => l.find((s) => s.space === space)?.role), admin.space)
        .then((r) => r === 'viewer'),
    );
    assert.equal(await viewer.getByTestId('new-links').count(), 0, 'a viewer sees no New links');
    await go(viewer, '#/new/need');
    await viewer.getByTestId('intake-denied').waitFor({ timeout: 10000 });
    assert.equal(await viewer.getByTestId('intake-form').count(), 0);

    // ---- the editor, offline: the need form -----------------------------------------
    await editor.getByTestId('new-need').waitFor({ timeout: 20000 });
    assert.equal(await editor.getByTestId('new-city').count(), 0, 'only admins add cities');
    await editor.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await chrome.context.setOffline(true);
    await until('the editor offline', async () => (await syncState(editor)) === 'offline', 15000);
    await editor.getByTestId('new-need').click();
    await editor.getByTestId('intake-form').waitFor({ timeout: 10000 });
    assert.equal(await editor.locator('#intake-city').inputValue(), home.id, 'the city comes from the scope');
    const offered = await editor
      .locator('#intake-city option')
      .evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    assert.deepEqual(offered, [home.id], 'a scoped editor is offered their cities alone');
    assert.equal(await editor.locator('#intake-textLang').inputValue(), 'en');
    await editor.evaluate(() => window.scrollTo(0, 0));
    await screenshot(editor, 'intake-need-en');
    assert.deepEqual(await audit(editor, 'the need form'), []);

    // Nothing filled: translated messages on the required fields, focus on the first.
    await editor.getByTestId('intake-save').click();
    await editor.getByTestId('error-title').waitFor();
    assert.equal(await editor.getByTestId('error-title').textContent(), 'Fill in “Title in English”.');
    assert.equal(await editor.getByTestId('error-sector').textContent(), 'Choose “Sector”.');
    assert.equal(await editor.locator('#intake-title').getAttribute('aria-invalid'), 'true');
    await until(
      'focus on the title',
      async () => (await editor.evaluate(() => document.activeElement?.id)) === 'intake-title',
      5000,
    );
    assert.deepEqual(await audit(editor, 'the need form with errors'), []);

    // Filled from the keyboard where it matters.
    await editor.keyboard.type(TITLE);
    await editor.locator('#intake-description').fill(DESCRIPTION);
    await editor.locator('#intake-sector').selectOption('health');
    await editor.locator('#intake-urgency').selectOption('high');
    await editor.locator('#intake-sdgs-3').focus();
    await editor.keyboard.press('Space');
    await editor.locator('#intake-sdgs-6').check();
    assert.equal(await editor.getByTestId('error-title').count(), 0, 'the message goes once the field is filled');
    await editor.getByTestId('intake-save').click();
    await until(
      'the new need page',
      () => editor.evaluate(() => /^#\/entity\/need\/[0-9a-f]{32}$/.test(location.hash)),
      10000,
    );
    const id = (await editor.evaluate(() => location.hash)).split('/').pop();
    await until('its title', async () => (await editor.getByTestId('entity-title').textContent()) === TITLE);

    // A translation of the title, still offline.
    await editor.getByTestId('translations-title').locator('summary').click();
    await editor.getByTestId('tr-title-es').click();
    await editor.locator('#tr-title-es').fill(TITLE_ES);
    await editor.locator('#tr-title-es').press('Enter');
    await editor
      .getByTestId('translations-title')
      .locator('li[data-locale="es"][data-has="true"]')
      .waitFor({ timeout: 10000 });
    const offline = await sync(editor);
    assert.equal(offline.state, 'offline');
    assert.ok(offline.pending >= 2, JSON.stringify(offline));

    // ---- online: a second device finds it ------------------------------------------------
    await chrome.context.setOffline(false);
    await settled(editor, 'the editor');
    const byWord = find(admin, ['--type', 'need', '--text', WORD_ES]);
    assert.deepEqual(
      byWord.hits.map((h) => h.id),
      [id],
      `the CLI finds the need by the Spanish word "${WORD_ES}"`,
    );
    const byFacet = find(admin, [
      '--type',
      'need',
      '--where',
      'sector=health',
      '--where',
      'urgency=high',
      '--where',
      'sdgs=6',
      '--where',
      `city=${home.id}`,
    ]);
    assert.ok(
      byFacet.hits.some((h) => h.id === id),
      'and by its facets',
    );
    const stored = cli(admin.home, ['get', admin.space, 'need', id, '--lang', 'en']);
    assert.equal(stored.values.sector, 'health');
    assert.deepEqual(stored.values.sdgs, [3, 6]);
    assert.equal(stored.values.city, home.id);
    assert.equal(stored.values.region, home.summary.region, 'region copied from the city');
    assert.equal(stored.values.country, home.summary.country, 'country copied from the city');
    assert.equal(stored.translations.title.original, 'en', 'the original locale is the one it was written in');
    assert.deepEqual(stored.translations.title.values, { en: TITLE, es: TITLE_ES });
    assert.equal(stored.translations.description.values.en, DESCRIPTION);

    // The viewer's browser finds it by the Spanish word too.
    await go(viewer, `#/discover?q=${WORD_ES}`);
    await viewer.locator(`[data-testid=hit][data-id="${id}"]`).waitFor({ timeout: 30000 });

    // The page's count of needs is the CLI's.
    await go(editor, '#/discover?type=need');
    const pageNeeds = await total(editor);
    const cliNeeds = find(admin, ['--type', 'need']).total;
    assert.equal(pageNeeds, cliNeeds, 'the page counts as many needs as the CLI finds');

    // ---- edit with the same form ------------------------------------------------------
    await go(editor, `#/entity/need/${id}`);
    await editor.getByTestId('edit-entity').click();
    await editor.locator('[data-testid=intake][data-mode=edit]').waitFor({ timeout: 10000 });
    assert.equal(await editor.locator('#intake-title').inputValue(), TITLE);
    assert.equal(await editor.locator('#intake-sdgs-6').isChecked(), true);
    await editor.locator('#intake-urgency').selectOption('critical');
    await editor.locator('#intake-sdgs-3').uncheck();
    await editor.getByTestId('intake-save').click();
    await until('back on the need page', () => editor.evaluate((id) => location.hash === `#/entity/need/${id}`, id));
    await settled(editor, 'the edit');
    await until(
      'the CLI to see the edit',
      () => {
        admin.sync();
        const v = cli(admin.home, ['get', admin.space, 'need', id]).values;
        return v.urgency === 'critical' && JSON.stringify(v.sdgs) === '[6]';
      },
      20000,
    );
    const afterEdit = cli(admin.home, ['get', admin.space, 'need', id, '--lang', 'en']);
    assert.deepEqual(
      afterEdit.translations.title.values,
      { en: TITLE, es: TITLE_ES },
      'an edit rewrites only what changed',
    );

    // ---- delete, then restore ----------------------------------------------------------
    await editor.getByTestId('delete-entity').click();
    await until(
      'focus on the confirmation',
      async () => (await editor.evaluate(() => document.activeElement?.dataset.testid)) === 'confirm-delete',
      5000,
    );
    await editor.getByTestId('confirm-delete').click();
    await editor.getByTestId('restore').waitFor({ timeout: 10000 });
    assert.equal(await editor.getByTestId('entity').getAttribute('data-deleted'), 'true');
    await settled(editor, 'the delete');
    await until(
      'the CLI to lose the need',
      () => find(admin, ['--type', 'need', '--text', WORD_ES]).total === 0,
      20000,
    );
    await until(
      'the viewer to lose it',
      async () => (await viewer.locator(`[data-testid=hit][data-id="${id}"]`).count()) === 0,
      30000,
    );
    await viewer.getByTestId('no-results').waitFor({ timeout: 10000 });

    await editor.getByTestId('restore').click();
    await until(
      'the need shown again',
      async () => (await editor.getByTestId('entity').getAttribute('data-deleted')) === 'false',
      10000,
    );
    await editor.getByTestId('edit-entity').waitFor();
    await settled(editor, 'the restore');
    await until(
      'the CLI to find it again',
      () => find(admin, ['--type', 'need', '--text', WORD_ES]).total === 1,
      20000,
    );
    await viewer.locator(`[data-testid=hit][data-id="${id}"]`).waitFor({ timeout: 30000 });
    assert.equal(cli(admin.home, ['get', admin.space, 'need', id]).values.urgency, 'critical', 'restored as it was');

    // ---- an admin adds a member city ----------------------------------------------------
    const adminCtx = await chrome.newContext();
    const adm = await openApp(adminCtx, node);
    await adm.setViewportSize({ width: 1280, height: 1000 });
    await onboard(adm, { invite: admin.invite('admin') });
    await adm.getByTestId('new-city').click();
    await adm.locator('[data-testid=intake][data-type=city]').waitFor({ timeout: 10000 });
    await adm.locator('#intake-language').selectOption('fr');
    await adm.locator('#intake-name').fill('Valmerine-sur-Lac');
    await adm.locator('#intake-name_en').fill('Valmerine');
    await adm.locator('#intake-country').fill('Arvelia (fictional)');
    await adm.locator('#intake-region').selectOption('Europe');
    await adm.locator('#intake-population').fill('many');
    await adm.locator('#intake-lat').fill('95');
    await adm.locator('#intake-lon').fill('5.5');
    await adm.getByTestId('intake-save').click();
    await adm.getByTestId('error-population').waitFor();
    assert.equal(await adm.getByTestId('error-population').textContent(), '“Population” must be a number.');
    assert.equal(await adm.getByTestId('error-lat').textContent(), 'Latitude must be between -90 and 90.');
    await until(
      'focus on the population',
      async () => (await adm.evaluate(() => document.activeElement?.id)) === 'intake-population',
      5000,
    );
    await adm.evaluate(() => window.scrollTo(0, 0));
    await screenshot(adm, 'intake-city-en');
    assert.deepEqual(await audit(adm, 'the city form with errors'), []);
    await adm.locator('#intake-population').fill('185000');
    await adm.locator('#intake-lat').fill('45.125');
    await adm.getByTestId('intake-save').click();
    await until(
      'the new city page',
      () => adm.evaluate(() => /^#\/entity\/city\/[0-9a-f]{32}$/.test(location.hash)),
      10000,
    );
    const cityId = (await adm.evaluate(() => location.hash)).split('/').pop();
    await settled(adm, 'the admin');
    admin.sync();
    const city = cli(admin.home, ['get', admin.space, 'city', cityId, '--lang', 'en']);
    assert.deepEqual(
      {
        country: city.values.country,
        region: city.values.region,
        language: city.values.language,
        population: city.values.population,
        lat: city.values.lat,
        lon: city.values.lon,
      },
      { country: 'Arvelia (fictional)', region: 'Europe', language: 'fr', population: 185000, lat: 45.125, lon: 5.5 },
    );
    assert.deepEqual(city.translations.name.values, { fr: 'Valmerine-sur-Lac', en: 'Valmerine' });
    assert.equal(city.translations.name.original, 'fr');

    // The editor, no longer scoped, is offered the new city.
    cli(admin.home, ['space', 'add-member', admin.space, editorKey, '--role', 'editor']);
    admin.sync();
    await go(editor, '#/new/need');
    await until(
      'the new city in the city select',
      async () => (await editor.locator(`#intake-city option[value="${cityId}"]`).count()) === 1,
      30000,
    );

    // ---- Arabic ----------------------------------------------------------------------
    await editor.getByTestId('language').selectOption('ar');
    await until('right-to-left', () => editor.evaluate(() => document.documentElement.dir === 'rtl'));
    await until(
      'the form in Arabic',
      async () => (await editor.locator('main h1').textContent()) === 'الإبلاغ عن احتياج',
    );
    await editor.getByTestId('intake-save').click();
    await editor.getByTestId('error-title').waitFor();
    assert.match(await editor.getByTestId('error-title').textContent(), /^املأ «العنوان/);
    await editor.evaluate(() => window.scrollTo(0, 0));
    await screenshot(editor, 'intake-need-ar');
    assert.deepEqual(await audit(editor, 'the need form in Arabic'), []);
    await adm.getByTestId('language').selectOption('ar');
    await go(adm, '#/new/city');
    await until(
      'the city form in Arabic',
      async () => (await adm.locator('main h1').textContent()) === 'إضافة مدينة عضو',
    );
    await adm.evaluate(() => window.scrollTo(0, 0));
    await screenshot(adm, 'intake-city-ar');
    assert.deepEqual(await audit(adm, 'the city form in Arabic'), []);
  },
);
