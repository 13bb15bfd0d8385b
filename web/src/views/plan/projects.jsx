// #/plan: the projects one can plan — recent plans first, then recently
// updated projects without one; a filter; a new project (editors, admins).
// Everything reads and writes the local replica, so planning works offline;
// lists re-query when changes arrive, local or remote.
import { useEffect, useState } from 'preact/hooks';
import { t, fmt, locale, useLocale } from '../../i18n.js';
import { getDb, useQuery } from '../../db.js';
import { useCities, useRole, canEdit } from '../../content.js';
import { errorText } from '../../errors.js';
import { href, navigate } from '../../router.js';
import { PLAN_TYPES, currencyOptions } from './values.js';
import { SECTORS, STAGES } from '../../fields.js';
import { Text } from './fields.jsx';
import { AddForm } from './add.jsx';
import { Busy } from './section.jsx';
import './plan.css';

const PAGE = 12;

// Ids of projects with plan items, the most recently worked on roughly first
// (the newest items of each plan type, interleaved by recency rank), and
// whether there may be more than `n`. A plan rarely has more than four items
// of every type, so 4(n + 1) items of each find more than n projects.
async function recentPlans(db, space, n) {
  const per = Math.min(1000, 4 * (n + 1));
  const lists = await Promise.all(PLAN_TYPES.map((type) => db.find(space, { type, sort: 'updated', limit: per })));
  const ids = new Set();
  const longest = Math.max(...lists.map((l) => l.hits.length));
  for (let rank = 0; rank < longest; rank++)
    for (const l of lists) {
      const p = l.hits[rank] && l.hits[rank].summary.project;
      if (typeof p === 'string') ids.add(p);
    }
  return { ids, more: ids.size > n || lists.some((l) => l.total > l.hits.length) };
}

// A project for the list; with `plan`, its task counts too.
async function projectRow(db, space, id, lang, plan) {
  const p = await db.get(space, 'project', id, { lang }).catch(() => null);
  if (!p || p.deleted) return null;
  if (plan) {
    const tasks = await db.find(space, { type: 'task', where: { project: id }, limit: 1000 });
    p.tasks = { count: tasks.total, done: tasks.hits.filter((h) => h.summary.status === 'done').length };
  }
  return p;
}

// Without a filter: recent plans, then recently updated projects without one
// among them. With one: the matching projects, those with a plan first.
async function loadIndex(db, space, filter, lang, shown) {
  const recent = await recentPlans(db, space, shown.planned);
  const rows = async (ids, plan) =>
    (await Promise.all(ids.map((id) => projectRow(db, space, id, lang, plan)))).filter(Boolean);
  if (filter) {
    const r = await db.find(space, { type: 'project', text: filter, lang, limit: shown.others });
    const matches = await rows(
      r.hits.map((h) => h.id),
      true,
    );
    for (const p of matches) if (!recent.ids.has(p.id) && p.tasks.count === 0) delete p.tasks;
    matches.sort((a, b) => !!b.tasks - !!a.tasks); // stable: relevance within each group
    return { matches, matchesMore: r.total > r.hits.length };
  }
  const r = await db.find(space, { type: 'project', sort: 'updated', lang, limit: shown.others + shown.planned });
  const others = r.hits.map((h) => h.id).filter((id) => !recent.ids.has(id));
  const [planned, updated] = await Promise.all([
    rows([...recent.ids].slice(0, shown.planned), true),
    rows(others.slice(0, shown.others), false),
  ]);
  return {
    planned,
    plannedMore: recent.more,
    others: updated,
    othersMore: others.length > shown.others || r.total > r.hits.length,
  };
}

function ProjectRow({ p, cities }) {
  const v = p.values;
  const city = cities.get(v.city);
  const facts = [
    SECTORS.includes(v.sector) ? t(`plan.sector_${v.sector}`) : v.sector,
    STAGES.includes(v.stage) ? t(`plan.stage_${v.stage}`) : v.stage,
    city && city.name,
  ].filter(Boolean);
  return (
    <li data-testid="plan-project" data-id={p.id}>
      <a href={href('plan', p.id)} class="plan-project-title">
        <Text item={p} field="title" />
      </a>
      <span class="muted">{facts.join(' · ')}</span>
      {p.tasks && (
        <span class="plan-project-tasks" data-testid="plan-project-tasks">
          {p.tasks.count ? t('plan.tasksDone', { done: p.tasks.done, count: p.tasks.count }) : t('plan.noTasks')}
        </span>
      )}
    </li>
  );
}

function ProjectList({ id, title, rows, more, onMore, empty, cities }) {
  return (
    <section class="card" aria-labelledby={`${id}-h`} data-testid={id}>
      <h2 id={`${id}-h`}>{title}</h2>
      {rows.length ? (
        <ul class="plain plan-projects">
          {rows.map((p) => (
            <ProjectRow key={p.id} p={p} cities={cities} />
          ))}
        </ul>
      ) : (
        <p class="plan-empty">{empty}</p>
      )}
      {more && (
        <button type="button" onClick={onMore}>
          {t('plan.showMore')}
        </button>
      )}
    </section>
  );
}

function NewProject({ space, cities, onCancel, isAdmin }) {
  const sorted = [...cities].sort(([, a], [, b]) => a.name.localeCompare(b.name, locale()));
  const create = async (v) => {
    const city = cities.get(v.city);
    // Region and country are copied from the city for Discover's facets; the
    // city's position places the project on the map until someone refines it.
    const copied = {};
    for (const f of ['region', 'country', 'lat', 'lon']) if (city.summary[f] !== undefined) copied[f] = city.summary[f];
    const { id } = await getDb().put(space, 'project', 'new', {
      [`title@${locale()}`]: v.title,
      sector: v.sector,
      stage: v.stage,
      city: v.city,
      ...copied,
      ...(v.budget !== undefined ? { budget: Math.round(v.budget) } : {}),
      currency: v.currency,
    });
    navigate(href('plan', id));
  };
  if (!sorted.length)
    return (
      <div class="card plan-new" id="new-project">
        <p class="plan-empty" data-testid="no-cities">
          {isAdmin ? t('intake.noCitiesAdmin') : t('plan.noCities')}{' '}
          {isAdmin && (
            <a href={href('new', 'city')} data-testid="add-city">
              {t('intake.addCity')}
            </a>
          )}
        </p>
        <button type="button" onClick={onCancel}>
          {t('common.close')}
        </button>
      </div>
    );
  return (
    <div class="card plan-new" id="new-project">
      <AddForm
        id="new-project-form"
        level={2}
        autofocus
        title={t('plan.newProject')}
        submitLabel={t('plan.createProject')}
        onAdd={create}
        onCancel={onCancel}
        fields={[
          { name: 'title', label: t('plan.projectTitleIn', { language: fmt.language(locale()) }), required: true },
          {
            name: 'sector',
            label: t('plan.field_sector'),
            kind: 'select',
            required: true,
            options: [['', t('plan.choose')], ...SECTORS.map((s) => [s, t(`plan.sector_${s}`)])],
          },
          {
            name: 'stage',
            label: t('plan.field_stage'),
            kind: 'select',
            initial: 'idea',
            options: STAGES.map((s) => [s, t(`plan.stage_${s}`)]),
          },
          {
            name: 'city',
            label: t('plan.field_city'),
            kind: 'select',
            required: true,
            options: [
              ['', t('plan.choose')],
              ...sorted.map(([id, c]) => [id, c.summary.country ? `${c.name} (${c.summary.country})` : c.name]),
            ],
          },
          { name: 'budget', label: t('plan.budget'), kind: 'number' },
          {
            name: 'currency',
            label: t('plan.field_currency'),
            kind: 'select',
            initial: 'USD',
            options: currencyOptions(),
          },
        ]}
      />
    </div>
  );
}

export function PlanIndex({ space }) {
  const lang = useLocale();
  const [filter, setFilter] = useState('');
  const [q, setQ] = useState('');
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState({ planned: PAGE, others: PAGE });
  const cities = useCities(space, lang);
  // Searches once typing pauses, not at every key.
  useEffect(() => {
    const timer = setTimeout(() => setQ(filter.trim()), 250);
    return () => clearTimeout(timer);
  }, [filter]);
  const { data, error, loading } = useQuery(space, (db) => loadIndex(db, space, q, lang, shown), [
    q,
    lang,
    shown.planned,
    shown.others,
  ]);
  const role = useRole(space);
  const more = (list) => () => setShown((s) => ({ ...s, [list]: s[list] + PAGE * 2 }));
  return (
    <div class="page plan" data-testid="plan-index">
      <div class="plan-index-head">
        <h1>{t('plan.title')}</h1>
        {canEdit(role) && (
          <button
            type="button"
            class="primary"
            onClick={() => setCreating(!creating)}
            aria-expanded={creating ? 'true' : 'false'}
            aria-controls="new-project"
            data-testid="new-project-open"
          >
            {t('plan.newProject')}
          </button>
        )}
      </div>
      <p>{t('plan.indexIntro')}</p>
      {creating && (
        <NewProject space={space} cities={cities} onCancel={() => setCreating(false)} isAdmin={role === 'admin'} />
      )}
      <div class="field plan-filter">
        <label for="plan-filter">{t('plan.filter')}</label>
        <input
          id="plan-filter"
          type="search"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
          dir="auto"
          aria-describedby="plan-filter-hint"
        />
        <p class="hint" id="plan-filter-hint">
          {t('plan.filterHint')}
        </p>
      </div>
      {error && (
        <p class="error" role="alert">
          {errorText(error)}
        </p>
      )}
      {!data ? (
        loading && <Busy text={t('plan.loadingProjects')} />
      ) : data.matches ? (
        <ProjectList
          id="matches"
          title={t('plan.matches')}
          rows={data.matches}
          more={data.matchesMore}
          onMore={more('others')}
          empty={t('plan.noProjectsMatch')}
          cities={cities}
        />
      ) : (
        <>
          <ProjectList
            id="with-plans"
            title={t('plan.withPlans')}
            rows={data.planned}
            more={data.plannedMore}
            onMore={more('planned')}
            empty={t('plan.noPlans')}
            cities={cities}
          />
          <ProjectList
            id="other-projects"
            title={t('plan.recentProjects')}
            rows={data.others}
            more={data.othersMore}
            onMore={more('others')}
            empty={canEdit(role) ? t('plan.noProjects') : t('plan.noProjectsRead')}
            cities={cities}
          />
        </>
      )}
    </div>
  );
}
