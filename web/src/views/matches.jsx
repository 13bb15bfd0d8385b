// What fits a need (issue 14, item 3), on the need's page: the practices and
// projects of other cities that src/matching.js finds and ranks on the local
// replica (so it works offline and follows every change), each with the
// reason in words ("same sector and SDG 6") and, for those who may comment,
// "Ask this city": the practice's (or project's) page with its comment
// thread and a question about the need prefilled. Also here: that thread,
// for the pages of practices and projects.
import { useMemo } from 'preact/hooks';
import { t, fmt, locale, localeInfo } from '../i18n.js';
import { useQuery } from '../db.js';
import { href } from '../router.js';
import { errorText } from '../errors.js';
import { hitTitle, typeLabel } from '../fields.js';
import { needFacts, findMatches } from '../matching.js';
import { Comments } from './plan/comments.jsx';
import './matches.css';

// The comment field that points at an entity of each type with a thread.
export const THREAD_FIELD = { practice: 'practice', project: 'project' };

function listFormat(items) {
  const tag = localeInfo(locale()).bcp47 || locale();
  try {
    return new Intl.ListFormat(tag, { style: 'long', type: 'conjunction' }).format(items);
  } catch (e) {
    return items.join(', ');
  }
}

// The reasons of a match ({sector, sdgs, tags, text}) as one sentence in the
// interface language: "same sector and SDG 6", "SDGs 6 and 11, tag iot".
export function reasonText(reasons) {
  const parts = [];
  if (reasons.sector) parts.push(t('matching.reasonSector'));
  if (reasons.sdgs.length)
    parts.push(
      t('matching.reasonSdgs', {
        count: reasons.sdgs.length,
        list: listFormat(reasons.sdgs.map((n) => fmt.number(n))),
      }),
    );
  if (reasons.tags.length)
    parts.push(t('matching.reasonTags', { count: reasons.tags.length, list: listFormat(reasons.tags) }));
  if (reasons.text) parts.push(t('matching.reasonText'));
  return listFormat(parts);
}

export function NeedMatches({ space, need, lang, cities, canComment }) {
  const facts = useMemo(() => needFacts(need), [need]);
  const key = JSON.stringify(facts);
  const { data, error } = useQuery(space, (db) => findMatches(db, space, facts, { lang }), [key, lang]);
  const matches = data && data.matches;
  return (
    <section
      class="card related matches"
      aria-labelledby="matches-h"
      data-testid="matches"
      aria-busy={matches ? 'false' : 'true'}
    >
      <h2 id="matches-h">{t('matching.fitsTitle')}</h2>
      <p class="hint">{t('matching.fitsIntro')}</p>
      {error && (
        <p class="error" role="alert">
          {errorText(error)}
        </p>
      )}
      {!matches ? (
        !error && (
          <p role="status" class="busy">
            {t('matching.loading')}
          </p>
        )
      ) : matches.length === 0 ? (
        <p data-testid="no-matches">{t('matching.none')}</p>
      ) : (
        <ol class="plain match-list">
          {matches.map((m) => {
            const title = hitTitle(m.hit.summary, lang);
            const city = cities.get(m.hit.summary.city);
            const name = title ? title.text : t('discover.untitled');
            return (
              <li key={m.id} class="match" data-testid="match" data-id={m.id} data-type={m.type} data-score={m.score}>
                <p class="match-head">
                  <a href={href('entity', m.type, m.id)} class="match-title" lang={title?.lang || undefined} dir="auto">
                    {name}
                  </a>{' '}
                  {title && title.lang && title.lang !== lang && (
                    <span class="lang-note">{t('entity.shownIn', { language: fmt.language(title.lang) })}</span>
                  )}
                </p>
                <p class="match-facts">
                  <span class="badge badge-type">{typeLabel(m.type)}</span>{' '}
                  {city && (
                    <span lang={city.nameLang || undefined} dir="auto">
                      {city.name}
                    </span>
                  )}
                </p>
                <p class="match-reason">
                  <span class="match-why">{t('matching.why')}</span>{' '}
                  <span data-testid="match-reason">{reasonText(m.reasons)}</span>
                </p>
                {canComment && THREAD_FIELD[m.type] && (
                  <a
                    class="button-link small"
                    href={`${href('entity', m.type, m.id)}?ask=${encodeURIComponent(need.id)}`}
                    data-testid="ask-city"
                  >
                    {t('matching.askThisCity')}
                    <span class="sr-only">: {name}</span>
                  </a>
                )}
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

// The comment thread of a practice or project (comments whose `practice` or
// `project` is its id). `askNeed`: the id of a need being asked about; the
// comment then carries a `need` reference too, and its text starts as a
// question naming the need, which the person edits before posting.
export function EntityThread({ space, type, id, role, askNeed, lang }) {
  const field = THREAD_FIELD[type];
  const { data } = useQuery(
    space,
    async (db) => {
      const r = await db.find(space, { type: 'comment', where: { [field]: id }, limit: 1000 });
      const got = await Promise.all(r.hits.map((h) => db.get(space, 'comment', h.id, { lang }).catch(() => null)));
      let need = null;
      if (askNeed) need = await db.get(space, 'need', askNeed, { lang }).catch(() => null);
      return { id, items: got.filter((c) => c && !c.deleted && c.values.kind !== 'profile'), need };
    },
    [field, id, askNeed, lang],
  );
  if (!field || !data || data.id !== id) return null;
  const canEditRole = role === 'editor' || role === 'admin';
  const ctx = {
    space,
    project: type === 'project' ? id : undefined,
    canEdit: canEditRole,
    canComment: canEditRole || role === 'commenter',
  };
  const need = data.need && !data.need.deleted ? data.need : null;
  const needTitle = need && typeof need.values.title === 'string' ? need.values.title : '';
  const refs = { [field]: id, ...(need ? { need: need.id } : {}) };
  return (
    <div class="entity-thread" data-testid="thread">
      {need && ctx.canComment && (
        <p class="notice" data-testid="asking-about">
          {t('matching.askingAbout')}{' '}
          <a href={href('entity', 'need', need.id)} dir="auto">
            {needTitle || t('discover.untitled')}
          </a>
        </p>
      )}
      <Comments
        ctx={ctx}
        items={data.items}
        refs={refs}
        initial={need ? t('matching.askPrefill', { need: needTitle }) : undefined}
      />
    </div>
  );
}
