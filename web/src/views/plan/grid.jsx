// A 5×5 grid of plan items placed by two 1–5 scores: the stakeholders'
// influence × interest and the risks' likelihood × impact.
import { fmt } from '../../i18n.js';
import { SCALE } from './values.js';
import { nameOf, shownIn } from './items.js';

// A 5×5 grid of items placed by two 1–5 scores (rows from 5 down to 1), each
// cell coloured by `cellClass`, named for screen readers by `cellName`, with
// an optional `extra` (the risk score); a legend below says what colours mean.
export function ScoreGrid({
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
