// Interface languages and message catalogs.
//
// Catalogs live in src/locales/<locale>/<area>.json (one file per part of the
// app, so parts can be translated and reviewed separately); a key is
// "<area>.<name>". A message may hold {name} placeholders; a message that
// depends on a count is an object of CLDR plural forms ({one, other, …},
// chosen with Intl.PluralRules). Numbers passed as values are formatted for
// the locale. scripts/check-catalogs.mjs fails the build when any locale
// misses a key English has (or has one English lacks, or a placeholder that
// differs).
import { useEffect, useState } from 'preact/hooks';

export const LOCALES = [
  { code: 'en', name: 'English', dir: 'ltr' },
  { code: 'ko', name: '한국어', dir: 'ltr' },
  { code: 'zh', name: '简体中文', dir: 'ltr', bcp47: 'zh-Hans' },
  { code: 'ru', name: 'Русский', dir: 'ltr' },
  { code: 'es', name: 'Español', dir: 'ltr' },
  { code: 'tr', name: 'Türkçe', dir: 'ltr' },
  { code: 'fr', name: 'Français', dir: 'ltr' },
  { code: 'ar', name: 'العربية', dir: 'rtl' },
];
const CODES = LOCALES.map((l) => l.code);
const STORAGE_KEY = 'urbis.lang';

// Lazily loaded: one chunk per catalog file, all precached by the service worker.
const files = import.meta.glob('./locales/*/*.json', { import: 'default' });

let current = { code: 'en', messages: {}, plural: new Intl.PluralRules('en'), number: new Intl.NumberFormat('en') };
const listeners = new Set();

// The interface language a browser asks for: the first of navigator.languages
// we have ('zh-CN' -> 'zh', 'ar-EG' -> 'ar'), else English.
export function preferredLocale() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (CODES.includes(saved)) return saved;
  } catch (e) {
    // storage unavailable: follow the browser
  }
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (CODES.includes(base)) return base;
  }
  return 'en';
}

export function localeInfo(code = current.code) {
  return LOCALES.find((l) => l.code === code) || LOCALES[0];
}

async function loadMessages(code) {
  const entries = Object.entries(files).filter(([p]) => p.startsWith(`./locales/${code}/`));
  const messages = {};
  await Promise.all(
    entries.map(async ([p, load]) => {
      const area = p.slice(p.lastIndexOf('/') + 1, -'.json'.length);
      const catalog = await load();
      for (const [k, v] of Object.entries(catalog)) messages[`${area}.${k}`] = v;
    }),
  );
  return messages;
}

// Switches the interface language (and remembers it when `remember`).
export async function setLocale(code, { remember = true } = {}) {
  if (!CODES.includes(code)) code = 'en';
  const messages = await loadMessages(code);
  const info = localeInfo(code);
  const tag = info.bcp47 || code;
  current = {
    code,
    tag,
    messages,
    plural: new Intl.PluralRules(tag),
    number: new Intl.NumberFormat(tag),
  };
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, code);
    } catch (e) {
      // not remembered; still switched
    }
  }
  document.documentElement.lang = tag;
  document.documentElement.dir = info.dir;
  for (const cb of listeners) cb(code);
}

export function locale() {
  return current.code;
}

// The message `key` in the current language with `vars` filled in.
export function t(key, vars = {}) {
  let msg = current.messages[key];
  if (msg === undefined) return key; // the catalog check keeps this from shipping
  if (typeof msg === 'object') {
    const n = Number(vars.count ?? 0);
    msg = msg[n === 0 && msg.zero !== undefined ? 'zero' : current.plural.select(n)] ?? msg.other;
  }
  return msg.replace(/\{(\w+)\}/g, (m, name) => {
    const v = vars[name];
    if (v === undefined || v === null) return m;
    return typeof v === 'number' ? current.number.format(v) : String(v);
  });
}

// Locale-aware formatting for what the app shows.
export const fmt = {
  number: (n, options) => new Intl.NumberFormat(current.tag, options).format(n),
  money: (amount, currency) => {
    try {
      return new Intl.NumberFormat(current.tag, { style: 'currency', currency, maximumFractionDigits: 0 }).format(
        amount,
      );
    } catch (e) {
      return `${new Intl.NumberFormat(current.tag).format(amount)} ${currency || ''}`.trim();
    }
  },
  date: (value, options = { dateStyle: 'medium' }) => {
    const d = value instanceof Date ? value : new Date(value);
    return Number.isNaN(d.getTime()) ? String(value) : new Intl.DateTimeFormat(current.tag, options).format(d);
  },
  dateTime: (value) => fmt.date(value, { dateStyle: 'medium', timeStyle: 'short' }),
  relative: (ms) => {
    const s = Math.round((ms - Date.now()) / 1000);
    const rtf = new Intl.RelativeTimeFormat(current.tag, { numeric: 'auto' });
    if (Math.abs(s) < 60) return rtf.format(s, 'second');
    if (Math.abs(s) < 3600) return rtf.format(Math.round(s / 60), 'minute');
    if (Math.abs(s) < 86400) return rtf.format(Math.round(s / 3600), 'hour');
    return rtf.format(Math.round(s / 86400), 'day');
  },
  // A byte count as kB or MB, in the locale's unit style.
  bytes: (n) => {
    const mb = n >= 1e6;
    return new Intl.NumberFormat(current.tag, {
      style: 'unit',
      unit: mb ? 'megabyte' : 'kilobyte',
      maximumFractionDigits: mb ? 1 : 0,
    }).format(mb ? n / 1e6 : n / 1e3);
  },
  // A content locale's name in the interface language ("ko" -> "Korean").
  language: (code) => {
    try {
      return new Intl.DisplayNames([current.tag], { type: 'language' }).of(code) || code;
    } catch (e) {
      return code;
    }
  },
};

// Re-renders the calling component when the language changes.
export function useLocale() {
  const [code, setCode] = useState(current.code);
  useEffect(() => {
    listeners.add(setCode);
    // A change between this component's render and this subscription (a
    // catalog that finished loading meanwhile) would be missed otherwise.
    setCode(current.code);
    return () => listeners.delete(setCode);
  }, []);
  return code;
}
