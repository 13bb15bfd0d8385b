// Matching (issue 14, item 3), in the browser against a real node. The CLI
// (the secretariat's device) writes a small space: three cities; a need of
// the Spanish city (water, SDG 6, its title in Spanish alone); a practice of
// the Korean city with the same sector and SDG 6, written in Korean alone; a
// water project without SDGs and an energy practice with SDG 6 of a third
// city; a practice of the need's own city (left out) and unrelated ones. An
// editor's browser shows, under "Fits this need", exactly those three in
// that order with the reasons "same sector and SDG 6", "same sector", "SDG
// 6" (in Arabic: the Arabic sentence, the list joined the Arabic way).
// "Ask this city" opens the practice's comment thread with a question about
// the need prefilled; the editor edits and posts it, and the CLI finds the
// comment on the practice with its need reference. In a project's plan the
// editor writes lessons learned and publishes them as a best practice: the
// CLI finds a practice referencing the project, with its sector, SDGs and
// city and the lessons as summary, and the plan links to it. axe finds
// nothing serious on the need's page, the thread and the plan's section;
// screenshots in English and Arabic. A viewer sees the matches and the
// lessons, with no Ask, Publish or Edit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  checkSetup,
  cleanup,
  startAppNode,
  launchBrowser,
  openApp,
  onboard,
  until,
  syncState,
  screenshot,
  audit,
  cli,
  tempDir,
} from './harness.mjs';

after(cleanup);

const NEED_ES = 'Fugas en la red de agua potable';
const PRACTICE_KO = '스마트 누수 감지 센서망';
const LESSONS = 'Start the clinic pilot in one district and train the staff before the equipment arrives.';
const QUESTION_MORE = ' Did you use acoustic sensors?';

// A space with no demo data, so the ranking is known exactly.
function seed(node) {
  const home = path.join(tempDir('admin'), 'home');
  cli(home, ['init', '--name', 'Secretariat']);
  const { space } = cli(home, ['space', 'create', 'Matching test']);
  const put = (type, ...fields) => cli(home, ['put', space, type, 'new', ...fields]).id;
  const city = (name, lang, country, region) =>
    put(
      'city',
      `name@${lang}=${name}`,
      `name@en=${name}`,
      `language=${lang}`,
      `country=${country}`,
      `region=${region}`,
      'population=250000',
    );
  const es = city('Valdemora', 'es', 'Castelia (fictional)', 'Europe');
  const ko = city('한강시', 'ko', 'Hanmark (fictional)', 'East Asia');
  const en = city('Northbridge', 'en', 'Albion (fictional)', 'Europe');
  const at = (c) => [`city=${c}`];
  const ids = {
    es,
    ko,
    en,
    need: put(
      'need',
      `title@es=${NEED_ES}`,
      'description@es=Perdemos un tercio del agua en la red.',
      'sector=water',
      '+sdgs=6',
      'urgency=high',
      ...at(es),
    ),
    practice: put(
      'practice',
      `title@ko=${PRACTICE_KO}`,
      'summary@ko=누수를 실시간으로 찾아 손실을 줄였습니다.',
      'sector=water',
      '+sdgs=6',
      'outcome=Water losses down 17%',
      ...at(ko),
    ),
    sectorOnly: put('project', 'title@en=Pipe renewal in the old town', 'sector=water', 'stage=planning', ...at(en)),
    sdgOnly: put('practice', 'title@en=Solar pumps for wells', 'sector=energy', '+sdgs=6', ...at(en)),
    ownCity: put('practice', 'title@es=Contadores inteligentes', 'sector=water', '+sdgs=6', ...at(es)),
    unrelated: put('practice', 'title@en=Bus lanes on the ring road', 'sector=mobility', '+sdgs=11', ...at(en)),
    unrelated2: put('project', 'title@ko=학교 급식 개선', 'sector=education', '+sdgs=4', ...at(ko)),
    planned: put(
      'project',
      'title@en=Mobile health clinics',
      'sector=health',
      '+sdgs=3',
      '+sdgs=10',
      '+tags=clinics',
      'stage=pilot',
      ...at(ko),
    ),
  };
  cli(home, ['put', space, 'milestone', 'new', `project=${ids.planned}`, 'title@en=First clinic open', 'done=false']);
  cli(home, ['sync', node.ws]);
  return {
    home,
    space,
    ids,
    invite(role) {
      const { invite } = cli(home, ['space', 'invite', space, '--role', role, '--ttl', '3600']);
      cli(home, ['sync', node.ws]);
      return invite;
    },
    sync() {
      return cli(home, ['sync', node.ws]);
    },
  };
}

async function go(page, hash) {
  await page.evaluate((h) => (location.hash = h), hash);
}

async function settled(page, what) {
  await until(
    `${what}: online with nothing pending`,
    async () => {
      const s = page.getByTestId('sync-status');
      return (await s.getAttribute('data-state')) === 'online' && Number(await s.getAttribute('data-pending')) === 0;
    },
    30000,
  );
}

// The matches shown: [{id, reason}], once the section is done loading.
async function matches(page) {
  const section = page.getByTestId('matches');
  await until('the matches', async () => (await section.getAttribute('aria-busy')) === 'false', 20000);
  return section
    .locator('[data-testid=match]')
    .evaluateAll((els) =>
      els.map((el) => ({ id: el.dataset.id, reason: el.querySelector('[data-testid=match-reason]').textContent })),
    );
}

test(
  'a need shows the practices and projects of other cities that fit it, with the reason; ask a city; publish lessons learned',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seed(node);
    const { ids } = admin;

    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await onboard(page, { invite: admin.invite('editor') });
    await until('online', async () => (await syncState(page)) === 'online', 30000);

    // ---- the need's page ---------------------------------------------------------------
    await go(page, `#/entity/need/${ids.need}`);
    await page.getByTestId('matches').waitFor({ timeout: 20000 });
    const expected = [
      { id: ids.practice, reason: 'same sector and SDG 6' },
      { id: ids.sectorOnly, reason: 'same sector' },
      { id: ids.sdgOnly, reason: 'SDG 6' },
    ];
    await until(
      'the three matches',
      async () => JSON.stringify(await matches(page)) === JSON.stringify(expected),
      30000,
    ).catch(async (e) => {
      throw new Error(`${e.message}; shown: ${JSON.stringify(await matches(page))}`);
    });
    const first = page.locator(`[data-testid=match][data-id="${ids.practice}"]`);
    assert.equal(await first.getAttribute('data-type'), 'practice');
    assert.equal(await first.locator('.match-title').textContent(), PRACTICE_KO, 'the Korean title, by the fallback');
    assert.equal(await first.locator('.match-title').getAttribute('lang'), 'ko');
    assert.match(await first.locator('.match-facts').textContent(), /Best practice.*한강시/);
    assert.equal(
      await page.locator(`[data-testid=match][data-id="${ids.ownCity}"]`).count(),
      0,
      "the need's own city is left out",
    );
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'matching-need-en');
    assert.deepEqual(await audit(page, 'the need page with its matches'), []);

    // ---- Ask this city -----------------------------------------------------------------
    await first.getByTestId('ask-city').click();
    await until(
      'the practice page, asking about the need',
      () => page.evaluate((want) => location.hash === want, `#/entity/practice/${ids.practice}?ask=${ids.need}`),
      10000,
    );
    await page.getByTestId('asking-about').waitFor({ timeout: 20000 });
    const box = page.locator('#comment-text');
    await until(
      'the question prefilled and focused',
      async () =>
        (await box.inputValue()).includes(NEED_ES) &&
        (await page.evaluate(() => document.activeElement?.id)) === 'comment-text',
      20000,
    );
    const prefilled = await box.inputValue();
    assert.equal(
      prefilled,
      `About our need “${NEED_ES}”: how did you go about this, and what would you do differently?`,
    );
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'matching-ask-en');
    assert.deepEqual(await audit(page, 'the practice page with the question'), []);
    await page.keyboard.press('End');
    await page.keyboard.type(QUESTION_MORE);
    await page.getByTestId('add-comment').locator('button[type=submit]').click();
    await page.getByTestId('section-comments').locator('[data-testid=comment]').first().waitFor({ timeout: 10000 });
    assert.equal(await box.inputValue(), '', 'the form empties once posted');
    await settled(page, 'the question');
    const comment = await until(
      'the CLI to find the comment on the practice',
      () => {
        admin.sync();
        const r = cli(admin.home, ['find', admin.space, '--type', 'comment', '--where', `practice=${ids.practice}`]);
        return r.total === 1 ? r.hits[0] : false;
      },
      30000,
    );
    const stored = cli(admin.home, ['get', admin.space, 'comment', comment.id, '--lang', 'en']);
    assert.equal(stored.values.need, ids.need, 'the comment names the need it asks about');
    assert.equal(stored.values.text, `${prefilled}${QUESTION_MORE}`);
    assert.match(stored.values.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // ---- Arabic ------------------------------------------------------------------------
    await page.getByTestId('language').selectOption('ar');
    await until('right-to-left', () => page.evaluate(() => document.documentElement.dir === 'rtl'));
    await go(page, `#/entity/need/${ids.need}`);
    await page.getByTestId('matches').waitFor({ timeout: 20000 });
    const arabic = await page.evaluate(() => {
      const six = new Intl.NumberFormat('ar').format(6);
      const list = (items) => new Intl.ListFormat('ar', { style: 'long', type: 'conjunction' }).format(items);
      return [list(['القطاع نفسه', `الهدف ${six}`]), list(['القطاع نفسه']), list([`الهدف ${six}`])];
    });
    await until(
      'the Arabic reasons',
      async () => JSON.stringify((await matches(page)).map((m) => m.reason)) === JSON.stringify(arabic),
      20000,
    ).catch(async (e) => {
      throw new Error(
        `${e.message}; shown: ${JSON.stringify(await matches(page))}, expected ${JSON.stringify(arabic)}`,
      );
    });
    assert.equal(await page.locator('#matches-h').textContent(), 'ما يناسب هذا الاحتياج');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'matching-need-ar');
    assert.deepEqual(await audit(page, 'the need page in Arabic'), []);

    // ---- lessons learned, published as a best practice ---------------------------------------
    await page.getByTestId('language').selectOption('en');
    await until('left-to-right', () => page.evaluate(() => document.documentElement.dir === 'ltr'));
    await go(page, `#/plan/${ids.planned}`);
    const section = page.getByTestId('section-lessons');
    await section.waitFor({ timeout: 20000 });
    assert.equal(await section.getByTestId('publish-open').count(), 0, 'nothing to publish before lessons are written');
    await section.getByTestId('edit-item').click();
    await section.locator('textarea').fill(LESSONS);
    await section.getByTestId('save-item').click();
    await section.getByTestId('publish-open').waitFor({ timeout: 10000 });
    await section.getByTestId('publish-open').click();
    await until(
      'focus in the form',
      async () => (await page.evaluate(() => document.activeElement?.id)) === 'publish-form-title',
      5000,
    );
    assert.equal(await page.locator('#publish-form-title').inputValue(), 'Mobile health clinics');
    assert.equal(await page.locator('#publish-form-summary').inputValue(), LESSONS);
    await page.locator('#publish-form-title').fill('Mobile clinics: start small, train first');
    await page.locator('#publish-form-outcome').fill('Waiting times down 30%');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'matching-lessons-en');
    assert.deepEqual(await audit(page, 'the plan with the publish form'), []);
    await page.getByTestId('publish-form').locator('button[type=submit]').click();
    const link = section.getByTestId('published-practice');
    await link.waitFor({ timeout: 10000 });
    assert.equal(await link.textContent(), 'Mobile clinics: start small, train first');
    const practiceId = await link.getAttribute('data-id');
    await settled(page, 'the publication');
    const found = await until(
      'the CLI to find the practice by its project',
      () => {
        admin.sync();
        const r = cli(admin.home, ['find', admin.space, '--type', 'practice', '--where', `project=${ids.planned}`]);
        return r.total === 1 ? r.hits[0] : false;
      },
      30000,
    );
    assert.equal(found.id, practiceId);
    const practice = cli(admin.home, ['get', admin.space, 'practice', practiceId, '--lang', 'en']);
    assert.deepEqual(
      {
        project: practice.values.project,
        sector: practice.values.sector,
        sdgs: practice.values.sdgs,
        tags: practice.values.tags,
        city: practice.values.city,
        region: practice.values.region,
        country: practice.values.country,
        outcome: practice.values.outcome,
      },
      {
        project: ids.planned,
        sector: 'health',
        sdgs: [3, 10],
        tags: ['clinics'],
        city: ids.ko,
        region: 'East Asia',
        country: 'Hanmark (fictional)',
        outcome: 'Waiting times down 30%',
      },
    );
    assert.deepEqual(practice.translations.summary.values, { en: LESSONS });
    assert.deepEqual(
      cli(admin.home, ['get', admin.space, 'project', ids.planned, '--lang', 'en']).translations.lessons.values,
      { en: LESSONS },
    );
    assert.deepEqual(await audit(page, 'the plan with the published practice'), []);

    // ---- a viewer: the matches and the lessons, no Ask, no Publish, no Edit ------------------
    const viewerCtx = await chrome.newContext();
    const viewer = await openApp(viewerCtx, node);
    await onboard(viewer, { invite: admin.invite('viewer') });
    await until('the viewer to know its role', () =>
      viewer
        .evaluate((space) => window.urbisDb.spaces().then((l) => l.find((x) => x.space === space)?.role), admin.space)
        .then((r) => r === 'viewer'),
    );
    await go(viewer, `#/entity/need/${ids.need}`);
    await viewer.getByTestId('matches').waitFor({ timeout: 20000 });
    await until('the viewer sees the matches', async () => (await matches(viewer)).length === 3, 30000);
    assert.equal(await viewer.getByTestId('ask-city').count(), 0, 'viewers cannot comment, so they get no Ask');
    await go(viewer, `#/plan/${ids.planned}`);
    const seen = viewer.getByTestId('section-lessons');
    await seen.getByTestId('published-practice').waitFor({ timeout: 30000 });
    assert.equal(await seen.getByTestId('lessons').textContent(), LESSONS);
    assert.equal(await seen.getByTestId('publish-open').count(), 0, 'only editors and admins publish');
    assert.equal(await seen.locator('button').count(), 0, 'and only they edit the lessons');

    await page.getByTestId('language').selectOption('ar');
    await until(
      'the section in Arabic',
      async () => (await page.locator('#lessons-h').textContent()).startsWith('الدروس المستفادة'),
      20000,
    );
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'matching-lessons-ar');
    assert.deepEqual(await audit(page, 'the plan with lessons in Arabic'), []);
  },
);
