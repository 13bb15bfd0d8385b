// Answering a questionnaire for a city (#/questionnaire/ID?city=CITY). Every
// answer is kept as it is typed: a choice at once, a number or a text
// 400 ms after the last key (and on leaving the field), each as one local
// `put` of the city's response (field a.QUESTION), so it works offline and
// survives a reload; several officials answering for one city write the
// same response and merge per question once synced (a multiple choice is a
// set: ticks merge too). Concurrent answers to the same question show as a
// conflict to settle. Submit checks that every required question has an
// answer; a submitted response is read-only until someone reopens it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { getDb, useQuery } from '../db.js';
import { href, navigate } from '../router.js';
import { useCities, useRole, useMyScope, canEdit } from '../content.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { Conflict } from '../components/conflict.jsx';
import {
  SCALE,
  structureOf,
  structureProblem,
  questionsOf,
  answerField,
  questionField,
  sectionField,
  choiceField,
  isAnswered,
  progress,
  canonical,
  mergedAnswers,
  targetCities,
} from '../questionnaire.js';
import { Crumbs, Label, Loading, TooBig, label, useDebounced, regionName } from './questionnaires.jsx';

export function AnswerPage({ space, id, city: cityParam }) {
  const lang = useLocale();
  const role = useRole(space);
  const scope = useMyScope(space);
  const cities = useCities(space, lang);
  const q = useQuery(space, (db) => db.get(space, 'questionnaire', id, { lang }), [id, lang]);
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), [!!q.data]);
  if (!q.data || role === undefined || scope === undefined)
    return (
      <div class="page q-answer">
        <Crumbs />
        <h1>{t('questionnaire.answerTitle')}</h1>
        <Loading error={q.error} />
      </div>
    );
  const e = q.data;
  const targets = targetCities(e.values, cities).sort((a, b) => a.name.localeCompare(b.name, lang));
  const mine = scope.length ? targets.filter((c) => scope.includes(c.id)) : canEdit(role) ? targets : [];
  const city = cityParam || (mine.length === 1 ? mine[0].id : '');
  const problem = structureProblem(e.values);
  const structure = problem ? { sections: [] } : structureOf(e.values);
  return (
    <div class="page q-answer" data-testid="q-answer" data-id={id}>
      <Crumbs />
      <h1 ref={heading} tabIndex={-1} data-testid="q-title">
        <Label e={e} field="title" fallback={t('questionnaire.untitled')} />
      </h1>
      {label(e, 'description') && (
        <p class="q-description">
          <Label e={e} field="description" />
        </p>
      )}
      {e.values.status !== 'published' && (
        <p class="notice" data-testid="q-not-published">
          {t(e.values.status === 'closed' ? 'questionnaire.closedNote' : 'questionnaire.draftNote')}
        </p>
      )}
      <p class="actions">
        {e.values.status !== 'draft' && (
          <a href={`${href('questionnaire', id)}/results`}>{t('questionnaire.results')}</a>
        )}
        {role === 'admin' && <a href={`${href('questionnaire', id)}/edit`}>{t('questionnaire.edit')}</a>}
      </p>
      {problem ? (
        <TooBig problem={problem} />
      ) : mine.length > 1 || (mine.length && !mine.some((c) => c.id === city)) ? (
        <div class="field q-city-choice">
          <label for="q-city">{t('questionnaire.answerFor')}</label>
          <select
            id="q-city"
            value={city}
            data-testid="q-city"
            onChange={(ev) =>
              navigate(
                `${href('questionnaire', id)}${ev.currentTarget.value ? `?city=${ev.currentTarget.value}` : ''}`,
                { replace: true },
              )
            }
          >
            <option value="">{t('questionnaire.chooseCity')}</option>
            {mine.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {problem ? null : city && cities.has(city) ? (
        <Response
          key={city}
          space={space}
          e={e}
          structure={structure}
          city={cities.get(city)}
          writable={canEdit(role) && e.values.status === 'published' && (!scope.length || scope.includes(city))}
          lang={lang}
        />
      ) : !mine.length ? (
        <Preview e={e} structure={structure} />
      ) : null}
    </div>
  );
}

// The questions alone, for those who read without answering.
function Preview({ e, structure }) {
  return (
    <div class="q-sections" data-testid="q-preview">
      <p class="hint">{t('questionnaire.previewNote')}</p>
      {structure.sections.map((s) => (
        <section key={s.id} class="card q-section" aria-labelledby={`sec-${s.id}`}>
          <h2 id={`sec-${s.id}`}>
            <Label e={e} field={sectionField(s.id)} />
          </h2>
          <ol class="q-preview-list">
            {s.questions.map((qq) => (
              <li key={qq.id}>
                <Label e={e} field={questionField(qq.id)} />{' '}
                <span class="muted">({t(`questionnaire.qkind_${qq.kind}`)})</span>
              </li>
            ))}
          </ol>
        </section>
      ))}
    </div>
  );
}

// One city's response: the questions with its answers, saved as typed.
function Response({ space, e, structure, city, writable, lang }) {
  const responses = useQuery(
    space,
    async (db) => {
      const found = await db.find(space, {
        type: 'response',
        where: { questionnaire: e.id, city: city.id },
        limit: 20,
      });
      const hits = canonical(found.hits);
      // The city's response in full (its conflicts), and the others' answers.
      const main = hits.length ? await db.get(space, 'response', hits[0].id, { lang }) : null;
      return { hits, main };
    },
    [e.id, city.id],
  );
  const save = useRef({ rid: null, creating: null });
  const [saveState, setSaveState] = useState({ state: 'idle', pending: 0, ms: null });
  const pending = useRef(0);
  const { busy, error, setError, run } = useSubmit();
  const [missing, setMissing] = useState([]);
  const data = responses.data;
  if (data && data.main) save.current.rid = data.main.id;

  // Writes `ops` to the city's response (made with the first answer when
  // the city has none yet). Resolves once durable here.
  const write = async (ops) => {
    const db = getDb();
    const s = save.current;
    pending.current += 1;
    setSaveState((x) => ({ ...x, state: 'saving', pending: pending.current }));
    const started = performance.now();
    try {
      if (!s.rid) {
        if (!s.creating) {
          const place = [
            { op: 'set', field: 'questionnaire', value: e.id },
            { op: 'set', field: 'city', value: city.id },
            { op: 'set', field: 'status', value: 'open' },
            ...['region', 'country']
              .filter((f) => typeof city.summary[f] === 'string')
              .map((f) => ({ op: 'set', field: f, value: city.summary[f] })),
          ];
          s.creating = db.put(space, 'response', 'new', [...place, ...ops]).then((r) => (s.rid = r.id));
          await s.creating;
        } else {
          await s.creating;
          await db.put(space, 'response', s.rid, ops);
        }
      } else await db.put(space, 'response', s.rid, ops);
      pending.current -= 1;
      const ms = Math.round(performance.now() - started);
      setSaveState({ state: pending.current ? 'saving' : 'saved', pending: pending.current, ms, at: Date.now() });
    } catch (err) {
      pending.current -= 1;
      setSaveState({ state: 'error', pending: pending.current, error: err });
    }
  };

  if (!data) return <Loading error={responses.error} />;
  const answers = mergedAnswers(
    data.hits.map((h) => (data.main && h.id === data.main.id ? { id: h.id, values: data.main.values } : h)),
  );
  const p = progress(structure, answers);
  const submitted = data.hits.some((h) => h.summary.status === 'submitted');
  const canWrite = writable && !submitted;
  const conflicts = (data.main && data.main.conflicts) || {};

  const submit = async () => {
    const gaps = questionsOf(structure).filter(
      (qq) => !qq.optional && !isAnswered(qq.kind, answers[answerField(qq.id)]),
    );
    setMissing(gaps.map((qq) => qq.id));
    if (gaps.length) {
      setError(t('questionnaire.missingAnswers', { count: gaps.length }));
      setTimeout(() => document.getElementById(`qa-${gaps[0].id}`)?.focus(), 0);
      return;
    }
    if (
      await run(() =>
        write([
          { op: 'set', field: 'status', value: 'submitted' },
          { op: 'set', field: 'submitted_at', value: new Date().toISOString() },
        ]),
      )
    )
      setTimeout(() => document.querySelector('[data-testid=q-submitted-note]')?.focus(), 0);
  };
  const reopen = () => run(() => write([{ op: 'set', field: 'status', value: 'open' }]));

  return (
    <div class="q-response" data-testid="q-response" data-city={city.id} data-response={data.main ? data.main.id : ''}>
      <div class="card q-progress">
        <p>
          <strong>{t('questionnaire.answeringFor', { city: city.name })}</strong>
          {city.summary.region && <span class="muted"> ({regionName(city.summary.region)})</span>}
        </p>
        <p data-testid="q-progress" data-answered={p.answered} data-total={p.total}>
          {t('questionnaire.progress', { answered: p.answered, total: p.total })}
        </p>
        <progress max={p.total || 1} value={p.answered} aria-label={t('questionnaire.progressLabel')} />
        <p
          role="status"
          class="q-save"
          data-testid="save-state"
          data-state={saveState.state}
          data-ms={saveState.ms ?? ''}
          data-pending={saveState.pending}
        >
          {saveState.state === 'saving'
            ? t('questionnaire.saving')
            : saveState.state === 'saved'
              ? t('questionnaire.saved')
              : saveState.state === 'error'
                ? ''
                : canWrite
                  ? t('questionnaire.autosaveNote')
                  : ''}
        </p>
        {saveState.state === 'error' && <FormError error={saveState.error} />}
        {submitted && (
          <p class="notice" tabIndex={-1} data-testid="q-submitted-note">
            {t('questionnaire.submittedNote', {
              when:
                data.main && typeof data.main.values.submitted_at === 'string'
                  ? fmt.dateTime(data.main.values.submitted_at)
                  : '—',
            })}
          </p>
        )}
      </div>
      {label(e, 'scale') && (
        <p class="hint q-scale-hint" id="q-scale-hint">
          <Label e={e} field="scale" />
        </p>
      )}
      {structure.sections.map((s) => (
        <section key={s.id} class="card q-section" aria-labelledby={`sec-${s.id}`} data-testid="q-section">
          <h2 id={`sec-${s.id}`}>
            <Label e={e} field={sectionField(s.id)} fallback={t('questionnaire.untitledSection')} />
          </h2>
          {s.questions.map((qq) => (
            <Question
              key={qq.id}
              space={space}
              e={e}
              q={qq}
              value={answers[answerField(qq.id)]}
              write={write}
              disabled={!canWrite}
              missing={missing.includes(qq.id) && !isAnswered(qq.kind, answers[answerField(qq.id)])}
              conflict={conflicts[answerField(qq.id)]}
              rid={data.main ? data.main.id : null}
            />
          ))}
        </section>
      ))}
      <div class="card actions q-submit">
        <FormError error={error} />
        {canWrite && (
          <button type="button" class="primary" onClick={submit} disabled={busy} data-testid="q-submit">
            {t('questionnaire.submit')}
          </button>
        )}
        {submitted && writable && (
          <button type="button" onClick={reopen} disabled={busy} data-testid="q-reopen">
            {t('questionnaire.reopen')}
          </button>
        )}
        <p class="hint">{t('questionnaire.offlineNote')}</p>
      </div>
    </div>
  );
}

// One question with its answer control. Choices are written when chosen;
// numbers and texts 400 ms after the last key, or when the field is left.
function Question({ space, e, q, value: stored, write: save, disabled, missing, conflict, rid }) {
  const field = answerField(q.id);
  // A choice shows at once, before the stored answer comes back from the
  // replica (a re-render in between would otherwise undo the click).
  const [local, setLocal] = useState(null); // {v, base}: chosen over `base`
  const base = JSON.stringify(stored === undefined ? null : stored);
  const value = local && local.base === base ? local.v : stored;
  const write = (ops) => {
    let v = value;
    for (const o of ops) {
      if (o.op === 'set') v = o.value;
      else if (o.op === 'add') v = [...new Set([...(Array.isArray(v) ? v : []), o.value])];
      else if (o.op === 'remove') v = (Array.isArray(v) ? v : []).filter((x) => x !== o.value);
    }
    if (q.kind !== 'text' && q.kind !== 'number') setLocal({ v, base });
    return save(ops);
  };
  const ctlId = `qa-${q.id}`;
  const hintId = `qa-${q.id}-hint`;
  const errId = `qa-${q.id}-error`;
  const req = !q.optional;
  const name = label(e, questionField(q.id));
  const described =
    [q.kind === 'scale' && label(e, 'scale') ? 'q-scale-hint' : '', missing ? errId : ''].filter(Boolean).join(' ') ||
    undefined;
  const head = (
    <>
      {name ? (
        <span lang={name.lang} dir="auto">
          {name.text}
        </span>
      ) : (
        <span class="muted">{t('questionnaire.untitledQuestion')}</span>
      )}
      {req ? (
        <span class="req" aria-hidden="true">
          {' '}
          *
        </span>
      ) : (
        <span class="muted"> {t('questionnaire.optional')}</span>
      )}
    </>
  );
  const error = missing && (
    <p class="field-error" id={errId}>
      {t('questionnaire.answerRequired')}
    </p>
  );
  const conflictBox = conflict && rid && (
    <Conflict
      space={space}
      type="response"
      id={rid}
      field={field}
      label={name ? name.text : q.id}
      versions={conflict}
      multiline={q.kind === 'text'}
    />
  );
  let body;
  if (q.kind === 'single' || q.kind === 'scale') {
    const options = q.kind === 'scale' ? SCALE.map((n) => [n, fmt.number(n)]) : q.choices.map((c) => [c, null]);
    body = (
      <fieldset
        class={`q-question q-${q.kind}`}
        data-testid="question"
        data-qid={q.id}
        data-answered={isAnswered(q.kind, value) ? 'true' : 'false'}
        aria-describedby={described}
      >
        <legend>{head}</legend>
        <div class={q.kind === 'scale' ? 'q-scale-row' : 'q-choice-list'}>
          {options.map(([v, text], i) => (
            <label key={String(v)} class="q-option">
              <input
                type="radio"
                name={ctlId}
                id={i === 0 ? ctlId : undefined}
                value={String(v)}
                checked={value === v}
                disabled={disabled}
                onChange={() => write([{ op: 'set', field, value: v }])}
              />{' '}
              {text !== null ? text : <Label e={e} field={choiceField(q.id, v)} fallback={v} />}
            </label>
          ))}
        </div>
        {!disabled && q.optional && isAnswered(q.kind, value) && (
          <button type="button" class="link small" onClick={() => write([{ op: 'set', field, value: null }])}>
            {t('questionnaire.clearAnswer')}
          </button>
        )}
        {error}
        {conflictBox}
      </fieldset>
    );
  } else if (q.kind === 'multiple') {
    const chosen = Array.isArray(value) ? value : [];
    body = (
      <fieldset
        class="q-question q-multiple"
        data-testid="question"
        data-qid={q.id}
        data-answered={chosen.length ? 'true' : 'false'}
        aria-describedby={described}
      >
        <legend>{head}</legend>
        <div class="q-choice-list">
          {q.choices.map((c, i) => (
            <label key={c} class="q-option">
              <input
                type="checkbox"
                id={i === 0 ? ctlId : undefined}
                value={c}
                checked={chosen.includes(c)}
                disabled={disabled}
                onChange={(ev) => write([{ op: ev.currentTarget.checked ? 'add' : 'remove', field, value: c }])}
              />{' '}
              <Label e={e} field={choiceField(q.id, c)} fallback={c} />
            </label>
          ))}
        </div>
        {error}
      </fieldset>
    );
  } else {
    body = (
      <div
        class="field q-question"
        data-testid="question"
        data-qid={q.id}
        data-answered={isAnswered(q.kind, value) ? 'true' : 'false'}
      >
        <label for={ctlId}>{head}</label>
        <TypedAnswer
          id={ctlId}
          kind={q.kind}
          value={value}
          disabled={disabled}
          q={q}
          onSave={(v) => write([{ op: 'set', field, value: v }])}
          describedBy={[described, hintId].filter(Boolean).join(' ')}
          missing={missing}
          hintId={hintId}
        />
        {error}
        {conflictBox}
      </div>
    );
  }
  return body;
}

// A number or a text, kept as typed: a local draft that follows the stored
// answer while the person is not typing.
function TypedAnswer({ id, kind, value, disabled, onSave, describedBy, missing, hintId, q }) {
  const stored = value === null || value === undefined ? '' : String(value);
  const [draft, setDraft] = useState(stored);
  const [bad, setBad] = useState(false);
  const edits = useRef(0);
  const saved = useRef(0);
  const focused = useRef(false);
  useEffect(() => {
    if (edits.current === saved.current && !focused.current) setDraft(stored);
  }, [stored]);
  const commit = (text) => {
    const n = edits.current;
    let v = text.trim() === '' ? null : text;
    if (kind === 'number' && v !== null) {
      v = Number(text.trim().replace(',', '.'));
      const ok = Number.isFinite(v) && (q.min === undefined || v >= q.min) && (q.max === undefined || v <= q.max);
      setBad(!ok);
      if (!ok) return;
    } else setBad(false);
    onSave(v).then(() => {
      if (edits.current === n) saved.current = n;
    });
  };
  const debounced = useDebounced(commit, 400);
  const props = {
    id,
    value: draft,
    disabled,
    dir: kind === 'number' ? 'ltr' : 'auto',
    'aria-describedby': describedBy || undefined,
    'aria-invalid': missing || bad ? 'true' : undefined,
    onFocus: () => (focused.current = true),
    onBlur: () => {
      focused.current = false;
      debounced.flush();
    },
    onInput: (ev) => {
      edits.current += 1;
      setDraft(ev.currentTarget.value);
      debounced.call(ev.currentTarget.value);
    },
  };
  return (
    <>
      {kind === 'text' ? <textarea {...props} rows={3} /> : <input {...props} inputMode="decimal" autocomplete="off" />}
      <p class={bad ? 'field-error' : 'hint'} id={hintId}>
        {kind === 'number'
          ? bad
            ? t('questionnaire.notANumber')
            : t('questionnaire.numberHint')
          : t('questionnaire.textHint')}
      </p>
    </>
  );
}
