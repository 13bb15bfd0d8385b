// The plan page on a demo project with a full plan: every section shows the
// project's items (counted against the CLI of another device), screenshots
// in English and Arabic, no WCAG 2.1 AA problem axe-core can find (there and
// on the plan index with its New project form), a task moved between columns
// with the keyboard alone, a milestone ticked and another deleted, a
// conflicting edit shown and resolved, and a viewer's read-only page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
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
  cli,
} from './harness.mjs';

after(cleanup);

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

// WCAG 2.1 A and AA violations axe-core finds on the page, one line each.
async function accessibilityProblems(page) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

const SECTIONS = {
  milestone: 'milestones',
  task: 'tasks',
  stakeholder: 'stakeholders',
  risk: 'risks',
  funding: 'funding',
  comment: 'comments',
};

test(
  'a full demo plan: sections, screenshots, accessibility, edits, conflicts, read-only viewers',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 60 });
    // Demo data gives every tenth project a plan: one with funding has them all.
    const project = cli(admin.home, ['find', admin.space, '--type', 'funding', '--limit', '1']).hits[0].summary.project;
    const expected = {};
    for (const type of Object.keys(SECTIONS))
      expected[type] = cli(admin.home, [
        'find',
        admin.space,
        '--type',
        type,
        '--where',
        `project=${project}`,
        '--limit',
        '1000',
      ]).total;

    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node);
    await page.setViewportSize({ width: 1280, height: 900 });
    await onboard(page, { invite: admin.invite('editor') });
    await until('online', async () => (await syncState(page)) === 'online', 30000);
    await page.evaluate((id) => (location.hash = `#/plan/${id}`), project);
    await page.getByTestId('plan-page').waitFor({ timeout: 20000 });

    // Every section lists exactly the project's items of its type.
    const shown = {};
    for (const [type, section] of Object.entries(SECTIONS))
      shown[type] = await page.getByTestId(`section-${section}`).locator(`[data-testid="${type}"]`).count();
    assert.deepEqual(shown, expected);
    for (const n of Object.values(expected)) assert.ok(n > 0, JSON.stringify(expected));
    const matrix = await page.getByTestId('risk-matrix').locator('td li').count();
    assert.equal(matrix, expected.risk);
    assert.equal(await page.getByTestId('stakeholder-grid').locator('td li').count(), expected.stakeholder);
    assert.match(await page.getByTestId('funding-total').textContent(), /\d/);
    await screenshot(page, 'plan-en');
    assert.deepEqual(await accessibilityProblems(page), []);

    await page.getByTestId('language').selectOption('ar');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl');
    await until('Arabic headings', async () => /[\u0600-\u06FF]/.test(await page.locator('#tasks-h').textContent()));
    await screenshot(page, 'plan-ar');
    assert.deepEqual(await accessibilityProblems(page), []);
    await page.getByTestId('language').selectOption('en');
    await page.waitForFunction(() => document.documentElement.dir === 'ltr');
    await page.evaluate(() => (location.hash = '#/plan'));
    await page.getByTestId('new-project-open').click();
    await page.getByTestId('new-project-form').waitFor();
    assert.deepEqual(await accessibilityProblems(page), []);
    await page.evaluate((id) => (location.hash = `#/plan/${id}`), project);
    await page.getByTestId('plan-page').waitFor({ timeout: 20000 });

    // Keyboard only: "Move to Doing" on the first card to do, with Enter; the
    // card arrives in Doing and keeps the focus.
    const todo = page.locator('[data-testid="task"]:not([data-status="doing"])').first();
    const taskId = (await todo.getAttribute('id')).slice('task-'.length);
    await todo.getByTestId('move-doing').focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('column-doing').locator(`#task-${taskId}`).waitFor({ timeout: 10000 });
    await until(
      'focus on the moved card',
      () => page.evaluate((id) => document.activeElement?.id === `task-${id}`, taskId),
      5000,
    );
    await until(
      'the move to reach another device',
      () => {
        admin.sync();
        return cli(admin.home, ['get', admin.space, 'task', taskId]).values.status === 'doing';
      },
      20000,
      500,
    );

    // A milestone ticked with the space bar, another deleted after confirming;
    // focus returns to the section's heading.
    const open = page.locator('[data-testid="milestone"]:has([data-testid="milestone-done"]:not(:checked))').first();
    const openTitle = await open.getByTestId('milestone-title').textContent();
    await open.getByTestId('milestone-done').focus();
    await page.keyboard.press('Space');
    await page
      .locator('[data-testid="milestone"]', { hasText: openTitle })
      .locator('[data-testid="milestone-done"]:checked')
      .waitFor({ timeout: 10000 });
    const doomed = page.getByTestId('milestone').last();
    const doomedTitle = await doomed.getByTestId('milestone-title').textContent();
    await doomed.getByTestId('delete').click();
    await doomed.getByTestId('confirm-delete').press('Enter');
    await until(
      'the milestone to go',
      async () => (await page.getByTestId('milestone').count()) === expected.milestone - 1,
      10000,
    );
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'milestones-h');
    await until(
      'both edits to reach another device',
      () => {
        admin.sync();
        const left = cli(admin.home, [
          'find',
          admin.space,
          '--type',
          'milestone',
          '--where',
          `project=${project}`,
          '--lang',
          'en',
          '--limit',
          '100',
        ]).hits;
        return (
          left.length === expected.milestone - 1 &&
          !left.some((h) => h.title === doomedTitle) &&
          left.find((h) => h.title === openTitle)?.summary.done === true
        );
      },
      20000,
      500,
    );

    // A conflict: this device edits the task's title offline while the admin
    // edits it too; both versions show, and keeping one clears it.
    const card = page.locator(`#task-${taskId}`);
    await chrome.context.setOffline(true);
    await until('offline', async () => (await syncState(page)) === 'offline', 15000);
    // One Edit per card: a form of all its fields, saved as one change.
    await card.getByTestId('edit-item').click();
    await until(
      'focus in the card form',
      async () => (await page.evaluate(() => document.activeElement?.id)) === `card-${taskId}-title`,
      5000,
    );
    assert.equal(await card.locator('[data-testid=edit-item]').count(), 0, 'the form replaces the Edit button');
    await card.locator(`#card-${taskId}-title`).fill('Title from the browser');
    await card.locator(`#card-${taskId}-title`).press('Enter');
    await card.getByTestId('task-title').getByText('Title from the browser').waitFor({ timeout: 10000 });
    await until(
      'focus back on the Edit button',
      async () => (await page.evaluate(() => document.activeElement?.dataset.testid)) === 'edit-item',
      5000,
    );
    cli(admin.home, ['put', admin.space, 'task', taskId, 'title@en=Title from the admin']);
    admin.sync();
    await chrome.context.setOffline(false);
    const conflict = card.getByTestId('conflict');
    await conflict.waitFor({ timeout: 30000 });
    const versions = await conflict.getByTestId('conflict-version').allTextContents();
    assert.equal(versions.length, 2);
    assert.ok(
      versions.some((v) => v.includes('Title from the browser')) &&
        versions.some((v) => v.includes('Title from the admin')),
      versions.join(' | '),
    );
    await conflict
      .getByTestId('conflict-version')
      .filter({ hasText: 'Title from the admin' })
      .getByTestId('keep-version')
      .click();
    await until('the conflict to clear', async () => (await card.getByTestId('conflict').count()) === 0, 10000);
    assert.equal(await card.getByTestId('task-title').textContent(), 'Title from the admin');

    // Funding by status: a line merely requested secures nothing (the bug was
    // a full green bar and "covers the whole budget"); once approved it does.
    const funded = cli(admin.home, [
      'put',
      admin.space,
      'project',
      'new',
      'title@en=Funding check',
      'budget=1000',
      'currency=EUR',
    ]).id;
    const line = cli(admin.home, [
      'put',
      admin.space,
      'funding',
      'new',
      `project=${funded}`,
      'source=Regional fund',
      'amount=1000',
      'currency=EUR',
      'status=requested',
    ]).id;
    admin.sync();
    await page.evaluate((id) => (location.hash = `#/plan/${id}`), funded);
    const totals = page.getByTestId('funding-totals');
    await until(
      'the requested line',
      async () =>
        (await page
          .getByTestId('funding-requested')
          .getAttribute('data-amount')
          .catch(() => null)) === '1000',
      20000,
    );
    assert.equal(await totals.getAttribute('data-secured'), '0');
    assert.equal(await page.getByTestId('funding-bar-approved').count(), 0);
    assert.equal(await page.getByTestId('funding-bar-requested').count(), 1);
    const pendingText = await page.getByTestId('funding-vs-budget').textContent();
    assert.doesNotMatch(pendingText, /covers the whole budget/);
    assert.match(pendingText, /0%/);
    assert.match(pendingText, /requested or planned, not yet approved/);
    cli(admin.home, ['put', admin.space, 'funding', line, 'status=approved']);
    admin.sync();
    await until('the approved line', async () => (await totals.getAttribute('data-secured')) === '1000', 20000);
    assert.equal(await page.getByTestId('funding-approved').getAttribute('data-amount'), '1000');
    assert.equal(await page.getByTestId('funding-requested').getAttribute('data-amount'), '0');
    assert.match(await page.getByTestId('funding-vs-budget').textContent(), /covers the whole budget/);
    assert.deepEqual(await accessibilityProblems(page), []);

    // A viewer reads the same plan without any control that writes.
    const ctxV = await chrome.newContext();
    const viewer = await openApp(ctxV, node, { hash: '' });
    await onboard(viewer, { invite: admin.invite('viewer') });
    await viewer.evaluate((id) => (location.hash = `#/plan/${id}`), project);
    await viewer.getByTestId('read-only').waitFor({ timeout: 20000 });
    assert.equal(await viewer.getByTestId('task').count(), expected.task);
    const controls = '.plan-section :is(button, form, select, textarea, input:not([disabled]))';
    assert.equal(await viewer.locator(controls).count(), 0);
  },
);
