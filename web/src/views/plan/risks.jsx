// Risks: a list by score (likelihood × impact) with mitigations, and the
// risk matrix.
import { t, fmt, locale } from '../../i18n.js';
import { getDb } from '../../db.js';
import { scaleOptions } from './values.js';
import { score1to5, byText, nameOf } from './items.js';
import { ItemField, Labelled } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { DeleteButton } from './delete.jsx';
import { Section, Empty, focusHeading } from './section.jsx';
import { ScoreGrid } from './grid.jsx';

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
