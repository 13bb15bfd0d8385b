// One entity (#/entity/TYPE/ID): every field with its label, translatable
// fields in the reader's language (or the fallback, with the language it was
// written in and those it exists in) with the list of their translations,
// conflicts on the field they concern, references as links, sets as chips,
// latitude and longitude as one location. One Edit for the whole entry (the
// form of its type, intake.jsx; plan items on their plan); a text missing in
// the reader's language can be translated in place. One save is one change.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery } from '../db.js';
import { href, useRoute } from '../router.js';
import { errorText } from '../errors.js';
import { Conflicts } from '../components/conflict.jsx';
import { useCities, useRole, canEdit } from '../content.js';
import {
  FIELD_ORDER,
  TEXT_FIELDS,
  MULTILINE_FIELDS,
  HIDDEN_FIELDS,
  REFERENCES,
  CONTENT_LOCALES,
  fieldLabel,
  typeLabel,
  typesLabel,
  typeCount,
  valueLabel,
  fieldKind,
} from '../fields.js';
import { filterHash } from './facets.jsx';
import './entity.css';
import { FormError } from '../components/form.jsx';
import { EntityActions, Restore, INTAKE_TYPES } from './intake.jsx';
import { NeedMatches, EntityThread, THREAD_FIELD } from './matches.jsx';

const PLAN_TYPES = ['milestone', 'task', 'stakeholder', 'risk', 'funding', 'comment'];
const DATE_FIELDS = new Set(['due']);

// The fields to show, in the type's order, then any other the entity has.
function fieldsOf(type, e) {
  const order = FIELD_ORDER[type] || [];
  const present = [...Object.keys(e.values), ...Object.keys(e.translations)];
  const rest = [...new Set(present)].filter((f) => !order.includes(f) && !HIDDEN_FIELDS.has(f)).sort();
  return [...order, ...rest];
}

export function EntityPage({ space, type, id }) {
  const lang = useLocale();
  const role = useRole(space);
  const cities = useCities(space, lang);
  // "Ask this city" from a need's matches: #/entity/practice/ID?ask=NEED.
  const ask = useRoute().query.get('ask');
  const res = useQuery(space, (db) => db.get(space, type, id, { lang }), [type, id, lang]);
  const e = res.data && res.data.id === id ? res.data : null;

  if (!e) {
    if (res.error)
      return (
        <div class="page entity">
          <h1>{res.error.codeName === 'NotFound' ? t('entity.notFoundTitle') : t('entity.errorTitle')}</h1>
          <p role="alert">{res.error.codeName === 'NotFound' ? t('entity.notFound') : errorText(res.error)}</p>
          <p>
            <a href="#/discover">{t('entity.backToDiscover')}</a>
          </p>
        </div>
      );
    return (
      <div class="page entity">
        <p role="status" class="busy">
          {t('entity.loading')}
        </p>
      </div>
    );
  }

  const writable = canEdit(role) && !e.deleted;
  const put = (fields) => getDb().put(space, type, id, fields);
  const titleField = e.translations.title || type !== 'city' ? 'title' : 'name';
  const heading = e.values[titleField];
  const headingLang = e.translations[titleField]?.shown || undefined;
  const ctx = { space, type, id, e, lang, writable, put, cities };

  return (
    <article class="page entity" data-testid="entity" data-deleted={e.deleted ? 'true' : 'false'}>
      <nav class="crumbs" aria-label={t('entity.breadcrumb')}>
        <a href="#/discover">{t('common.nav_discover')}</a>
        <span aria-hidden="true"> › </span>
        <a href={filterHash('discover', { type })}>{typesLabel(type)}</a>
      </nav>
      <header class="entity-head">
        <span class="badge badge-type">{typeLabel(type)}</span>
        <h1 data-testid="entity-title" tabIndex={-1}>
          <span lang={headingLang} dir="auto">
            {typeof heading === 'string' && heading ? heading : t('discover.untitled')}
          </span>
        </h1>
        {headingLang && headingLang !== lang && (
          <p class="lang-note">{t('entity.shownIn', { language: fmt.language(headingLang) })}</p>
        )}
      </header>
      {writable && INTAKE_TYPES.includes(type) && <EntityActions space={space} type={type} e={e} role={role} />}
      {e.deleted && <Restore space={space} type={type} e={e} role={role} />}
      {e.values.demo === true && <p class="notice">{t('entity.demo')}</p>}
      {role && !canEdit(role) && (
        <p class="muted" data-testid="read-only">
          {t(role === 'commenter' ? 'entity.readOnlyCommenter' : 'entity.readOnly')}
        </p>
      )}

      {type === 'project' && <PlanSummary space={space} id={id} />}
      {type === 'city' && <CityContent space={space} id={id} />}

      {!e.deleted && canEdit(role) && !INTAKE_TYPES.includes(type) && typeof e.values.project === 'string' && (
        <p>
          <a class="button-link" href={href('plan', e.values.project)} data-testid="edit-on-plan">
            {t('edit.editOnPlan')}
          </a>
        </p>
      )}
      <dl class="fields">
        {fieldsOf(type, e).map((field) =>
          field === 'lon' && typeof e.values.lat === 'number' ? null : field === 'lat' &&
            typeof e.values.lon === 'number' ? (
            <LocationRow key="location" {...ctx} />
          ) : (
            <FieldRow key={field} field={field} {...ctx} />
          ),
        )}
      </dl>

      {type === 'need' && !e.deleted && (
        <NeedMatches
          space={space}
          need={e}
          lang={lang}
          cities={cities}
          canComment={role === 'admin' || role === 'editor' || role === 'commenter'}
        />
      )}
      {THREAD_FIELD[type] && !e.deleted && (
        <EntityThread space={space} type={type} id={id} role={role} askNeed={ask} lang={lang} />
      )}
    </article>
  );
}

function FieldRow(props) {
  const { field, e } = props;
  const value = e.values[field];
  const kind = e.translations[field] || TEXT_FIELDS.has(field) ? 'text' : fieldKind(field, value);
  return (
    <div class={`field-row kind-${kind}`} data-testid={`field-${field}`}>
      <dt>{fieldLabel(field)}</dt>
      <dd>
        {kind === 'text' ? (
          <TextValue {...props} />
        ) : kind === 'set' ? (
          <SetValue {...props} />
        ) : (
          <PlainValue {...props} />
        )}
      </dd>
    </div>
  );
}

// ---- translatable fields ----------------------------------------------------

function TextValue({ space, e, field, lang, writable, put }) {
  const tr = e.translations[field] || { original: '', shown: '', values: {} };
  const values = tr.values || {};
  const label = fieldLabel(field);
  const multiline = MULTILINE_FIELDS.has(field);
  const shown = tr.shown && typeof values[tr.shown] === 'string' ? tr.shown : null;
  const mine = values[lang];
  const keys = Object.keys(e.conflicts).filter((k) => k.startsWith(`${field}@`));
  return (
    <>
      {mine !== undefined ? (
        <p class="text-value" data-testid={`text-${field}`}>
          <span lang={lang} dir="auto">
            {mine}
          </span>
        </p>
      ) : (
        <>
          {shown ? (
            <p class="text-value" data-testid={`text-${field}`}>
              <span lang={shown} dir="auto">
                {values[shown]}
              </span>
            </p>
          ) : (
            <p class="muted">—</p>
          )}
          <div class="missing" data-testid={`missing-${field}`}>
            <span class="missing-badge">{t('entity.missingInYourLanguage')}</span>
            {shown && <LanguageHelp tr={tr} field={field} />}
            {writable && (
              <AddText
                field={field}
                label={label}
                locale={lang}
                source={shown}
                sourceText={shown && values[shown]}
                multiline={multiline}
                put={put}
              />
            )}
          </div>
        </>
      )}
      <Conflicts space={space} entity={e} keys={keys} label={label} writable={writable} multiline={multiline} />
      <Translations
        field={field}
        label={label}
        tr={tr}
        lang={lang}
        writable={writable}
        multiline={multiline}
        put={put}
      />
    </>
  );
}

// For a text shown in another language than the reader's: which language
// it was written in, and in which others it exists.
function LanguageHelp({ tr, field }) {
  const values = tr.values || {};
  const present = Object.keys(values).filter((l) => typeof values[l] === 'string');
  const others = present.filter((l) => l !== tr.original);
  return (
    <span class="lang-help" data-testid={`lang-help-${field}`}>
      {tr.original && typeof values[tr.original] === 'string' && (
        <span data-testid="original-language" data-locale={tr.original}>
          {t('edit.originalIn', { language: fmt.language(tr.original) })}
        </span>
      )}
      {others.length > 0 && (
        <span data-testid="available-languages" data-locales={others.join(',')}>
          {' '}
          {t('edit.alsoIn', { languages: others.map((l) => fmt.language(l)).join(', ') })}
        </span>
      )}
    </span>
  );
}

// Writes the text of `field` in `locale`; a translation names the locale it
// was made from (what the person saw), as the data model records.
function AddText({ field, label, locale, source, sourceText, multiline, put, idPrefix = 'add' }) {
  const [open, setOpen] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const inputRef = useRef(null);
  useEffect(() => {
    if (open && inputRef.current) inputRef.current.focus();
  }, [open]);
  const inputId = `${idPrefix}-${field}-${locale}`;
  const language = fmt.language(locale);
  if (!open)
    return (
      <button type="button" class="small" onClick={() => setOpen(true)} data-testid={inputId}>
        {source ? t('edit.translateInto', { language }) : t('entity.addText')}
        <span class="sr-only">: {t('entity.fieldIn', { field: label, language })}</span>
      </button>
    );
  const save = async (ev) => {
    ev.preventDefault();
    if (!draft.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await put(
        source
          ? [{ op: 'text', field, locale, value: draft.trim(), source }]
          : { [`${field}@${locale}`]: draft.trim() },
      );
      setOpen(false);
      setDraft('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const input = {
    id: inputId,
    value: draft,
    onInput: (ev) => setDraft(ev.currentTarget.value),
    onKeyDown: (ev) => ev.key === 'Escape' && setOpen(false),
    lang: locale,
    dir: 'auto',
    ref: inputRef,
  };
  return (
    <form class="add-text" onSubmit={save}>
      {sourceText && (
        <p class="hint">
          {t('entity.translatingFrom', { language: fmt.language(source) })}{' '}
          <span lang={source} dir="auto">
            {sourceText}
          </span>
        </p>
      )}
      <label for={inputId}>{t('entity.fieldIn', { field: label, language })}</label>
      {multiline ? <textarea {...input} /> : <input {...input} />}
      <div class="actions">
        <button type="submit" class="small primary" disabled={busy || !draft.trim()}>
          {t('common.save')}
        </button>
        <button type="button" class="small" onClick={() => setOpen(false)}>
          {t('common.cancel')}
        </button>
      </div>
      <FormError error={error} />
    </form>
  );
}

// Every content language: its text (editable) or "missing" with a way to add it.
function Translations({ field, label, tr, lang, writable, multiline, put }) {
  const values = tr.values || {};
  const locales = [
    ...CONTENT_LOCALES,
    ...Object.keys(values)
      .filter((l) => !CONTENT_LOCALES.includes(l))
      .sort(),
  ];
  const present = locales.filter((l) => typeof values[l] === 'string');
  const source = tr.shown || tr.original || present[0];
  return (
    <details class="translations" data-testid={`translations-${field}`}>
      <summary>
        {t('entity.translationsSummary', { count: present.length, total: locales.length })}
        <span class="sr-only">: {label}</span>
      </summary>
      <ul class="plain">
        {locales.map((l) => {
          const language = fmt.language(l);
          const has = typeof values[l] === 'string';
          return (
            <li key={l} class={has ? 'tr-present' : 'tr-missing'} data-locale={l} data-has={has ? 'true' : 'false'}>
              <span class="tr-lang">
                {language}
                {l === tr.original && <span class="tag">{t('entity.original')}</span>}
                {l === lang && <span class="tag">{t('entity.yourLanguage')}</span>}
              </span>
              {has ? (
                <span lang={l} dir="auto">
                  {values[l]}
                </span>
              ) : (
                <span class="tr-missing-row">
                  <span class="muted">{t('entity.missing')}</span>
                  {writable && (
                    <AddText
                      idPrefix="tr"
                      field={field}
                      label={label}
                      locale={l}
                      source={source && values[source] ? source : null}
                      sourceText={source && values[source]}
                      multiline={multiline}
                      put={put}
                    />
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </details>
  );
}

// ---- plain fields and references -------------------------------------------

function RefLink({ space, field, value, cities }) {
  const target = REFERENCES[field];
  const city = target === 'city' ? cities.get(value) : null;
  const { data } = useQuery(
    target === 'city' ? null : space,
    async (db) =>
      target === 'city'
        ? null
        : db.get(space, target, value).then(
            (r) => r.values.title || r.values.name,
            () => null,
          ),
    [value],
  );
  const name = city ? city.name : data;
  return (
    <a href={href('entity', target, value)} lang={city?.nameLang || undefined} dir="auto">
      {typeof name === 'string' && name ? name : t('entity.unnamed', { type: typeLabel(target) })}
    </a>
  );
}

function PlainValue({ space, e, field, writable, cities }) {
  const value = e.values[field];
  const kind = fieldKind(field, value);
  const label = fieldLabel(field);
  let display;
  if (value === undefined || value === null || value === '') display = <span class="muted">—</span>;
  else if (kind === 'ref') display = <RefLink space={space} field={field} value={value} cities={cities} />;
  else if ((field === 'budget' || field === 'amount') && typeof value === 'number' && e.values.currency)
    display = fmt.money(value, e.values.currency);
  else if (DATE_FIELDS.has(field) && typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value))
    display = fmt.date(`${value}T00:00:00Z`, { dateStyle: 'medium', timeZone: 'UTC' });
  else display = valueLabel(field, value);
  const keys = e.conflicts[field] ? [field] : [];
  return (
    <>
      <span dir="auto" data-testid={`value-${field}`}>
        {display}
      </span>
      <Conflicts space={space} entity={e} keys={keys} label={label} writable={writable} />
    </>
  );
}

// Latitude and longitude as one location, with a link to the map there.
function LocationRow({ space, type, e, writable }) {
  const { lat, lon } = e.values;
  const digits = { maximumFractionDigits: 4 };
  const keys = ['lat', 'lon'].filter((f) => e.conflicts[f]);
  return (
    <div class="field-row kind-location" data-testid="field-location">
      <dt>{t('edit.location')}</dt>
      <dd>
        <span dir="ltr" data-testid="value-location" data-lat={lat} data-lon={lon}>
          {t('edit.latLon', {
            lat: fmt.number(Math.abs(lat), digits),
            ns: t(lat >= 0 ? 'edit.north' : 'edit.south'),
            lon: fmt.number(Math.abs(lon), digits),
            ew: t(lon >= 0 ? 'edit.east' : 'edit.west'),
          })}
        </span>{' '}
        <a href={`#/map?type=${encodeURIComponent(type)}`}>{t('edit.showOnMap')}</a>
        {keys.length > 0 && (
          <Conflicts space={space} entity={e} keys={keys} label={t('edit.location')} writable={writable} />
        )}
      </dd>
    </div>
  );
}

// ---- sets ---------------------------------------------------------------------

function SetValue({ e, field }) {
  const raw = Array.isArray(e.values[field]) ? e.values[field] : [];
  const items = [...raw].sort((a, b) =>
    typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b)),
  );
  const label = fieldLabel(field);
  return (
    <>
      {items.length === 0 && <span class="muted">—</span>}
      <ul class="plain chips" aria-label={label}>
        {items.map((v) => (
          <li key={JSON.stringify(v)} class="chip" data-value={String(v)}>
            <span dir="auto">{valueLabel(field, v)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}

// ---- what belongs to a project or a city -------------------------------------

function PlanSummary({ space, id }) {
  const { data } = useQuery(
    space,
    (db) =>
      Promise.all(
        PLAN_TYPES.map((type) => db.find(space, { type, where: { project: id }, limit: 0 }).then((r) => r.total)),
      ),
    [id],
  );
  const total = data ? data.reduce((a, b) => a + b, 0) : 0;
  return (
    <section class="card related" aria-labelledby="plan-h" data-testid="plan-summary">
      <h2 id="plan-h">{t('entity.planTitle')}</h2>
      {data &&
        (total === 0 ? (
          <p>{t('entity.noPlan')}</p>
        ) : (
          <ul class="plain counts">
            {PLAN_TYPES.map((type, i) => (
              <li key={type} data-type={type} data-count={data[i]}>
                {typeCount(type, data[i])}
              </li>
            ))}
          </ul>
        ))}
      <a class="button-link" href={href('plan', id)} data-testid="open-plan">
        {total === 0 ? t('entity.startPlan') : t('entity.openPlan')}
      </a>
    </section>
  );
}

function CityContent({ space, id }) {
  const types = ['project', 'need', 'practice'];
  const { data } = useQuery(
    space,
    (db) =>
      Promise.all(types.map((type) => db.find(space, { type, where: { city: id }, limit: 0 }).then((r) => r.total))),
    [id],
  );
  return (
    <section class="card related" aria-labelledby="city-h">
      <h2 id="city-h">{t('entity.inThisCity')}</h2>
      {data && (
        <ul class="plain counts">
          {types.map((type, i) => (
            <li key={type}>
              {data[i] > 0 ? (
                <a href={filterHash('discover', { type, city: id })}>{typeCount(type, data[i])}</a>
              ) : (
                typeCount(type, 0)
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
