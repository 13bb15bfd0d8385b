// #/plan/PROJECT: one project's plan. Milestones, tasks, stakeholders,
// risks, funding and comments are each a separate entity type pointing at
// the project (docs/DATA_MODEL.md, "Plan"), a section (a file here) each,
// then the project's lessons. Viewers get the same page without the
// controls; commenters may comment.
import { t, fmt, useLocale } from '../../i18n.js';
import { useQuery } from '../../db.js';
import { useRole, canEdit, canComment } from '../../content.js';
import { errorText } from '../../errors.js';
import { href } from '../../router.js';
import { PLAN_TYPES } from './values.js';
import { SECTORS, STAGES } from '../../fields.js';
import { Text } from './fields.jsx';
import { Busy } from './section.jsx';
import { Milestones } from './milestones.jsx';
import { TaskBoard } from './tasks.jsx';
import { Stakeholders } from './stakeholders.jsx';
import { Risks } from './risks.jsx';
import { Funding } from './funding.jsx';
import { Comments } from './comments.jsx';
import { Lessons } from './lessons.jsx';
import './plan.css';

async function loadPlan(db, space, id, lang) {
  let project = null;
  try {
    project = await db.get(space, 'project', id, { lang });
  } catch (e) {
    // A link to a project not synced here yet (or a mistyped one).
    if (e.codeName !== 'NotFound' && e.codeName !== 'InvalidArgument') throw e;
  }
  if (!project || project.deleted) return { id, project: null };
  const city = project.values.city
    ? await db.get(space, 'city', project.values.city, { lang }).catch(() => null)
    : null;
  const items = {};
  await Promise.all(
    PLAN_TYPES.map(async (type) => {
      const r = await db.find(space, { type, where: { project: id }, limit: 1000 });
      const got = await Promise.all(r.hits.map((h) => db.get(space, type, h.id, { lang }).catch(() => null)));
      items[type] = got.filter((e) => e && !e.deleted);
    }),
  );
  return { id, project, city, items };
}

function PlanHeader({ project, city }) {
  const v = project.values;
  const facts = [
    ['stage', STAGES.includes(v.stage) ? t(`plan.stage_${v.stage}`) : v.stage],
    ['sector', SECTORS.includes(v.sector) ? t(`plan.sector_${v.sector}`) : v.sector],
    ['city', city ? <Text item={city} field="name" /> : null],
    ['budget', typeof v.budget === 'number' ? fmt.money(v.budget, v.currency) : null],
  ].filter(([, value]) => value);
  return (
    <header class="plan-head">
      <p class="plan-crumbs">
        <a href="#/plan">{t('plan.allPlans')}</a>
      </p>
      <h1 data-testid="plan-title">
        <Text item={project} field="title" />
      </h1>
      {facts.length > 0 && (
        <dl class="plan-facts">
          {facts.map(([name, value]) => (
            <div key={name}>
              <dt>{t(name === 'budget' ? 'plan.budget' : `plan.field_${name}`)}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      )}
      <p>
        <a href={href('entity', 'project', project.id)}>{t('plan.openInDiscover')}</a>
      </p>
    </header>
  );
}

export function PlanPage({ space, project: id }) {
  const lang = useLocale();
  const { data, error, loading } = useQuery(space, (db) => loadPlan(db, space, id, lang), [id, lang]);
  const role = useRole(space);
  // After a move to another project the previous one's plan is not shown;
  // nor is a plan before the role that decides its controls is known.
  if (!data || data.id !== id || role === undefined)
    return (
      <div class="page plan">
        {loading && <Busy text={t('plan.loadingPlan')} />}
        {error && (
          <p class="error" role="alert">
            {errorText(error)}
          </p>
        )}
      </div>
    );
  if (!data.project)
    return (
      <div class="page plan" data-testid="plan-missing">
        <h1>{t('plan.missingTitle')}</h1>
        <p>{t('plan.missingText')}</p>
        <p>
          <a href="#/plan">{t('plan.allPlans')}</a>
        </p>
      </div>
    );
  const { project, city, items } = data;
  const ctx = { space, project: id, canEdit: canEdit(role), canComment: canComment(role) };
  const empty = PLAN_TYPES.every((type) => items[type].length === 0);
  return (
    <div class="page plan" data-testid="plan-page">
      <PlanHeader project={project} city={city} />
      {!ctx.canEdit && (
        <p class="plan-note" data-testid="read-only">
          {ctx.canComment ? t('plan.commenterNote') : t('plan.viewerNote')}
        </p>
      )}
      {empty && ctx.canEdit && <p class="plan-note">{t('plan.emptyPlan')}</p>}
      {error && (
        <p class="error" role="alert">
          {errorText(error)}
        </p>
      )}
      <div class="plan-sections">
        <Milestones ctx={ctx} items={items.milestone} />
        <TaskBoard ctx={ctx} items={items.task} milestones={items.milestone} />
        <Stakeholders ctx={ctx} items={items.stakeholder} />
        <Risks ctx={ctx} items={items.risk} />
        <Funding ctx={ctx} items={items.funding} project={project} />
        <Comments ctx={ctx} items={items.comment} />
        <Lessons ctx={ctx} project={project} city={city} />
      </div>
    </div>
  );
}
