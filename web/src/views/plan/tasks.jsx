// The task board: a column per status (to do, doing, done); a card per task
// with its assignee, due date and milestone, moved between columns by
// buttons (focus follows the card).
import { useEffect, useState } from 'preact/hooks';
import { t, fmt, locale } from '../../i18n.js';
import { getDb } from '../../db.js';
import { FormError } from '../../components/form.jsx';
import { Conflicts } from '../../components/conflict.jsx';
import { TASK_STATUSES, day } from './values.js';
import { byDue, nameOf } from './items.js';
import { Text, ItemField, Labelled } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { DeleteButton } from './delete.jsx';
import { Section, Empty, focusHeading } from './section.jsx';
import { useMembers, assigneeFields } from './assignees.js';

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
      <Conflicts space={ctx.space} entity={task} writable={ctx.canEdit} field="status" label={t('plan.field_status')} />
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
