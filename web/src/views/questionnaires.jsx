// Questionnaires (issue 14, item 2): readiness assessments and intake
// surveys the secretariat writes and publishes, and the cities answer.
// Routes: #/questionnaires (this list; admins start a new one here),
// #/questionnaire/ID (answer it for a city), #/questionnaire/ID/edit
// (admins: write, translate, publish), #/questionnaire/ID/results
// (completion per region and city, charts, CSV). What is stored:
// src/questionnaire.js and docs/DATA_MODEL.md, "Questionnaires".
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery } from '../db.js';
import { href, navigate } from '../router.js';
import { useCities, useRole, useMyScope, canEdit, findAll } from '../content.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { CONTENT_LOCALES, valueLabel } from '../fields.js';
import {
  QUESTIONNAIRE_KINDS,
  structureOf,
  structureProblem,
  questionsOf,
  completion,
  targetCities,
} from '../questionnaire.js';
import { AnswerPage } from './questionnaire-answer.jsx';
import { EditPage } from './questionnaire-edit.jsx';
import { ResultsPage } from './questionnaire-results.jsx';
import './questionnaire.css';

// #/questionnaires and #/questionnaire/ID[/edit|/results]
export function QuestionnairePages({ space, route }) {
  if (route.name === 'questionnaires' || !route.parts[0]) return <QuestionnaireList space={space} />;
  const [id, view] = route.parts;
  if (view === 'edit') return <EditPage key={`e${id}`} space={space} id={id} />;
  if (view === 'results') return <ResultsPage key={`r${id}`} space={space} id={id} />;
  return <AnswerPage key={`a${id}`} space={space} id={id} city={route.query.get('city') || ''} />;
}

// The text of translatable field `field` of a get() result, with the locale
// it is in ({text, lang}); null when it has none.
export function label(e, field) {
  const v = e && e.values[field];
  if (typeof v !== 'string') return null;
  const tr = e.translations[field];
  return { text: v, lang: (tr && tr.shown) || undefined };
}

// A label as an element (its language marked), or `fallback`.
export function Label({ e, field, fallback = '' }) {
  const l = label(e, field);
  return l ? (
    <span lang={l.lang} dir="auto">
      {l.text}
    </span>
  ) : (
    <span class="muted">{fallback}</span>
  );
}

// The same from a find hit's summary ({locale: text} maps).
function summaryText(summary, field, lang) {
  const v = summary && summary[field];
  if (!v || typeof v !== 'object') return null;
  for (const l of [lang, 'en', ...Object.keys(v)]) if (typeof v[l] === 'string') return { text: v[l], lang: l };
  return null;
}

export function Crumbs({ e, here }) {
  return (
    <nav class="crumbs" aria-label={t('entity.breadcrumb')}>
      <a href="#/questionnaires">{t('questionnaire.nav')}</a>
      {e && here && (
        <>
          <span aria-hidden="true"> › </span>
          <a href={href('questionnaire', e.id)}>
            <Label e={e} field="title" fallback={t('questionnaire.untitled')} />
          </a>
        </>
      )}
    </nav>
  );
}

export function Loading({ error }) {
  return error ? (
    <p role="alert" class="error">
      {t(error.codeName === 'NotFound' ? 'entity.notFound' : 'entity.errorTitle')}
    </p>
  ) : (
    <p role="status" class="busy">
      {t('entity.loading')}
    </p>
  );
}

// In place of a questionnaire over the caps (questionnaire.js, LIMITS): what
// is wrong, and nothing of it rendered.
export function TooBig({ problem }) {
  return (
    <p role="alert" class="error" data-testid="q-too-big" data-what={problem.what}>
      {t(`questionnaire.tooBig_${problem.what}`, { limit: problem.limit })}
    </p>
  );
}

export function statusLabel(status) {
  return t(`questionnaire.status_${['draft', 'published', 'closed'].includes(status) ? status : 'draft'}`);
}

function QuestionnaireList({ space }) {
  const lang = useLocale();
  const role = useRole(space);
  const scope = useMyScope(space);
  const cities = useCities(space, lang);
  const list = useQuery(
    space,
    async (db) => {
      const { hits } = await findAll(db, space, { type: 'questionnaire', lang, sort: 'updated' });
      // This person's cities' responses, for "your city: 12 of 60".
      const responses = await findAll(db, space, { type: 'response' }, 5000);
      return { hits, responses: responses.hits };
    },
    [lang],
  );
  const admin = role === 'admin';
  const shown = list.data
    ? list.data.hits.filter((h) => admin || h.summary.status === 'published' || h.summary.status === 'closed')
    : [];
  const mine = scope && scope.length ? scope : null;
  return (
    <div class="page questionnaires" data-testid="questionnaires">
      <h1>{t('questionnaire.listTitle')}</h1>
      <p class="hint">{t('questionnaire.listIntro')}</p>
      {admin && <NewQuestionnaire space={space} lang={lang} />}
      {!list.data ? (
        <Loading error={list.error} />
      ) : shown.length === 0 ? (
        <p data-testid="no-questionnaires">{t('questionnaire.none')}</p>
      ) : (
        <ul class="plain q-list">
          {shown.map((h) => {
            const title = summaryText(h.summary, 'title', lang);
            // Past the caps, nothing of it is counted (the answer page says why).
            const problem = structureProblem(h.summary);
            const structure = problem ? { sections: [] } : structureOf(h.summary);
            const targets = targetCities(h.summary, cities);
            const responses = list.data.responses.filter((r) => r.summary.questionnaire === h.id);
            const rows = completion(structure, targets, responses);
            const submitted = rows.filter((r) => r.status === 'submitted').length;
            const own = mine ? rows.filter((r) => mine.includes(r.city.id)) : [];
            const audience = typeof h.summary.audience === 'string' ? h.summary.audience : 'all';
            const titleId = `q-${h.id}`;
            return (
              <li key={h.id} class="card q-item" data-testid="questionnaire-item" data-id={h.id}>
                <h2 id={titleId}>
                  <a href={href('questionnaire', h.id)} lang={title ? title.lang : undefined} dir="auto">
                    {title ? title.text : t('questionnaire.untitled')}
                  </a>
                </h2>
                <p class="q-meta">
                  <span class="badge">
                    {t(`questionnaire.kind_${h.summary.kind === 'readiness' ? 'readiness' : 'survey'}`)}
                  </span>{' '}
                  <span class={`badge q-status-${h.summary.status || 'draft'}`} data-testid="q-status">
                    {statusLabel(h.summary.status)}
                  </span>{' '}
                  {h.summary.status !== 'draft' && h.summary.status && (
                    <span class="muted">
                      {audience === 'all'
                        ? t('questionnaire.audienceAll')
                        : t('questionnaire.audienceRegion', { region: regionName(audience) })}
                      {' · '}
                      {t('questionnaire.questionsCount', { count: questionsOf(structure).length })}
                      {' · '}
                      <span data-testid="q-submitted">
                        {t('questionnaire.submittedOf', { submitted, total: targets.length })}
                      </span>
                    </span>
                  )}
                </p>
                {problem && <TooBig problem={problem} />}
                {own.map((r) => (
                  <p
                    key={r.city.id}
                    class="q-own"
                    data-testid="own-status"
                    data-city={r.city.id}
                    data-status={r.status}
                  >
                    <strong dir="auto">{r.city.name}</strong>: {cityStatus(r)}
                  </p>
                ))}
                <p class="actions">
                  {h.summary.status === 'published' && canEdit(role) && (
                    <a class="button-link primary" href={href('questionnaire', h.id)} data-testid="answer-link">
                      {t('questionnaire.answer')}
                    </a>
                  )}
                  {h.summary.status !== 'draft' && h.summary.status && (
                    <a class="button-link" href={`${href('questionnaire', h.id)}/results`} data-testid="results-link">
                      {t('questionnaire.results')}
                    </a>
                  )}
                  {admin && (
                    <a class="button-link" href={`${href('questionnaire', h.id)}/edit`} data-testid="edit-link">
                      {t('questionnaire.edit')}
                    </a>
                  )}
                </p>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

export function regionName(region) {
  return valueLabel('region', region);
}

export function cityStatus(r) {
  if (r.status === 'submitted') return t('questionnaire.citySubmitted');
  if (r.status === 'progress')
    return t('questionnaire.cityProgress', { answered: r.progress.answered, total: r.progress.total });
  return t('questionnaire.cityNone');
}

// Admins: a title and a kind, then the editor.
function NewQuestionnaire({ space, lang }) {
  const [title, setTitle] = useState('');
  const [kind, setKind] = useState('survey');
  const [textLang, setTextLang] = useState(CONTENT_LOCALES.includes(lang) ? lang : 'en');
  const { busy, error, setError, run } = useSubmit();
  const input = useRef(null);
  const create = async (ev) => {
    ev.preventDefault();
    if (!title.trim()) {
      setError(t('questionnaire.titleRequired'));
      input.current && input.current.focus();
      return;
    }
    let id = null;
    const ok = await run(async () => {
      const r = await getDb().put(space, 'questionnaire', 'new', [
        { op: 'text', field: 'title', locale: textLang, value: title.trim() },
        { op: 'set', field: 'kind', value: kind },
        { op: 'set', field: 'status', value: 'draft' },
        { op: 'set', field: 'structure', value: { sections: [] } },
      ]);
      id = r.id;
    });
    if (ok) navigate(`${href('questionnaire', id)}/edit?lang=${textLang}`);
  };
  return (
    <form class="card q-new" onSubmit={create} noValidate data-testid="new-questionnaire" aria-labelledby="q-new-h">
      <h2 id="q-new-h">{t('questionnaire.newTitle')}</h2>
      <div class="q-new-row">
        <div class="field">
          <label for="q-new-title">{t('questionnaire.title')}</label>
          <input
            id="q-new-title"
            ref={input}
            value={title}
            onInput={(e) => setTitle(e.currentTarget.value)}
            dir="auto"
            lang={textLang}
          />
        </div>
        <div class="field">
          <label for="q-new-kind">{t('questionnaire.kind')}</label>
          <KindSelect id="q-new-kind" value={kind} onChange={setKind} />
        </div>
        <div class="field">
          <label for="q-new-lang">{t('questionnaire.textLanguage')}</label>
          <TextLanguageSelect id="q-new-lang" value={textLang} onChange={setTextLang} />
        </div>
      </div>
      <FormError error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy} data-testid="create-questionnaire">
          {t('questionnaire.create')}
        </button>
      </div>
    </form>
  );
}

// The select of a questionnaire's kind (new and edit forms).
export function KindSelect({ id, value, onChange }) {
  return (
    <select id={id} value={value} onChange={(ev) => onChange(ev.currentTarget.value)}>
      {QUESTIONNAIRE_KINDS.map((k) => (
        <option key={k} value={k}>
          {t(`questionnaire.kind_${k}`)}
        </option>
      ))}
    </select>
  );
}

// The select of the content language the texts are written in (new and edit
// forms); `describedBy`: the id of its hint, if any.
export function TextLanguageSelect({ id, value, onChange, describedBy }) {
  return (
    <select id={id} value={value} onChange={(ev) => onChange(ev.currentTarget.value)} aria-describedby={describedBy}>
      {CONTENT_LOCALES.map((l) => (
        <option key={l} value={l}>
          {fmt.language(l)}
        </option>
      ))}
    </select>
  );
}

// A checkbox with its label after it, on one line (.q-inline).
export function InlineCheck({ checked, disabled, onChange, children }) {
  return (
    <label class="q-inline">
      <input
        type="checkbox"
        checked={checked}
        disabled={disabled}
        onChange={(ev) => onChange(ev.currentTarget.checked)}
      />{' '}
      {children}
    </label>
  );
}

// Runs `fn` after `ms` without a new call; flush() runs the pending one now.
export function useDebounced(fn, ms) {
  const timer = useRef(null);
  const last = useRef(null);
  const latest = useRef(fn);
  latest.current = fn;
  const flush = () => {
    if (timer.current === null) return;
    clearTimeout(timer.current);
    timer.current = null;
    latest.current(...last.current);
  };
  useEffect(() => flush, []);
  return {
    call: (...args) => {
      last.current = args;
      clearTimeout(timer.current);
      timer.current = setTimeout(() => {
        timer.current = null;
        latest.current(...args);
      }, ms);
    },
    flush,
  };
}
