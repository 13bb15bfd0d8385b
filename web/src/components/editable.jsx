// A value that can be edited in place: shown as text with an Edit button;
// editing shows a labelled input (or textarea, or select) with Save / Cancel.
// Enter saves a one-line input, Escape cancels. onSave(value) returns a promise
// (a put); errors are shown next to the field.
import { useState, useRef, useEffect } from 'preact/hooks';
import { t } from '../i18n.js';
import { useSubmit, FormError } from './form.jsx';

let seq = 0;

export function Editable({ label, value, display, onSave, kind = 'text', options, multiline = false, placeholder, testid }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const { busy, error, setError, run } = useSubmit();
  const id = useRef(`ed-${++seq}`).current;
  const input = useRef(null);
  useEffect(() => {
    if (editing && input.current) input.current.focus();
  }, [editing]);
  const start = () => {
    setDraft(value === undefined || value === null ? '' : String(value));
    setError(null);
    setEditing(true);
  };
  const save = async (e) => {
    e && e.preventDefault();
    const v = kind === 'number' ? (draft.trim() === '' ? null : Number(draft)) : draft;
    if (kind === 'number' && v !== null && Number.isNaN(v)) return setError(t('common.notANumber'));
    if (await run(() => onSave(v))) setEditing(false);
  };
  if (!editing)
    return (
      <div class="editable" data-testid={testid}>
        <span class="editable-value" dir="auto">
          {display !== undefined ? display : value === undefined || value === null || value === '' ? <span class="muted">—</span> : String(value)}
        </span>
        <button type="button" class="small" onClick={start} aria-label={t('common.editField', { field: label })}>
          {t('common.edit')}
        </button>
      </div>
    );
  const common = {
    id,
    ref: input,
    value: draft,
    onInput: (e) => setDraft(e.currentTarget.value),
    onKeyDown: (e) => {
      if (e.key === 'Escape') setEditing(false);
    },
    dir: 'auto',
    placeholder,
  };
  return (
    <form class="editable editing" onSubmit={save} data-testid={testid}>
      <label for={id} class="sr-only">
        {label}
      </label>
      {options ? (
        <select {...common} onChange={(e) => setDraft(e.currentTarget.value)}>
          {options.map(([v, text]) => (
            <option key={v} value={v}>
              {text}
            </option>
          ))}
        </select>
      ) : multiline ? (
        <textarea {...common} />
      ) : (
        <input {...common} type={kind === 'number' ? 'number' : kind === 'date' ? 'date' : 'text'} />
      )}
      <button type="submit" class="small primary" disabled={busy}>
        {t('common.save')}
      </button>
      <button type="button" class="small" onClick={() => setEditing(false)}>
        {t('common.cancel')}
      </button>
      <FormError error={error} />
    </form>
  );
}
