// The comment thread of a plan (also of a practice or project in Discover,
// views/matches.jsx, through `refs`).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, locale } from '../../i18n.js';
import { getDb, myName } from '../../db.js';
import { useSubmit, FormError } from '../../components/form.jsx';
import { Conflicts } from '../../components/conflict.jsx';
import { str } from './items.js';
import { Text } from './fields.jsx';
import { Section, Empty } from './section.jsx';
import './plan.css'; // also shown in Discover (views/matches.jsx)

// The time a comment is posted, as the data model writes it (seconds, UTC).
const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

// `refs`: the references the comment carries ({project} by default; a best
// practice's thread passes {practice, need}). `initial`: a prefilled,
// editable text (a question about a need), which also takes focus.
function CommentForm({ ctx, refs, initial }) {
  const [text, setText] = useState(initial || '');
  const { busy, error, setError, run } = useSubmit();
  const name = myName();
  const area = useRef(null);
  useEffect(() => {
    if (!initial) return;
    setText(initial);
    if (area.current) {
      area.current.focus();
      area.current.scrollIntoView({ block: 'center' });
    }
  }, [initial]);
  const submit = async (e) => {
    e.preventDefault();
    if (!text.trim()) return setError(t('plan.required', { field: t('plan.yourComment') }));
    // The name people gave this device; without one the comment has no author.
    const fields = {
      ...(refs || { project: ctx.project }),
      [`text@${locale()}`]: text.trim(),
      at: nowIso(),
      ...(name ? { author: name } : {}),
    };
    if (await run(() => getDb().put(ctx.space, 'comment', 'new', fields))) setText('');
    return undefined;
  };
  return (
    <form class="plan-add" onSubmit={submit} data-testid="add-comment" noValidate>
      <div class="field">
        <label for="comment-text">{t('plan.yourComment')}</label>
        <textarea
          id="comment-text"
          ref={area}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          dir="auto"
          aria-describedby="comment-as"
        />
        <p class="hint" id="comment-as">
          {name ? t('plan.postingAs', { name }) : t('plan.postingUnnamed')}
        </p>
      </div>
      <FormError error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {t('plan.postComment')}
      </button>
    </form>
  );
}

export function Comments({ ctx, items, refs, initial }) {
  const list = [...items].sort((a, b) => str(a.values.at).localeCompare(str(b.values.at)));
  return (
    <Section id="comments" title={t('plan.comments')} count={items.length}>
      {list.length === 0 ? (
        <Empty ctx={ctx} what="comments" canAdd={ctx.canComment} />
      ) : (
        <ol class="plain plan-comments">
          {list.map((c) => {
            const author = str(c.values.author);
            return (
              <li key={c.id} data-testid="comment">
                <p class="plan-comment-head">
                  <strong dir="auto">{author || t('plan.unnamed')}</strong>
                  {c.values.at && <time dateTime={c.values.at}>{fmt.dateTime(c.values.at)}</time>}
                </p>
                <p class="plan-comment-text">
                  <Text item={c} field="text" />
                </p>
                <Conflicts
                  space={ctx.space}
                  entity={c}
                  writable={ctx.canEdit}
                  field="text"
                  label={t('plan.comment')}
                  multiline
                />
              </li>
            );
          })}
        </ol>
      )}
      {ctx.canComment && <CommentForm ctx={ctx} refs={refs} initial={initial} />}
    </Section>
  );
}
