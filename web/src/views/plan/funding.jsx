// Funding: the lines (source, amount, currency, status) and their totals
// against the project's budget.
import { t, fmt } from '../../i18n.js';
import { getDb } from '../../db.js';
import { FUNDING_STATUSES, currencyOptions, labelled, valueLabel } from './values.js';
import { num, str, byText } from './items.js';
import { ItemField, Labelled } from './fields.jsx';
import { EditCard } from './edit.jsx';
import { AddForm } from './add.jsx';
import { DeleteButton } from './delete.jsx';
import { Section, Empty, focusHeading } from './section.jsx';

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
