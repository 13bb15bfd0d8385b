// Reading plan items (`get` results: values, translations, conflicts):
// values of a known kind whatever was stored, names, and sort orders.
import { t, locale } from '../../i18n.js';

export const num = (v) => (typeof v === 'number' ? v : Number(v) || 0);

export const score1to5 = (v) => Math.min(5, Math.max(1, Math.round(num(v)) || 1));

export const str = (v) => (typeof v === 'string' ? v : '');

export const byText = (field) => (a, b) => str(a.values[field]).localeCompare(str(b.values[field]), locale());

// Due date first (none last), then title.
export const byDue = (a, b) => {
  const x = str(a.values.due) || '9999';
  const y = str(b.values.due) || '9999';
  return x < y ? -1 : x > y ? 1 : byText('title')(a, b);
};

export const nameOf = (item, field = 'title') => str(item.values[field]) || t('plan.untitled');

export const shownIn = (item, field) => item.translations?.[field]?.shown || undefined;
