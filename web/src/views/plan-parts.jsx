// Building blocks of the Plan pages: the value lists of plan and project
// fields (docs/DATA_MODEL.md), a plan item's fields with their conflicts and
// its card's one Edit (a form of all its fields), the member picker of
// assignees, deletion with a confirmation step, and the busy/error state of
// a small form. Every write is one `put` (or `remove`): one change.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, locale } from '../i18n.js';
import { getDb, useQuery, useAuthors } from '../db.js';
import { useSubmit, FormError } from '../components/form.jsx';
import { Conflict } from '../components/conflict.jsx';

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
export const TASK_STATUSES = ['todo', 'doing', 'done'];
export const ROLES = ['sponsor', 'operator', 'regulator', 'community', 'academia', 'supplier', 'funder'];
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

// A plain ISO date (YYYY-MM-DD) as the reader's calendar shows it. UTC keeps
// the day from moving in time zones west of Greenwich.
export function day(iso) {
  return iso ? fmt.date(`${iso}T00:00:00Z`, { dateStyle: 'medium', timeZone: 'UTC' }) : '';
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

// The write of translatable `field` in the interface language. When the text
// shown came from another locale (and this one had none), the new text is a
// translation of it and says so (the structured form's `source`).
function textFields(item, field, value) {
  const lang = locale();
  const tr = item && item.translations && item.translations[field];
  if (tr && tr.shown && tr.shown !== lang && !(tr.values && lang in tr.values))
    return [{ op: 'text', field, locale: lang, value, source: tr.shown }];
  return { [`${field}@${lang}`]: value };
}

// A text as read (with fallback), marked with its language when that is not
// the reader's: the app shows what still lacks a translation.
export function Text({ item, field }) {
  const value = item.values[field];
  const shown = item.translations && item.translations[field] && item.translations[field].shown;
  if (value === undefined || value === null || value === '') return <span class="muted">—</span>;
  if (!shown || shown === locale()) return <span dir="auto">{value}</span>;
  return (
    <>
      <span dir="auto" lang={shown}>
        {value}
      </span>{' '}
      <span class="plan-lang">{t('plan.inLanguage', { language: fmt.language(shown) })}</span>
    </>
  );
}

// The conflicts of `field` (and of its translations, 'title@ko'), each with
// the shared conflict view. Only those who can write can resolve one, so
// only they see it.
export function Conflicts({ ctx, item, field, label, multiline }) {
  if (!ctx.canEdit) return null;
  const keys = Object.keys(item.conflicts || {}).filter((k) => k === field || k.startsWith(`${field}@`));
  return keys.map((k) => (
    <Conflict
      key={`${k}:${item.conflicts[k].map((v) => v.hlc).join(',')}`}
      space={ctx.space}
      type={item.type}
      id={item.id}
      field={k}
      label={label}
      versions={item.conflicts[k]}
      multiline={multiline}
    />
  ));
}

// One field of a plan item as text (its card's Edit changes it), and its
// conflicts below. `text`: a translatable field.
export function ItemField({ ctx, item, field, label, text = false, multiline, display }) {
  const value = item.values[field];
  const name = [item.values.title, item.values.name, item.values.source].find((v) => typeof v === 'string' && v);
  const fullLabel = name ? t('plan.fieldOf', { field: label, name }) : label;
  const shown = display !== undefined ? display : text ? <Text item={item} field={field} /> : undefined;
  return (
    <>
      <span class="item-value" data-testid={`${item.type}-${field}`}>
        {shown !== undefined ? (
          shown
        ) : value === undefined || value === null || value === '' ? (
          <span class="muted">—</span>
        ) : (
          String(value)
        )}
      </span>
      <Conflicts ctx={ctx} item={item} field={field} label={fullLabel} multiline={multiline} />
    </>
  );
}

// The members of a space one can assign work to: [{device, name}] by name
// (pending invites left out; a device without a profile shows its key).
export function useMembers(space) {
  const authors = useAuthors(space);
  const { data } = useQuery(space, (db) => db.members(space), []);
  const list = (data || [])
    .filter((m) => !m.inviteExpires && m.role !== 'none')
    .map((m) => ({
      device: m.device,
      name: authors.get(m.device) || t('common.deviceShort', { key: m.device.slice(0, 8) }),
    }));
  return list.sort((a, b) => a.name.localeCompare(b.name, locale()));
}

// [value, label] options of an assignee select: nobody, the members, and a
// name typed before the picker existed (kept as it is).
export function assigneeOptions(members, item) {
  const options = [['', t('edit.nobody')], ...members.map((m) => [m.device, m.name])];
  const legacy =
    item && !item.values.assignee_device && typeof item.values.assignee === 'string' && item.values.assignee;
  if (legacy) options.push([LEGACY, t('edit.typedAssignee', { name: item.values.assignee })]);
  return options;
}
const LEGACY = 'typed';

// What an assignee choice writes: the member's device (Activity's "assigned
// to me") and their name (what others and the CLI read).
export function assigneeFields(members, choice) {
  if (choice === LEGACY) return {};
  const m = members.find((x) => x.device === choice);
  return m ? { assignee_device: m.device, assignee: m.name } : { assignee_device: '', assignee: '' };
}

// One Edit per card: the item as `children`, with an Edit button; editing
// turns every field of `fields` ([{field, label, text, required, kind:
// 'text' | 'textarea' | 'date' | 'number' | 'select' | 'assignee', options}])
// into one form whose Save writes what changed as one change. A text not
// yet in the reader's language shows the one it would translate.
export function EditCard({ ctx, item, name, fields, members, children }) {
  const [editing, setEditing] = useState(false);
  const button = useRef(null);
  const wasEditing = useRef(false);
  useEffect(() => {
    if (!editing && wasEditing.current && button.current) button.current.focus();
    wasEditing.current = editing;
  }, [editing]);
  if (!ctx.canEdit) return children;
  if (editing)
    return (
      <CardForm ctx={ctx} item={item} name={name} fields={fields} members={members} onDone={() => setEditing(false)} />
    );
  return (
    <>
      {children}
      <button
        type="button"
        class="small plan-edit"
        ref={button}
        onClick={() => setEditing(true)}
        aria-label={t('edit.editItem', { name })}
        data-testid="edit-item"
      >
        {t('common.edit')}
      </button>
    </>
  );
}

function initialOf(item, f) {
  const v = item.values;
  if (f.kind === 'assignee') return v.assignee_device || (typeof v.assignee === 'string' && v.assignee ? LEGACY : '');
  if (f.text) {
    const tr = item.translations && item.translations[f.field];
    const mine = tr && tr.values && tr.values[locale()];
    return typeof mine === 'string' ? mine : '';
  }
  return v[f.field] === undefined || v[f.field] === null ? '' : String(v[f.field]);
}

function CardForm({ ctx, item, name, fields, members, onDone }) {
  const [values, setValues] = useState(() => Object.fromEntries(fields.map((f) => [f.field, initialOf(item, f)])));
  const { busy, error, setError, run } = useSubmit();
  const first = useRef(null);
  useEffect(() => {
    if (first.current) first.current.focus();
  }, []);
  const id = (f) => `card-${item.id}-${f.field}`;
  const save = async (e) => {
    e.preventDefault();
    const ops = [];
    let plain = {};
    for (const f of fields) {
      const draft = typeof values[f.field] === 'string' ? values[f.field].trim() : values[f.field];
      const before = initialOf(item, f);
      if (f.text) {
        const tr = item.translations && item.translations[f.field];
        const any = tr && tr.values && Object.values(tr.values).some((x) => typeof x === 'string' && x);
        if (f.required && !draft && !any) {
          setError(t('plan.required', { field: f.label }));
          document.getElementById(id(f))?.focus();
          return;
        }
        if (draft && draft !== before) {
          const w = textFields(item, f.field, draft);
          if (Array.isArray(w)) ops.push(...w);
          else
            for (const [k, v] of Object.entries(w))
              ops.push({ op: 'text', field: f.field, locale: k.split('@')[1], value: v });
        }
        continue;
      }
      if (f.required && !draft) {
        setError(t('plan.required', { field: f.label }));
        document.getElementById(id(f))?.focus();
        return;
      }
      if (draft === before) continue;
      if (f.kind === 'assignee') plain = { ...plain, ...assigneeFields(members || [], draft) };
      else if (f.kind === 'number') {
        if (draft !== '' && !Number.isFinite(Number(draft))) {
          setError(t('intake.notANumber', { field: f.label }));
          document.getElementById(id(f))?.focus();
          return;
        }
        plain[f.field] = draft === '' ? null : Number(draft);
      } else plain[f.field] = draft;
    }
    for (const [field, value] of Object.entries(plain)) ops.push({ op: 'set', field, value });
    if (!ops.length) return onDone();
    if (await run(() => getDb().put(ctx.space, item.type, item.id, ops))) onDone();
  };
  return (
    <form
      class="plan-card-form"
      onSubmit={save}
      aria-label={t('edit.editItem', { name })}
      data-testid="edit-form"
      noValidate
      onKeyDown={(e) => e.key === 'Escape' && onDone()}
    >
      {fields.map((f, i) => {
        const tr = f.text && item.translations && item.translations[f.field];
        const shown =
          tr && tr.shown && tr.shown !== locale() && !(tr.values && locale() in tr.values) ? tr.shown : null;
        const props = {
          id: id(f),
          ref: i === 0 ? first : undefined,
          value: values[f.field],
          onInput: (e) => setValues((v) => ({ ...v, [f.field]: e.currentTarget.value })),
          'aria-required': f.required ? 'true' : undefined,
        };
        const options = f.kind === 'assignee' ? assigneeOptions(members || [], item) : f.options;
        return (
          <div class="field" key={f.field}>
            <label for={props.id}>
              {f.text ? t('entity.fieldIn', { field: f.label, language: fmt.language(locale()) }) : f.label}
            </label>
            {shown && (
              <p class="hint" data-testid="translating-from">
                {t('entity.translatingFrom', { language: fmt.language(shown) })}{' '}
                <span lang={shown} dir="auto">
                  {tr.values[shown]}
                </span>
              </p>
            )}
            {options ? (
              <select {...props} onChange={props.onInput}>
                {(options.some(([v]) => String(v) === String(values[f.field]))
                  ? options
                  : [[values[f.field], String(values[f.field])], ...options]
                ).map(([v, label]) => (
                  <option key={v} value={v}>
                    {label}
                  </option>
                ))}
              </select>
            ) : f.kind === 'textarea' ? (
              <textarea {...props} dir="auto" lang={f.text ? locale() : undefined} />
            ) : (
              <input
                {...props}
                type={f.kind === 'date' ? 'date' : 'text'}
                inputMode={f.kind === 'number' ? 'decimal' : undefined}
                dir={f.kind === 'date' || f.kind === 'number' ? 'ltr' : 'auto'}
                lang={f.text ? locale() : undefined}
              />
            )}
          </div>
        );
      })}
      <FormError error={error} />
      <div class="actions">
        <button type="submit" class="small primary" disabled={busy} data-testid="save-item">
          {t('common.save')}
        </button>
        <button type="button" class="small" onClick={onDone}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

// A label and its field on one line of an item.
export function Labelled({ label, children }) {
  return (
    <div class="plan-pair-field">
      <span class="plan-label">{label}</span>
      {children}
    </div>
  );
}

// Delete, then "Delete “X”?" with Delete / Cancel. `onDeleted` moves focus
// somewhere sensible (the button it was on is gone).
export function DeleteButton({ ctx, item, name, onDeleted }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState(null);
  const yes = useRef(null);
  useEffect(() => {
    if (asking && yes.current) yes.current.focus();
  }, [asking]);
  if (!ctx.canEdit) return null;
  const remove = async () => {
    setError(null);
    try {
      await getDb().remove(ctx.space, item.type, item.id);
      if (onDeleted) onDeleted();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="plan-delete">
      {asking ? (
        <div role="group" aria-label={t('plan.confirmDelete', { name })} class="actions">
          <span>{t('plan.confirmDelete', { name })}</span>
          <button type="button" class="small danger" ref={yes} onClick={remove} data-testid="confirm-delete">
            {t('common.delete')}
          </button>
          <button type="button" class="small" onClick={() => setAsking(false)}>
            {t('common.cancel')}
          </button>
        </div>
      ) : (
        <button
          type="button"
          class="small"
          onClick={() => setAsking(true)}
          aria-label={t('plan.deleteItem', { name })}
          data-testid="delete"
        >
          {t('common.delete')}
        </button>
      )}
      <FormError error={error} />
    </div>
  );
}

// A form adding one item: `fields` [{name, label, kind: 'text' | 'textarea' |
// 'date' | 'number' | 'select', options, required, initial}]; onAdd(values)
// writes it. After an add the form empties and focus returns to its first
// field, ready for the next one.
export function AddForm({ id, title, submitLabel, fields, onAdd, onCancel, level = 3, autofocus = false }) {
  const initial = () => Object.fromEntries(fields.map((f) => [f.name, f.initial ?? '']));
  const [values, setValues] = useState(initial);
  const { busy, error, setError, run } = useSubmit();
  const first = useRef(null);
  useEffect(() => {
    if (autofocus && first.current) first.current.focus();
  }, []);
  const Heading = level === 2 ? 'h2' : 'h3';
  const submit = async (e) => {
    e.preventDefault();
    const missing = fields.find((f) => f.required && !String(values[f.name]).trim());
    if (missing) {
      setError(t('plan.required', { field: missing.label }));
      document.getElementById(`${id}-${missing.name}`)?.focus();
      return;
    }
    const clean = {};
    for (const f of fields) {
      const v = typeof values[f.name] === 'string' ? values[f.name].trim() : values[f.name];
      if (v === '') continue;
      clean[f.name] = f.kind === 'number' ? Number(v) : v;
    }
    if (await run(() => onAdd(clean))) {
      setValues(initial());
      if (first.current) first.current.focus();
    }
  };
  return (
    <form class="plan-add" onSubmit={submit} aria-labelledby={`${id}-h`} data-testid={id} noValidate>
      <Heading id={`${id}-h`}>{title}</Heading>
      <div class="plan-add-fields">
        {fields.map((f, i) => {
          const props = {
            id: `${id}-${f.name}`,
            ref: i === 0 ? first : undefined,
            value: values[f.name],
            onInput: (e) => setValues((v) => ({ ...v, [f.name]: e.currentTarget.value })),
            'aria-required': f.required ? 'true' : undefined,
          };
          return (
            <div class={`field plan-add-${f.kind || 'text'}`} key={f.name}>
              <label for={props.id}>{f.label}</label>
              {f.kind === 'select' ? (
                <select {...props} onChange={props.onInput}>
                  {f.options.map(([v, text]) => (
                    <option key={v} value={v}>
                      {text}
                    </option>
                  ))}
                </select>
              ) : f.kind === 'textarea' ? (
                <textarea {...props} dir="auto" />
              ) : (
                <input
                  {...props}
                  type={f.kind || 'text'}
                  dir={f.kind ? undefined : 'auto'}
                  min={f.kind === 'number' ? 0 : undefined}
                  step={f.kind === 'number' ? 1 : undefined}
                />
              )}
            </div>
          );
        })}
      </div>
      <FormError error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        )}
      </div>
    </form>
  );
}

// A section of the plan page. Its heading takes focus when an item's last
// control disappears (deleted), so keyboard users stay in the section.
export function Section({ id, title, count, children, wide = false }) {
  return (
    <section
      class={`card plan-section${wide ? ' plan-wide' : ''}`}
      aria-labelledby={`${id}-h`}
      data-testid={`section-${id}`}
    >
      <h2 id={`${id}-h`} tabIndex={-1}>
        {title} {count > 0 && <span class="plan-count">{fmt.number(count)}</span>}
      </h2>
      {children}
    </section>
  );
}

export function focusHeading(id) {
  const h = document.getElementById(`${id}-h`);
  if (h) h.focus();
}

// An empty state: what is missing and what to do about it.
export function Empty({ ctx, what, canAdd = ctx.canEdit }) {
  return <p class="plan-empty">{canAdd ? t(`plan.empty_${what}`) : t(`plan.emptyRead_${what}`)}</p>;
}
