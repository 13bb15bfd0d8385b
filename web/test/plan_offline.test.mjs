// Issue 5, test 2: planning offline. With its browser context offline, a
// device creates a project through the New project form and a task on its
// plan; after a reload (the service worker serves the app) and an unlock
// both are still there. Back online, its sync indicator goes from offline
// with pending changes to online with none, and a second device of the same
// space, with the plan index open, sees the project and its task appear
// without reloading, then a further task appear live on the plan page.
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
} from './harness.mjs';

after(cleanup);

const TITLE = 'Solar kiosks on the market square';
const TASK = 'Survey the stall holders';
const TASK2 = 'Ask the utility for a grid connection';

async function sync(page) {
  const s = page.getByTestId('sync-status');
  return { state: await s.getAttribute('data-state'), pending: Number(await s.getAttribute('data-pending')) };
}

// `assignee`: a member's device key, picked from the members (not typed).
async function addTask(page, title, assignee = '') {
  await page.locator('#add-task-title').fill(title);
  if (assignee)
    await until(
      'the member to pick',
      async () => (await page.locator(`#add-task-assignee option[value="${assignee}"]`).count()) === 1,
      10000,
    );
  await page.locator('#add-task-assignee').selectOption(assignee);
  await page.getByTestId('add-task').locator('button[type=submit]').click();
  await page.getByTestId('column-todo').getByTestId('task').filter({ hasText: title }).waitFor({ timeout: 10000 });
}

test(
  'a project and a task made offline survive a reload and reach another device live',
  { timeout: 290000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 60 });
    const chrome = await launchBrowser();
    const pageA = await openApp(chrome.context, node);
    await onboard(pageA, { invite: admin.invite() });
    const ctxB = await chrome.newContext();
    const pageB = await openApp(ctxB, node);
    await onboard(pageB, { invite: admin.invite() });
    await until(
      'both devices online',
      async () => (await syncState(pageA)) === 'online' && (await syncState(pageB)) === 'online',
      30000,
    );

    // B watches the plan index; the marker would vanish with a reload.
    await pageB.evaluate(() => {
      window.notReloaded = true;
      location.hash = '#/plan';
    });
    await pageB.getByTestId('with-plans').waitFor({ timeout: 20000 });

    // A goes offline once its service worker holds the app.
    await pageA.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await chrome.context.setOffline(true);
    await until('A offline', async () => (await syncState(pageA)) === 'offline', 15000);

    // The New project form, then a task on the plan it opens.
    await pageA.evaluate(() => (location.hash = '#/plan'));
    await pageA.getByTestId('new-project-open').click();
    await pageA.locator('#new-project-form-title').fill(TITLE);
    await pageA.locator('#new-project-form-sector').selectOption('energy');
    await pageA.locator('#new-project-form-stage').selectOption('pilot');
    const city = await pageA.locator('#new-project-form-city option').nth(1).getAttribute('value');
    await pageA.locator('#new-project-form-city').selectOption(city);
    await pageA.locator('#new-project-form-budget').fill('250000');
    await pageA.locator('#new-project-form-currency').selectOption('EUR');
    await pageA.getByTestId('new-project-form').locator('button[type=submit]').click();
    await pageA.getByTestId('plan-page').waitFor({ timeout: 10000 });
    const project = pageA.url().split('#/plan/')[1];
    assert.match(project, /^[0-9a-f]{32}$/);
    assert.equal(await pageA.getByTestId('plan-title').textContent(), TITLE);
    const deviceA = await pageA.evaluate(() => window.urbisDb.device());
    await addTask(pageA, TASK, deviceA);

    // Stored as the data model says: region and country copied from the city.
    const stored = await pageA.evaluate(
      async ({ project, city }) => {
        const db = window.urbisDb;
        const space = (await db.spaces())[0].space;
        return { p: (await db.get(space, 'project', project)).values, c: (await db.get(space, 'city', city)).values };
      },
      { project, city },
    );
    assert.deepEqual(
      {
        title: stored.p.title,
        sector: stored.p.sector,
        stage: stored.p.stage,
        city: stored.p.city,
        budget: stored.p.budget,
        currency: stored.p.currency,
      },
      { title: TITLE, sector: 'energy', stage: 'pilot', city, budget: 250000, currency: 'EUR' },
    );
    const task = await pageA.evaluate(async (project) => {
      const db = window.urbisDb;
      const space = (await db.spaces())[0].space;
      return (await db.find(space, { type: 'task', where: { project } })).hits[0].summary;
    }, project);
    assert.equal(task.assignee_device, deviceA, 'the assignee is the member picked');
    assert.equal(
      await pageA.getByTestId('task').filter({ hasText: TASK }).getByTestId('task-assignee').textContent(),
      `device ${deviceA.slice(0, 8)}…`,
      'a member without a name shows as their device',
    );
    assert.equal(stored.p.region, stored.c.region);
    assert.equal(stored.p.country, stored.c.country);
    const offline = await sync(pageA);
    assert.equal(offline.state, 'offline');
    assert.ok(offline.pending >= 2, JSON.stringify(offline));

    // Reload, still offline: the app comes from the service worker's cache.
    await pageA.reload({ timeout: 20000 });
    await unlock(pageA);
    await pageA.getByTestId('plan-page').waitFor({ timeout: 20000 });
    assert.equal(await pageA.getByTestId('plan-title').textContent(), TITLE);
    await pageA.getByTestId('column-todo').getByTestId('task').filter({ hasText: TASK }).waitFor({ timeout: 10000 });
    assert.deepEqual(await sync(pageA), offline);

    // Online again: everything reaches the node.
    await chrome.context.setOffline(false);
    await until(
      'A online with nothing pending',
      async () => {
        const s = await sync(pageA);
        return s.state === 'online' && s.pending === 0;
      },
      30000,
    );

    // B's plan index shows the project, with its one task, without a reload.
    const row = pageB.getByTestId('with-plans').locator(`[data-id="${project}"]`);
    await row.waitFor({ timeout: 30000 });
    assert.match(await row.textContent(), new RegExp(TITLE));
    assert.match(await row.getByTestId('plan-project-tasks').textContent(), /0 of 1 task done/);
    await row.getByRole('link').click();
    await pageB.getByTestId('plan-page').waitFor({ timeout: 20000 });
    await pageB.getByTestId('task').filter({ hasText: TASK }).waitFor({ timeout: 10000 });

    // And the plan page follows A's next edit live.
    await addTask(pageA, TASK2);
    await pageB.getByTestId('column-todo').getByTestId('task').filter({ hasText: TASK2 }).waitFor({ timeout: 30000 });
    assert.equal(await pageB.evaluate(() => window.notReloaded), true);
  },
);
