// The sections of a project's plan: milestones, the task board,
// stakeholders (list and influence/interest grid), risks (list and
// likelihood × impact matrix), funding lines against the budget, and the
// comment thread. Each gets the plan items of its type (from `get`, so with
// conflicts and translations) and `ctx` = {space, project, canEdit,
// canComment}; each edit is one put.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, locale } from '../i18n.js';
import { getDb, myName } from '../db.js';
import {
  TASK_STATUSES,
  ROLES,
  FUNDING_STATUSES,
  SCALE,
  currencyOptions,
  day,
  today,
  ItemField,
  Labelled,
  Text,
  Conflicts,
  DeleteButton,
  AddForm,
  Section,
  Empty,
  focusHeading,
  EditCard,
  useMembers,
  assigneeFields,
} from './plan-parts.jsx';
import { useSubmit, FormError } from '../components/form.jsx';

const num = (v) => (typeof v === 'number' ? v : Number(v) || 0);
const score1to5 = (v) => Math.min(5, Math.max(1, Math.round(num(v)) || 1));
const str = (v) => (typeof v === 'string' ? v : '');
const byText = (field) => (a, b) => str(a.values[field]).localeCompare(str(b.values[field]), locale());
// Due date first (none last), then title.
const byDue = (a, b) => {
  const x = str(a.values.due) || '9999';
  const y = str(b.values.due) || '9999';
  return x < y ? -1 : x > y ? 1 : byText('title')(a, b);
};
const nameOf = (item, field = 'title') => str(item.values[field]) || t('plan.untitled');
const shownIn = (item, field) => item.translations?.[field]?.shown || undefined;
const scaleOptions = () => SCALE.map((n) => [String(n), fmt.number(n)]);
const labelled = (prefix, values) => values.map((v) => [v, t(`plan.${prefix}_${v}`)]);
const valueLabel = (prefix, values, v) => (values.includes(v) ? t(`plan.${prefix}_${v}`) : undefined);

// ---- milestones ----------------------------------------------------------------

function DoneBox({ ctx, item }) {
  const [error, setError] = useState(null);
  const toggle = async (e) => {
    setError(null);
    try {
      await getDb().put(ctx.space, item.type, item.id, { done: e.currentTarget.checked });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div class="plan-done">
      <input
        type="checkbox"
        checked={item.values.done === true}
        disabled={!ctx.canEdit}
        onChange={toggle}
        aria-label={t('plan.milestoneDone', { title: nameOf(item) })}
        data-testid="milestone-done"
      />
      <FormError error={error} />
    </div>
  );
}

export function Milestones({ ctx, items }) {
  const now = today();
  const list = [...items].sort(byDue);
  return (
    <Section id="milestones" title={t('plan.milestones')} count={items.length} wide>
      {list.length === 0 ? (
        <Empty ctx={ctx} what="milestones" />
      ) : (
        <ul class="plain plan-list plan-list-grid">
          {list.map((m) => (
            <li key={m.id} data-testid="milestone">
              <DoneBox ctx={ctx} item={m} />
              <div class="plan-row-main">
                <EditCard
                  ctx={ctx}
                  item={m}
                  name={nameOf(m)}
                  fields={[
                    { field: 'title', label: t('plan.field_title'), text: true, required: true },
                    { field: 'due', label: t('plan.field_due'), kind: 'date' },
                  ]}
                >
                  <ItemField ctx={ctx} item={m} field="title" text label={t('plan.field_title')} />
                  <div class="plan-fields">
                    <Labelled label={t('plan.field_due')}>
                      <ItemField
                        ctx={ctx}
                        item={m}
                        field="due"
                        label={t('plan.field_due')}
                        display={m.values.due ? day(m.values.due) : undefined}
                      />
                    </Labelled>
                    {m.values.done === true ? (
                      <span class="plan-badge plan-ok">{t('plan.reached')}</span>
                    ) : (
                      m.values.due &&
                      m.values.due < now && <span class="plan-badge plan-late">{t('plan.overdue')}</span>
                    )}
                  </div>
                </EditCard>
                <Conflicts ctx={ctx} item={m} field="done" label={t('plan.field_done')} />
              </div>
              <DeleteButton ctx={ctx} item={m} name={nameOf(m)} onDeleted={() => focusHeading('milestones')} />
            </li>
          ))}
        </ul>
      )}
      {ctx.canEdit && (
        <AddForm
          id="add-milestone"
          title={t('plan.addMilestone')}
          submitLabel={t('common.add')}
          fields={[
            { name: 'title', label: t('plan.field_title'), required: true },
            { name: 'due', label: t('plan.field_due'), kind: 'date' },
          ]}
          onAdd={(v) =>
            getDb().put(ctx.space, 'milestone', 'new', {
              project: ctx.project,
              [`title@${locale()}`]: v.title,
              done: false,
              ...(v.due ? { due: v.due } : {}),
            })
          }
        />
      )}
    </Section>
  );
}

// ---- tasks -----------------------------------------------------------------------

const statusOf = (task) => (TASK_STATUSES.includes(task.values.status) ? task.values.status : 'todo');

function TaskCard({ ctx, task, milestones, members, onMoved }) {
  const status = statusOf(task);
  const [error, setError] = useState(null);
  const move = async (to) => {
    setError(null);
    try {
      await getDb().put(ctx.space, 'task', task.id, { status: to });
      onMoved(task.id, to);
    } catch (e) {
      setError(e);
    }
  };
  const msOptions = [['', t('plan.noMilestone')], ...milestones.map((m) => [m.id, nameOf(m)])];
  const ms = milestones.find((m) => m.id === task.values.milestone);
  // The assignee by the name their device goes by now, else as written.
  const assigned = task.values.assignee_device && members.find((m) => m.device === task.values.assignee_device);
  return (
    <li class="plan-card" id={`task-${task.id}`} tabIndex={-1} data-testid="task" data-status={status}>
      <EditCard
        ctx={ctx}
        item={task}
        name={nameOf(task)}
        members={members}
        fields={[
          { field: 'title', label: t('plan.field_title'), text: true, required: true },
          { field: 'assignee', label: t('plan.field_assignee'), kind: 'assignee' },
          { field: 'due', label: t('plan.field_due'), kind: 'date' },
          ...(milestones.length > 0 || task.values.milestone
            ? [{ field: 'milestone', label: t('plan.field_milestone'), options: msOptions }]
            : []),
        ]}
      >
        <ItemField ctx={ctx} item={task} field="title" text label={t('plan.field_title')} />
        <div class="plan-fields">
          <Labelled label={t('plan.field_assignee')}>
            <ItemField
              ctx={ctx}
              item={task}
              field="assignee"
              label={t('plan.field_assignee')}
              display={assigned ? <span dir="auto">{assigned.name}</span> : undefined}
            />
          </Labelled>
          <Labelled label={t('plan.field_due')}>
            <ItemField
              ctx={ctx}
              item={task}
              field="due"
              label={t('plan.field_due')}
              display={task.values.due ? day(task.values.due) : undefined}
            />
          </Labelled>
          {(milestones.length > 0 || task.values.milestone) && (
            <Labelled label={t('plan.field_milestone')}>
              <ItemField
                ctx={ctx}
                item={task}
                field="milestone"
                label={t('plan.field_milestone')}
                display={
                  ms ? (
                    <Text item={ms} field="title" />
                  ) : task.values.milestone ? (
                    <span class="muted">—</span>
                  ) : undefined
                }
              />
            </Labelled>
          )}
        </div>
      </EditCard>
      <Conflicts ctx={ctx} item={task} field="status" label={t('plan.field_status')} />
      {ctx.canEdit && (
        <div class="plan-card-tools">
          <div class="actions" role="group" aria-label={t('plan.moveTask', { title: nameOf(task) })}>
            {TASK_STATUSES.filter((s) => s !== status).map((s) => (
              <button type="button" class="small" key={s} onClick={() => move(s)} data-testid={`move-${s}`}>
                {t(`plan.moveTo_${s}`)}
              </button>
            ))}
          </div>
          <DeleteButton ctx={ctx} item={task} name={nameOf(task)} onDeleted={() => focusHeading('tasks')} />
        </div>
      )}
      <FormError error={error} />
    </li>
  );
}

export function TaskBoard({ ctx, items, milestones }) {
  // A moved task leaves its column; focus follows it to the new one once the
  // re-query shows it there.
  const [follow, setFollow] = useState(null);
  useEffect(() => {
    if (!follow) return;
    const task = items.find((x) => x.id === follow.id);
    if (!task || statusOf(task) !== follow.status) return;
    document.getElementById(`task-${task.id}`)?.focus();
    setFollow(null);
  }, [items, follow]);
  const sortedMilestones = [...milestones].sort(byDue);
  const members = useMembers(ctx.space);
  return (
    <Section id="tasks" title={t('plan.tasks')} count={items.length} wide>
      {items.length === 0 && <Empty ctx={ctx} what="tasks" />}
      <div class="plan-board">
        {TASK_STATUSES.map((status) => {
          const tasks = items.filter((x) => statusOf(x) === status).sort(byDue);
          return (
            <section
              key={status}
              class={`plan-column plan-column-${status}`}
              aria-labelledby={`col-${status}`}
              data-testid={`column-${status}`}
            >
              <h3 id={`col-${status}`}>
                {t(`plan.status_${status}`)} <span class="plan-count">{fmt.number(tasks.length)}</span>
              </h3>
              {tasks.length ? (
                <ul class="plain plan-cards">
                  {tasks.map((task) => (
                    <TaskCard
                      key={task.id}
                      ctx={ctx}
                      task={task}
                      milestones={sortedMilestones}
                      members={members}
                      onMoved={(id, to) => setFollow({ id, status: to })}
                    />
                  ))}
                </ul>
              ) : (
                items.length > 0 && <p class="plan-empty">{t(`plan.columnEmpty_${status}`)}</p>
              )}
            </section>
          );
        })}
      </div>
      {ctx.canEdit && (
        <AddForm
          id="add-task"
          title={t('plan.addTask')}
          submitLabel={t('common.add')}
          fields={[
            { name: 'title', label: t('plan.field_title'), required: true },
            {
              name: 'assignee',
              label: t('plan.field_assignee'),
              kind: 'select',
              options: [['', t('edit.nobody')], ...members.map((m) => [m.device, m.name])],
            },
            { name: 'due', label: t('plan.field_due'), kind: 'date' },
          ]}
          onAdd={({ title, assignee, ...rest }) =>
            getDb().put(ctx.space, 'task', 'new', {
              project: ctx.project,
              [`title@${locale()}`]: title,
              status: 'todo',
              ...(assignee ? assigneeFields(members, assignee) : {}),
              ...rest,
            })
          }
        />
      )}
    </Section>
  );
}

// ---- stakeholders ------------------------------------------------------------------

// The classic power/interest quadrants; 3 and above count as high.
function quadrant(influence, interest) {
  if (influence >= 3) return interest >= 3 ? 'manage' : 'satisfy';
  return interest >= 3 ? 'inform' : 'monitor';
}
const QUADRANTS = ['manage', 'satisfy', 'inform', 'monitor'];

// A 5×5 grid of items placed by two 1–5 scores (rows from 5 down to 1), each
// cell coloured by `cellClass`, named for screen readers by `cellName`, with
// an optional `extra` (the risk score); a legend below says what colours mean.
function ScoreGrid({
  id,
  caption,
  rowLabel,
  colLabel,
  items,
  rowOf,
  colOf,
  label,
  cellClass,
  cellName,
  extra,
  legend,
}) {
  return (
    <div class="plan-grid-wrap">
      <div class="plan-grid-scroll" tabIndex={0} role="region" aria-labelledby={`${id}-c`}>
        <table class="plan-grid" data-testid={id}>
          <caption id={`${id}-c`}>{caption}</caption>
          <thead>
            <tr>
              <td />
              <th scope="colgroup" colSpan={5}>
                {colLabel}
              </th>
            </tr>
            <tr>
              <th scope="col">{rowLabel}</th>
              {SCALE.map((n) => (
                <th scope="col" key={n}>
                  {fmt.number(n)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {[...SCALE].reverse().map((row) => (
              <tr key={row}>
                <th scope="row">{fmt.number(row)}</th>
                {SCALE.map((col) => (
                  <td key={col} class={cellClass(row, col)}>
                    {extra && extra(row, col)}
                    <span class="sr-only">{cellName(row, col)}</span>
                    <ul class="plain">
                      {items
                        .filter((it) => rowOf(it) === row && colOf(it) === col)
                        .map((it) => (
                          <li key={it.id} dir="auto" lang={shownIn(it, label)}>
                            {nameOf(it, label)}
                          </li>
                        ))}
                    </ul>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ul class="plain plan-legend">
        {legend.map(([cls, name, hint]) => (
          <li key={cls}>
            <span class={`plan-swatch ${cls}`} aria-hidden="true" /> <strong>{name}</strong>{' '}
            <span class="muted">{hint}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function StakeholderGrid({ items }) {
  return (
    <ScoreGrid
      id="stakeholder-grid"
      caption={t('plan.stakeholderGrid')}
      rowLabel={t('plan.field_influence')}
      colLabel={t('plan.field_interest')}
      items={items}
      rowOf={(s) => score1to5(s.values.influence)}
      colOf={(s) => score1to5(s.values.interest)}
      label="name"
      cellClass={(inf, int) => `plan-q-${quadrant(inf, int)}`}
      cellName={(inf, int) => t(`plan.quadrant_${quadrant(inf, int)}`)}
      legend={QUADRANTS.map((q) => [`plan-q-${q}`, t(`plan.quadrant_${q}`), t(`plan.quadrantHint_${q}`)])}
    />
  );
}

export function Stakeholders({ ctx, items }) {
  const list = [...items].sort(
    (a, b) =>
      num(b.values.influence) - num(a.values.influence) ||
      num(b.values.interest) - num(a.values.interest) ||
      byText('name')(a, b),
  );
  return (
    <Section id="stakeholders" title={t('plan.stakeholders')} count={items.length}>
      {list.length === 0 ? (
        <Empty ctx={ctx} what="stakeholders" />
      ) : (
        <>
          <ul class="plain plan-list">
            {list.map((s) => {
              const q = quadrant(score1to5(s.values.influence), score1to5(s.values.interest));
              return (
                <li key={s.id} data-testid="stakeholder">
                  <div class="plan-row-main">
                    <EditCard
                      ctx={ctx}
                      item={s}
                      name={nameOf(s, 'name')}
                      fields={[
                        { field: 'name', label: t('plan.field_name'), text: true, required: true },
                        { field: 'role', label: t('plan.field_role'), options: labelled('role', ROLES) },
                        {
                          field: 'influence',
                          label: t('plan.field_influence'),
                          kind: 'number',
                          options: scaleOptions(),
                        },
                        { field: 'interest', label: t('plan.field_interest'), kind: 'number', options: scaleOptions() },
                      ]}
                    >
                      <ItemField ctx={ctx} item={s} field="name" text label={t('plan.field_name')} />
                      <div class="plan-fields">
                        <Labelled label={t('plan.field_role')}>
                          <ItemField
                            ctx={ctx}
                            item={s}
                            field="role"
                            label={t('plan.field_role')}
                            display={valueLabel('role', ROLES, s.values.role)}
                          />
                        </Labelled>
                        <Labelled label={t('plan.field_influence')}>
                          <ItemField ctx={ctx} item={s} field="influence" label={t('plan.field_influence')} />
                        </Labelled>
                        <Labelled label={t('plan.field_interest')}>
                          <ItemField ctx={ctx} item={s} field="interest" label={t('plan.field_interest')} />
                        </Labelled>
                        <span class={`plan-badge plan-q-${q}`}>{t(`plan.quadrant_${q}`)}</span>
                      </div>
                    </EditCard>
                  </div>
                  <DeleteButton
                    ctx={ctx}
                    item={s}
                    name={nameOf(s, 'name')}
                    onDeleted={() => focusHeading('stakeholders')}
                  />
                </li>
              );
            })}
          </ul>
          <StakeholderGrid items={list} />
        </>
      )}
      {ctx.canEdit && (
        <AddForm
          id="add-stakeholder"
          title={t('plan.addStakeholder')}
          submitLabel={t('common.add')}
          fields={[
            { name: 'name', label: t('plan.field_name'), required: true },
            {
              name: 'role',
              label: t('plan.field_role'),
              kind: 'select',
              options: labelled('role', ROLES),
              initial: 'community',
            },
            {
              name: 'influence',
              label: t('plan.field_influence'),
              kind: 'select',
              options: scaleOptions(),
              initial: '3',
            },
            {
              name: 'interest',
              label: t('plan.field_interest'),
              kind: 'select',
              options: scaleOptions(),
              initial: '3',
            },
          ]}
          onAdd={({ name, influence, interest, role }) =>
            getDb().put(ctx.space, 'stakeholder', 'new', {
              project: ctx.project,
              [`name@${locale()}`]: name,
              role,
              influence: Number(influence),
              interest: Number(interest),
            })
          }
        />
      )}
    </Section>
  );
}

// ---- risks ---------------------------------------------------------------------------

const LEVELS = [
  ['low', 4],
  ['medium', 9],
  ['high', 14],
  ['critical', 25],
];
function riskLevel(score) {
  return LEVELS.find(([, max]) => score <= max)[0];
}

function RiskMatrix({ items }) {
  return (
    <ScoreGrid
      id="risk-matrix"
      caption={t('plan.riskMatrix')}
      rowLabel={t('plan.field_likelihood')}
      colLabel={t('plan.field_impact')}
      items={items}
      rowOf={(r) => score1to5(r.values.likelihood)}
      colOf={(r) => score1to5(r.values.impact)}
      label="title"
      cellClass={(l, i) => `plan-level-${riskLevel(l * i)}`}
      cellName={(l, i) => t(`plan.level_${riskLevel(l * i)}`)}
      extra={(l, i) => <span class="plan-score">{fmt.number(l * i)}</span>}
      legend={LEVELS.map(([level, max], k) => [
        `plan-level-${level}`,
        t(`plan.level_${level}`),
        t('plan.scoreRange', { from: k ? LEVELS[k - 1][1] + 1 : 1, to: max }),
      ])}
    />
  );
}

export function Risks({ ctx, items }) {
  const score = (r) => score1to5(r.values.likelihood) * score1to5(r.values.impact);
  const list = [...items].sort((a, b) => score(b) - score(a) || byText('title')(a, b));
  return (
    <Section id="risks" title={t('plan.risks')} count={items.length}>
      {list.length === 0 ? (
        <Empty ctx={ctx} what="risks" />
      ) : (
        <>
          <ul class="plain plan-list">
            {list.map((r) => {
              const level = riskLevel(score(r));
              return (
                <li key={r.id} data-testid="risk">
                  <div class="plan-row-main">
                    <EditCard
                      ctx={ctx}
                      item={r}
                      name={nameOf(r)}
                      fields={[
                        { field: 'title', label: t('plan.field_title'), text: true, required: true },
                        { field: 'mitigation', label: t('plan.field_mitigation'), text: true, kind: 'textarea' },
                        {
                          field: 'likelihood',
                          label: t('plan.field_likelihood'),
                          kind: 'number',
                          options: scaleOptions(),
                        },
                        { field: 'impact', label: t('plan.field_impact'), kind: 'number', options: scaleOptions() },
                      ]}
                    >
                      <ItemField ctx={ctx} item={r} field="title" text label={t('plan.field_title')} />
                      <Labelled label={t('plan.field_mitigation')}>
                        <ItemField
                          ctx={ctx}
                          item={r}
                          field="mitigation"
                          text
                          multiline
                          label={t('plan.field_mitigation')}
                        />
                      </Labelled>
                      <div class="plan-fields">
                        <Labelled label={t('plan.field_likelihood')}>
                          <ItemField ctx={ctx} item={r} field="likelihood" label={t('plan.field_likelihood')} />
                        </Labelled>
                        <Labelled label={t('plan.field_impact')}>
                          <ItemField ctx={ctx} item={r} field="impact" label={t('plan.field_impact')} />
                        </Labelled>
                        <span class={`plan-badge plan-level-${level}`} data-testid="risk-level">
                          {t('plan.riskScore', { level: t(`plan.level_${level}`), score: score(r) })}
                        </span>
                      </div>
                    </EditCard>
                  </div>
                  <DeleteButton ctx={ctx} item={r} name={nameOf(r)} onDeleted={() => focusHeading('risks')} />
                </li>
              );
            })}
          </ul>
          <RiskMatrix items={list} />
        </>
      )}
      {ctx.canEdit && (
        <AddForm
          id="add-risk"
          title={t('plan.addRisk')}
          submitLabel={t('common.add')}
          fields={[
            { name: 'title', label: t('plan.field_title'), required: true },
            { name: 'mitigation', label: t('plan.field_mitigation'), kind: 'textarea' },
            {
              name: 'likelihood',
              label: t('plan.field_likelihood'),
              kind: 'select',
              options: scaleOptions(),
              initial: '3',
            },
            { name: 'impact', label: t('plan.field_impact'), kind: 'select', options: scaleOptions(), initial: '3' },
          ]}
          onAdd={({ title, mitigation, likelihood, impact }) =>
            getDb().put(ctx.space, 'risk', 'new', {
              project: ctx.project,
              [`title@${locale()}`]: title,
              ...(mitigation ? { [`mitigation@${locale()}`]: mitigation } : {}),
              likelihood: Number(likelihood),
              impact: Number(impact),
            })
          }
        />
      )}
    </Section>
  );
}

// ---- funding --------------------------------------------------------------------------

// The funding lines against the budget, status by status: only approved or
// disbursed money counts as secured (a line merely requested or planned
// covers nothing yet). The bar stacks the statuses, secured first.
function FundingTotals({ items, budget, currency }) {
  const inCurrency = items.filter((f) => (f.values.currency || currency) === currency);
  const byStatus = Object.fromEntries(FUNDING_STATUSES.map((s) => [s, 0]));
  for (const f of inCurrency) {
    const status = FUNDING_STATUSES.includes(f.values.status) ? f.values.status : 'planned';
    byStatus[status] += num(f.values.amount);
  }
  const total = FUNDING_STATUSES.reduce((sum, s) => sum + byStatus[s], 0);
  const secured = byStatus.approved + byStatus.disbursed;
  const pending = byStatus.requested + byStatus.planned;
  // Lines in other currencies cannot be added without exchange rates: listed apart.
  const others = new Map();
  for (const f of items)
    if ((f.values.currency || currency) !== currency)
      others.set(f.values.currency, (others.get(f.values.currency) || 0) + num(f.values.amount));
  const scale = Math.max(budget, total);
  const order = ['disbursed', 'approved', 'requested', 'planned'];
  return (
    <div class="plan-totals" data-testid="funding-totals" data-secured={secured} data-total={total}>
      <dl>
        <div>
          <dt>{t('plan.fundingTotal')}</dt>
          <dd data-testid="funding-total">{fmt.money(total, currency)}</dd>
        </div>
        {order.map((s) => (
          <div key={s}>
            <dt>{t(`plan.funding_${s}`)}</dt>
            <dd data-testid={`funding-${s}`} data-amount={byStatus[s]}>
              {fmt.money(byStatus[s], currency)}
            </dd>
          </div>
        ))}
        <div>
          <dt>{t('plan.budget')}</dt>
          <dd>{budget > 0 ? fmt.money(budget, currency) : t('plan.noBudget')}</dd>
        </div>
      </dl>
      {budget > 0 && (
        <>
          <div class="plan-bar plan-bar-stacked" aria-hidden="true">
            {order.map((s) =>
              byStatus[s] > 0 ? (
                <span
                  key={s}
                  class={`plan-bar-${s}`}
                  data-testid={`funding-bar-${s}`}
                  style={{ inlineSize: `${(byStatus[s] / scale) * 100}%` }}
                />
              ) : null,
            )}
          </div>
          <p data-testid="funding-vs-budget">
            {secured >= budget
              ? t('plan.fundingSecuredAll')
              : t('plan.fundingSecuredShare', {
                  share: fmt.number(secured / budget, { style: 'percent' }),
                  gap: fmt.money(budget - secured, currency),
                })}
            {pending > 0 && <> {t('plan.fundingPending', { pending: fmt.money(pending, currency) })}</>}
            {total > budget && <> {t('plan.fundingOver', { over: fmt.money(total - budget, currency) })}</>}
          </p>
        </>
      )}
      {others.size > 0 && (
        <p class="muted">
          {t('plan.fundingOtherCurrencies', { amounts: [...others].map(([c, a]) => fmt.money(a, c)).join(', ') })}
        </p>
      )}
    </div>
  );
}

export function Funding({ ctx, items, project }) {
  const currency = project.values.currency || (items[0] && items[0].values.currency) || 'USD';
  const budget = num(project.values.budget);
  const list = [...items].sort((a, b) => num(b.values.amount) - num(a.values.amount) || byText('source')(a, b));
  const currencies = currencyOptions();
  return (
    <Section id="funding" title={t('plan.funding')} count={items.length}>
      <FundingTotals items={items} budget={budget} currency={currency} />
      {list.length === 0 ? (
        <Empty ctx={ctx} what="funding" />
      ) : (
        <ul class="plain plan-list">
          {list.map((f) => (
            <li key={f.id} data-testid="funding">
              <div class="plan-row-main">
                <EditCard
                  ctx={ctx}
                  item={f}
                  name={str(f.values.source) || t('plan.untitled')}
                  fields={[
                    { field: 'source', label: t('plan.field_source'), required: true },
                    { field: 'amount', label: t('plan.field_amount'), kind: 'number', required: true },
                    { field: 'currency', label: t('plan.field_currency'), options: currencies },
                    { field: 'status', label: t('plan.field_status'), options: labelled('funding', FUNDING_STATUSES) },
                  ]}
                >
                  <ItemField ctx={ctx} item={f} field="source" label={t('plan.field_source')} />
                  <div class="plan-fields">
                    <Labelled label={t('plan.field_amount')}>
                      <ItemField
                        ctx={ctx}
                        item={f}
                        field="amount"
                        label={t('plan.field_amount')}
                        display={fmt.money(num(f.values.amount), f.values.currency || currency)}
                      />
                    </Labelled>
                    <Labelled label={t('plan.field_currency')}>
                      <ItemField
                        ctx={ctx}
                        item={f}
                        field="currency"
                        label={t('plan.field_currency')}
                        display={f.values.currency || currency}
                      />
                    </Labelled>
                    <Labelled label={t('plan.field_status')}>
                      <ItemField
                        ctx={ctx}
                        item={f}
                        field="status"
                        label={t('plan.field_status')}
                        display={valueLabel('funding', FUNDING_STATUSES, f.values.status)}
                      />
                    </Labelled>
                  </div>
                </EditCard>
              </div>
              <DeleteButton
                ctx={ctx}
                item={f}
                name={str(f.values.source) || t('plan.untitled')}
                onDeleted={() => focusHeading('funding')}
              />
            </li>
          ))}
        </ul>
      )}
      {ctx.canEdit && (
        <AddForm
          id="add-funding"
          title={t('plan.addFunding')}
          submitLabel={t('common.add')}
          fields={[
            { name: 'source', label: t('plan.field_source'), required: true },
            { name: 'amount', label: t('plan.field_amount'), kind: 'number', required: true },
            {
              name: 'currency',
              label: t('plan.field_currency'),
              kind: 'select',
              options: currencies,
              initial: currency,
            },
            {
              name: 'status',
              label: t('plan.field_status'),
              kind: 'select',
              options: labelled('funding', FUNDING_STATUSES),
              initial: 'planned',
            },
          ]}
          onAdd={(v) => getDb().put(ctx.space, 'funding', 'new', { project: ctx.project, ...v })}
        />
      )}
    </Section>
  );
}

// ---- comments -----------------------------------------------------------------------

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
                <Conflicts ctx={ctx} item={c} field="text" label={t('plan.comment')} multiline />
              </li>
            );
          })}
        </ol>
      )}
      {ctx.canComment && <CommentForm ctx={ctx} refs={refs} initial={initial} />}
    </Section>
  );
}
