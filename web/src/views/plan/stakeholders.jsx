// Stakeholders: a list by influence and interest, and the classic
// power/interest grid.
import { t, locale } from '../../i18n.js';
import { getDb } from '../../db.js';
import { STAKEHOLDER_ROLES, scaleOptions, labelled, valueLabel } from './values.js';
import { num, score1to5, byText, nameOf } from './items.js';
import { ItemField, Labelled } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { DeleteButton } from './delete.jsx';
import { Section, Empty, focusHeading } from './section.jsx';
import { ScoreGrid } from './grid.jsx';

// The classic power/interest quadrants; 3 and above count as high.
function quadrant(influence, interest) {
  if (influence >= 3) return interest >= 3 ? 'manage' : 'satisfy';
  return interest >= 3 ? 'inform' : 'monitor';
}

const QUADRANTS = ['manage', 'satisfy', 'inform', 'monitor'];

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
                        { field: 'role', label: t('plan.field_role'), options: labelled('role', STAKEHOLDER_ROLES) },
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
                            display={valueLabel('role', STAKEHOLDER_ROLES, s.values.role)}
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
              options: labelled('role', STAKEHOLDER_ROLES),
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
