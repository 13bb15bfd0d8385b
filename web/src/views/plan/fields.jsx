// A plan item's fields as its card shows them: a text marked with its
// language when it is not the reader's, a field with its conflicts below, a
// label and its field on one line.
import { t, fmt, locale } from '../../i18n.js';
import { Conflicts } from '../../components/conflict.jsx';

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
      <Conflicts
        space={ctx.space}
        entity={item}
        writable={ctx.canEdit}
        field={field}
        label={fullLabel}
        multiline={multiline}
      />
    </>
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
