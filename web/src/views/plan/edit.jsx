// One Edit per plan card: the card's fields become one form whose Save
// writes what changed as one change (a `put` of structured ops).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, locale } from '../../i18n.js';
import { getDb } from '../../db.js';
import { useSubmit, FormError } from '../../components/form.jsx';
import { LEGACY, assigneeOptions, assigneeFields } from './assignees.js';

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
