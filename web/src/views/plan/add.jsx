// The form that adds one plan item (and, on #/plan, a project).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../../i18n.js';
import { useSubmit, FormError } from '../../components/form.jsx';

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
