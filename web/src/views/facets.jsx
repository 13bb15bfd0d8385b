// The filters Discover, the map and the charts share, kept in the route's
// query (#/discover?q=…&type=…&sector=…): readable from a link, and back and
// forward step through them. A filter bar of labelled selects, and the
// active filters as chips that remove one with a click.
import { t } from '../i18n.js';
import { TYPES, SECTORS, STAGES, REGIONS, SDGS, typesLabel, valueLabel, fieldLabel, sdgLabel } from '../fields.js';
import './facets.css';

export const FACETS = ['type', 'sector', 'stage', 'city', 'region', 'sdg'];
const KEYS = ['q', ...FACETS, 'sort'];

export function readFilters(query) {
  const f = {};
  for (const k of KEYS) f[k] = (query && query.get(k)) || '';
  return f;
}

// The route of `page` showing `filters` (empty ones left out).
export function filterHash(page, filters) {
  const p = new URLSearchParams();
  for (const k of KEYS) if (filters[k]) p.set(k, filters[k]);
  const s = p.toString();
  return `#/${page}${s ? `?${s}` : ''}`;
}

// find's `where` for the facets (`type` is find's own parameter).
export function whereOf(f) {
  const w = {};
  for (const k of ['sector', 'stage', 'city', 'region']) if (f[k]) w[k] = f[k];
  if (f.sdg) w.sdgs = Number(f.sdg);
  return w;
}

export function hasFacets(f, facets = FACETS) {
  return facets.some((k) => f[k]);
}

function facetLabel(k) {
  return k === 'sdg' || k === 'type' ? t(`discover.facet_${k}`) : fieldLabel(k);
}

// The label of facet `k`'s value `v`.
function facetValue(k, v, cities) {
  if (k === 'type') return typesLabel(v);
  if (k === 'city') return cities.get(v)?.name || t('discover.unknownCity');
  if (k === 'sdg') return sdgLabel(v);
  return valueLabel(k, v);
}

function options(k, cities) {
  switch (k) {
    case 'type':
      return TYPES.map((v) => [v, typesLabel(v)]);
    case 'sector':
      return SECTORS.map((v) => [v, valueLabel('sector', v)]);
    case 'stage':
      return STAGES.map((v) => [v, valueLabel('stage', v)]);
    case 'region':
      return REGIONS.map((v) => [v, valueLabel('region', v)]);
    case 'sdg':
      return SDGS.map((v) => [String(v), sdgLabel(v)]);
    case 'city': {
      const collator = new Intl.Collator(document.documentElement.lang || undefined);
      return [...cities.values()].map((c) => [c.id, c.name]).sort((a, b) => collator.compare(a[1], b[1]));
    }
    default:
      return [];
  }
}

// Selects for `facets` and chips for the active ones. onChange(filters, k)
// gets the new filters (k: the facet changed, or null for "clear all").
export function FilterBar({ filters, facets = FACETS, cities, onChange, idPrefix = 'f' }) {
  const set = (k, v) => onChange({ ...filters, [k]: v }, k);
  const active = facets.filter((k) => filters[k]);
  return (
    <div class="filters">
      <div class="facets" role="group" aria-label={t('discover.filters')}>
        {facets.map((k) => {
          const opts = options(k, cities);
          // A value in the link the list does not know (yet): keep it choosable.
          if (filters[k] && !opts.some(([v]) => v === filters[k]))
            opts.push([filters[k], facetValue(k, filters[k], cities)]);
          return (
            <div class="facet" key={k}>
              <label for={`${idPrefix}-${k}`}>{facetLabel(k)}</label>
              <select
                id={`${idPrefix}-${k}`}
                value={filters[k]}
                onChange={(e) => set(k, e.currentTarget.value)}
                data-testid={`facet-${k}`}
              >
                <option value="">{k === 'type' ? t('discover.allTypes') : t('discover.any')}</option>
                {opts.map(([v, label]) => (
                  <option key={v} value={v}>
                    {label}
                  </option>
                ))}
              </select>
            </div>
          );
        })}
      </div>
      {active.length > 0 && (
        <div class="active-filters">
          <span class="muted" id={`${idPrefix}-active`}>
            {t('discover.activeFilters', { count: active.length })}
          </span>
          <ul class="plain chips" aria-labelledby={`${idPrefix}-active`}>
            {active.map((k) => (
              <li key={k} class="chip">
                <span>
                  {facetLabel(k)}: {facetValue(k, filters[k], cities)}
                </span>
                <button
                  type="button"
                  class="chip-remove"
                  onClick={() => set(k, '')}
                  aria-label={t('discover.removeFilter', {
                    filter: `${facetLabel(k)}: ${facetValue(k, filters[k], cities)}`,
                  })}
                >
                  <span aria-hidden="true">×</span>
                </button>
              </li>
            ))}
          </ul>
          <button
            type="button"
            class="link"
            onClick={() =>
              onChange(
                Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, facets.includes(k) ? '' : v])),
                null,
              )
            }
          >
            {t('discover.clearFilters')}
          </button>
        </div>
      )}
    </div>
  );
}
