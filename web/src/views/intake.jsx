// Intake: one form per Discover type (docs/DATA_MODEL.md) to report a need,
// publish a best practice, describe a project or (admins) add a member city
// (#/new/TYPE), and the same form to edit one (#/edit/TYPE/ID). Texts are
// written in the content language the person picks (the interface language
// by default); the first text of a field is its original, a text in a
// language the entity lacked is a translation of the original. Facets are
// selects of the allowed values; the city is pre-filled from the person's
// city scope, else the city they used last. Region and country are copied
// from the city for Discover's facets. A save is one local `put` (one
// change), so it works offline; sync carries it later. Also here: Delete
// (a tombstone, after a confirmation) and Restore (the `_deleted` register
// written false, as the core's restore op does) for the entity page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery } from '../db.js';
import { href, navigate } from '../router.js';
import { useCities, useRole, useMyScope, canEdit } from '../content.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { currencyOptions } from './plan/values.js';
import {
  SECTORS,
  STAGES,
  URGENCIES,
  REGIONS,
  SDGS,
  CONTENT_LOCALES,
  PROJECT_FIELDS,
  fieldLabel,
  typeLabel,
  valueLabel,
} from '../fields.js';
import './intake.css';

export const INTAKE_TYPES = ['need', 'practice', 'project', 'city'];
const DELETED = { need: 1, practice: 1, project: 1, city: 1 };

// The controls of each type's form, in order. 'location' is lat and lon
// together; 'name_en' is a city's name in English.
const FORMS = {
  need: ['title', 'description', 'city', 'sector', 'urgency', 'sdgs', 'tags'],
  practice: ['title', 'summary', 'city', 'sector', 'outcome', 'sdgs', 'tags'],
  project: [...PROJECT_FIELDS, 'location'],
  city: ['language', 'name', 'name_en', 'description', 'country', 'region', 'population', 'location'],
};
const TEXTS = new Set(['title', 'summary', 'description', 'name', 'name_en']);
const MULTILINE = new Set(['summary', 'description']);
const REQUIRED = new Set(['title', 'name', 'city', 'sector', 'country', 'region', 'language']);
const SELECTS = { sector: SECTORS, stage: STAGES, urgency: URGENCIES, region: REGIONS, language: CONTENT_LOCALES };
const DEFAULTS = { stage: 'idea', urgency: 'medium', currency: 'USD' };
const LIST_FIELDS = new Set(['tags', 'partners']); // sets typed as a comma-separated list
const NUMBERS = new Set(['budget', 'start_year', 'population', 'lat', 'lon']);

// Who may write `type` through these forms: cities are added and deleted by
// admins; everything else (and editing a city) by editors and admins.
export function mayCreate(role, type) {
  return type === 'city' ? role === 'admin' : canEdit(role);
}
export function mayDelete(role, type) {
  return mayCreate(role, type);
}

const lastCityKey = (space) => `urbis.lastCity.${space}`;
function lastCity(space) {
  try {
    return localStorage.getItem(lastCityKey(space)) || '';
  } catch (e) {
    return '';
  }
}
function rememberCity(space, city) {
  try {
    localStorage.setItem(lastCityKey(space), city);
  } catch (e) {
    // storage unavailable: no default next time
  }
}

// The locale each text control writes: a city's name and description in the
// city's own language, its second name in English; other types' texts in
// the content language chosen in the form.
function textLocale(type, field, v) {
  if (field === 'name_en') return 'en';
  return type === 'city' ? v.language : v.textLang;
}
const storedField = (field) => (field === 'name_en' ? 'name' : field);

function textOf(e, field, loc) {
  const tr = e && e.translations[storedField(field)];
  const s = tr && tr.values && tr.values[loc];
  return typeof s === 'string' ? s : '';
}

// The form's values for `e` (null: a new entity).
function initialValues(type, e, { textLang, city }) {
  const v = { textLang };
  const vals = e ? e.values : {};
  if (type === 'city') v.language = typeof vals.language === 'string' ? vals.language : e ? '' : textLang;
  for (const f of FORMS[type]) {
    if (TEXTS.has(f)) continue;
    if (f === 'location') {
      v.lat = typeof vals.lat === 'number' ? String(vals.lat) : '';
      v.lon = typeof vals.lon === 'number' ? String(vals.lon) : '';
    } else if (f === 'sdgs') v.sdgs = Array.isArray(vals.sdgs) ? vals.sdgs.map(Number) : [];
    else if (LIST_FIELDS.has(f)) v[f] = Array.isArray(vals[f]) ? vals[f].join(', ') : '';
    else if (f === 'city') v.city = e ? vals.city || '' : city;
    else if (f !== 'language')
      v[f] = vals[f] !== undefined && vals[f] !== null ? String(vals[f]) : e ? '' : DEFAULTS[f] || '';
  }
  for (const f of FORMS[type]) if (TEXTS.has(f)) v[f] = textOf(e, f, textLocale(type, f, v));
  return v;
}

const list = (s) => [
  ...new Set(
    String(s)
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ),
];

// Field -> message for every problem of `v`.
function validate(type, v) {
  const errors = {};
  for (const f of FORMS[type]) {
    if (f === 'name_en' && v.language === 'en') continue;
    if (REQUIRED.has(f) && !String(v[f] ?? '').trim())
      errors[f] = t(SELECTS[f] || f === 'city' ? 'intake.chooseRequired' : 'intake.required', {
        field: label(type, f, v),
      });
  }
  const num = (f) => (String(v[f] ?? '').trim() === '' ? null : Number(String(v[f]).trim()));
  for (const f of ['budget', 'start_year', 'population', 'lat', 'lon']) {
    if (!(f in v) || num(f) === null) continue;
    if (!Number.isFinite(num(f))) errors[f] = t('intake.notANumber', { field: fieldLabel(f) });
  }
  if ('budget' in v && !errors.budget && num('budget') !== null && num('budget') < 0)
    errors.budget = t('intake.budgetRange');
  if ('start_year' in v && !errors.start_year && num('start_year') !== null) {
    const y = num('start_year');
    if (!Number.isInteger(y) || y < 1900 || y > 2100)
      errors.start_year = t('intake.yearRange', { min: '1900', max: '2100' });
  }
  if ('population' in v && !errors.population && num('population') !== null) {
    const p = num('population');
    if (!Number.isInteger(p) || p <= 0) errors.population = t('intake.populationRange');
  }
  if ('lat' in v) {
    const lat = num('lat');
    const lon = num('lon');
    if (!errors.lat && lat !== null && (lat < -90 || lat > 90)) errors.lat = t('intake.latRange');
    if (!errors.lon && lon !== null && (lon < -180 || lon > 180)) errors.lon = t('intake.lonRange');
    if (!errors.lat && !errors.lon && (lat === null) !== (lon === null))
      errors[lat === null ? 'lat' : 'lon'] = t('intake.bothCoordinates');
  }
  return errors;
}

function label(type, f, v) {
  if (f === 'name_en') return t('intake.nameIn', { language: fmt.language('en') });
  if (TEXTS.has(f)) {
    const loc = textLocale(type, f, v);
    return loc ? t('intake.fieldIn', { field: fieldLabel(f), language: fmt.language(loc) }) : fieldLabel(f);
  }
  return fieldLabel(f);
}

// The ops that turn `e` (null: nothing yet) into what the form holds: only
// what changed, so an edit does not rewrite (and conflict on) the rest.
function opsOf(type, v, e, cities) {
  const ops = [];
  const vals = e ? e.values : {};
  const plain = (field, value) => {
    const old = vals[field] === undefined ? null : vals[field];
    if (JSON.stringify(old) !== JSON.stringify(value) && !(old === null && value === null))
      ops.push({ op: 'set', field, value });
  };
  const num = (s) => (String(s ?? '').trim() === '' ? null : Number(String(s).trim()));
  for (const f of FORMS[type]) {
    if (TEXTS.has(f)) {
      if (f === 'name_en' && v.language === 'en') continue;
      const field = storedField(f);
      const loc = textLocale(type, f, v);
      const text = String(v[f] || '').trim();
      const before = textOf(e, f, loc);
      if (!text || text === before) continue;
      const tr = e && e.translations[field];
      let source =
        !before && tr && tr.original && tr.original !== loc && tr.values[tr.original] ? tr.original : undefined;
      // A city's English name translates its name in its own language.
      if (f === 'name_en' && !before && !source && String(v.name || '').trim()) source = v.language;
      ops.push({ op: 'text', field, locale: loc, value: text, ...(source ? { source } : {}) });
    } else if (f === 'location') {
      plain('lat', num(v.lat));
      plain('lon', num(v.lon));
    } else if (f === 'sdgs' || LIST_FIELDS.has(f)) {
      const now = f === 'sdgs' ? [...v.sdgs].sort((a, b) => a - b) : list(f === 'tags' ? v[f].toLowerCase() : v[f]);
      const before = Array.isArray(vals[f]) ? vals[f] : [];
      for (const x of now) if (!before.includes(x)) ops.push({ op: 'add', field: f, value: x });
      for (const x of before) if (!now.includes(x)) ops.push({ op: 'remove', field: f, value: x });
    } else if (NUMBERS.has(f)) {
      const n = num(v[f]);
      plain(f, n === null ? null : f === 'budget' ? Math.round(n) : n);
    } else {
      const s = String(v[f] ?? '').trim();
      plain(f, s === '' ? null : s);
    }
  }
  // Region and country are the city's, for the facets (docs/DATA_MODEL.md).
  if (FORMS[type].includes('city') && v.city && (!e || vals.city !== v.city)) {
    const c = cities.get(v.city);
    const s = (c && c.summary) || {};
    for (const f of ['region', 'country']) if (typeof s[f] === 'string') plain(f, s[f]);
    // A new project sits at its city on the map until someone places it.
    if (type === 'project' && !e && num(v.lat) === null && typeof s.lat === 'number' && typeof s.lon === 'number') {
      plain('lat', s.lat);
      plain('lon', s.lon);
    }
  }
  return ops;
}

// ---- the page --------------------------------------------------------------------

export function IntakePage({ space, type, id }) {
  const lang = useLocale();
  const role = useRole(space);
  const scope = useMyScope(space);
  const cities = useCities(space, lang);
  const entity = useQuery(space, (db) => (id ? db.get(space, type, id, { lang }) : null), [type, id]);
  const known = INTAKE_TYPES.includes(type);
  const allowed = id ? canEdit(role) : mayCreate(role, type);
  // The form starts once it knows the role, the scope and (editing) the entity.
  const ready = role !== undefined && scope !== undefined && (!id || entity.data !== undefined);
  const title = t(`intake.${id ? 'editTitle' : 'newTitle'}_${known ? type : 'need'}`);
  if (!known)
    return (
      <div class="page intake">
        <h1>{t('entity.notFoundTitle')}</h1>
        <p>
          <a href="#/discover">{t('entity.backToDiscover')}</a>
        </p>
      </div>
    );
  if (!ready)
    return (
      <div class="page intake">
        <h1>{title}</h1>
        {entity.error ? (
          <p role="alert" class="error">
            {t(entity.error.codeName === 'NotFound' ? 'entity.notFound' : 'entity.errorTitle')}
          </p>
        ) : (
          <p role="status" class="busy">
            {t('entity.loading')}
          </p>
        )}
      </div>
    );
  if (!allowed || (entity.data && entity.data.deleted))
    return (
      <div class="page intake" data-testid="intake-denied">
        <h1>{title}</h1>
        <p>{entity.data && entity.data.deleted ? t('intake.deletedNoEdit') : t('intake.notAllowed')}</p>
        <p>
          <a href="#/discover">{t('entity.backToDiscover')}</a>
        </p>
      </div>
    );
  return (
    <IntakeForm
      key={`${type}/${id || 'new'}`}
      space={space}
      type={type}
      e={entity.data || null}
      title={title}
      role={role}
      scope={scope}
      cities={cities}
      lang={lang}
    />
  );
}

function IntakeForm({ space, type, e, title, role, scope, cities, lang }) {
  // The cities offered: the scope's when the person has one (their role
  // covers those alone), else all; the current one stays choosable.
  const collator = new Intl.Collator(lang);
  const offered = [...cities.values()]
    .filter((c) => !scope.length || scope.includes(c.id) || (e && e.values.city === c.id))
    .sort((a, b) => collator.compare(a.name, b.name));
  const defaultCity = () => {
    if (scope.length) return scope[0];
    const last = lastCity(space);
    return last && cities.has(last) ? last : '';
  };
  const [v, setV] = useState(() => initialValues(type, e, { textLang: lang, city: defaultCity() }));
  const [errors, setErrors] = useState({});
  const [touched, setTouched] = useState(false);
  const { busy, error, setError, run } = useSubmit();
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), []);
  // The cities arrive after the form opens: pre-fill the city then.
  useEffect(() => {
    if (!e && FORMS[type].includes('city') && !v.city && cities.size) setV((x) => ({ ...x, city: defaultCity() }));
  }, [cities.size]);

  const set = (f, value) => {
    setV((x) => {
      const next = { ...x, [f]: value };
      // Editing: another language shows that language's texts.
      if (e && (f === 'textLang' || f === 'language'))
        for (const g of FORMS[type])
          if (TEXTS.has(g) && g !== 'name_en') next[g] = textOf(e, g, textLocale(type, g, next));
      return next;
    });
  };
  // Once a save was tried, the messages follow what is typed.
  useEffect(() => {
    if (touched) setErrors(validate(type, v));
  }, [v, touched]);
  const submit = async (ev) => {
    ev.preventDefault();
    setTouched(true);
    const found = validate(type, v);
    setErrors(found);
    const first = Object.keys(found)[0];
    if (first) {
      setError(t('intake.fixErrors'));
      const order = FORMS[type].flatMap((f) => (f === 'location' ? ['lat', 'lon'] : f === 'sdgs' ? ['sdgs-1'] : [f]));
      const target = order.find((f) => found[f]) || first;
      document.getElementById(`intake-${target}`)?.focus();
      return;
    }
    const ops = opsOf(type, v, e, cities);
    let saved = e ? e.id : null;
    const ok = await run(async () => {
      if (ops.length) saved = (await getDb().put(space, type, e ? e.id : 'new', ops)).id;
    });
    if (!ok) return;
    if (v.city) rememberCity(space, v.city);
    navigate(href('entity', type, saved));
  };
  const cancel = () =>
    e ? navigate(href('entity', type, e.id)) : history.length > 1 ? history.back() : navigate('#/discover');

  const ctl = (f) => ({
    id: `intake-${f}`,
    name: f,
    'aria-invalid': errors[f] ? 'true' : undefined,
    'aria-describedby':
      [errors[f] ? `intake-${f}-error` : '', HINTS[f] ? `intake-${f}-hint` : ''].filter(Boolean).join(' ') || undefined,
    'aria-required': REQUIRED.has(f) ? 'true' : undefined,
  });
  const fieldError = (f) =>
    errors[f] && (
      <p class="field-error" id={`intake-${f}-error`} data-testid={`error-${f}`}>
        {errors[f]}
      </p>
    );
  const hint = (f) =>
    HINTS[f] && (
      <p class="hint" id={`intake-${f}-hint`}>
        {HINTS[f]()}
      </p>
    );
  const wrap = (f, control, lbl = label(type, f, v)) => (
    <div class={`field intake-${f}${errors[f] ? ' has-error' : ''}`} key={f}>
      <label for={`intake-${f}`}>
        {lbl}
        {REQUIRED.has(f) && (
          <span class="req" aria-hidden="true">
            {' '}
            *
          </span>
        )}
      </label>
      {control}
      {hint(f)}
      {fieldError(f)}
    </div>
  );
  const input = (f, props = {}) => (
    <input {...ctl(f)} value={v[f]} onInput={(ev) => set(f, ev.currentTarget.value)} dir="auto" {...props} />
  );
  const select = (f, options) => (
    <select {...ctl(f)} value={v[f]} onChange={(ev) => set(f, ev.currentTarget.value)}>
      {options.map(([value, text]) => (
        <option key={value} value={value}>
          {text}
        </option>
      ))}
    </select>
  );
  const choose = [['', t('plan.choose')]];
  const enumOptions = (f) => {
    const values = SELECTS[f];
    const cur = v[f];
    const all = cur && !values.includes(cur) ? [...values, cur] : values;
    return [...(REQUIRED.has(f) || !DEFAULTS[f] ? choose : []), ...all.map((x) => [x, valueLabel(f, x)])];
  };

  const render = (f) => {
    if (f === 'name_en' && v.language === 'en') return null;
    if (TEXTS.has(f)) {
      const loc = textLocale(type, f, v);
      const props = {
        ...ctl(f),
        value: v[f],
        onInput: (ev) => set(f, ev.currentTarget.value),
        lang: loc || undefined,
        dir: 'auto',
      };
      return wrap(f, MULTILINE.has(f) ? <textarea {...props} rows={4} /> : <input {...props} />);
    }
    if (f === 'city') {
      if (!cities.size)
        return (
          <div class="field" key={f}>
            <p class="notice" data-testid="no-cities">
              {role === 'admin' ? t('intake.noCitiesAdmin') : t('plan.noCities')}{' '}
              {role === 'admin' && <a href={href('new', 'city')}>{t('intake.addCity')}</a>}
            </p>
          </div>
        );
      const opts = offered.map((c) => [
        c.id,
        c.summary && c.summary.country ? `${c.name} (${c.summary.country})` : c.name,
      ]);
      if (v.city && !opts.some(([id]) => id === v.city)) opts.push([v.city, v.city.slice(0, 8)]);
      return wrap(f, select(f, [...choose, ...opts]));
    }
    if (SELECTS[f]) return wrap(f, select(f, enumOptions(f)));
    if (f === 'currency') return wrap(f, select(f, currencyOptions()));
    if (f === 'sdgs') return <SdgPicker key={f} value={v.sdgs} onChange={(x) => set('sdgs', x)} />;
    if (f === 'location')
      return <Location key={f} v={v} set={set} ctl={ctl} fieldError={fieldError} cities={cities} type={type} />;
    if (f === 'country') {
      const countries = [
        ...new Set(
          [...cities.values()].map((c) => c.summary && c.summary.country).filter((x) => typeof x === 'string'),
        ),
      ].sort();
      return wrap(
        f,
        <>
          {input(f, { list: 'intake-countries', autocomplete: 'off' })}
          <datalist id="intake-countries">
            {countries.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </>,
      );
    }
    if (NUMBERS.has(f))
      return wrap(
        f,
        input(f, { type: 'text', inputMode: f === 'lat' || f === 'lon' ? 'decimal' : 'numeric', dir: 'ltr' }),
      );
    return wrap(f, input(f));
  };

  const showLangChoice = type !== 'city';
  return (
    <div class="page intake" data-testid="intake" data-type={type} data-mode={e ? 'edit' : 'new'}>
      <nav class="crumbs" aria-label={t('entity.breadcrumb')}>
        <a href="#/discover">{t('common.nav_discover')}</a>
        {e && (
          <>
            <span aria-hidden="true"> › </span>
            <a href={href('entity', type, e.id)} dir="auto">
              {typeof e.values.title === 'string'
                ? e.values.title
                : typeof e.values.name === 'string'
                  ? e.values.name
                  : typeLabel(type)}
            </a>
          </>
        )}
      </nav>
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      <p class="hint">{t('intake.requiredNote')}</p>
      <form class="card intake-form" onSubmit={submit} noValidate data-testid="intake-form" aria-labelledby="intake-h">
        <h2 id="intake-h" class="sr-only">
          {title}
        </h2>
        {showLangChoice &&
          wrap(
            'textLang',
            select(
              'textLang',
              CONTENT_LOCALES.map((l) => [l, fmt.language(l)]),
            ),
            t('intake.textLanguage'),
          )}
        {FORMS[type].map(render)}
        <FormError error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy} data-testid="intake-save">
            {e ? t('common.save') : t(`intake.create_${type}`)}
          </button>
          <button type="button" onClick={cancel}>
            {t('common.cancel')}
          </button>
        </div>
        <p class="hint">{t('intake.offlineNote')}</p>
      </form>
    </div>
  );
}

const HINTS = {
  textLang: () => t('intake.textLanguageHint'),
  tags: () => t('intake.listHint'),
  partners: () => t('intake.listHint'),
  outcome: () => t('intake.outcomeHint'),
  language: () => t('intake.cityLanguageHint'),
  country: () => t('intake.countryHint'),
};

// The 17 goals as checkboxes: a multi-select that works from the keyboard.
function SdgPicker({ value, onChange }) {
  const toggle = (n, on) => onChange(on ? [...value, n] : value.filter((x) => x !== n));
  return (
    <fieldset class="field intake-sdgs" data-testid="intake-sdgs">
      <legend>{fieldLabel('sdgs')}</legend>
      <ul class="plain sdg-list">
        {SDGS.map((n) => (
          <li key={n}>
            <input
              type="checkbox"
              id={`intake-sdgs-${n}`}
              value={String(n)}
              checked={value.includes(n)}
              onChange={(ev) => toggle(n, ev.currentTarget.checked)}
            />{' '}
            <label for={`intake-sdgs-${n}`}>{valueLabel('sdgs', n)}</label>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

// Latitude and longitude as one location, with the city's position a click away.
function Location({ v, set, ctl, fieldError, cities, type }) {
  const city = type === 'project' && v.city ? cities.get(v.city) : null;
  const at = city && city.summary && typeof city.summary.lat === 'number' ? city.summary : null;
  return (
    <fieldset class="field intake-location" data-testid="intake-location">
      <legend>{t('intake.location')}</legend>
      <p class="hint" id="intake-location-hint">
        {t('intake.locationHint')}
      </p>
      <div class="location-row">
        {['lat', 'lon'].map((f) => (
          <div class="field" key={f}>
            <label for={`intake-${f}`}>{fieldLabel(f)}</label>
            <input
              {...ctl(f)}
              value={v[f]}
              onInput={(ev) => set(f, ev.currentTarget.value)}
              inputMode="decimal"
              dir="ltr"
              autocomplete="off"
            />
            {fieldError(f)}
          </div>
        ))}
      </div>
      {at && (
        <button type="button" class="small" onClick={() => (set('lat', String(at.lat)), set('lon', String(at.lon)))}>
          {t('intake.useCityLocation')}
        </button>
      )}
    </fieldset>
  );
}

// ---- delete and restore (the entity page) -----------------------------------------

// Edit, and Delete with a confirmation, for those who may.
export function EntityActions({ space, type, e, role }) {
  const [asking, setAsking] = useState(false);
  const { busy, error, run } = useSubmit();
  const yes = useRef(null);
  const back = useRef(null);
  useEffect(() => {
    if (asking && yes.current) yes.current.focus();
  }, [asking]);
  const name =
    typeof e.values.title === 'string'
      ? e.values.title
      : typeof e.values.name === 'string'
        ? e.values.name
        : typeLabel(type);
  const remove = async () => {
    if (await run(() => getDb().remove(space, type, e.id))) {
      setAsking(false);
      // The Restore button replaces these; focus goes to it once drawn.
      setTimeout(() => document.querySelector('[data-testid=restore]')?.focus(), 0);
    }
  };
  return (
    <div class="entity-actions" data-testid="entity-actions">
      <a class="button-link" href={href('edit', type, e.id)} data-testid="edit-entity">
        {t('common.edit')}
        <span class="sr-only">: {name}</span>
      </a>
      {mayDelete(role, type) &&
        (asking ? (
          <div role="group" aria-labelledby="confirm-delete-q" class="actions confirm-delete">
            <span id="confirm-delete-q">{t('intake.confirmDelete', { name })}</span>
            <button
              type="button"
              class="danger"
              ref={yes}
              onClick={remove}
              disabled={busy}
              data-testid="confirm-delete"
            >
              {t('common.delete')}
            </button>
            <button type="button" onClick={() => (setAsking(false), setTimeout(() => back.current?.focus(), 0))}>
              {t('common.cancel')}
            </button>
          </div>
        ) : (
          <button type="button" ref={back} onClick={() => setAsking(true)} data-testid="delete-entity">
            {t('common.delete')}
            <span class="sr-only">: {name}</span>
          </button>
        ))}
      <FormError error={error} />
    </div>
  );
}

// "This need was deleted … Restore": the tombstone register written false,
// which shows the entity again everywhere once synced.
export function Restore({ space, type, e, role }) {
  const { busy, error, run } = useSubmit();
  const restore = async () => {
    if (await run(() => getDb().put(space, type, e.id, [{ op: 'set', field: '_deleted', value: false }])))
      setTimeout(() => document.querySelector('[data-testid=entity-title]')?.focus(), 0);
  };
  return (
    <div class="notice notice-deleted" data-testid="deleted">
      <p role="status">
        {mayDelete(role, type) ? t(`intake.deleted_${type in DELETED ? type : 'other'}`) : t('entity.deleted')}
      </p>
      {mayDelete(role, type) && (
        <button type="button" onClick={restore} disabled={busy} data-testid="restore">
          {t('intake.restore')}
        </button>
      )}
      <FormError error={error} />
    </div>
  );
}

// "New need", "New best practice"… for those who may create them.
export function NewLinks({ role }) {
  const types = INTAKE_TYPES.filter((type) => mayCreate(role, type));
  if (!types.length) return null;
  return (
    <nav class="new-links" aria-label={t('intake.newNav')} data-testid="new-links">
      <ul class="plain">
        {types.map((type) => (
          <li key={type}>
            <a class="button-link" href={href('new', type)} data-testid={`new-${type}`}>
              {t(`intake.newTitle_${type}`)}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
