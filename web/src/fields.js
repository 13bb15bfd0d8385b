// What the Discover entities hold (docs/DATA_MODEL.md), as the views show it:
// the vocabularies of the facet fields, the order and kind of each type's
// fields, and their labels from the `fields` catalog. Values outside a
// vocabulary (typed by someone, or from a newer version) are shown as written.
import { t, fmt, LOCALES } from './i18n.js';

export const TYPES = ['project', 'need', 'practice', 'city'];
export const SECTORS = [
  'mobility',
  'energy',
  'water',
  'waste',
  'health',
  'education',
  'governance',
  'housing',
  'safety',
  'environment',
];
export const STAGES = ['idea', 'planning', 'design', 'pilot', 'implementation', 'operation', 'completed'];
export const URGENCIES = ['low', 'medium', 'high', 'critical'];
export const SDGS = Array.from({ length: 17 }, (_, i) => i + 1);
// Regions are stored as English names; catalog keys cannot hold '&' nicely.
const REGION_KEYS = {
  'East Asia': 'eastAsia',
  'Central Asia': 'centralAsia',
  'Middle East & North Africa': 'mena',
  Europe: 'europe',
  'Latin America': 'latinAmerica',
  'Sub-Saharan Africa': 'subSaharanAfrica',
};
export const REGIONS = Object.keys(REGION_KEYS);
// The content languages are the interface languages.
export const CONTENT_LOCALES = LOCALES.map((l) => l.code);

// One colour per sector for the map and the charts: ≥ 3:1 against white, the
// map's land and its sea (WCAG 1.4.11); the legend and labels carry the
// meaning too, never the colour alone.
export const SECTOR_COLORS = {
  mobility: '#1f6fb2',
  energy: '#b35900',
  water: '#007a87',
  waste: '#6b6b00',
  health: '#c0392b',
  education: '#7b3fa0',
  governance: '#4a5a6a',
  housing: '#8c564b',
  safety: '#c2185b',
  environment: '#2e7d32',
};
export const OTHER_COLOR = '#4f5864';

// A project's own fields, in the order its page shows them and its form asks
// for them; where it is (region, country, lat, lon) follows.
export const PROJECT_FIELDS = [
  'title',
  'summary',
  'city',
  'sector',
  'stage',
  'sdgs',
  'budget',
  'currency',
  'start_year',
  'tags',
  'partners',
];
// Display order of each type's fields; fields not listed follow, by name.
export const FIELD_ORDER = {
  project: [...PROJECT_FIELDS, 'region', 'country', 'lat', 'lon'],
  need: ['title', 'description', 'city', 'sector', 'urgency', 'sdgs', 'region', 'country'],
  practice: ['title', 'summary', 'city', 'sector', 'outcome', 'sdgs', 'region', 'country'],
  city: ['name', 'description', 'country', 'region', 'language', 'population', 'lat', 'lon'],
};
// Fields written per locale, even while an entity has no text in them yet.
export const TEXT_FIELDS = new Set(['title', 'summary', 'description', 'name', 'mitigation', 'text', 'lessons']);
export const MULTILINE_FIELDS = new Set(['summary', 'description', 'mitigation', 'text', 'lessons']);
export const SET_FIELDS = new Set(['sdgs', 'tags', 'partners']);
// Reference fields and the type they point to.
export const REFERENCES = {
  city: 'city',
  project: 'project',
  milestone: 'milestone',
  practice: 'practice',
  need: 'need',
};
const NUMBER_FIELDS = new Set([
  'budget',
  'population',
  'lat',
  'lon',
  'start_year',
  'amount',
  'influence',
  'interest',
  'likelihood',
  'impact',
]);
const ENUMS = { sector: SECTORS, stage: STAGES, region: REGIONS, urgency: URGENCIES, language: CONTENT_LOCALES };
// Fields shown as a notice rather than a row.
export const HIDDEN_FIELDS = new Set(['demo']);

// The catalog message `key`, or null when the catalog has none.
function maybe(key, vars) {
  const s = t(key, vars);
  return s === key ? null : s;
}

export function fieldLabel(field) {
  return maybe(`fields.field_${field}`) || field;
}

export function typeLabel(type) {
  return maybe(`fields.type_${type}`) || type;
}

// "Projects", "Needs"…
export function typesLabel(type) {
  return maybe(`fields.types_${type}`) || type;
}

// "3 projects", "1 need"…
export function typeCount(type, count) {
  return maybe(`fields.count_${type}`, { count }) || `${fmt.number(count)} ${type}`;
}

export function sdgLabel(n) {
  const name = maybe(`fields.sdg_${n}`);
  return name ? t('fields.sdgNumbered', { n: Number(n), name }) : String(n);
}

// A plain or set element's value as a person reads it.
export function valueLabel(field, value) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'boolean') return t(value ? 'fields.yes' : 'fields.no');
  const key = field === 'region' ? REGION_KEYS[value] : value;
  if (field === 'sdgs') return sdgLabel(value);
  if (field === 'language') return fmt.language(value);
  if (ENUMS[field] && key !== undefined) return maybe(`fields.${field}_${key}`) || String(value);
  if (typeof value === 'number') {
    if (field === 'start_year') return String(value);
    return fmt.number(value, field === 'lat' || field === 'lon' ? { maximumFractionDigits: 6 } : undefined);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// [value, label] pairs for a select of `field`, or null for free input. A
// current value outside the vocabulary stays selectable.
export function fieldOptions(field, current) {
  const list = ENUMS[field];
  if (!list) return null;
  const values =
    current !== undefined && current !== null && current !== '' && !list.includes(current) ? [...list, current] : list;
  return values.map((v) => [v, valueLabel(field, v)]);
}

export function fieldKind(field, value) {
  if (TEXT_FIELDS.has(field)) return 'text';
  if (SET_FIELDS.has(field) || Array.isArray(value)) return 'set';
  if (REFERENCES[field]) return 'ref';
  if (ENUMS[field]) return 'enum';
  if (typeof value === 'boolean') return 'bool';
  if (NUMBER_FIELDS.has(field) || typeof value === 'number') return 'number';
  return 'plain';
}

// Picks the text of a translatable value for `lang`: requested → original →
// English → any, the core's fallback chain. `value` is a {locale: text} map
// (find's summary) or a plain string. Returns {text, lang} (lang null when
// unknown) or null.
export function pickText(value, lang, original) {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return { text: String(value), lang: null };
  for (const l of [lang, original, 'en']) if (l && typeof value[l] === 'string') return { text: value[l], lang: l };
  const first = Object.keys(value).find((l) => typeof value[l] === 'string');
  return first ? { text: value[first], lang: first } : null;
}

// The title of a find hit's summary (projects, needs, practices: title;
// cities: name).
export function hitTitle(summary, lang) {
  const orig = summary._orig || {};
  return pickText(summary.title, lang, orig.title) || pickText(summary.name, lang, orig.name);
}

// The first words of a text, cut at a word boundary.
export function excerpt(text, max = 220) {
  if (!text || text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
