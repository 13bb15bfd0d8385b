// The map: projects as points coloured by sector over an offline base map
// (Natural Earth countries at 1:110m from world-atlas, bundled and precached:
// no tiles, no network), cities as circles sized by their projects. The
// Discover filters apply. The drawing is an image for assistive technology;
// the table of cities below it, with links, is the accessible way through.
import { useEffect, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { useQuery } from '../db.js';
import { useRoute, navigate, href } from '../router.js';
import { errorText } from '../errors.js';
import { findAll, useCities } from '../content.js';
import { SECTORS, SECTOR_COLORS, OTHER_COLOR, hitTitle, valueLabel, typeCount } from '../fields.js';
import { FilterBar, readFilters, filterHash, whereOf, hasFacets } from './facets.jsx';
import './map.css';

const W = 960;
const H = 500;
const PAD = 12;
const MIN_SPAN = 16; // degrees: a filtered view never zooms in closer than this
const MAP_FACETS = ['sector', 'stage', 'city', 'region', 'sdg'];

// d3-geo, topojson and the countries load with the map (their own chunks,
// precached with the app), not with the first page.
let geoLoading = null;
function loadGeo() {
  if (!geoLoading) {
    geoLoading = Promise.all([import('d3-geo'), import('topojson-client'), import('world-atlas/countries-110m.json')]).then(
      ([d3, topo, atlas]) => {
        const world = atlas.default || atlas;
        return {
          d3,
          land: topo.feature(world, world.objects.countries),
          borders: topo.mesh(world, world.objects.countries, (a, b) => a !== b),
        };
      },
    );
    geoLoading.catch(() => (geoLoading = null));
  }
  return geoLoading;
}

function useGeo() {
  const [geo, setGeo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    loadGeo().then(setGeo, setError);
  }, []);
  return { geo, error };
}

const located = (s) => typeof s.lat === 'number' && typeof s.lon === 'number';

// What the projection fits: the whole world, or (when filtered) the points
// with some margin.
function fitTarget(points, filtered) {
  if (!filtered || points.length === 0) return { type: 'Sphere' };
  let [x0, y0, x1, y1] = [180, 90, -180, -90];
  for (const p of points) {
    x0 = Math.min(x0, p.lon);
    x1 = Math.max(x1, p.lon);
    y0 = Math.min(y0, p.lat);
    y1 = Math.max(y1, p.lat);
  }
  const grow = (a, b) => {
    const m = Math.max(0, MIN_SPAN - (b - a)) / 2 + 2;
    return [a - m, b + m];
  };
  [x0, x1] = grow(x0, x1);
  [y0, y1] = grow(y0, y1);
  y0 = Math.max(y0, -85);
  y1 = Math.min(y1, 85);
  return { type: 'MultiPoint', coordinates: [[x0, y0], [x1, y1], [x0, y1], [x1, y0]] };
}

export function MapPage({ space }) {
  const lang = useLocale();
  const route = useRoute();
  const filters = readFilters(route.query);
  const cities = useCities(space, lang);
  const { geo, error: geoError } = useGeo();
  const key = JSON.stringify([filters.q, whereOf(filters)]);
  const projects = useQuery(
    space,
    (db) => findAll(db, space, { type: 'project', text: filters.q, where: whereOf(filters), lang, sort: 'updated' }),
    [key, lang],
  );
  const filtered = hasFacets(filters, MAP_FACETS) || filters.q.trim() !== '';
  const go = (next) => navigate(filterHash('map', next));

  const hits = projects.data ? projects.data.hits : [];
  const points = hits.map((h) => ({ id: h.id, ...h.summary })).filter(located);
  const unplaced = hits.length - points.length;

  // Projects per city and per sector, for the circles, the table and the legend.
  const perCity = new Map();
  const perSector = new Map();
  for (const h of hits) {
    const s = h.summary;
    if (s.city) perCity.set(s.city, (perCity.get(s.city) || 0) + 1);
    perSector.set(s.sector, (perSector.get(s.sector) || 0) + 1);
  }
  const collator = new Intl.Collator(document.documentElement.lang || undefined);
  const rows = [...cities.values()]
    .map((c) => ({ ...c, count: perCity.get(c.id) || 0 }))
    .filter((c) => c.count > 0 || !filtered)
    .sort((a, b) => b.count - a.count || collator.compare(a.name, b.name));

  return (
    <div class="page map-page">
      <h1>{t('map.title')}</h1>
      <FilterBar filters={filters} facets={MAP_FACETS} cities={cities} onChange={go} idPrefix="map" />
      {filters.q && (
        <p>
          {t('map.matching', { q: filters.q })}{' '}
          <button type="button" class="link" onClick={() => go({ ...filters, q: '' })}>
            {t('map.clearSearch')}
          </button>
        </p>
      )}
      <p role="status" class="map-count" data-testid="map-count" data-count={projects.data ? points.length : ''}>
        {projects.data
          ? t('map.summary', { projects: typeCount('project', points.length), cities: typeCount('city', rows.filter((r) => r.count > 0).length) })
          : t('map.loading')}
        {unplaced > 0 && <span class="muted"> {t('map.unplaced', { count: unplaced })}</span>}
      </p>
      {(projects.error || geoError) && (
        <p class="error" role="alert">
          {geoError ? t('map.baseMapFailed') : errorText(projects.error)}
        </p>
      )}

      <div class="map-layout">
        <figure class="map-figure">
          {geo ? (
            <WorldMap geo={geo} points={points} cities={cities} perCity={perCity} filtered={filtered} lang={lang} />
          ) : (
            <div class="map-placeholder" role="status">
              {t('map.loading')}
            </div>
          )}
          <figcaption class="sr-only">{t('map.caption')}</figcaption>
        </figure>
        <section class="legend" aria-labelledby="legend-h">
          <h2 id="legend-h">{t('map.legend')}</h2>
          <ul class="plain">
            {SECTORS.map((s) => (
              <li key={s}>
                <button
                  type="button"
                  class="legend-item"
                  aria-pressed={filters.sector === s ? 'true' : 'false'}
                  onClick={() => go({ ...filters, sector: filters.sector === s ? '' : s })}
                >
                  <span class="swatch" style={{ background: SECTOR_COLORS[s] }} aria-hidden="true" />
                  <span class="legend-label">{valueLabel('sector', s)}</span>
                  <span class="muted">{fmt.number(perSector.get(s) || 0)}</span>
                </button>
              </li>
            ))}
            <li class="legend-city">
              <span class="city-ring" aria-hidden="true" />
              <span>{t('map.cityCircle')}</span>
            </li>
          </ul>
          <p class="hint">{t('map.legendHint')}</p>
        </section>
      </div>

      <section aria-labelledby="cities-h">
        <h2 id="cities-h">{t('map.citiesTitle')}</h2>
        <div class="table-wrap">
          <table class="data" data-testid="city-table">
            <thead>
              <tr>
                <th scope="col">{t('map.colCity')}</th>
                <th scope="col">{t('map.colCountry')}</th>
                <th scope="col" class="num">
                  {t('map.colProjects')}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={c.id} data-city={c.id} data-count={c.count}>
                  <th scope="row">
                    <a href={href('entity', 'city', c.id)} lang={c.nameLang || undefined}>
                      {c.name}
                    </a>
                  </th>
                  <td>{c.summary.country || ''}</td>
                  <td class="num">
                    {c.count > 0 ? (
                      <a
                        href={filterHash('discover', { ...filters, type: 'project', city: c.id })}
                        aria-label={t('map.openCityProjects', { projects: typeCount('project', c.count), city: c.name })}
                      >
                        {fmt.number(c.count)}
                      </a>
                    ) : (
                      fmt.number(0)
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

function WorldMap({ geo, points, cities, perCity, filtered, lang }) {
  const { geoEqualEarth, geoPath } = geo.d3;
  const projection = geoEqualEarth().fitExtent([[PAD, PAD], [W - PAD, H - PAD]], fitTarget(points, filtered));
  const path = geoPath(projection);
  const max = Math.max(1, ...perCity.values());
  const radius = (n) => 3 + 9 * Math.sqrt(n / max);
  // Pointer users open a project by clicking its point; keyboard and
  // screen-reader users have the table.
  const open = (e) => {
    const id = e.target.closest && e.target.closest('[data-id]')?.getAttribute('data-id');
    if (id) navigate(href('entity', 'project', id));
  };
  return (
    <svg
      class="world"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={t('map.imageLabel', { projects: typeCount('project', points.length) })}
      data-testid="map"
    >
      <path class="sea" d={path({ type: 'Sphere' })} />
      <path class="land" d={path(geo.land)} />
      <path class="borders" d={path(geo.borders)} />
      <g class="cities">
        {[...cities.values()].map((c) => {
          const s = c.summary;
          const n = perCity.get(c.id) || 0;
          if (!located(s) || (filtered && n === 0)) return null;
          const p = projection([s.lon, s.lat]);
          if (!p) return null;
          return (
            <circle key={c.id} cx={p[0]} cy={p[1]} r={radius(n)} data-city={c.id}>
              <title>{`${c.name} — ${typeCount('project', n)}`}</title>
            </circle>
          );
        })}
      </g>
      <g class="points" onClick={open}>
        {points.map((s) => {
          const p = projection([s.lon, s.lat]);
          if (!p) return null;
          const title = hitTitle(s, lang);
          return (
            <circle key={s.id} cx={p[0]} cy={p[1]} r={3} fill={SECTOR_COLORS[s.sector] || OTHER_COLOR} data-id={s.id} data-sector={s.sector}>
              <title>{`${title ? title.text : ''} — ${valueLabel('sector', s.sector)}`}</title>
            </circle>
          );
        })}
      </g>
    </svg>
  );
}
