#!/usr/bin/env node
// Catalog completeness: every locale under src/locales/ must have exactly the
// keys English has, in the same area files, with the same {placeholders}, and
// plural messages must give the 'other' form. Exits 1 listing every problem.
// Run before each build (npm run build) and as the ctest web.catalogs.
//
//   node scripts/check-catalogs.mjs [LOCALES_DIR]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(process.argv[2] || path.join(here, '..', 'src', 'locales'));
const EXPECTED = ['en', 'ko', 'zh', 'ru', 'es', 'tr', 'fr', 'ar'];
const problems = [];

function load(locale) {
  const out = new Map(); // "area.key" -> message
  const ldir = path.join(dir, locale);
  if (!fs.existsSync(ldir)) {
    problems.push(`${locale}: no catalog directory ${ldir}`);
    return out;
  }
  for (const file of fs.readdirSync(ldir).filter((f) => f.endsWith('.json')).sort()) {
    const area = file.slice(0, -5);
    let json;
    try {
      json = JSON.parse(fs.readFileSync(path.join(ldir, file), 'utf8'));
    } catch (e) {
      problems.push(`${locale}/${file}: not valid JSON: ${e.message}`);
      continue;
    }
    for (const [k, v] of Object.entries(json)) out.set(`${area}.${k}`, v);
  }
  return out;
}

const placeholders = (msg) =>
  [...new Set(Object.values(typeof msg === 'object' ? msg : { other: msg }).flatMap((s) => String(s).match(/\{\w+\}/g) || []))].sort().join(',');

function checkMessage(locale, key, msg) {
  if (typeof msg === 'string') {
    if (!msg.trim()) problems.push(`${locale}: ${key} is empty`);
  } else if (msg && typeof msg === 'object') {
    if (typeof msg.other !== 'string') problems.push(`${locale}: ${key} is a plural message without an 'other' form`);
  } else problems.push(`${locale}: ${key} is neither a string nor a plural object`);
}

const en = load('en');
for (const [k, v] of en) checkMessage('en', k, v);
const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()) : [];
for (const extra of found.filter((d) => !EXPECTED.includes(d))) problems.push(`${extra}: a catalog for a locale the app does not offer`);
for (const locale of EXPECTED.filter((l) => l !== 'en')) {
  const cat = load(locale);
  for (const [k, v] of en) {
    if (!cat.has(k)) {
      problems.push(`${locale}: missing ${k} (en: ${JSON.stringify(v)})`);
      continue;
    }
    const m = cat.get(k);
    checkMessage(locale, k, m);
    if (placeholders(m) !== placeholders(v))
      problems.push(`${locale}: ${k} has placeholders [${placeholders(m)}], English has [${placeholders(v)}]`);
  }
  for (const k of cat.keys()) if (!en.has(k)) problems.push(`${locale}: ${k} is not an English key (stale?)`);
}

if (problems.length) {
  console.error(`message catalogs in ${dir}: ${problems.length} problem(s)`);
  for (const p of problems.slice(0, 60)) console.error(`  ${p}`);
  if (problems.length > 60) console.error(`  … and ${problems.length - 60} more`);
  process.exit(1);
}
console.log(`message catalogs: ${EXPECTED.length} locales, ${en.size} keys each, complete`);
