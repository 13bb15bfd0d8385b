// Milestones: title, due date, reached; overdue ones marked. Sorted by due
// date. `ctx` = {space, project, canEdit, canComment}, as every section gets.
import { useState } from 'preact/hooks';
import { t, locale } from '../../i18n.js';
import { getDb } from '../../db.js';
import { FormError } from '../../components/form.jsx';
import { Conflicts } from '../../components/conflict.jsx';
import { day, today } from './values.js';
import { byDue, nameOf } from './items.js';
import { ItemField, Labelled } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { DeleteButton } from './delete.jsx';
import { Section, Empty, focusHeading } from './section.jsx';

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
                <Conflicts
                  space={ctx.space}
                  entity={m}
                  writable={ctx.canEdit}
                  field="done"
                  label={t('plan.field_done')}
                />
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
