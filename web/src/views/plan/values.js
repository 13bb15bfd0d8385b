// The value lists of plan and project fields (docs/DATA_MODEL.md, "Plan")
// and how the plan shows them: catalog labels, the 1–5 scale, currencies
// by their names in the interface language, plain ISO dates. A project's
// sector and stage take Discover's lists (fields.js).
import { t, fmt, locale } from '../../i18n.js';

// The entity types of a plan, each pointing at its project.
export const PLAN_TYPES = ['milestone', 'task', 'stakeholder', 'risk', 'funding', 'comment'];

export const TASK_STATUSES = ['todo', 'doing', 'done'];

export const STAKEHOLDER_ROLES = ['sponsor', 'operator', 'regulator', 'community', 'academia', 'supplier', 'funder'];

export const FUNDING_STATUSES = ['planned', 'requested', 'approved', 'disbursed'];

export const SCALE = [1, 2, 3, 4, 5];

// ISO 4217 codes the browser knows, with their names in the interface
// language (built once per language: some 300 of them).
let currencies = { lang: null, options: [] };

export function currencyOptions() {
  if (currencies.lang === locale()) return currencies.options;
  let codes = ['EUR', 'USD'];
  try {
    codes = Intl.supportedValuesOf('currency');
  } catch (e) {
    // an older browser: the demo's two
  }
  let names = null;
  try {
    names = new Intl.DisplayNames([locale()], { type: 'currency' });
  } catch (e) {
    // codes alone
  }
  currencies = { lang: locale(), options: codes.map((c) => [c, names ? `${c} — ${names.of(c)}` : c]) };
  return currencies.options;
}

export const scaleOptions = () => SCALE.map((n) => [String(n), fmt.number(n)]);

export const labelled = (prefix, values) => values.map((v) => [v, t(`plan.${prefix}_${v}`)]);

export const valueLabel = (prefix, values, v) => (values.includes(v) ? t(`plan.${prefix}_${v}`) : undefined);

// A plain ISO date (YYYY-MM-DD) as the reader's calendar shows it. UTC keeps
// the day from moving in time zones west of Greenwich.
export function day(iso) {
  return iso ? fmt.date(`${iso}T00:00:00Z`, { dateStyle: 'medium', timeZone: 'UTC' }) : '';
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}
