// The catalog check refuses incomplete catalogs. On copies of src/locales it
// must pass untouched (so each failure below is the change made), then exit 1
// naming the problem when: a key is missing from the Arabic catalog, an
// Arabic plural message lacks its 'two' form, a Russian message lost a
// placeholder; and on a source file calling t() with a key English lacks.
//
//   node test/catalogs_fail.mjs scripts/check-catalogs.mjs
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const check = process.argv[2];
const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'locales');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'urbis-catalogs-'));
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exitCode = 1;
};
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, json) => fs.writeFileSync(file, JSON.stringify(json, null, 2));

// A fresh copy of the catalogs changed by `mutate(dir)`; the check must exit
// 1 and print `expected` (a function of what mutate returned).
let n = 0;
function refuses(what, mutate, { src: codeDir } = {}) {
  const dir = path.join(tmp, `case${n++}`);
  fs.cpSync(src, dir, { recursive: true });
  const expected = mutate(dir);
  const r = spawnSync(process.execPath, [check, dir, ...(codeDir ? [codeDir] : [])], { encoding: 'utf8' });
  if (r.status !== 1) fail(`${what}: the check exited ${r.status}, not 1`);
  else if (!r.stderr.includes(expected)) fail(`${what}: the check did not say "${expected}": ${r.stderr}`);
  else console.log(`ok: refuses ${what} ("${expected}")`);
}

try {
  const ok = spawnSync(process.execPath, [check, src], { encoding: 'utf8' });
  if (ok.status !== 0) fail(`the check fails on the catalogs as they are: ${ok.stderr}`);

  refuses('a missing Arabic key', (dir) => {
    const file = path.join(dir, 'ar', 'common.json');
    const catalog = readJson(file);
    const [key] = Object.keys(catalog);
    delete catalog[key];
    writeJson(file, catalog);
    return `ar: missing common.${key}`;
  });

  refuses("an Arabic plural without its 'two' form", (dir) => {
    const file = path.join(dir, 'ar', 'common.json');
    const catalog = readJson(file);
    const key = Object.keys(catalog).find((k) => typeof catalog[k] === 'object');
    if (!key) throw new Error('the Arabic common.json has no plural message to break');
    delete catalog[key].two;
    writeJson(file, catalog);
    return `ar: common.${key} lacks the plural form 'two'`;
  });

  refuses('a Russian message without its placeholder', (dir) => {
    const en = readJson(path.join(dir, 'en', 'common.json'));
    const key = Object.keys(en).find((k) => typeof en[k] === 'string' && /\{\w+\}/.test(en[k]));
    const file = path.join(dir, 'ru', 'common.json');
    const catalog = readJson(file);
    catalog[key] = 'без подстановки';
    writeJson(file, catalog);
    return `ru: common.${key} has placeholders []`;
  });

  const code = path.join(tmp, 'src');
  fs.mkdirSync(code);
  fs.writeFileSync(path.join(code, 'view.jsx'), "export const View = () => <p>{t('common.noSuchKey')}</p>;\n");
  refuses('code using a key English lacks', () => 'view.jsx: uses common.noSuchKey, which English lacks', {
    src: code,
  });
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
