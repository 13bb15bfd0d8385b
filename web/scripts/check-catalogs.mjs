#!/usr/bin/env node
// Catalog completeness. Exits 1 listing every problem when
//   - a locale misses a key English has, or has one English lacks (stale);
//   - a message is empty, or its {placeholders} differ from English's;
//   - a plural message lacks a form the locale's plural rules pick for a
//     count people see (0–9,999: Arabic needs zero, one, two, few, many and
//     other; Russian one, few, many, other), names a form the locale does
//     not have, or is plural where English is plain (the code passes no
//     count then);
//   - the code (SRC_DIR, *.js and *.jsx) calls t('area.key') with a key
//     English lacks, or t(`area.prefix${…}`) with a prefix no key has: the
//     person would see the raw key.
// Run before each build (the CMake target, npm run build) and as the ctest
// web.catalogs; test/catalogs_fail.mjs shows it refuses each kind of problem.
//
//   node scripts/check-catalogs.mjs [LOCALES_DIR [SRC_DIR]]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(process.argv[2] || path.join(here, '..', 'src', 'locales'));
const srcDir = path.resolve(process.argv[3] || path.join(here, '..', 'src'));
// The interface languages of src/i18n.js (LOCALES), with their plural rules.
const EXPECTED = ['en', 'ko', 'zh', 'ru', 'es', 'tr', 'fr', 'ar'];
const problems = [];

function load(locale) {
  const out = new Map(); // "area.key" -> message
  const ldir = path.join(dir, locale);
  if (!fs.existsSync(ldir)) {
    problems.push(`${locale}: no catalog directory ${ldir}`);
    return out;
  }
  for (const file of fs
    .readdirSync(ldir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
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

const isPlural = (msg) => !!msg && typeof msg === 'object';
const placeholders = (msg) =>
  [...new Set(Object.values(isPlural(msg) ? msg : { other: msg }).flatMap((s) => String(s).match(/\{\w+\}/g) || []))]
    .sort()
    .join(',');

// The plural forms a locale must give: those its rules select for 0–9,999
// (a larger count falls back to 'other', good enough for "1 000 000"). It may
// also give 'zero', which t() uses for a count of 0 in any language.
function pluralForms(locale) {
  const rules = new Intl.PluralRules(locale);
  const needed = new Set();
  for (let n = 0; n < 10000; n++) needed.add(rules.select(n));
  return { needed, allowed: new Set([...rules.resolvedOptions().pluralCategories, 'zero']) };
}

function checkMessage(locale, key, msg, english) {
  if (typeof msg === 'string') {
    if (!msg.trim()) problems.push(`${locale}: ${key} is empty`);
    return;
  }
  if (!isPlural(msg)) {
    problems.push(`${locale}: ${key} is neither a string nor a plural object`);
    return;
  }
  if (english !== undefined && !isPlural(english))
    problems.push(`${locale}: ${key} is plural but English is a plain message (no count is passed)`);
  const { needed, allowed } = pluralForms(locale);
  for (const form of needed)
    if (typeof msg[form] !== 'string' || !msg[form].trim())
      problems.push(`${locale}: ${key} lacks the plural form '${form}'`);
  for (const form of Object.keys(msg))
    if (!allowed.has(form))
      problems.push(`${locale}: ${key} has the plural form '${form}', which ${locale} does not use`);
}

// The keys the code asks for: t('area.key') literally, or t(`area.prefix${…}`).
function usedKeys() {
  const literal = [];
  const prefixes = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (p !== dir && e.name !== 'locales') walk(p);
      } else if (/\.jsx?$/.test(e.name)) {
        const code = fs.readFileSync(p, 'utf8');
        const where = path.relative(srcDir, p);
        for (const m of code.matchAll(/\bt\(\s*(['"])([\w-]+\.[\w-]+)\1/g)) literal.push([m[2], where]);
        for (const m of code.matchAll(/\bt\(\s*`([\w-]+\.[\w-]*)\$\{/g)) prefixes.push([m[1], where]);
      }
    }
  };
  if (fs.existsSync(srcDir)) walk(srcDir);
  return { literal, prefixes };
}

const en = load('en');
for (const [k, v] of en) checkMessage('en', k, v);
const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()) : [];
for (const extra of found.filter((d) => !EXPECTED.includes(d)))
  problems.push(`${extra}: a catalog for a locale the app does not offer`);
for (const locale of EXPECTED.filter((l) => l !== 'en')) {
  const cat = load(locale);
  for (const [k, v] of en) {
    if (!cat.has(k)) {
      problems.push(`${locale}: missing ${k} (en: ${JSON.stringify(v)})`);
      continue;
    }
    const m = cat.get(k);
    checkMessage(locale, k, m, v);
    if (placeholders(m) !== placeholders(v))
      problems.push(`${locale}: ${k} has placeholders [${placeholders(m)}], English has [${placeholders(v)}]`);
  }
  for (const k of cat.keys()) if (!en.has(k)) problems.push(`${locale}: ${k} is not an English key (stale?)`);
}
const { literal, prefixes } = usedKeys();
for (const [key, where] of literal) if (!en.has(key)) problems.push(`${where}: uses ${key}, which English lacks`);
for (const [prefix, where] of prefixes)
  if (![...en.keys()].some((k) => k.startsWith(prefix)))
    problems.push(`${where}: uses ${prefix}…, and no English key starts so`);

if (problems.length) {
  console.error(`message catalogs in ${dir}: ${problems.length} problem(s)`);
  for (const p of problems.slice(0, 60)) console.error(`  ${p}`);
  if (problems.length > 60) console.error(`  … and ${problems.length - 60} more`);
  process.exit(1);
}
console.log(
  `message catalogs: ${EXPECTED.length} locales, ${en.size} keys each, complete; ${literal.length} uses in the code, all known`,
);
