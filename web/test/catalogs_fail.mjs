// The catalog check refuses incomplete catalogs: copies src/locales, removes
// one key from the Arabic common.json and expects the check to exit 1 naming
// that key; then it must pass on an untouched copy (so the failure is the key).
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
try {
  fs.cpSync(src, tmp, { recursive: true });
  const run = () => spawnSync(process.execPath, [check, tmp], { encoding: 'utf8' });
  const ok = run();
  if (ok.status !== 0) fail(`the check fails on an untouched copy: ${ok.stderr}`);
  const file = path.join(tmp, 'ar', 'common.json');
  const catalog = JSON.parse(fs.readFileSync(file, 'utf8'));
  const [key] = Object.keys(catalog);
  delete catalog[key];
  fs.writeFileSync(file, JSON.stringify(catalog, null, 2));
  const bad = run();
  if (bad.status !== 1) fail(`the check exited ${bad.status} with ar missing common.${key}`);
  if (!bad.stderr.includes(`ar: missing common.${key}`)) fail(`the check did not name the missing key: ${bad.stderr}`);
  if (!process.exitCode) console.log(`ok: the check refuses ar without common.${key}`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
