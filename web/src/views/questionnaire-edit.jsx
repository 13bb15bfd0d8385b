// Writing a questionnaire (admins, #/questionnaire/ID/edit): its title,
// introduction and scale meaning, sections of questions (single or multiple
// choice, a 1–5 scale, a number, a text; each required or optional), in a
// chosen content language; another language shows the same questionnaire
// for translation. Save is one `put`: the structure (when it changed) and
// the labels typed. Publish sends it to all cities or one region: the
// questionnaire's status, then one empty response per city that has none,
// so that the officials of a city, even offline, answer the same entity.
// Once published, questions can be translated but not added, removed or
// changed in kind (answers refer to them).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery } from '../db.js';
import { href, useRoute } from '../router.js';
import { useCities, useRole, findAll } from '../content.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { CONTENT_LOCALES, REGIONS } from '../fields.js';
import {
  KINDS,
  LIMITS,
  structureOf,
  structureProblem,
  capReached,
  questionsOf,
  sectionField,
  questionField,
  choiceField,
  newId,
  targetCities,
} from '../questionnaire.js';
import {
  Crumbs,
  Loading,
  regionName,
  statusLabel,
  KindSelect,
  TextLanguageSelect,
  InlineCheck,
  TooBig,
} from './questionnaires.jsx';

export function EditPage({ space, id }) {
  const lang = useLocale();
  const role = useRole(space);
  const q = useQuery(space, (db) => db.get(space, 'questionnaire', id, { lang }), [id, lang]);
  if (!q.data || role === undefined)
    return (
      <div class="page q-edit">
        <Crumbs />
        <h1>{t('questionnaire.editTitle')}</h1>
        <Loading error={q.error} />
      </div>
    );
  if (role !== 'admin')
    return (
      <div class="page q-edit" data-testid="q-edit-denied">
        <Crumbs />
        <h1>{t('questionnaire.editTitle')}</h1>
        <p>{t('questionnaire.adminsOnly')}</p>
      </div>
    );
  const problem = structureProblem(q.data.values);
  if (problem)
    return (
      <div class="page q-edit" data-testid="q-edit-too-big">
        <Crumbs e={q.data} here />
        <h1>{t('questionnaire.editTitle')}</h1>
        <TooBig problem={problem} />
      </div>
    );
  return <Editor space={space} e={q.data} lang={lang} />;
}

// JSON with object keys sorted: the core returns objects so, whatever order
// they were written in.
function canonicalJson(v) {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v === undefined ? null : v);
}

const textOf = (e, field, loc) => {
  const tr = e.translations[field];
  const v = tr && tr.values && tr.values[loc];
  return typeof v === 'string' ? v : '';
};

function Editor({ space, e, lang }) {
  const route = useRoute();
  const fromRoute = route.query.get('lang');
  const [textLang, setTextLang] = useState(CONTENT_LOCALES.includes(fromRoute) ? fromRoute : lang);
  const [structure, setStructure] = useState(() => structureOf(e.values));
  const [kind, setKind] = useState(e.values.kind === 'readiness' ? 'readiness' : 'survey');
  const [labels, setLabels] = useState({}); // locale -> field -> text typed
  const [saved, setSaved] = useState(false);
  const { busy, error, setError, run } = useSubmit();
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), []);
  const published = e.values.status === 'published' || e.values.status === 'closed';

  const text = (field) =>
    labels[textLang] && field in labels[textLang] ? labels[textLang][field] : textOf(e, field, textLang);
  const setText = (field, value) =>
    setLabels((x) => ({ ...x, [textLang]: { ...(x[textLang] || {}), [field]: value } }));
  const edit = (fn) =>
    setStructure((s) => {
      const next = JSON.parse(JSON.stringify(s));
      fn(next);
      return next;
    });
  const focusLater = (elId) => setTimeout(() => document.getElementById(elId)?.focus(), 0);

  // Past a cap (questionnaire.js, LIMITS) nothing is added: a message says why.
  const capped = (what, si, qi) => {
    const cap = capReached(structure, what, si, qi);
    if (cap) setError(t(`questionnaire.max_${cap.what}`, { limit: cap.limit }));
    else if (typeof error === 'string') setError(null);
    return !!cap;
  };
  const addSection = () => {
    if (capped('sections')) return;
    const sid = newId('s');
    const qid = newId('q');
    edit((s) => s.sections.push({ id: sid, questions: [{ id: qid, kind: 'scale', optional: false, choices: [] }] }));
    focusLater(`qe-s-${sid}`);
  };
  const addQuestion = (si) => {
    if (capped('questions')) return;
    const qid = newId('q');
    edit((s) =>
      s.sections[si].questions.push({ id: qid, kind: 'single', optional: false, choices: [newId('c'), newId('c')] }),
    );
    focusLater(`qe-q-${qid}`);
  };
  const addChoice = (si, qi) => {
    if (capped('choices', si, qi)) return;
    const cid = newId('c');
    edit((s) => s.sections[si].questions[qi].choices.push(cid));
    focusLater(`qe-c-${structure.sections[si].questions[qi].id}-${cid}`);
  };

  // Every problem, as a message; the first control to fix gets focus.
  const check = () => {
    const has = (field) =>
      !!text(field).trim() || Object.values(e.translations[field]?.values || {}).some((v) => v && v.trim());
    if (!has('title')) return ['qe-title', t('questionnaire.titleRequired')];
    if (!questionsOf(structure).length) return [null, t('questionnaire.noQuestions')];
    const tooLong = t('questionnaire.labelTooLong', { limit: LIMITS.label });
    for (const s of structure.sections) {
      if (text(sectionField(s.id)).length > LIMITS.label) return [`qe-s-${s.id}`, tooLong];
      for (const qq of s.questions) {
        if (!has(questionField(qq.id))) return [`qe-q-${qq.id}`, t('questionnaire.questionTextRequired')];
        if (text(questionField(qq.id)).length > LIMITS.label) return [`qe-q-${qq.id}`, tooLong];
        if ((qq.kind === 'single' || qq.kind === 'multiple') && qq.choices.length < 2)
          return [`qe-k-${qq.id}`, t('questionnaire.twoChoices')];
        for (const c of qq.kind === 'single' || qq.kind === 'multiple' ? qq.choices : []) {
          if (!has(choiceField(qq.id, c))) return [`qe-c-${qq.id}-${c}`, t('questionnaire.choiceTextRequired')];
          if (text(choiceField(qq.id, c)).length > LIMITS.label) return [`qe-c-${qq.id}-${c}`, tooLong];
        }
      }
    }
    return null;
  };

  const ops = () => {
    const out = [];
    const clean = {
      sections: structure.sections.map((s) => ({
        id: s.id,
        questions: s.questions.map((qq) => ({
          id: qq.id,
          kind: qq.kind,
          ...(qq.optional ? { optional: true } : {}),
          ...(qq.kind === 'single' || qq.kind === 'multiple' ? { choices: qq.choices } : {}),
          ...(qq.kind === 'number' ? { min: 0 } : {}),
        })),
      })),
    };
    if (canonicalJson(clean) !== canonicalJson(e.values.structure))
      out.push({ op: 'set', field: 'structure', value: clean });
    if (kind !== e.values.kind) out.push({ op: 'set', field: 'kind', value: kind });
    for (const [loc, fields] of Object.entries(labels)) {
      for (const [field, value] of Object.entries(fields)) {
        const v = value.trim();
        if (!v || v === textOf(e, field, loc)) continue;
        const tr = e.translations[field];
        const source =
          !textOf(e, field, loc) && tr && tr.original && tr.original !== loc && tr.values[tr.original]
            ? tr.original
            : undefined;
        out.push({ op: 'text', field, locale: loc, value: v, ...(source ? { source } : {}) });
      }
    }
    return out;
  };

  const save = async (ev) => {
    ev.preventDefault();
    const problem = check();
    if (problem) {
      setError(problem[1]);
      if (problem[0]) focusLater(problem[0]);
      return;
    }
    const list = ops();
    if (
      await run(async () => {
        if (list.length) await getDb().put(space, 'questionnaire', e.id, list);
      })
    ) {
      setSaved(true);
      setTimeout(() => document.querySelector('[data-testid=q-saved]')?.focus(), 50);
    }
  };

  const dirty = ops().length > 0;
  const input = (elId, field, props = {}) => (
    <input
      id={elId}
      value={text(field)}
      onInput={(ev) => setText(field, ev.currentTarget.value)}
      lang={textLang}
      dir="auto"
      {...props}
    />
  );
  const orig = (field) => {
    const tr = e.translations[field];
    const o = tr && tr.original && tr.original !== textLang ? tr.values[tr.original] : '';
    return o ? (
      <span class="hint q-orig" lang={tr.original} dir="auto">
        {t('questionnaire.originalText', { language: fmt.language(tr.original) })} {o}
      </span>
    ) : null;
  };

  return (
    <div class="page q-edit" data-testid="q-edit" data-status={e.values.status || 'draft'}>
      <Crumbs e={e} here />
      <h1 ref={heading} tabIndex={-1}>
        {t('questionnaire.editTitle')}
      </h1>
      <p class="hint">
        {t('questionnaire.statusIs', { status: statusLabel(e.values.status) })}{' '}
        {published ? t('questionnaire.publishedFrozen') : t('questionnaire.draftIntro')}
      </p>
      <form class="card q-edit-form" onSubmit={save} noValidate data-testid="q-edit-form" aria-labelledby="qe-h">
        <h2 id="qe-h">{t('questionnaire.contentTitle')}</h2>
        <div class="field">
          <label for="qe-lang">{t('questionnaire.textLanguage')}</label>
          <TextLanguageSelect id="qe-lang" value={textLang} onChange={setTextLang} describedBy="qe-lang-hint" />
          <p class="hint" id="qe-lang-hint">
            {t('questionnaire.textLanguageHint')}
          </p>
        </div>
        <div class="field">
          <label for="qe-title">
            {t('questionnaire.title')}{' '}
            <span class="req" aria-hidden="true">
              *
            </span>
          </label>
          {input('qe-title', 'title', { 'aria-required': 'true' })}
          {orig('title')}
        </div>
        <div class="field">
          <label for="qe-description">{t('questionnaire.description')}</label>
          <textarea
            id="qe-description"
            rows={3}
            value={text('description')}
            onInput={(ev) => setText('description', ev.currentTarget.value)}
            lang={textLang}
            dir="auto"
          />
          {orig('description')}
        </div>
        <div class="field">
          <label for="qe-scale">{t('questionnaire.scaleMeaning')}</label>
          {input('qe-scale', 'scale', { 'aria-describedby': 'qe-scale-hint' })}
          <p class="hint" id="qe-scale-hint">
            {t('questionnaire.scaleMeaningHint')}
          </p>
        </div>
        <div class="field">
          <label for="qe-kind">{t('questionnaire.kind')}</label>
          <KindSelect id="qe-kind" value={kind} onChange={setKind} />
        </div>
        {structure.sections.map((s, si) => (
          <fieldset key={s.id} class="q-edit-section" data-testid="qe-section">
            <legend>{t('questionnaire.sectionN', { n: si + 1 })}</legend>
            <div class="field">
              <label for={`qe-s-${s.id}`}>{t('questionnaire.sectionTitle')}</label>
              {input(`qe-s-${s.id}`, sectionField(s.id), { maxLength: LIMITS.label })}
              {orig(sectionField(s.id))}
            </div>
            <ol class="q-edit-questions">
              {s.questions.map((qq, qi) => (
                <li key={qq.id} class="q-edit-question" data-testid="qe-question" data-qid={qq.id}>
                  <div class="field">
                    <label for={`qe-q-${qq.id}`}>{t('questionnaire.questionN', { n: qi + 1 })}</label>
                    {input(`qe-q-${qq.id}`, questionField(qq.id), { maxLength: LIMITS.label })}
                    {orig(questionField(qq.id))}
                  </div>
                  <div class="q-edit-row">
                    <div class="field">
                      <label for={`qe-k-${qq.id}`}>{t('questionnaire.answerKind')}</label>
                      <select
                        id={`qe-k-${qq.id}`}
                        value={qq.kind}
                        disabled={published}
                        onChange={(ev) => {
                          const k = ev.currentTarget.value;
                          edit((x) => {
                            const item = x.sections[si].questions[qi];
                            item.kind = k;
                            if ((k === 'single' || k === 'multiple') && item.choices.length < 2)
                              item.choices = [newId('c'), newId('c')];
                          });
                        }}
                      >
                        {KINDS.map((k) => (
                          <option key={k} value={k}>
                            {t(`questionnaire.qkind_${k}`)}
                          </option>
                        ))}
                      </select>
                    </div>
                    <InlineCheck
                      checked={qq.optional}
                      disabled={published}
                      onChange={(on) => edit((x) => (x.sections[si].questions[qi].optional = on))}
                    >
                      {t('questionnaire.optionalQuestion')}
                    </InlineCheck>
                    {!published && (
                      <button
                        type="button"
                        class="small"
                        onClick={() => edit((x) => x.sections[si].questions.splice(qi, 1))}
                      >
                        {t('questionnaire.removeQuestion')}
                        <span class="sr-only">: {t('questionnaire.questionN', { n: qi + 1 })}</span>
                      </button>
                    )}
                  </div>
                  {(qq.kind === 'single' || qq.kind === 'multiple') && (
                    <ul class="plain q-edit-choices">
                      {qq.choices.map((c, ci) => (
                        <li key={c}>
                          <label for={`qe-c-${qq.id}-${c}`}>{t('questionnaire.choiceN', { n: ci + 1 })}</label>
                          {input(`qe-c-${qq.id}-${c}`, choiceField(qq.id, c), { maxLength: LIMITS.label })}
                          {!published && qq.choices.length > 2 && (
                            <button
                              type="button"
                              class="small"
                              onClick={() => edit((x) => x.sections[si].questions[qi].choices.splice(ci, 1))}
                            >
                              {t('questionnaire.removeChoice')}
                              <span class="sr-only">: {t('questionnaire.choiceN', { n: ci + 1 })}</span>
                            </button>
                          )}
                        </li>
                      ))}
                      {!published && (
                        <li>
                          <button
                            type="button"
                            class="small"
                            onClick={() => addChoice(si, qi)}
                            data-testid="qe-add-choice"
                          >
                            {t('questionnaire.addChoice')}
                          </button>
                        </li>
                      )}
                    </ul>
                  )}
                </li>
              ))}
            </ol>
            {!published && (
              <div class="actions">
                <button type="button" onClick={() => addQuestion(si)} data-testid="qe-add-question">
                  {t('questionnaire.addQuestion')}
                </button>
                <button type="button" class="small" onClick={() => edit((x) => x.sections.splice(si, 1))}>
                  {t('questionnaire.removeSection')}
                  <span class="sr-only">: {t('questionnaire.sectionN', { n: si + 1 })}</span>
                </button>
              </div>
            )}
          </fieldset>
        ))}
        {!published && (
          <div class="actions">
            <button type="button" onClick={addSection} data-testid="qe-add-section">
              {t('questionnaire.addSection')}
            </button>
          </div>
        )}
        <FormError error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy} data-testid="qe-save">
            {t('common.save')}
          </button>
          {saved && !dirty && (
            <span class="q-saved" tabIndex={-1} data-testid="q-saved" role="status">
              {t('questionnaire.savedAll')}
            </span>
          )}
        </div>
      </form>
      <Publish space={space} e={e} dirty={dirty} />
    </div>
  );
}

// Publish to all cities or a region (drafts), then one response per city;
// close and reopen a published one.
function Publish({ space, e, dirty }) {
  const lang = useLocale();
  const cities = useCities(space, lang);
  const [audience, setAudience] = useState(typeof e.values.audience === 'string' ? e.values.audience : 'all');
  const [made, setMade] = useState(null);
  const { busy, error, setError, run } = useSubmit();
  const status = e.values.status || 'draft';
  const targets = targetCities({ audience }, cities);
  const publish = async () => {
    if (dirty) return setError(t('questionnaire.saveFirst'));
    if (!questionsOf(structureOf(e.values)).length) return setError(t('questionnaire.noQuestions'));
    await run(async () => {
      const db = getDb();
      await db.put(space, 'questionnaire', e.id, [
        { op: 'set', field: 'status', value: 'published' },
        { op: 'set', field: 'audience', value: audience },
        { op: 'set', field: 'published_at', value: new Date().toISOString() },
      ]);
      // One response per city, so that a city's officials write the same one.
      const { hits } = await findAll(db, space, { type: 'response', where: { questionnaire: e.id } });
      const have = new Set(hits.map((h) => h.summary.city));
      const missing = targets.filter((c) => !have.has(c.id));
      let n = 0;
      setMade({ done: 0, total: missing.length });
      for (const c of missing) {
        await db.put(space, 'response', 'new', [
          { op: 'set', field: 'questionnaire', value: e.id },
          { op: 'set', field: 'city', value: c.id },
          { op: 'set', field: 'status', value: 'open' },
          ...['region', 'country']
            .filter((f) => typeof c.summary[f] === 'string')
            .map((f) => ({ op: 'set', field: f, value: c.summary[f] })),
        ]);
        n += 1;
        setMade({ done: n, total: missing.length });
      }
    });
  };
  const setStatus = (s) =>
    run(() => getDb().put(space, 'questionnaire', e.id, [{ op: 'set', field: 'status', value: s }]));
  return (
    <section class="card q-publish" aria-labelledby="qp-h" data-testid="q-publish">
      <h2 id="qp-h">{t('questionnaire.publishTitle')}</h2>
      {status === 'draft' ? (
        <>
          <div class="field">
            <label for="qp-audience">{t('questionnaire.audience')}</label>
            <select
              id="qp-audience"
              value={audience}
              onChange={(ev) => setAudience(ev.currentTarget.value)}
              data-testid="qp-audience"
            >
              <option value="all">{t('questionnaire.audienceAll')}</option>
              {REGIONS.map((r) => (
                <option key={r} value={r}>
                  {regionName(r)}
                </option>
              ))}
            </select>
          </div>
          <p class="hint">{t('questionnaire.publishHint', { count: targets.length })}</p>
          <div class="actions">
            <button type="button" class="primary" onClick={publish} disabled={busy} data-testid="q-publish-button">
              {t('questionnaire.publish')}
            </button>
          </div>
        </>
      ) : (
        <>
          <p data-testid="q-published" data-audience={e.values.audience}>
            {t('questionnaire.publishedTo', {
              audience:
                e.values.audience === 'all' || !e.values.audience
                  ? t('questionnaire.audienceAll')
                  : regionName(e.values.audience),
              when: typeof e.values.published_at === 'string' ? fmt.date(e.values.published_at) : '—',
            })}
          </p>
          <div class="actions">
            <a class="button-link" href={`${href('questionnaire', e.id)}/results`}>
              {t('questionnaire.results')}
            </a>
            <button
              type="button"
              onClick={() => setStatus(status === 'closed' ? 'published' : 'closed')}
              disabled={busy}
              data-testid="q-close"
            >
              {status === 'closed' ? t('questionnaire.reopenQuestionnaire') : t('questionnaire.close')}
            </button>
          </div>
        </>
      )}
      {made && (
        <p role="status" data-testid="q-made" data-done={made.done} data-total={made.total}>
          {t('questionnaire.responsesMade', { done: made.done, total: made.total })}
        </p>
      )}
      <FormError error={error} />
    </section>
  );
}
