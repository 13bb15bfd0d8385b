// Charts: projects by stage, sector and region as SVG bar charts drawn here
// (no chart library). Each bar is a link to Discover filtered by it; each
// chart has a title and its numbers as a table (visually hidden until asked
// for). Counts are find totals, so the Discover filters apply as well.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale, localeInfo } from '../i18n.js';
import { useQuery } from '../db.js';
import { useRoute, navigate } from '../router.js';
import { errorText } from '../errors.js';
import { useCities } from '../content.js';
import { STAGES, SECTORS, REGIONS, SECTOR_COLORS, valueLabel, fieldLabel, typeCount } from '../fields.js';
import { FilterBar, readFilters, filterHash, whereOf } from './facets.jsx';
import './charts.css';

const CHART_FACETS = ['sector', 'stage', 'city', 'region', 'sdg'];
const ROW = 46; // label line + bar
const BAR = 18;

// `where` with one more condition; a field already filtered must match both
// (find's arrays are "all of them"), so other values count zero.
function and(where, field, value) {
  if (where[field] === undefined) return { ...where, [field]: value };
  return { ...where, [field]: [where[field], value] };
}

export function ChartsPage({ space }) {
  const lang = useLocale();
  const route = useRoute();
  const filters = readFilters(route.query);
  const cities = useCities(space, lang);
  const where = whereOf(filters);
  const key = JSON.stringify([filters.q, where]);
  const counts = useQuery(
    space,
    async (db) => {
      const count = (w) =>
        db.find(space, { type: 'project', text: filters.q, where: w, limit: 0 }).then((r) => r.total);
      const by = (field, values) => Promise.all(values.map((v) => count(and(where, field, v))));
      const [total, stage, sector, region] = await Promise.all([
        count(where),
        by('stage', STAGES),
        by('sector', SECTORS),
        by('region', REGIONS),
      ]);
      return { total, stage, sector, region };
    },
    [key],
  );
  const go = (next) => navigate(filterHash('charts', next));
  const d = counts.data;
  const rows = (field, values, numbers, color) =>
    values.map((v, i) => ({
      key: v,
      label: valueLabel(field, v),
      value: numbers[i],
      color: color(v),
      href: filterHash('discover', { ...filters, type: 'project', [field]: v }),
    }));
  const accent = () => 'var(--accent)';

  return (
    <div class="page charts-page">
      <h1>{t('charts.title')}</h1>
      <FilterBar filters={filters} facets={CHART_FACETS} cities={cities} onChange={go} idPrefix="charts" />
      <p role="status" class="charts-total" data-testid="charts-total" data-total={d ? d.total : ''}>
        {d ? t('charts.total', { projects: typeCount('project', d.total) }) : t('charts.loading')}
      </p>
      {counts.error && (
        <p class="error" role="alert">
          {errorText(counts.error)}
        </p>
      )}
      {d && (
        <div class="charts">
          <BarChart
            id="stage"
            title={t('charts.byStage')}
            dimension={fieldLabel('stage')}
            total={d.total}
            rows={rows('stage', STAGES, d.stage, accent)}
          />
          <BarChart
            id="sector"
            title={t('charts.bySector')}
            dimension={fieldLabel('sector')}
            total={d.total}
            rows={rows('sector', SECTORS, d.sector, (s) => SECTOR_COLORS[s]).sort((a, b) => b.value - a.value)}
          />
          <BarChart
            id="region"
            title={t('charts.byRegion')}
            dimension={fieldLabel('region')}
            total={d.total}
            rows={rows('region', REGIONS, d.region, accent).sort((a, b) => b.value - a.value)}
          />
        </div>
      )}
    </div>
  );
}

// The width of `ref`'s element, following resizes (the chart is drawn in
// CSS pixels, so its text keeps the page's size on any screen).
function useWidth(ref) {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const ro = new ResizeObserver(([entry]) => setWidth(Math.floor(entry.contentRect.width)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return width;
}

// rows: [{key, label, value, color, href}]. Values outside the listed ones
// (another stage typed by someone, or none) show as one more row, unlinked.
function BarChart({ id, title, dimension, rows, total }) {
  const box = useRef(null);
  const width = useWidth(box);
  const [table, setTable] = useState(false);
  const known = rows.reduce((n, r) => n + r.value, 0);
  const all =
    total > known
      ? [...rows, { key: '', label: t('charts.other'), value: total - known, color: 'var(--muted)' }]
      : rows;
  const max = Math.max(1, ...all.map((r) => r.value));
  const rtl = localeInfo().dir === 'rtl';
  const W = Math.max(width, 200);
  const valueRoom = 64;
  // x along the reading direction: mirrored for right-to-left languages.
  const X = (x, w = 0) => (rtl ? W - x - w : x);
  const titleId = `chart-${id}`;
  const share = (v) => fmt.number(total ? v / total : 0, { style: 'percent', maximumFractionDigits: 1 });
  return (
    <section class="chart card" aria-labelledby={titleId} data-testid={`chart-${id}`}>
      <h2 id={titleId}>{title}</h2>
      <div ref={box} class="chart-box">
        {width > 0 && (
          <svg
            width={W}
            height={all.length * ROW}
            role="group"
            aria-labelledby={titleId}
            style={{ direction: rtl ? 'rtl' : 'ltr' }}
          >
            {all.map((r, i) => {
              const y = i * ROW;
              const len = Math.round((r.value / max) * (W - valueRoom));
              const bar = (
                <>
                  <rect class="bar-focus" x={0} y={y + 1} width={W} height={ROW - 2} rx={4} />
                  <rect
                    class="bar"
                    x={X(2, len)}
                    y={y + 22}
                    width={len}
                    height={BAR}
                    rx={2}
                    style={{ fill: r.color }}
                  />
                  {/* One text, so label and value read (and match the link's name) as "Pilot 37". */}
                  <text text-anchor="start">
                    <tspan class="bar-label" x={X(2)} y={y + 16}>
                      {r.label}
                    </tspan>
                    <tspan class="bar-value" x={X(len + 8)} y={y + 22 + BAR / 2 + 5}>
                      {` ${fmt.number(r.value)}`}
                    </tspan>
                  </text>
                </>
              );
              return r.href ? (
                <a
                  key={r.key}
                  href={r.href}
                  class="bar-link"
                  aria-label={t('charts.barLink', { label: r.label, count: r.value })}
                  data-testid="bar"
                  data-key={r.key}
                  data-value={r.value}
                >
                  {bar}
                </a>
              ) : (
                <g key="other" data-testid="bar-other" data-value={r.value}>
                  {bar}
                </g>
              );
            })}
          </svg>
        )}
      </div>
      <button
        type="button"
        class="link"
        aria-expanded={table ? 'true' : 'false'}
        aria-controls={`${titleId}-table`}
        onClick={() => setTable(!table)}
      >
        {table ? t('charts.hideTable') : t('charts.showTable')}
      </button>
      <div id={`${titleId}-table`} class={table ? 'table-wrap' : 'sr-only'}>
        <table class="data">
          <caption class="sr-only">{title}</caption>
          <thead>
            <tr>
              <th scope="col">{dimension}</th>
              <th scope="col" class="num">
                {t('charts.colProjects')}
              </th>
              <th scope="col" class="num">
                {t('charts.colShare')}
              </th>
            </tr>
          </thead>
          <tbody>
            {all.map((r) => (
              <tr key={r.key || 'other'}>
                <th scope="row">{r.label}</th>
                <td class="num">{fmt.number(r.value)}</td>
                <td class="num">{share(r.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
