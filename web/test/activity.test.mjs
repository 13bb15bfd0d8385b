// Activity (issue 14, item 4). Amina (an editor's browser) and Chen (a
// viewer's) have entered the space; then Bruno (a second editor's browser)
// edits a task's title, assigns another task to Amina (picked from the
// members), changes a risk, comments mentioning "@Amina" and raises a need's
// urgency, while Amina adds a milestone of her own. Amina's navigation
// counts exactly Bruno's five entries; her activity view lists exactly
// those, grouped by project (the plan's) and type, each "by Bruno" with its
// time; the task shows under "assigned to you" and the comment under
// "mentions". Chen's device counts Bruno's and Amina's. Marking read clears
// Amina's count but not Chen's (read marks are per device); Bruno's next edit is the only one listed, also after a
// reload. The count of new changes reads at most `max_bytes` of them and
// says when it is a lower bound ("At least N", also on the page, through
// the test build's knob). Screenshots and axe in English and Arabic.
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
  unlock,
  until,
  syncState,
  screenshot,
  audit,
  cli,
} from './harness.mjs';

after(cleanup);

async function person(context, node, name, invite) {
  const page = await openApp(context, node);
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.getByTestId('create-identity').waitFor({ timeout: 20000 });
  if (name) await page.locator('#name').fill(name);
  await onboard(page, { invite });
  return page;
}

const navCount = (page) => page.getByTestId('activity-link').getAttribute('data-count');
const ids = (page, selector) => page.locator(selector).evaluateAll((els) => els.map((e) => e.dataset.id).sort());

test(
  'activity lists exactly what another device changed, grouped, with who and when; read marks per device',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 6, projects: 40 });
    const find = (...args) => cli(admin.home, ['find', admin.space, ...args, '--lang', 'en', '--limit', '50']).hits;
    const project = find('--type', 'task')[0].summary.project;
    const [t1, t2] = find('--type', 'task', '--where', `project=${project}`);
    const risk = find('--type', 'risk', '--where', `project=${project}`)[0];
    const need = find('--type', 'need')[0];
    assert.ok(t1 && t2 && risk && need, 'the demo plan has two tasks and a risk, and there is a need');

    const chrome = await launchBrowser();
    const amina = await person(chrome.context, node, 'Amina', admin.invite('editor'));
    const brunoCtx = await chrome.newContext();
    const bruno = await person(brunoCtx, node, 'Bruno', admin.invite('editor'));
    const chenCtx = await chrome.newContext();
    const chen = await person(chenCtx, node, 'Chen', admin.invite('viewer'));
    for (const [who, page] of [
      ['Amina', amina],
      ['Bruno', bruno],
      ['Chen', chen],
    ])
      await until(`${who} online`, async () => (await syncState(page)) === 'online', 30000);
    await until(
      "Amina to know Bruno's name",
      () =>
        amina
          .evaluate(
            (space) =>
              window.urbisDb.find(space, { type: 'profile' }).then((r) =>
                r.hits
                  .map((h) => h.summary.name)
                  .sort()
                  .join(),
              ),
            admin.space,
          )
          .then((names) => names === 'Amina,Bruno'),
      30000,
    );
    // Entering the space set each device's read mark: nothing is new yet.
    for (const page of [amina, chen]) await until('a read mark', async () => (await navCount(page)) === '0', 20000);
    await amina.evaluate(() => (location.hash = '#/activity'));
    await amina.getByTestId('activity-none').waitFor({ timeout: 20000 });

    // Amina's own edit, which her activity leaves out.
    await amina.evaluate(
      ({ space, project }) =>
        window.urbisDb.put(space, 'milestone', 'new', { project, 'title@en': 'Amina’s own milestone', done: false }),
      { space: admin.space, project },
    );

    // Bruno's edits, each one change.
    const aminaDevice = await amina.evaluate(() => window.urbisDb.device());
    const comment = await bruno.evaluate(
      async ({ space, project, t1, t2, risk, need, aminaDevice }) => {
        const db = window.urbisDb;
        await db.put(space, 'task', t1, { 'title@en': 'Count the bus riders at dawn' });
        await db.put(space, 'task', t2, { assignee_device: aminaDevice, assignee: 'Amina' });
        await db.put(space, 'risk', risk, { likelihood: 5 });
        const c = await db.put(space, 'comment', 'new', {
          project,
          'text@en': '@Amina could you check the rider counts?',
          author: 'Bruno',
          at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        });
        await db.put(space, 'need', need, { urgency: 'critical' });
        return c.id;
      },
      { space: admin.space, project, t1: t1.id, t2: t2.id, risk: risk.id, need: need.id, aminaDevice },
    );
    const start = Date.now() - 60000;
    const expected = [t1.id, t2.id, risk.id, comment, need.id].sort();

    // ---- Amina: the count, then exactly those five, grouped ---------------------------------
    await until("Amina's count of 5", async () => (await navCount(amina)) === '5', 30000);
    assert.equal(await amina.getByTestId('activity-link').locator('.sr-only').textContent(), '5 new changes');
    await amina.getByTestId('activity-summary').waitFor({ timeout: 20000 });
    assert.deepEqual(await ids(amina, '[data-testid=activity-entry]'), expected, "exactly Bruno's edits");
    const groups = await amina.locator('[data-testid=activity-project]').evaluateAll((els) =>
      els.map((g) => ({
        project: g.dataset.project,
        types: [...g.querySelectorAll('[data-testid=activity-type]')]
          .map((t) => `${t.dataset.type}:${t.querySelectorAll('[data-testid=activity-entry]').length}`)
          .sort(),
      })),
    );
    assert.deepEqual(
      groups,
      [
        { project, types: ['comment:1', 'risk:1', 'task:2'] },
        { project: '', types: ['need:1'] },
      ],
      "grouped by project (the plan's first), then by type",
    );
    const projectTitle = cli(admin.home, ['get', admin.space, 'project', project, '--lang', 'en']).values.title;
    assert.equal(
      await amina.locator('[data-testid=activity-project]').first().locator('h3').textContent(),
      projectTitle,
      'the project by its title',
    );
    for (const who of await amina.getByTestId('activity-who').allTextContents()) assert.equal(who, 'by Bruno');
    for (const when of await amina
      .getByTestId('activity-when')
      .evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime')))))
      assert.ok(when >= start && when <= Date.now() + 60000, `a time of the edit (${new Date(when).toISOString()})`);
    const entry = (id) => amina.locator(`[data-testid=activity-entry][data-id="${id}"]`);
    assert.equal(await entry(t1.id).getByTestId('activity-fields').textContent(), 'Changed: Title (English)');
    assert.equal(await entry(t1.id).locator('a').textContent(), 'Count the bus riders at dawn');
    assert.equal(await entry(t2.id).getByTestId('activity-fields').textContent(), 'Changed: Assignee');
    assert.equal(await entry(comment).getByTestId('activity-fields').textContent(), 'Changed: Comment (English)');
    assert.equal(await entry(need.id).locator('a').getAttribute('href'), `#/entity/need/${need.id}`);
    assert.equal(await entry(risk.id).locator('a').getAttribute('href'), `#/plan/${project}`);
    assert.deepEqual(await ids(amina, '[data-testid=assigned-task]'), [t2.id], 'the task assigned to Amina');
    assert.deepEqual(await ids(amina, '[data-testid=mention]'), [comment], 'the comment mentioning @Amina');
    // Chen's device counts Bruno's five and Amina's milestone.
    await until("Chen's count of 6", async () => (await navCount(chen)) === '6', 20000);

    await amina.evaluate(() => window.scrollTo(0, 0));
    await screenshot(amina, 'activity-en');
    assert.deepEqual(await audit(amina, 'the activity view'), []);

    // The assignee picker on the plan: the members by name, Amina chosen.
    await amina.evaluate((p) => (location.hash = `#/plan/${p}`), project);
    const card = amina.locator(`#task-${t2.id}`);
    await card.waitFor({ timeout: 20000 });
    assert.equal(await card.getByTestId('task-assignee').textContent(), 'Amina');
    await card.getByTestId('edit-item').click();
    const picker = card.locator(`#card-${t2.id}-assignee`);
    assert.equal(await picker.inputValue(), aminaDevice);
    const offered = await picker.locator('option').allTextContents();
    assert.ok(offered.includes('Amina') && offered.includes('Bruno') && offered.includes('Nobody'), offered.join(', '));
    await card.getByRole('button', { name: 'Cancel' }).click();

    // ---- a long absence, in small: the count reads at most max_bytes of new changes --------
    const since = await amina.evaluate(
      (s) => JSON.parse(localStorage.getItem(`urbis.activity.${s}`)).cursor,
      admin.space,
    );
    const activity = (options) =>
      amina.evaluate(({ space, options }) => window.urbisDb.activity(space, options), { space: admin.space, options });
    const full = await activity({ since });
    assert.equal(full.more, false, 'everything new was counted');
    assert.equal(full.capped, false);
    assert.ok(full.changes >= 5, `Bruno's five changes at least (${full.changes})`);
    const cut = await activity({ since, max_bytes: 1 });
    assert.equal(cut.more, true, 'one byte reads one change: the count is a lower bound');
    assert.equal(cut.complete, false);
    assert.ok(cut.changes < full.changes, `${cut.changes} of ${full.changes} counted`);
    assert.deepEqual(
      cut.entities.map((e) => e.id).sort(),
      full.entities.map((e) => e.id).sort(),
      'the entities are still found (the walk goes to its cap)',
    );
    const bigger = await activity({ since, max_bytes: 1 << 20 });
    assert.deepEqual({ changes: bigger.changes, more: bigger.more }, { changes: full.changes, more: false });
    await assert.rejects(activity({ since, max_bytes: 0 }), /max_bytes/);
    await amina.evaluate(() => (location.hash = '#/activity'));
    const changesLine = amina.getByTestId('activity-changes');
    await until(
      'the count of changes on the page',
      async () => (await changesLine.textContent().catch(() => '')) === `${full.changes} new changes from others.`,
      20000,
    );
    assert.equal(await changesLine.getAttribute('data-more'), 'false');
    // The page says "at least" when the bound cut the count (the test build's knob bounds it).
    await amina.evaluate(() => localStorage.setItem('urbis.activityMaxBytes', '1'));

    // ---- Arabic -------------------------------------------------------------------------
    await amina.evaluate(() => (location.hash = '#/activity'));
    await amina.getByTestId('language').selectOption('ar');
    await until('right-to-left', () => amina.evaluate(() => document.documentElement.dir === 'rtl'));
    await until('the view in Arabic', async () => (await amina.locator('main h1').textContent()) === 'النشاط', 20000);
    await amina.getByTestId('activity-summary').waitFor({ timeout: 20000 });
    await until(
      'a lower bound, in Arabic',
      async () => (await changesLine.getAttribute('data-more')) === 'true',
      20000,
    );
    assert.match(await changesLine.textContent(), /على الأقل/);
    await amina.evaluate(() => window.scrollTo(0, 0));
    await screenshot(amina, 'activity-ar');
    assert.deepEqual(await audit(amina, 'the activity view in Arabic'), []);
    await amina.getByTestId('language').selectOption('en');
    await until('left-to-right', () => amina.evaluate(() => document.documentElement.dir === 'ltr'));
    await until(
      'at least N changes, in English',
      async () => /^At least \d+ new changes? from others\.$/.test(await changesLine.textContent()),
      20000,
    );
    assert.match(await amina.getByTestId('activity-link').locator('.nav-count').textContent(), /^\d+\+/);
    await amina.evaluate(() => localStorage.removeItem('urbis.activityMaxBytes'));

    // ---- marking read: Amina's count clears, Chen's does not ------------------------------------
    await amina.getByTestId('mark-read').click();
    await amina.getByTestId('activity-none').waitFor({ timeout: 10000 });
    await until("Amina's count cleared", async () => (await navCount(amina)) === '0', 10000);
    assert.equal(await amina.getByTestId('activity-link').locator('.nav-count').count(), 0);
    await chen.waitForTimeout(500);
    assert.equal(await navCount(chen), '6', 'read marks are per device');

    // Bruno's next edit is the only one new, also after a reload.
    await bruno.evaluate(({ space, risk }) => window.urbisDb.put(space, 'risk', risk, { impact: 1 }), {
      space: admin.space,
      risk: risk.id,
    });
    await until("Amina's count of 1", async () => (await navCount(amina)) === '1', 30000);
    assert.deepEqual(await ids(amina, '[data-testid=activity-entry]'), [risk.id]);
    assert.equal(
      await amina
        .locator(`[data-testid=activity-entry][data-id="${risk.id}"]`)
        .getByTestId('activity-fields')
        .textContent(),
      'Changed: Impact',
    );
    await amina.reload();
    await unlock(amina);
    await until('the count after a reload', async () => (await navCount(amina)) === '1', 30000);
    // Chen never marked read: the risk is still one entry, now with both edits.
    await chen.evaluate(() => (location.hash = '#/activity'));
    const chenRisk = chen.locator(`[data-testid=activity-entry][data-id="${risk.id}"]`).getByTestId('activity-fields');
    await until(
      'Chen to see both edits of the risk',
      async () => (await chenRisk.textContent().catch(() => '')) === 'Changed: Impact, Likelihood',
      30000,
    );
    assert.equal(await navCount(chen), '6');
  },
);
