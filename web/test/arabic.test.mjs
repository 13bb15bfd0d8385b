// The interface in Arabic: html lang="ar" dir="rtl"; the onboarding and the
// header show the Arabic catalog's messages, never an English one or a raw
// key; the layout mirrors (the brand sits right of the navigation, labels
// line up with the right edge of their fields). Arabic is reached as the
// remembered language, by the language select, and from the browser's
// languages when no choice was made.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
} from './harness.mjs';

after(cleanup);

const LOCALES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'locales');

// A locale's catalog as {"area.key": message}.
function catalog(locale) {
  const out = {};
  for (const file of fs.readdirSync(path.join(LOCALES, locale)).filter((f) => f.endsWith('.json'))) {
    const json = JSON.parse(fs.readFileSync(path.join(LOCALES, locale, file), 'utf8'));
    for (const [k, v] of Object.entries(json)) out[`${file.slice(0, -5)}.${k}`] = v;
  }
  return out;
}
const en = catalog('en');
const ar = catalog('ar');
const AREAS = [...new Set(Object.keys(en).map((k) => k.split('.')[0]))];

// What a person reads on the page: the visible text nodes (not the language
// names in the select, which are written in their own language on purpose)
// and the accessible texts of attributes.
async function visibleTexts(page) {
  return page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      const text = n.textContent.trim();
      // Content (titles, summaries: dir="auto", the app's convention) may be in any language.
      if (text && !el.closest('option, script, style, noscript, [dir=auto]') && el.checkVisibility()) out.push(text);
    }
    for (const el of document.body.querySelectorAll('[aria-label], [placeholder], [title], img[alt]'))
      for (const a of ['aria-label', 'placeholder', 'title', 'alt'])
        if (el.getAttribute(a)) out.push(el.getAttribute(a));
    return out;
  });
}

// No English message (the literal parts around its placeholders) and no
// "area.key" shows anywhere.
function assertNoEnglishOrKeys(texts, where) {
  const all = texts.join('\n');
  for (const [key, message] of Object.entries(en)) {
    assert.ok(!all.includes(key), `${where}: the raw key ${key} shows`);
    for (const form of typeof message === 'object' ? Object.values(message) : [message]) {
      if (form === ar[key] || (typeof ar[key] === 'object' && Object.values(ar[key]).includes(form))) continue;
      const parts = form
        .split(/\{\w+\}/)
        .map((s) => s.trim())
        .filter((s) => /\p{L}{3}/u.test(s));
      for (const part of parts) assert.ok(!all.includes(part), `${where}: English text of ${key} shows: "${part}"`);
    }
  }
  const raw = all.match(new RegExp(`\\b(${AREAS.join('|')})\\.[A-Za-z_]+\\b`));
  assert.equal(raw, null, `${where}: something like a raw key shows: ${raw && raw[0]}`);
}

const text = (page, selector) =>
  page
    .locator(selector)
    .first()
    .innerText()
    .then((s) => s.trim());
const box = (page, selector) => page.locator(selector).first().boundingBox();

async function assertDocument(page, lang, dir) {
  await until(`<html lang=${lang} dir=${dir}>`, () =>
    page.evaluate(
      ([lang, dir]) => document.documentElement.lang === lang && document.documentElement.dir === dir,
      [lang, dir],
    ),
  );
}

// The create-identity form in `cat`'s language, and its labels aligned with
// the edge the language starts from.
async function assertOnboarding(page, cat, dir) {
  await page.getByTestId('create-identity').waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#app .boot').count(), 0, 'the boot placeholder ("Urbis…") is gone');
  assert.equal(await text(page, '.onboarding h1'), cat['onboarding.welcome']);
  assert.equal(await text(page, '.onboarding-head p'), cat['onboarding.tagline']);
  assert.equal(await text(page, '[data-testid=create-identity] h2'), cat['onboarding.createTitle']);
  assert.equal(await text(page, 'label[for=name]'), cat['onboarding.yourName']);
  assert.equal(await text(page, 'label[for=pass]'), cat['onboarding.passphrase']);
  assert.equal(await text(page, 'label[for=pass2]'), cat['onboarding.passphraseAgain']);
  assert.equal(await text(page, '[data-testid=create-identity] button[type=submit]'), cat['onboarding.create']);
  assert.ok((await text(page, '.onboarding-head label')).startsWith(cat['common.language']));
  // A label is as wide as its field (a flex column): where its text sits shows the alignment.
  for (const id of ['name', 'pass', 'pass2']) {
    const label = await page.locator(`label[for=${id}]`).evaluate((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const r = range.getBoundingClientRect();
      return { x: r.x, width: r.width };
    });
    const input = await box(page, `#${id}`);
    assert.ok(label.width < input.width - 20, `the text of label #${id} is narrower than its field`);
    const [start, fieldStart] = dir === 'rtl' ? [label.x + label.width, input.x + input.width] : [label.x, input.x];
    assert.ok(
      Math.abs(start - fieldStart) <= 2,
      `label of #${id} starts at its field's ${dir === 'rtl' ? 'right' : 'left'} edge (${start} vs ${fieldStart})`,
    );
  }
}

test(
  'Arabic as the remembered language: onboarding and header translated and mirrored',
  { timeout: 240000 },
  async () => {
    checkSetup();
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 12, projects: 60 });
    const chrome = await launchBrowser();
    const page = await openApp(chrome.context, node, { lang: 'ar' });
    await page.setViewportSize({ width: 1280, height: 900 });
    await assertDocument(page, 'ar', 'rtl');
    await assertOnboarding(page, ar, 'rtl');
    assertNoEnglishOrKeys(await visibleTexts(page), 'onboarding');
    await screenshot(page, 'onboarding-ar');

    await onboard(page, { invite: admin.invite() });
    await assertDocument(page, 'ar', 'rtl');
    const nav = await page.locator('header.top nav a').allInnerTexts();
    // The questionnaires' link is there once their catalog is (issue 14, item 2); Activity comes last.
    const navKeys = [
      'common.nav_discover',
      'common.nav_map',
      'common.nav_charts',
      'common.nav_plan',
      ...(ar['questionnaire.nav'] ? ['questionnaire.nav'] : []),
      'common.nav_settings',
      'activity.nav',
    ];
    assert.deepEqual(
      nav.map((s) => s.trim()),
      navKeys.map((k) => ar[k]),
    );
    assert.equal((await page.locator('a.skip').textContent()).trim(), ar['common.skipToContent']);
    const syncTexts = ['offline', 'syncing', 'online'].map((s) => ar[`common.sync_${s}`]);
    assert.ok(syncTexts.includes(await text(page, '[data-testid=sync-status] .sync-state')));
    await until('the page below the header', () => page.locator('main h1').count());
    assertNoEnglishOrKeys(await visibleTexts(page), 'Discover with the header');

    // Mirrored: brand at the right, then the navigation (first item rightmost),
    // then the tools at the left.
    const brand = await box(page, 'header.top .brand');
    const navBox = await box(page, 'header.top nav');
    const tools = await box(page, 'header.top .top-tools');
    assert.ok(
      brand.x >= navBox.x + navBox.width - 1,
      `brand (x ${brand.x}) right of the navigation (ends at ${navBox.x + navBox.width})`,
    );
    assert.ok(tools.x + tools.width <= navBox.x + 1, 'sync status and language left of the navigation');
    const items = await page
      .locator('header.top nav li')
      .evaluateAll((lis) => lis.map((li) => li.getBoundingClientRect().x));
    assert.ok(
      items.every((x, i) => i === 0 || x < items[i - 1]),
      `navigation items run right to left: ${items}`,
    );
  },
);

test('switching to Arabic with the language select, and back', { timeout: 180000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const chrome = await launchBrowser();
  const page = await openApp(chrome.context, node, { lang: 'en' });
  await page.setViewportSize({ width: 1280, height: 900 });
  await assertDocument(page, 'en', 'ltr');
  await assertOnboarding(page, en, 'ltr');
  await screenshot(page, 'onboarding-en');

  await page.getByTestId('language').selectOption('ar');
  await assertDocument(page, 'ar', 'rtl');
  await until('Arabic onboarding', async () => (await text(page, '.onboarding h1')) === ar['onboarding.welcome']);
  await assertOnboarding(page, ar, 'rtl');
  assertNoEnglishOrKeys(await visibleTexts(page), 'onboarding after switching');

  // The choice is remembered.
  await page.reload();
  await assertDocument(page, 'ar', 'rtl');
  await assertOnboarding(page, ar, 'rtl');

  await page.getByTestId('language').selectOption('en');
  await assertDocument(page, 'en', 'ltr');
  await until('English onboarding', async () => (await text(page, '.onboarding h1')) === en['onboarding.welcome']);
  await assertOnboarding(page, en, 'ltr');
});

test("with no choice made, the interface follows the browser's languages", { timeout: 180000 }, async () => {
  checkSetup();
  const node = await startAppNode();
  const chrome = await launchBrowser();
  for (const [browserLocale, lang, dir, welcome] of [
    ['ar-EG', 'ar', 'rtl', ar['onboarding.welcome']],
    ['zh-CN', 'zh-Hans', 'ltr', catalog('zh')['onboarding.welcome']],
    ['fr-CA', 'fr', 'ltr', catalog('fr')['onboarding.welcome']],
    ['de-DE', 'en', 'ltr', en['onboarding.welcome']], // not offered: English
  ]) {
    const context = await chrome.browser.newContext({ locale: browserLocale });
    const page = await openApp(context, node, { lang: null });
    await assertDocument(page, lang, dir);
    await until(
      `${browserLocale}: the onboarding in ${lang}`,
      async () => (await text(page, '.onboarding h1')) === welcome,
    );
    await context.close();
  }
});
