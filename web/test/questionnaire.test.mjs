// Questionnaires (issue 14, item 2). An admin finds the demo's readiness
// assessment, writes a new questionnaire in the editor (a 1–5 scale, one
// choice, several choices, a number and an optional text) and publishes it
// to one region, which prepares one response per city of that region. Two
// editors scoped to the same city answer it offline, different questions
// and different ticks of the multiple choice; each answer is kept as typed
// (timed: opening the questionnaire offline, saving an answer offline). One
// reloads offline and finds its answers. Back online, both pages show every
// answer, their replicas have the same state hash, and the CLI reads the
// merged response. One submits; the admin's results show the city
// submitted in the completion per city and per region, the answers in the
// charts, and the CSV export holds them. axe finds nothing serious on the
// list, the editor, the answer page and the results; screenshots of each in
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
  unlock,
  until,
  screenshot,
  audit,
  cli,
  sync,
  settled,
  go,
} from './harness.mjs';

after(cleanup);

const TITLE = 'Digital services intake';
const TEXT_ANSWER = 'A shared payment gateway with the region.';

// Resolves, in the page, once the save indicator went from saving to saved:
// {total: ms from the call, put: ms of the last durable put}.
function nextSave(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const el = document.querySelector('[data-testid=save-state]');
        const t0 = performance.now();
        let saving = false;
        const obs = new MutationObserver(() => {
          if (el.dataset.state === 'saving') saving = true;
          if (saving && el.dataset.state === 'saved' && el.dataset.pending === '0') {
            obs.disconnect();
            resolve({ total: Math.round(performance.now() - t0), put: Number(el.dataset.ms) });
          }
        });
        obs.observe(el, { attributes: true });
      }),
  );
}
const question = (page, i) => page.getByTestId('qe-question').nth(i);
// The editor focuses what an add button added a tick later: typing elsewhere
// before that can land in the added field instead (a choice left empty).
const focused = (locator, what) =>
  until(`focus on ${what}`, () => locator.evaluate((el) => el === document.activeElement), 5000);

test(
  'questionnaires: write and publish, answer offline on two devices, merge per question, results and CSV',
  { timeout: 295000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 40 });
    const cities = cli(admin.home, ['find', admin.space, '--type', 'city', '--lang', 'en', '--limit', '100']).hits;
    const home = cities[0];
    const region = home.summary.region;
    const inRegion = cities.filter((c) => c.summary.region === region);
    const demo = cli(admin.home, ['find', admin.space, '--type', 'questionnaire', '--limit', '10']).hits;
    assert.equal(demo.length, 1, 'the demo carries one questionnaire');

    const chrome = await launchBrowser();
    const adm = await openApp(chrome.context, node);
    await adm.setViewportSize({ width: 1280, height: 1000 });
    await onboard(adm, { invite: admin.invite('admin') });

    // ---- the list: the demo's readiness assessment ------------------------------------
    await go(adm, '#/questionnaires');
    await adm.locator(`[data-testid=questionnaire-item][data-id="${demo[0].id}"]`).waitFor({ timeout: 20000 });
    assert.equal(
      await adm.locator(`[data-testid=questionnaire-item][data-id="${demo[0].id}"] h2`).textContent(),
      'Smart city readiness assessment',
    );
    await screenshot(adm, 'questionnaires-en');
    assert.deepEqual(await audit(adm, 'the questionnaire list'), []);

    // ---- an admin writes a questionnaire ----------------------------------------------
    await adm.locator('#q-new-title').fill(TITLE);
    await adm.getByTestId('create-questionnaire').click();
    await adm.getByTestId('q-edit').waitFor({ timeout: 10000 });
    const qid = (await adm.evaluate(() => location.hash)).split('/')[2];
    assert.match(qid, /^[0-9a-f]{32}$/);
    await adm.getByTestId('qe-add-section').click();
    await until(
      'focus on the new section title',
      () => adm.evaluate(() => document.activeElement?.id?.startsWith('qe-s-')),
      5000,
    );
    await adm.keyboard.type('Online services');
    await question(adm, 0).locator('input[id^="qe-q-"]').fill('How far can residents pay city fees online?');
    // One choice, with its two choices.
    await adm.getByTestId('qe-add-question').click();
    await focused(question(adm, 1).locator('input[id^="qe-q-"]'), 'question 2');
    await question(adm, 1).locator('input[id^="qe-q-"]').fill('Does the city run an open data portal?');
    await question(adm, 1).locator('input[id^="qe-c-"]').nth(0).fill('Yes');
    await question(adm, 1).locator('input[id^="qe-c-"]').nth(1).fill('No');
    // Several choices, three of them.
    await adm.getByTestId('qe-add-question').click();
    await focused(question(adm, 2).locator('input[id^="qe-q-"]'), 'question 3');
    await question(adm, 2).locator('select[id^="qe-k-"]').selectOption('multiple');
    await question(adm, 2).locator('input[id^="qe-q-"]').fill('How do residents reach the city?');
    await question(adm, 2).getByTestId('qe-add-choice').click();
    await focused(question(adm, 2).locator('input[id^="qe-c-"]').nth(2), 'the third choice');
    for (const [i, text] of ['Email', 'Phone', 'Web form'].entries())
      await question(adm, 2).locator('input[id^="qe-c-"]').nth(i).fill(text);
    // A number and an optional text.
    await adm.getByTestId('qe-add-question').click();
    await focused(question(adm, 3).locator('input[id^="qe-q-"]'), 'question 4');
    await question(adm, 3).locator('select[id^="qe-k-"]').selectOption('number');
    await question(adm, 3).locator('input[id^="qe-q-"]').fill('How many services can be used online?');
    await adm.getByTestId('qe-add-question').click();
    await focused(question(adm, 4).locator('input[id^="qe-q-"]'), 'question 5');
    await question(adm, 4).locator('select[id^="qe-k-"]').selectOption('text');
    await question(adm, 4).locator('input[id^="qe-q-"]').fill('What would help most?');
    await question(adm, 4).locator('input[type=checkbox]').check();
    await adm.getByTestId('qe-save').click();
    await adm.getByTestId('q-saved').waitFor({ timeout: 10000 });
    await adm.evaluate(() => window.scrollTo(0, 0));
    await screenshot(adm, 'questionnaire-edit-en');
    assert.deepEqual(await audit(adm, 'the questionnaire editor'), []);

    // Published to the home city's region: one response per city there.
    await adm.getByTestId('qp-audience').selectOption(region);
    await adm.getByTestId('q-publish-button').click();
    await adm.getByTestId('q-published').waitFor({ timeout: 20000 });
    await until(
      'a response per city of the region',
      async () => {
        const made = adm.getByTestId('q-made');
        return (
          (await made.getAttribute('data-done')) === String(inRegion.length) &&
          (await made.getAttribute('data-total')) === String(inRegion.length)
        );
      },
      20000,
    );
    await settled(adm, 'the admin');
    admin.sync();
    const q = cli(admin.home, ['get', admin.space, 'questionnaire', qid, '--lang', 'en']);
    assert.equal(q.values.status, 'published');
    assert.equal(q.values.audience, region);
    const sections = q.values.structure.sections;
    assert.equal(sections.length, 1);
    const qs = sections[0].questions;
    assert.deepEqual(
      qs.map((x) => x.kind),
      ['scale', 'single', 'multiple', 'number', 'text'],
    );
    assert.deepEqual(
      qs.map((x) => !!x.optional),
      [false, false, false, false, true],
    );
    assert.equal(q.values[`q.${qs[1].id}`], 'Does the city run an open data portal?');
    assert.equal(q.values[`c.${qs[2].id}.${qs[2].choices[1]}`], 'Phone');
    const [scaleQ, singleQ, multiQ, numberQ, textQ] = qs;
    const responses = cli(admin.home, [
      'find',
      admin.space,
      '--type',
      'response',
      '--where',
      `questionnaire=${qid}`,
      '--limit',
      '100',
    ]);
    assert.deepEqual(responses.hits.map((h) => h.summary.city).sort(), inRegion.map((c) => c.id).sort());

    // ---- two officials of one city ------------------------------------------------------
    const ctxA = await chrome.newContext();
    const ctxB = await chrome.newContext();
    const A = await openApp(ctxA, node);
    const B = await openApp(ctxB, node);
    await A.setViewportSize({ width: 1280, height: 1000 });
    await onboard(A, { invite: admin.invite('editor') });
    await onboard(B, { invite: admin.invite('editor') });
    admin.sync();
    const keys = await Promise.all([A, B].map((p) => p.evaluate(() => window.urbisDb.device())));
    for (const key of keys)
      cli(admin.home, ['space', 'add-member', admin.space, key, '--role', 'editor', '--scope', home.id]);
    admin.sync();
    for (const [i, p] of [A, B].entries())
      await until(
        `official ${i + 1} to learn its scope`,
        () =>
          p
            .evaluate(
              async ({ space, me }) =>
                (await window.urbisDb.members(space)).find((m) => m.device === me)?.scope?.join(),
              { space: admin.space, me: keys[i] },
            )
            .then((s) => s === home.id),
        30000,
      );
    const responseId = responses.hits.find((h) => h.summary.city === home.id).id;
    for (const p of [A, B]) {
      await go(p, `#/questionnaire/${qid}`);
      await p
        .locator(`[data-testid=q-response][data-city="${home.id}"][data-response="${responseId}"]`)
        .waitFor({ timeout: 30000 });
      await p.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    }
    await ctxA.setOffline(true);
    await ctxB.setOffline(true);
    for (const p of [A, B]) await until('offline', async () => (await sync(p)).state === 'offline', 15000);

    // Opening the questionnaire offline, timed.
    await go(A, '#/questionnaires');
    await A.getByTestId('questionnaires').waitFor();
    const openStart = Date.now();
    await go(A, `#/questionnaire/${qid}`);
    await A.locator(`[data-testid=q-response][data-response="${responseId}"] [data-testid=question]`)
      .first()
      .waitFor({ timeout: 10000 });
    const openMs = Date.now() - openStart;

    // A: the scale, the single choice, "Email", and the text (timed).
    const q1 = (p, id) => p.locator(`[data-testid=question][data-qid="${id}"]`);
    let saved = nextSave(A);
    await q1(A, scaleQ.id).locator('input[value="4"]').check();
    const choiceSave = await saved;
    await q1(A, singleQ.id).locator('input[type=radio]').first().check();
    await q1(A, multiQ.id).locator('input[type=checkbox]').nth(0).check();
    await until(
      'A saved',
      async () =>
        (await A.getByTestId('save-state').getAttribute('data-state')) === 'saved' &&
        (await A.getByTestId('save-state').getAttribute('data-pending')) === '0',
    );
    saved = nextSave(A);
    await q1(A, textQ.id).locator('textarea').fill(TEXT_ANSWER);
    const textSave = await saved;
    console.log(`[timing] open a questionnaire offline (5 questions, route to first question drawn): ${openMs} ms`);
    console.log(
      `[timing] save an answer offline: a choice ${choiceSave.total} ms to "saved" (durable put ${choiceSave.put} ms); a text ${textSave.total} ms after the last keystroke incl. the 400 ms debounce (durable put ${textSave.put} ms)`,
    );

    // B, at the same time: "Phone" and the number.
    await B.locator(`[data-testid=question][data-qid="${multiQ.id}"] input[type=checkbox]`).nth(1).check();
    await B.locator(`[data-testid=question][data-qid="${numberQ.id}"] input`).fill('12');
    await until(
      'B saved',
      async () =>
        (await B.getByTestId('save-state').getAttribute('data-state')) === 'saved' &&
        (await B.getByTestId('save-state').getAttribute('data-pending')) === '0',
      10000,
    );
    await until(
      'B to count its two answers',
      async () => (await B.getByTestId('q-progress').getAttribute('data-answered')) === '2',
      5000,
    );
    assert.equal((await sync(A)).state, 'offline');
    assert.ok((await sync(A)).pending >= 4, 'A holds its answers, unsent');

    await A.evaluate(() => window.scrollTo(0, 0));
    await screenshot(A, 'questionnaire-answer-en');
    assert.deepEqual(await audit(A, 'the answer page'), []);

    // A reloads, still offline: the answers are there.
    await A.reload({ timeout: 20000 });
    await unlock(A);
    await A.locator(`[data-testid=q-response][data-response="${responseId}"]`).waitFor({ timeout: 20000 });
    assert.equal(await q1(A, scaleQ.id).locator('input[value="4"]').isChecked(), true);
    assert.equal(await q1(A, textQ.id).locator('textarea').inputValue(), TEXT_ANSWER);
    await until(
      'A to count its four answers',
      async () => (await A.getByTestId('q-progress').getAttribute('data-answered')) === '4',
      5000,
    );
    assert.equal((await sync(A)).state, 'offline');

    // ---- online: both converge, per question ------------------------------------------
    await ctxA.setOffline(false);
    await ctxB.setOffline(false);
    await settled(A, 'A');
    await settled(B, 'B');
    for (const [name, p] of [
      ['A', A],
      ['B', B],
    ])
      await until(
        `${name} to show every answer`,
        async () =>
          (await p.getByTestId('q-progress').getAttribute('data-answered')) === '5' &&
          (await q1(p, multiQ.id).locator('input[type=checkbox]:checked').count()) === 2 &&
          (await q1(p, numberQ.id).locator('input').inputValue()) === '12' &&
          (await q1(p, textQ.id).locator('textarea').inputValue()) === TEXT_ANSWER,
        30000,
      );
    const hashes = await Promise.all([A, B].map((p) => p.evaluate((s) => window.urbisDb.stateHash(s), admin.space)));
    assert.equal(hashes[0], hashes[1], 'the two officials hold the same state');
    admin.sync();
    const response = cli(admin.home, ['get', admin.space, 'response', responseId]);
    assert.equal(response.values[`a.${scaleQ.id}`], 4);
    assert.equal(response.values[`a.${singleQ.id}`], singleQ.choices[0]);
    assert.deepEqual(response.values[`a.${multiQ.id}`], [multiQ.choices[0], multiQ.choices[1]].sort());
    assert.equal(response.values[`a.${numberQ.id}`], 12);
    assert.equal(response.values[`a.${textQ.id}`], TEXT_ANSWER);
    assert.deepEqual(response.conflicts, {}, 'different questions: no conflict');

    // A submits.
    await A.getByTestId('q-submit').click();
    await A.getByTestId('q-submitted-note').waitFor({ timeout: 10000 });
    assert.equal(
      await q1(A, scaleQ.id).locator('input[value="4"]').isDisabled(),
      true,
      'submitted answers are read-only',
    );
    await settled(A, 'the submission');

    // ---- the admin's results -----------------------------------------------------------
    const resultsCtx = await chrome.newContext(); // accepts downloads
    const R = await openApp(resultsCtx, node);
    await R.setViewportSize({ width: 1280, height: 1000 });
    await onboard(R, { invite: admin.invite('admin') });
    await go(R, `#/questionnaire/${qid}/results`);
    await R.locator(`[data-testid=city-row][data-city="${home.id}"][data-status=submitted]`).waitFor({
      timeout: 30000,
    });
    const summary = R.getByTestId('qr-summary');
    assert.equal(await summary.getAttribute('data-targets'), String(inRegion.length));
    assert.equal(await summary.getAttribute('data-submitted'), '1');
    assert.equal(
      await R.locator(`[data-testid=region-row][data-region="${region}"]`).getAttribute('data-submitted'),
      '1',
    );
    assert.equal(
      await R.locator(`[data-testid=region-row][data-region="${region}"]`).getAttribute('data-cities'),
      String(inRegion.length),
    );
    assert.equal(
      await R.locator(`[data-testid=q-chart][data-qid="${scaleQ.id}"]`).getAttribute('data-counts'),
      '0,0,0,1,0',
    );
    assert.equal(
      await R.locator(`[data-testid=q-chart][data-qid="${multiQ.id}"]`).getAttribute('data-counts'),
      '1,1,0',
    );
    await R.evaluate(() => window.scrollTo(0, 0));
    await screenshot(R, 'questionnaire-results-en');
    assert.deepEqual(await audit(R, 'the results'), []);
    const [file] = await Promise.all([
      R.waitForEvent('download', { timeout: 30000 }),
      R.getByTestId('q-export').click(),
    ]);
    const bytes = fs.readFileSync(await file.path());
    assert.ok(bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'the CSV starts with a byte-order mark');
    const rows = parse(bytes.toString('utf8'), { bom: true, columns: true });
    assert.equal(rows.length, inRegion.length, 'one row per city of the region');
    const row = rows.find((r) => r.City === home.title || r.City === home.summary.name?.en);
    assert.ok(row, `the home city's row: ${JSON.stringify(rows.map((r) => r.City))}`);
    assert.equal(row.Status, 'Submitted');
    assert.equal(row[`How far can residents pay city fees online? [${scaleQ.id}]`], '4');
    assert.equal(row[`How do residents reach the city? [${multiQ.id}]`], 'Email; Phone');
    assert.equal(row[`What would help most? [${textQ.id}]`], TEXT_ANSWER);

    // The demo's results: completion over every city.
    await go(R, `#/questionnaire/${demo[0].id}/results`);
    await until(
      'the demo results',
      async () =>
        (await R.getByTestId('qr-summary')
          .getAttribute('data-targets')
          .catch(() => null)) === String(cities.length),
      20000,
    );

    // ---- Arabic ------------------------------------------------------------------------
    await R.getByTestId('language').selectOption('ar');
    await until('right-to-left', () => R.evaluate(() => document.documentElement.dir === 'rtl'));
    await until(
      'the results in Arabic',
      async () => (await R.locator('main h1').textContent()).startsWith('النتائج'),
      10000,
    );
    await R.evaluate(() => window.scrollTo(0, 0));
    await screenshot(R, 'questionnaire-results-ar');
    assert.deepEqual(await audit(R, 'the results in Arabic'), []);
    await go(R, '#/questionnaires');
    await until(
      'the list in Arabic',
      async () =>
        (await R.locator(`[data-testid=questionnaire-item][data-id="${demo[0].id}"] h2`)
          .textContent()
          .catch(() => '')) === 'تقييم جاهزية المدينة الذكية',
      20000,
    );
    await screenshot(R, 'questionnaires-ar');
    assert.deepEqual(await audit(R, 'the list in Arabic'), []);
    await go(R, `#/questionnaire/${demo[0].id}/edit`);
    await R.getByTestId('q-edit').waitFor({ timeout: 10000 });
    await R.evaluate(() => window.scrollTo(0, 0));
    await screenshot(R, 'questionnaire-edit-ar');
    assert.deepEqual(await audit(R, 'the editor in Arabic'), []);
    await A.getByTestId('language').selectOption('ar');
    await go(A, `#/questionnaire/${demo[0].id}`);
    await A.locator(`[data-testid=q-response][data-city="${home.id}"]`).waitFor({ timeout: 20000 });
    await until(
      'the readiness assessment in Arabic',
      async () => (await A.getByTestId('q-title').textContent()) === 'تقييم جاهزية المدينة الذكية',
      10000,
    );
    await A.evaluate(() => window.scrollTo(0, 0));
    await screenshot(A, 'questionnaire-answer-ar');
    assert.deepEqual(await audit(A, 'the answer page in Arabic'), []);
  },
);
