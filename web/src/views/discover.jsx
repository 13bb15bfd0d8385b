// Discover: one search box over projects, needs, best practices and cities in
// every language, with facets. The route's query holds the search and the
// filters; typing updates it after a short pause (replacing the history entry),
// a filter pushes a new one, so back and forward step through filters. With
// no type chosen, each type gets a section of its best hits (find takes one
// type at a time); with one, a list that grows with "Show more".
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { useQuery } from '../db.js';
import { navigate, href, parseHash } from '../router.js';
import { errorText } from '../errors.js';
import { findAll, useCities, useRole } from '../content.js';
import { NewLinks } from './intake.jsx';
import {
  TYPES,
  SECTOR_COLORS,
  hitTitle,
  pickText,
  excerpt,
  typeLabel,
  typesLabel,
  typeCount,
  valueLabel,
  fieldLabel,
} from '../fields.js';
import { FilterBar, readFilters, filterHash, whereOf, hasFacets } from './facets.jsx';
import { ExportControl } from './export.jsx';
import './discover.css';

const TYPING_PAUSE_MS = 100;
const SECTION_SIZE = 5;
const PAGE_SIZE = 20;

export function Discover({ space, query }) {
  const lang = useLocale();
  const filters = readFilters(query);
  const cities = useCities(space, lang);
  const role = useRole(space);
  const [draft, setDraft] = useState(filters.q);
  const [more, setMore] = useState({ key: '', shown: PAGE_SIZE });
  const sent = useRef(filters.q); // the text last put in the route by typing
  const focusFrom = useRef(null); // after "Show more": the first new hit gets focus

  // Back/forward (or a link) changed the search: show it in the box.
  useEffect(() => {
    if (filters.q !== sent.current) {
      sent.current = filters.q;
      setDraft(filters.q);
    }
  }, [filters.q]);

  // Typing: into the route after a pause (over the filters the route has
  // then: one may have been chosen meanwhile).
  const search = (q) => {
    sent.current = q;
    navigate(filterHash('discover', { ...readFilters(parseHash().query), q }), { replace: true });
  };
  useEffect(() => {
    if (draft === filters.q) return undefined;
    const timer = setTimeout(() => search(draft), TYPING_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [draft]);

  // A new search starts again at one page.
  const key = JSON.stringify([filters.q, filters.type, whereOf(filters), filters.sort, lang]);
  const shown = more.key === key ? more.shown : PAGE_SIZE;

  const base = { text: filters.q, where: whereOf(filters), lang, sort: filters.sort || 'relevance' };
  const results = useQuery(
    space,
    async (db) => {
      if (filters.type)
        return { type: filters.type, ...(await findAll(db, space, { ...base, type: filters.type }, shown)) };
      const sections = await Promise.all(TYPES.map((type) => db.find(space, { ...base, type, limit: SECTION_SIZE })));
      return {
        total: sections.reduce((n, s) => n + s.total, 0),
        sections: sections.map((s, i) => ({ type: TYPES[i], ...s })),
      };
    },
    [key, shown],
  );

  useEffect(() => {
    if (focusFrom.current === null || results.loading) return;
    document.querySelector(`.hits [data-index="${focusFrom.current}"] a`)?.focus();
    focusFrom.current = null;
  }, [results.data, results.loading]);

  // A filter: a new history entry, with what is typed so far.
  const go = (next) => {
    sent.current = draft;
    navigate(filterHash('discover', { ...next, q: draft }));
  };
  const data = results.data;
  const searching = results.loading;
  const filtered = filters.q.trim() !== '' || hasFacets(filters);

  return (
    <div class="page discover">
      <div class="discover-head">
        <h1>{t('discover.title')}</h1>
        <NewLinks role={role} />
      </div>
      <form
        role="search"
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          search(draft);
        }}
      >
        <label for="discover-q">{t('discover.searchLabel')}</label>
        <div class="search-row">
          <input
            id="discover-q"
            type="search"
            value={draft}
            onInput={(e) => setDraft(e.currentTarget.value)}
            placeholder={t('discover.searchPlaceholder')}
            aria-describedby="discover-q-hint"
            autocomplete="off"
            dir="auto"
            data-testid="search"
          />
        </div>
        <p class="hint" id="discover-q-hint">
          {t('discover.searchHint')}
        </p>
      </form>

      <FilterBar filters={filters} cities={cities} onChange={go} idPrefix="discover" />

      <div class="results-head">
        <p role="status" class="results-count" data-testid="total" data-total={data ? data.total : ''}>
          {data ? t('discover.resultCount', { count: data.total }) : t('discover.searching')}
          {data && searching && <span class="searching"> {t('discover.searching')}</span>}
        </p>
        <div class="results-tools">
          <label>
            {t('discover.sort')}{' '}
            <select
              value={filters.sort || 'relevance'}
              onChange={(e) =>
                go({ ...filters, sort: e.currentTarget.value === 'relevance' ? '' : e.currentTarget.value })
              }
            >
              <option value="relevance">{t('discover.sort_relevance')}</option>
              <option value="updated">{t('discover.sort_updated')}</option>
              <option value="title">{t('discover.sort_title')}</option>
            </select>
          </label>
          <a href={filterHash('map', { ...filters, type: '' })}>{t('discover.showOnMap')}</a>
          <ExportControl space={space} filters={filters} lang={lang} cities={cities} total={data ? data.total : 0} />
        </div>
      </div>

      {results.error && (
        <p class="error" role="alert">
          {errorText(results.error)}
        </p>
      )}

      {data && data.total === 0 && (
        <div class="empty card" data-testid="no-results">
          {filtered ? (
            <>
              <p>{filters.q.trim() ? t('discover.noResultsFor', { q: filters.q.trim() }) : t('discover.noResults')}</p>
              {hasFacets(filters) && (
                <button type="button" onClick={() => go({ q: filters.q })}>
                  {t('discover.clearFilters')}
                </button>
              )}
            </>
          ) : (
            <p>{t('discover.emptySpace')}</p>
          )}
        </div>
      )}

      {data &&
        data.sections &&
        data.sections
          .filter((s) => s.total > 0)
          .map((s) => (
            <section key={s.type} class="result-section" aria-labelledby={`sec-${s.type}`}>
              <h2 id={`sec-${s.type}`}>
                {typesLabel(s.type)} <span class="muted count">{fmt.number(s.total)}</span>
              </h2>
              <Hits hits={s.hits} lang={lang} cities={cities} />
              {s.total > s.hits.length && (
                <button type="button" class="link more" onClick={() => go({ ...filters, type: s.type })}>
                  {t('discover.showAllOfType', { what: typeCount(s.type, s.total) })}
                </button>
              )}
            </section>
          ))}

      {data && data.type && data.total > 0 && (
        <section class="result-section" aria-labelledby="sec-list">
          <h2 id="sec-list" class="sr-only">
            {typesLabel(data.type)}
          </h2>
          <Hits hits={data.hits} lang={lang} cities={cities} />
          {data.total > data.hits.length && (
            <div class="more-row">
              <button
                type="button"
                disabled={searching}
                onClick={() => {
                  focusFrom.current = data.hits.length;
                  setMore({ key, shown: data.hits.length + PAGE_SIZE });
                }}
                data-testid="show-more"
              >
                {t('discover.showMore')}
              </button>
              <span class="muted">{t('discover.shownOf', { shown: data.hits.length, total: data.total })}</span>
            </div>
          )}
        </section>
      )}
    </div>
  );
}

function Hits({ hits, lang, cities }) {
  return (
    <ul class="plain hits">
      {hits.map((h, i) => (
        <Hit key={h.id} hit={h} index={i} lang={lang} cities={cities} />
      ))}
    </ul>
  );
}

// A labelled value for screen readers ("Sector: Energy"), shown as a badge.
function Badge({ field, value, color, class: cls = '' }) {
  return (
    <span class={`badge ${cls}`} style={color ? { '--badge': color } : undefined}>
      <span class="sr-only">{fieldLabel(field)}: </span>
      {valueLabel(field, value)}
    </span>
  );
}

function Hit({ hit, index, lang, cities }) {
  const s = hit.summary || {};
  const orig = s._orig || {};
  const title = hitTitle(s, lang);
  const body = pickText(s.summary, lang, orig.summary) || pickText(s.description, lang, orig.description);
  const city = s.city ? cities.get(s.city) : null;
  const other = (text) => text && text.lang && text.lang !== lang;
  return (
    <li
      class="hit"
      data-testid="hit"
      data-index={index}
      data-id={hit.id}
      data-type={hit.type}
      data-sector={s.sector || ''}
      data-stage={s.stage || ''}
      data-region={s.region || ''}
      data-city={s.city || ''}
      data-sdgs={Array.isArray(s.sdgs) ? s.sdgs.join(' ') : ''}
    >
      <h3 class="hit-title">
        <a href={href('entity', hit.type, hit.id)} lang={title?.lang || undefined} dir="auto">
          {title ? title.text : t('discover.untitled')}
        </a>
        {other(title) && (
          <span class="lang-note"> {t('discover.inLanguage', { language: fmt.language(title.lang) })}</span>
        )}
      </h3>
      <p class="badges">
        <span class="badge badge-type">{typeLabel(hit.type)}</span>
        {city && (
          <span class="hit-place" lang={city.nameLang || undefined}>
            <span class="sr-only">{fieldLabel('city')}: </span>
            <span dir="auto">{city.name}</span>
          </span>
        )}
        {hit.type === 'city' && s.country && (
          <span class="hit-place">
            <span class="sr-only">{fieldLabel('country')}: </span>
            <span dir="auto">{s.country}</span>
          </span>
        )}
        {s.sector && <Badge field="sector" value={s.sector} color={SECTOR_COLORS[s.sector]} class="badge-sector" />}
        {s.stage && <Badge field="stage" value={s.stage} />}
        {s.urgency && <Badge field="urgency" value={s.urgency} class={`urgency-${s.urgency}`} />}
        {typeof s.population === 'number' && <Badge field="population" value={s.population} />}
      </p>
      {body && (
        <p class="hit-excerpt">
          <span lang={body.lang || undefined} dir="auto">
            {excerpt(body.text)}
          </span>
        </p>
      )}
      {s.outcome && (
        <p class="hit-excerpt">
          <span class="sr-only">{fieldLabel('outcome')}: </span>
          <span dir="auto">{s.outcome}</span>
        </p>
      )}
    </li>
  );
}
