// Exports of a Discover result: CSV, GeoJSON and JSON built from find's hits
// ({id, type, title, summary}; a summary holds every field of the entity,
// a translatable text as a {locale: text} map, `_orig` the original locale
// of each text). Pure: no DOM, no catalogs, no database, so Node tests it as
// it is (test/export_build.test.mjs); the Discover page gathers the hits,
// names the cities and downloads what these functions return.
//
// What holds, since the content is written by other members:
// - every CSV cell that a spreadsheet would read as a formula (it starts,
//   after any blank, with = + - @ or their full-width forms, or a tab or a
//   carriage return) gets a leading apostrophe, also in the header row (a
//   field name is content too) and also when the text goes on over several
//   lines; numbers stay numbers;
// - the CSV starts with a UTF-8 byte-order mark, so spreadsheet apps read
//   Arabic, Chinese or Korean text as such;
// - GeoJSON takes an entity only with a finite latitude in [-90, 90] and
//   longitude in [-180, 180]; the others are counted, not guessed.
import Papa from 'papaparse';

export const BOM = '\uFEFF';
// A cell a spreadsheet may evaluate. papaparse's own rule misses a formula
// followed by a line break (its `.*$` stops at the first one).
export const FORMULA_START = /^[\s\u00a0\u3000]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r]/u;
// Elements of a set field in one cell, as the CLI's export and import write them.
export const SET_SEPARATOR = ';';

const internal = (field) => field.startsWith('_');
const isTextValue = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

// The text of a {locale: text} map for `lang`: requested -> original ->
// English -> any (the app's and the core's fallback), or '' when none.
export function pickText(value, lang, original) {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  for (const l of [lang, original, 'en']) if (l && typeof value[l] === 'string') return value[l];
  const first = Object.keys(value).find((l) => typeof value[l] === 'string');
  return first ? value[first] : '';
}

// One entity as the JSON export holds it: plain and set fields under
// `values`, every translation of every text under `translations` (with the
// original locale), like `urbis export --format json`.
export function entityRecord(hit) {
  const s = hit.summary || {};
  const orig = s._orig && typeof s._orig === 'object' ? s._orig : {};
  const values = {};
  const translations = {};
  for (const [field, v] of Object.entries(s)) {
    if (internal(field)) continue;
    if (isTextValue(v))
      translations[field] = { original: typeof orig[field] === 'string' ? orig[field] : null, values: { ...v } };
    else values[field] = v;
  }
  return { id: hit.id, type: hit.type, values, translations };
}

// [lon, lat] of a record, or null when it has no usable location.
export function coordinates(record) {
  const num = (v) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
  const lat = num(record.values.lat);
  const lon = num(record.values.lon);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
  return [lon, lat];
}

// The columns of a CSV of `records`: id, type, city, city_name, then the
// fields in `fieldOrder` (per type, types in `types` order), then the rest
// by name. A text field is one column (`title`, in the chosen language) or,
// with `perTranslation`, one per locale (`title@en`, `title@ar`…: `locales`
// first, then any other locale the content has).
export function csvColumns(records, { fieldOrder = {}, types = [], locales = [], perTranslation = false } = {}) {
  const seen = new Set();
  const textLocales = new Map(); // text field -> locales present
  for (const r of records) {
    for (const f of Object.keys(r.values)) seen.add(f);
    for (const [f, tr] of Object.entries(r.translations)) {
      seen.add(f);
      if (!textLocales.has(f)) textLocales.set(f, new Set());
      for (const l of Object.keys(tr.values)) textLocales.get(f).add(l);
    }
  }
  seen.delete('id');
  seen.delete('type');
  seen.delete('city');
  const ordered = [];
  const presentTypes = new Set(records.map((r) => r.type));
  for (const type of [...types, ...[...presentTypes].filter((x) => !types.includes(x)).sort()]) {
    if (!presentTypes.has(type)) continue;
    for (const f of fieldOrder[type] || []) if (seen.has(f) && !ordered.includes(f)) ordered.push(f);
  }
  for (const f of [...seen].sort()) if (!ordered.includes(f)) ordered.push(f);

  const columns = [
    { key: 'id', get: (r) => r.id },
    { key: 'type', get: (r) => r.type },
    { key: 'city', get: (r) => cell(r.values.city) },
    {
      key: 'city_name',
      get: (r, ctx) => (typeof r.values.city === 'string' && ctx.cityNames.get(r.values.city)) || '',
    },
  ];
  for (const f of ordered) {
    const text = textLocales.has(f);
    if (text && perTranslation) {
      const present = textLocales.get(f);
      const list = [...locales, ...[...present].filter((l) => !locales.includes(l)).sort()];
      for (const l of list) {
        columns.push({
          key: `${f}@${l}`,
          get: (r) => (r.translations[f] ? (r.translations[f].values[l] ?? '') : cell(r.values[f])),
        });
      }
    } else if (text) {
      columns.push({
        key: f,
        get: (r, ctx) =>
          r.translations[f]
            ? pickText(r.translations[f].values, ctx.lang, r.translations[f].original)
            : cell(r.values[f]),
      });
    } else {
      columns.push({ key: f, get: (r) => cell(r.values[f]) });
    }
  }
  return columns;
}

// A plain or set value as one cell: numbers and booleans as they are, sets
// joined, anything structured as JSON.
function cell(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(SET_SEPARATOR);
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

// The CSV of `hits` (with BOM, CRLF line ends): one row per entity. Options:
// lang (the text shown), perTranslation, cityNames (Map id -> name),
// fieldOrder, types, locales (see csvColumns).
export function buildCsv(
  hits,
  { lang = 'en', perTranslation = false, cityNames = new Map(), fieldOrder, types, locales } = {},
) {
  const records = hits.map(entityRecord);
  const columns = csvColumns(records, { fieldOrder, types, locales, perTranslation });
  const ctx = { lang, cityNames };
  const data = records.map((r) => columns.map((c) => c.get(r, ctx)));
  const csv = Papa.unparse(
    { fields: columns.map((c) => c.key), data },
    { escapeFormulae: FORMULA_START, newline: '\r\n', header: true },
  );
  return { text: BOM + csv + '\r\n', rows: records.length, columns: columns.map((c) => c.key) };
}

// A GeoJSON FeatureCollection of the located entities of `hits`: a Point
// [lon, lat] each, properties as in the JSON export (id, type, the values
// but lat/lon, translations) plus `title` (or `name`) in `lang` and
// `city_name`. `unlocated` counts the entities left out.
export function buildGeoJson(hits, { lang = 'en', cityNames = new Map() } = {}) {
  const features = [];
  let unlocated = 0;
  for (const hit of hits) {
    const r = entityRecord(hit);
    const at = coordinates(r);
    if (!at) {
      unlocated += 1;
      continue;
    }
    const { lat, lon, ...values } = r.values;
    const properties = { id: r.id, type: r.type, ...values };
    for (const f of ['title', 'name'])
      if (r.translations[f]) properties[f] = pickText(r.translations[f].values, lang, r.translations[f].original);
    if (typeof values.city === 'string' && cityNames.has(values.city))
      properties.city_name = cityNames.get(values.city);
    properties.translations = r.translations;
    features.push({ type: 'Feature', id: r.id, geometry: { type: 'Point', coordinates: at }, properties });
  }
  const collection = { type: 'FeatureCollection', features };
  return { text: `${JSON.stringify(collection, null, 1)}\n`, features: features.length, unlocated };
}

// The JSON export: what was asked (space, filters, language, when) and the
// entities with every translation.
export function buildJson(hits, { space = '', spaceName = '', filters = {}, lang = 'en', exported = new Date() } = {}) {
  const entities = hits.map(entityRecord);
  const doc = {
    format: 'urbis-discover-export',
    version: 1,
    space,
    spaceName,
    exported: exported.toISOString(),
    lang,
    filters: Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== '' && v !== undefined && v !== null)),
    total: entities.length,
    entities,
  };
  return { text: `${JSON.stringify(doc, null, 1)}\n`, rows: entities.length };
}

export const FORMATS = {
  csv: { ext: 'csv', mime: 'text/csv;charset=utf-8' },
  geojson: { ext: 'geojson', mime: 'application/geo+json' },
  json: { ext: 'json', mime: 'application/json' },
};

// "urbis-<space>-<YYYY-MM-DD>.<ext>": letters and digits of the space name
// (any script) kept, anything else (slashes, dots, control characters)
// made a dash, at most 40 characters.
export function exportFileName(spaceName, format, date = new Date()) {
  const slug = String(spaceName || '')
    .normalize('NFC')
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  const short = Array.from(slug).slice(0, 40).join('').replace(/-+$/, '') || 'space';
  const pad = (n) => String(n).padStart(2, '0');
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `urbis-${short}-${day}.${FORMATS[format].ext}`;
}
