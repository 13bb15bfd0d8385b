// The export builders (src/export.js) without a browser: CSV cells a
// spreadsheet would run as formulas come out as text (also over several
// lines, in the header, after blanks, in full-width forms), the CSV parses
// back (csv-parse, not the library that wrote it) to one row per entity with
// the BOM and the chosen language's text or a column per translation, GeoJSON
// keeps only entities with a usable location, file names stay file names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { buildCsv, buildGeoJson, buildJson, exportFileName, BOM } from '../src/export.js';

const hit = (id, type, summary) => ({ id, type, title: '', summary });
const HITS = [
  hit('a1', 'project', {
    title: { ko: '스마트 버스', en: 'Smart buses' },
    summary: { en: 'Line one,\n"two"' },
    _orig: { title: 'ko', summary: 'en' },
    city: 'c1',
    sector: 'mobility',
    sdgs: [9, 11],
    lat: 37.5,
    lon: -126.9,
  }),
  hit('a2', 'need', { title: { ar: 'مياه' }, _orig: { title: 'ar' }, city: 'c1', urgency: 'high' }),
  hit('a3', 'project', { title: { en: '=HYPERLINK("http://x","y")' }, _orig: { title: 'en' }, lat: 91, lon: 10 }),
  hit('a4', 'project', { title: { en: '=1+1\ncontinued' }, lat: '12.5', lon: '8' }),
  hit('a5', 'project', { title: { en: '  @SUM(A1)' }, tags: ['-2+3', 'ok'], '=evil': '+cmd' }),
  hit('a6', 'project', { title: { en: '＝1+1' }, budget: -5 }),
];
const OPTIONS = {
  cityNames: new Map([['c1', 'Seoul']]),
  fieldOrder: { project: ['title', 'summary', 'city', 'sector'], need: ['title', 'urgency'] },
  types: ['project', 'need'],
  locales: ['en', 'ko', 'ar'],
};
const rows = (text) => parse(text.slice(BOM.length), { columns: true, relax_column_count: false });

test('a CSV in one language: BOM, one row per entity, fallback, formulas neutralized', () => {
  const { text, rows: n } = buildCsv(HITS, { ...OPTIONS, lang: 'en' });
  assert.ok(text.startsWith(BOM));
  const got = rows(text);
  assert.equal(n, HITS.length);
  assert.equal(got.length, HITS.length);
  assert.deepEqual(Object.keys(got[0]).slice(0, 6), ['id', 'type', 'city', 'city_name', 'title', 'summary']);
  const byId = Object.fromEntries(got.map((r) => [r.id, r]));
  assert.equal(byId.a1.title, 'Smart buses');
  assert.equal(byId.a1.summary, 'Line one,\n"two"');
  assert.equal(byId.a1.city_name, 'Seoul');
  assert.equal(byId.a1.sdgs, '9;11');
  assert.equal(byId.a1.lon, '-126.9', 'a negative number stays a number');
  assert.equal(byId.a6.budget, '-5');
  assert.equal(byId.a2.title, 'مياه', 'falls back to the original language');
  assert.equal(byId.a3.title, `'=HYPERLINK("http://x","y")`);
  assert.equal(byId.a4.title, "'=1+1\ncontinued");
  assert.equal(byId.a5.title, "'  @SUM(A1)");
  assert.equal(byId.a5.tags, "'-2+3;ok");
  assert.equal(byId.a6.title, "'＝1+1");
  assert.ok(Object.keys(got[0]).includes("'=evil"), 'a field name is content too');
  assert.equal(byId.a5["'=evil"], "'+cmd");
  for (const r of got) for (const v of Object.values(r)) assert.doesNotMatch(v, /^[=+@]/);
  const ko = rows(buildCsv(HITS, { ...OPTIONS, lang: 'ko' }).text);
  assert.equal(ko.find((r) => r.id === 'a1').title, '스마트 버스');
});

test('a CSV with a column per translation', () => {
  const { text, columns } = buildCsv(HITS, { ...OPTIONS, lang: 'en', perTranslation: true });
  assert.ok(!columns.includes('title'));
  for (const l of OPTIONS.locales) assert.ok(columns.includes(`title@${l}`), `title@${l}`);
  const got = rows(text);
  const a1 = got.find((r) => r.id === 'a1');
  assert.equal(a1['title@ko'], '스마트 버스');
  assert.equal(a1['title@en'], 'Smart buses');
  assert.equal(a1['title@ar'], '');
  assert.equal(got.find((r) => r.id === 'a2')['title@ar'], 'مياه');
});

test('GeoJSON: located entities only, [lon, lat]', () => {
  const { text, features, unlocated } = buildGeoJson(HITS, { ...OPTIONS, lang: 'en' });
  const doc = JSON.parse(text);
  assert.equal(doc.type, 'FeatureCollection');
  assert.deepEqual(
    doc.features.map((f) => f.id),
    ['a1', 'a4'],
    'latitude 91 and no location are left out',
  );
  assert.equal(features, 2);
  assert.equal(unlocated, 4);
  assert.deepEqual(doc.features[0].geometry, { type: 'Point', coordinates: [-126.9, 37.5] });
  assert.deepEqual(doc.features[1].geometry.coordinates, [8, 12.5]);
  assert.equal(doc.features[0].properties.title, 'Smart buses');
  assert.equal(doc.features[0].properties.city_name, 'Seoul');
  assert.deepEqual(doc.features[0].properties.translations.title, {
    original: 'ko',
    values: { ko: '스마트 버스', en: 'Smart buses' },
  });
  assert.ok(!('lat' in doc.features[0].properties));
});

test('JSON: every entity with every translation, and what was asked', () => {
  const doc = JSON.parse(
    buildJson(HITS, { space: 's1', spaceName: 'Demo', filters: { q: 'bus', sector: '', type: 'project' }, lang: 'fr' })
      .text,
  );
  assert.equal(doc.total, HITS.length);
  assert.deepEqual(doc.filters, { q: 'bus', type: 'project' });
  assert.deepEqual(doc.entities[0].translations.summary, { original: 'en', values: { en: 'Line one,\n"two"' } });
  assert.deepEqual(doc.entities[0].values.sdgs, [9, 11]);
  assert.ok(!('_orig' in doc.entities[0].values));
});

test('file names', () => {
  const day = new Date(2026, 2, 5);
  assert.equal(
    exportFileName('Urbis demo — fictional cities', 'csv', day),
    'urbis-Urbis-demo-fictional-cities-2026-03-05.csv',
  );
  assert.equal(exportFileName('../../etc/passwd', 'json', day), 'urbis-etc-passwd-2026-03-05.json');
  assert.equal(exportFileName('مدن عربية', 'geojson', day), 'urbis-مدن-عربية-2026-03-05.geojson');
  assert.equal(exportFileName('', 'csv', day), 'urbis-space-2026-03-05.csv');
});
