// Activity (#/activity): what other people changed since this device last
// marked it read, grouped by project and type, with who and when; the tasks
// assigned to this person and the comments that mention them. The read mark
// is this device's (localStorage, never synced): the version vector the
// browser client returned (`activity`'s cursor, wasm/README.md), so "new"
// means "reached this device since", however old the edit's clock. The
// header's Activity link shows the count of changed entries.
import { useEffect, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { useQuery, useAuthors, device, myName } from '../db.js';
import { href } from '../router.js';
import { errorText } from '../errors.js';
import { fieldLabel, typeCount, hitTitle, pickText } from '../fields.js';
import './activity.css';

// ---- read marks (per device) ------------------------------------------------

const MARK_KEY = (space) => `urbis.activity.${space}`;
const markListeners = new Set();

export function readMark(space) {
  try {
    const m = JSON.parse(localStorage.getItem(MARK_KEY(space)) || 'null');
    return m && typeof m.cursor === 'object' && m.cursor ? m : null;
  } catch (e) {
    return null;
  }
}

function setMark(space, mark) {
  try {
    localStorage.setItem(MARK_KEY(space), JSON.stringify(mark));
  } catch (e) {
    // kept until the page closes
  }
  for (const cb of markListeners) cb(space);
}

function useMarkVersion() {
  const [n, setN] = useState(0);
  useEffect(() => {
    const on = () => setN((x) => x + 1);
    markListeners.add(on);
    return () => markListeners.delete(on);
  }, []);
  return n;
}

// Types that are bookkeeping, not work: a person's display name.
const isProfile = (e) => e.type === 'profile' || (e.type === 'comment' && e.summary?.kind === 'profile');

// Test knob: localStorage 'urbis.activityMaxBytes' bounds the bytes of new
// changes the count reads (the browser client's default, 4 MiB, otherwise),
// so a test can reach the "at least N changes" of a long absence. Only the
// build made for the tests has it (see pwhashCost in db.js).
function maxBytes() {
  if (import.meta.env.MODE !== 'test') return null;
  try {
    const n = Number(localStorage.getItem('urbis.activityMaxBytes'));
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch (e) {
    return null;
  }
}

// The activity of `space` since this device's mark. The first time a device
// enters a space there is no mark: the current cursor becomes it (nothing
// is new to someone who just arrived).
async function loadActivity(db, space, lang) {
  const mark = readMark(space);
  if (!mark) {
    const r = await db.activity(space, { lang });
    setMark(space, { cursor: r.cursor, at: Date.now() });
    return { ...r, entities: [], mark: readMark(space) };
  }
  const r = await db.activity(space, { since: mark.cursor, lang, limit: 500, max_bytes: maxBytes() });
  return { ...r, entities: r.entities.filter((e) => !isProfile(e)), mark };
}

export function useActivity(space, lang) {
  const marks = useMarkVersion();
  return useQuery(space, (db) => loadActivity(db, space, lang), [lang, marks]);
}

// The header's link, with the count of what is new here.
export function ActivityLink({ space, current }) {
  const lang = useLocale();
  const { data } = useActivity(space, lang);
  const count = data ? data.entities.length : 0;
  return (
    <a
      href="#/activity"
      aria-current={current ? 'page' : undefined}
      data-testid="activity-link"
      data-count={data ? String(count) : ''}
    >
      {t('activity.nav')}
      {count > 0 && (
        <span class="nav-count">
          <span aria-hidden="true">{data.complete ? fmt.number(count) : `${fmt.number(count)}+`}</span>
          <span class="sr-only">{t('activity.navCount', { count })}</span>
        </span>
      )}
    </a>
  );
}

// ---- the page -----------------------------------------------------------------

// The project an entry belongs to: a project itself, or its `project` reference.
const projectOf = (e) =>
  e.type === 'project' ? e.id : typeof e.summary?.project === 'string' ? e.summary.project : null;

function entryTitle(e, lang) {
  const s = e.summary || {};
  const found = hitTitle(s, lang) || pickText(s.text, lang) || pickText(s.source, lang);
  return found || (e.title ? { text: e.title, lang: null } : null);
}

// Where an entry is worked on: plan items on their plan, the rest on their page.
function entryLink(e) {
  const project = projectOf(e);
  if (e.type !== 'project' && project) return href('plan', project);
  return href('entity', e.type, e.id);
}

// A field's name: Discover's label, else the plan's, else as stored.
function fieldName(field) {
  if (field === 'text') return t('plan.comment');
  const label = fieldLabel(field);
  if (label !== field) return label;
  const plan = t(`plan.field_${field}`);
  return plan === `plan.field_${field}` ? field : plan;
}

// Fields that come with others and say nothing of their own: a comment's
// author, time and plan; a task's assignee device goes by "Assignee".
const QUIET = new Set(['at', 'author', 'project', 'kind', 'device']);
const SAME_AS = { assignee_device: 'assignee' };

// "Title", "Title (Korean)", "Status": what changed, named.
function fieldsText(changed) {
  const names = [];
  const loud = changed.filter((f) => !QUIET.has(f));
  for (const raw of loud.length ? loud : changed) {
    const f = SAME_AS[raw] || raw;
    const at = f.indexOf('@');
    const name =
      at < 0
        ? fieldName(f)
        : t('activity.fieldIn', { field: fieldName(f.slice(0, at)), language: fmt.language(f.slice(at + 1)) });
    if (!names.includes(name)) names.push(name);
  }
  return names.join(', ');
}

function who(authors, devices) {
  return devices.map((d) => authors.get(d) || t('common.deviceShort', { key: d.slice(0, 8) })).join(', ');
}

function Entry({ e, lang, authors }) {
  const title = entryTitle(e, lang);
  return (
    <li data-testid="activity-entry" data-id={e.id} data-type={e.type}>
      <a href={entryLink(e)} lang={title?.lang || undefined} dir="auto">
        {title ? title.text : t('activity.untitled')}
      </a>
      {e.deleted && <span class="muted"> {t('activity.deleted')}</span>}
      <p class="activity-meta">
        <span data-testid="activity-fields">{t('activity.changed', { fields: fieldsText(e.fields) })}</span>{' '}
        {/* Isolated: a Latin name next to a date reorders in Arabic otherwise. */}
        <bdi data-testid="activity-who">{t('activity.by', { who: who(authors, e.authors) })}</bdi>
        {', '}
        <bdi>
          <time dateTime={new Date(e.at).toISOString()} data-testid="activity-when">
            {fmt.dateTime(e.at)}
          </time>
        </bdi>
      </p>
    </li>
  );
}

// Groups entries by project (null: not in a project), then by type.
function group(entities) {
  const byProject = new Map();
  for (const e of entities) {
    const p = projectOf(e);
    if (!byProject.has(p)) byProject.set(p, new Map());
    const types = byProject.get(p);
    if (!types.has(e.type)) types.set(e.type, []);
    types.get(e.type).push(e);
  }
  return byProject;
}

function ProjectName({ space, id, lang, entities }) {
  const own = entities.find((e) => e.id === id);
  const { data } = useQuery(
    own ? null : space,
    (db) =>
      own
        ? null
        : db.get(space, 'project', id, { lang }).then(
            (p) => ({ text: p.values.title, lang: p.translations.title?.shown }),
            () => null,
          ),
    [id, lang],
  );
  const title = own ? entryTitle(own, lang) : data;
  return (
    <a href={href('plan', id)} lang={title?.lang || undefined} dir="auto">
      {title && typeof title.text === 'string' ? title.text : t('activity.untitled')}
    </a>
  );
}

function SinceLastSync({ space, lang, data, authors }) {
  const groups = group(data.entities);
  const keys = [...groups.keys()].sort((a, b) => (a === null) - (b === null));
  const people = Object.keys(data.authors || {}).length;
  const markRead = () => setMark(space, { cursor: data.cursor, at: Date.now() });
  return (
    <section class="card activity-since" aria-labelledby="since-h" data-testid="activity-since">
      <h2 id="since-h">{t('activity.sinceTitle')}</h2>
      <p class="muted">{t('activity.sinceIntro', { when: fmt.dateTime(data.mark.at) })}</p>
      {(data.changes > 0 || data.more) && (
        <p data-testid="activity-changes" data-count={String(data.changes)} data-more={String(!!data.more)}>
          {t(data.more ? 'activity.changesAtLeast' : 'activity.changes', { count: data.changes })}
        </p>
      )}
      {data.entities.length === 0 ? (
        <p data-testid="activity-none">{t('activity.none')}</p>
      ) : (
        <>
          <p data-testid="activity-summary">
            {t('activity.summary', { count: data.entities.length })} {t('activity.people', { count: people })}
            {!data.complete && <> {t('activity.more')}</>}
          </p>
          {keys.map((p) => (
            <section
              key={p || 'none'}
              class="activity-project"
              aria-labelledby={`ap-${p || 'none'}`}
              data-testid="activity-project"
              data-project={p || ''}
            >
              <h3 id={`ap-${p || 'none'}`}>
                {p ? (
                  <ProjectName space={space} id={p} lang={lang} entities={data.entities} />
                ) : (
                  t('activity.notInProject')
                )}
              </h3>
              {[...groups.get(p)].map(([type, list]) => (
                <div key={type} class="activity-type" data-testid="activity-type" data-type={type}>
                  <h4>{typeCount(type, list.length)}</h4>
                  <ul class="plain activity-list">
                    {list.map((e) => (
                      <Entry key={e.id} e={e} lang={lang} authors={authors} />
                    ))}
                  </ul>
                </div>
              ))}
            </section>
          ))}
        </>
      )}
      {data.entities.length > 0 && (
        <button type="button" class="primary" onClick={markRead} data-testid="mark-read">
          {t('activity.markRead')}
        </button>
      )}
    </section>
  );
}

// Tasks whose assignee is this device (picked from the members), or, for
// tasks assigned before the picker, this person's name.
async function loadMine(db, space, lang) {
  const me = await device();
  const name = myName();
  const [byDevice, byName] = await Promise.all([
    db.find(space, { type: 'task', where: { assignee_device: me }, lang, limit: 200 }),
    name ? db.find(space, { type: 'task', where: { assignee: name }, lang, limit: 200 }) : { hits: [] },
  ]);
  const tasks = new Map();
  for (const h of [...byDevice.hits, ...byName.hits])
    if (!h.summary.assignee_device || h.summary.assignee_device === me) tasks.set(h.id, h);
  // Mentions: comments whose text holds "@Name" (full-text search finds the
  // candidates; the exact mention is checked here), not this person's own.
  let mentions = [];
  if (name) {
    const found = await db.find(space, { type: 'comment', text: name, lang, limit: 200 });
    const needle = `@${name}`.toLocaleLowerCase();
    mentions = found.hits.filter((h) => {
      const texts =
        h.summary.text && typeof h.summary.text === 'object' ? Object.values(h.summary.text) : [h.summary.text];
      return (
        h.summary.author !== name && texts.some((x) => typeof x === 'string' && x.toLocaleLowerCase().includes(needle))
      );
    });
  }
  const byDue = (a, b) => String(a.summary.due || '9999').localeCompare(String(b.summary.due || '9999'));
  return { tasks: [...tasks.values()].sort(byDue), mentions };
}

function Mine({ space, lang }) {
  const { data } = useQuery(space, (db) => loadMine(db, space, lang), [lang]);
  if (!data) return null;
  return (
    <>
      <section class="card" aria-labelledby="mine-h" data-testid="activity-assigned">
        <h2 id="mine-h">{t('activity.assignedTitle')}</h2>
        {data.tasks.length === 0 ? (
          <p class="muted">{myName() ? t('activity.assignedNone') : t('activity.noName')}</p>
        ) : (
          <ul class="plain activity-list">
            {data.tasks.map((h) => {
              const title = hitTitle(h.summary, lang);
              const status = ['todo', 'doing', 'done'].includes(h.summary.status)
                ? t(`plan.status_${h.summary.status}`)
                : h.summary.status;
              return (
                <li key={h.id} data-testid="assigned-task" data-id={h.id}>
                  <a
                    href={
                      typeof h.summary.project === 'string'
                        ? href('plan', h.summary.project)
                        : href('entity', 'task', h.id)
                    }
                    lang={title?.lang || undefined}
                    dir="auto"
                  >
                    {title ? title.text : t('activity.untitled')}
                  </a>
                  <p class="activity-meta">
                    {[
                      status,
                      h.summary.due
                        ? t('activity.due', {
                            date: fmt.date(`${h.summary.due}T00:00:00Z`, { dateStyle: 'medium', timeZone: 'UTC' }),
                          })
                        : null,
                    ]
                      .filter(Boolean)
                      .join(' · ')}
                  </p>
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <section class="card" aria-labelledby="mentions-h" data-testid="activity-mentions">
        <h2 id="mentions-h">{t('activity.mentionsTitle')}</h2>
        {data.mentions.length === 0 ? (
          <p class="muted">
            {myName() ? t('activity.mentionsNone', { mention: `@${myName()}` }) : t('activity.noName')}
          </p>
        ) : (
          <ul class="plain activity-list">
            {data.mentions.map((h) => {
              const text = pickText(h.summary.text, lang);
              return (
                <li key={h.id} data-testid="mention" data-id={h.id}>
                  <blockquote lang={text?.lang || undefined} dir="auto">
                    {text ? text.text : ''}
                  </blockquote>
                  <p class="activity-meta">
                    <bdi>
                      {t('activity.by', {
                        who:
                          typeof h.summary.author === 'string' && h.summary.author
                            ? h.summary.author
                            : t('plan.unnamed'),
                      })}
                    </bdi>
                    {typeof h.summary.at === 'string' && (
                      <>
                        ,{' '}
                        <bdi>
                          <time dateTime={h.summary.at}>{fmt.dateTime(h.summary.at)}</time>
                        </bdi>
                      </>
                    )}{' '}
                    {typeof h.summary.project === 'string' && (
                      <a href={href('plan', h.summary.project)}>{t('activity.openPlan')}</a>
                    )}
                  </p>
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </>
  );
}

export function ActivityPage({ space }) {
  const lang = useLocale();
  const authors = useAuthors(space);
  const { data, error } = useActivity(space, lang);
  return (
    <div class="page activity" data-testid="activity">
      <h1>{t('activity.title')}</h1>
      {error && (
        <p class="error" role="alert">
          {errorText(error)}
        </p>
      )}
      {!data ? (
        !error && (
          <p role="status" class="busy">
            {t('activity.loading')}
          </p>
        )
      ) : (
        <SinceLastSync space={space} lang={lang} data={data} authors={authors} />
      )}
      <Mine space={space} lang={lang} />
    </div>
  );
}
