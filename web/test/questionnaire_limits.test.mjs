// Caps on a questionnaire's structure (src/questionnaire.js, LIMITS): a
// structure past them is refused for display (structureProblem, which the
// answer page, the results and the editor show as an error instead), and
// the editor cannot add past them (capReached): in Node alone, then in the
// app, where an admin's questionnaire past a cap shows the error on its
// answer page, results and editor (English and Arabic), and the editor's
// add buttons stop at the caps with a message.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, structureOf, structureProblem, capReached } from '../src/questionnaire.js';
import { checkSetup, cleanup, startAppNode, seedSpace, launchBrowser, openApp, onboard, until } from './harness.mjs';

after(cleanup);

const question = (id, choices = 2) => ({
  id,
  kind: 'single',
  choices: Array.from({ length: choices }, (_, i) => `${id}c${i}`),
});
// `sections` sections of `per` questions each.
const values = (sections, per, extra = {}) => ({
  structure: {
    sections: Array.from({ length: sections }, (_, s) => ({
      id: `s${s}`,
      questions: Array.from({ length: per }, (_, q) => question(`s${s}q${q}`)),
    })),
  },
  ...extra,
});

test('the caps are those the brief gives', () => {
  assert.deepEqual(LIMITS, { sections: 50, questions: 200, choices: 30, label: 500 });
});

test('a structure at the caps is shown; one past any of them is not', () => {
  assert.equal(structureProblem(values(50, 4)), null, '50 sections, 200 questions');
  assert.equal(structureProblem({}), null, 'no structure');
  assert.equal(structureProblem(null), null);
  assert.deepEqual(structureProblem(values(51, 1)), { what: 'sections', limit: 50 });
  assert.deepEqual(structureProblem(values(3, 67)), { what: 'questions', limit: 200 }, '201 questions');
  assert.deepEqual(structureProblem(values(1, 5000)), { what: 'questions', limit: 200 });
  const choices = values(1, 1);
  choices.structure.sections[0].questions[0] = question('q', 30);
  assert.equal(structureProblem(choices), null, '30 choices');
  choices.structure.sections[0].questions[0] = question('q', 31);
  assert.deepEqual(structureProblem(choices), { what: 'choices', limit: 30 });
  // Counted as stored, before structureOf drops what it cannot read.
  const junk = { structure: { sections: [{ id: 's', questions: Array(201).fill(null) }] } };
  assert.equal(structureOf(junk).sections[0].questions.length, 0);
  assert.deepEqual(structureProblem(junk), { what: 'questions', limit: 200 });
});

test('labels (s.*, q.*, c.*) longer than the cap are refused; other fields are not', () => {
  const ok = 'x'.repeat(500);
  const long = 'x'.repeat(501);
  assert.equal(structureProblem(values(1, 1, { 'q.s0q0': ok, 's.s0': ok, 'c.s0q0.s0q0c0': ok })), null);
  for (const field of ['s.s0', 'q.s0q0', 'c.s0q0.s0q0c1'])
    assert.deepEqual(structureProblem(values(1, 1, { [field]: long })), { what: 'label', limit: 500 }, field);
  assert.equal(structureProblem(values(1, 1, { description: 'x'.repeat(5000) })), null);
});

test('the editor cannot add past a cap', () => {
  const s = (n, per) => structureOf(values(n, per));
  assert.equal(capReached(s(49, 1), 'sections'), null);
  assert.deepEqual(capReached(s(50, 1), 'sections'), { what: 'sections', limit: 50 });
  assert.deepEqual(
    capReached(s(40, 5), 'sections'),
    { what: 'questions', limit: 200 },
    'a section comes with a question',
  );
  assert.equal(capReached(s(2, 99), 'questions'), null);
  assert.deepEqual(capReached(s(2, 100), 'questions'), { what: 'questions', limit: 200 });
  const c = structureOf(values(1, 1));
  c.sections[0].questions[0].choices = Array.from({ length: 29 }, (_, i) => `c${i}`);
  assert.equal(capReached(c, 'choices', 0, 0), null);
  c.sections[0].questions[0].choices.push('c29');
  assert.deepEqual(capReached(c, 'choices', 0, 0), { what: 'choices', limit: 30 });
});

test(
  'in the app: past a cap, an error instead of the questionnaire; the editor stops at the caps',
  { timeout: 240000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 3, projects: 5 });
    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await onboard(page, { invite: admin.invite('admin') });
    // A questionnaire as any admin's device may write it, whatever its editor allows.
    const make = (v, labels = {}) =>
      page.evaluate(
        ({ space, structure, labels }) =>
          window.urbisDb
            .put(space, 'questionnaire', 'new', [
              { op: 'set', field: 'structure', value: structure },
              { op: 'set', field: 'kind', value: 'survey' },
              { op: 'text', field: 'title', locale: 'en', value: 'Made elsewhere' },
              ...Object.entries(labels).map(([field, value]) => ({ op: 'text', field, locale: 'en', value })),
            ])
            .then((r) => r.id),
        { space: admin.space, structure: v.structure, labels },
      );
    const open = (hash) => page.evaluate((h) => (location.hash = h), hash);
    const tooBig = page.getByTestId('q-too-big');
    const shows = async (hash, what, text) => {
      await open(hash);
      await until(
        `${hash}: the error`,
        async () => (await tooBig.getAttribute('data-what', { timeout: 1000 }).catch(() => null)) === what,
        20000,
      );
      if (text) assert.equal(await tooBig.textContent(), text);
    };

    // 201 questions: no page renders them.
    const many = await make(values(1, 201));
    const manyText =
      'This questionnaire cannot be shown: it has more than 200 questions. An administrator can make a smaller one.';
    await shows(`#/questionnaire/${many}`, 'questions', manyText);
    assert.equal(await page.getByTestId('q-preview').count(), 0);
    assert.equal(await page.getByTestId('q-city').count(), 0);
    await shows(`#/questionnaire/${many}/results`, 'questions', manyText);
    await shows(`#/questionnaire/${many}/edit`, 'questions', manyText);
    assert.equal(await page.getByTestId('qe-question').count(), 0, 'no editor');
    // The list counts nothing of it either (its progress per city would
    // walk every question for every city).
    await shows('#/questionnaires', 'questions', manyText);
    const item = page.locator(`[data-testid="questionnaire-item"][data-id="${many}"]`);
    assert.equal(await item.getByTestId('q-too-big').count(), 1, 'the error is on its own item');
    // A label past 500 characters.
    const long = await make(values(1, 1), { 'q.s0q0': 'x'.repeat(501) });
    await shows(
      `#/questionnaire/${long}`,
      'label',
      'This questionnaire cannot be shown: a text in it is longer than 500 characters. An administrator can make a smaller one.',
    );
    // In Arabic.
    await page.getByTestId('language').selectOption('ar');
    await until('right-to-left', () => page.evaluate(() => document.documentElement.dir === 'rtl'));
    await until(
      'the error in Arabic',
      async () => /^لا يمكن عرض هذا الاستبيان/.test(await tooBig.textContent()),
      20000,
    );
    await page.getByTestId('language').selectOption('en');
    await until('left-to-right', () => page.evaluate(() => document.documentElement.dir === 'ltr'));

    // The editor: at 50 sections, no 51st; at 30 choices, no 31st; at 200 questions, no 201st.
    const form = page.getByTestId('q-edit-form');
    const message = form.getByTestId('error');
    const full = values(50, 1);
    full.structure.sections[0].questions[0] = question('s0q0', 29);
    const atCaps = await make(full);
    await open(`#/questionnaire/${atCaps}/edit`);
    await page.getByTestId('q-edit').waitFor({ timeout: 20000 });
    assert.equal(await page.getByTestId('qe-section').count(), 50);
    assert.equal(await page.locator('input[id^="qe-q-"]').first().getAttribute('maxlength'), '500');
    await page.getByTestId('qe-add-section').click();
    assert.equal(await message.textContent(), 'A questionnaire has at most 50 sections.');
    assert.equal(await page.getByTestId('qe-section').count(), 50, 'no section added');
    const choices = page.getByTestId('qe-question').first().locator('input[id^="qe-c-"]');
    assert.equal(await choices.count(), 29);
    await page.getByTestId('qe-question').first().getByTestId('qe-add-choice').click();
    assert.equal(await choices.count(), 30, 'the 30th choice is added');
    assert.equal(await message.count(), 0, 'no message below the cap');
    await page.getByTestId('qe-question').first().getByTestId('qe-add-choice').click();
    assert.equal(await message.textContent(), 'A question has at most 30 choices.');
    assert.equal(await choices.count(), 30, 'no 31st choice');

    const questions = await make(values(2, 100));
    await open(`#/questionnaire/${questions}/edit`);
    await until(
      'the editor of 200 questions',
      async () => (await page.getByTestId('qe-question').count()) === 200,
      20000,
    );
    await page.getByTestId('qe-add-question').first().click();
    assert.equal(await message.textContent(), 'A questionnaire has at most 200 questions in all.');
    assert.equal(await page.getByTestId('qe-question').count(), 200, 'no question added');
  },
);
