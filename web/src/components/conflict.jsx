// A field holding concurrent values (a conflict): each version with its author
// and time; "Keep this" writes that value over all of them, or the person
// writes a merged value. Either clears the conflict on every replica once
// synced (db.resolve). `Conflicts` lists those of an entity's fields: the one
// wrapper the entity page and the plan share.
import { useState } from 'preact/hooks';
import { t, fmt } from '../i18n.js';
import { getDb, useAuthors, versionTime } from '../db.js';
import { useSubmit, FormError } from './form.jsx';

export function authorName(authors, key) {
  if (key && key === authors.get('me')) return t('common.you');
  const name = authors.get(key);
  return name || t('common.deviceShort', { key: String(key || '').slice(0, 8) });
}

function show(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// field: 'title' or 'title@ko' (a translation); versions: [{value, author, hlc}]
export function Conflict({ space, type, id, field, label, versions, multiline = false }) {
  const authors = useAuthors(space);
  const [merging, setMerging] = useState(false);
  const [merged, setMerged] = useState(() => versions.map((v) => show(v.value)).join(multiline ? '\n\n' : ' / '));
  const { busy, error, run } = useSubmit();
  const resolve = (value) => run(() => getDb().resolve(space, type, id, field, value));
  const typed = (text) =>
    typeof versions[0].value === 'number' && text.trim() !== '' && !Number.isNaN(Number(text)) ? Number(text) : text;
  return (
    <div
      class="conflict"
      role="group"
      aria-label={t('common.conflictOn', { field: label || field })}
      data-testid="conflict"
      data-field={field}
    >
      <p class="conflict-head">
        <strong>{t('common.conflictTitle')}</strong> {t('common.conflictIntro', { count: versions.length })}
      </p>
      <ul class="plain conflict-versions">
        {versions.map((v) => (
          <li key={v.op || `${v.author}-${v.hlc}`} class="conflict-version" data-testid="conflict-version">
            <span class="conflict-value" dir="auto">
              {show(v.value)}
            </span>
            <span class="muted">
              {t('common.conflictBy', {
                author: authorName(authors, v.author),
                when: fmt.dateTime(versionTime(v.hlc)),
              })}
            </span>
            <button type="button" disabled={busy} onClick={() => resolve(v.value)} data-testid="keep-version">
              {t('common.conflictKeep')}
            </button>
          </li>
        ))}
      </ul>
      {merging ? (
        <form
          class="conflict-merge"
          onSubmit={(e) => {
            e.preventDefault();
            resolve(typed(merged));
          }}
        >
          <label for={`merge-${field}`}>{t('common.conflictMergedLabel')}</label>
          {multiline ? (
            <textarea
              id={`merge-${field}`}
              value={merged}
              onInput={(e) => setMerged(e.currentTarget.value)}
              dir="auto"
            />
          ) : (
            <input id={`merge-${field}`} value={merged} onInput={(e) => setMerged(e.currentTarget.value)} dir="auto" />
          )}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {t('common.conflictSaveMerged')}
            </button>
            <button type="button" onClick={() => setMerging(false)}>
              {t('common.cancel')}
            </button>
          </div>
        </form>
      ) : (
        <button type="button" onClick={() => setMerging(true)}>
          {t('common.conflictMerge')}
        </button>
      )}
      <FormError error={error} />
    </div>
  );
}

// The conflict keys of `field` in `entity` (a `get` result): the field itself
// and its translations ('title@ko').
export function conflictKeys(entity, field) {
  return Object.keys(entity.conflicts || {}).filter((k) => k === field || k.startsWith(`${field}@`));
}

// The conflicts of `entity` (a `get` result) on `keys` (field or
// 'field@LOCALE'; default: `field` and its translations). Those who can write
// (`writable`) resolve each; others only learn that there is one. A
// translation's label names its language.
export function Conflicts({ space, entity, field, keys, label, writable, multiline = false }) {
  const conflicts = entity.conflicts || {};
  return (keys || conflictKeys(entity, field))
    .filter((k) => conflicts[k])
    .map((k) => {
      const at = k.indexOf('@');
      const name = at < 0 ? label : `${label} (${fmt.language(k.slice(at + 1))})`;
      return writable ? (
        <Conflict
          key={`${k}-${conflicts[k].map((v) => v.op || v.hlc).join()}`}
          space={space}
          type={entity.type}
          id={entity.id}
          field={k}
          label={name}
          versions={conflicts[k]}
          multiline={multiline}
        />
      ) : (
        <p key={k} class="conflict-note">
          {t('entity.conflictReadOnly', { count: conflicts[k].length })}
        </p>
      );
    });
}
