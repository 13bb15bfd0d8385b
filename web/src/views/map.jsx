// The map: one dot per city, sized and numbered by its projects, over an
// offline base map (Natural Earth countries at 1:110m from world-atlas,
// bundled and precached: no tiles, no network). Dots closer than a few pixels
// at the current zoom merge into one (the sum of their counts); zooming in
// (buttons, a click on a merged dot, dragging to pan) splits them again.
// A project is placed at its city, or at its own location when it has no
// located city. The Discover filters apply. The drawing is an image for
// assistive technology; the table of cities below it, with links, is the
// accessible way through.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { useQuery } from '../db.js';
import { useRoute, navigate, href } from '../router.js';
import { errorText } from '../errors.js';
import { findAll, useCities } from '../content.js';
import { SECTORS, valueLabel, typeCount } from '../fields.js';
import { FilterBar, readFilters, filterHash, whereOf, hasFacets } from './facets.jsx';
import './map.css';

const W = 960;
const H = 500;
const PAD = 12;
const MIN_SPAN = 16; // degrees: a filtered view never zooms in closer than this
const MAP_FACETS = ['sector', 'stage', 'city', 'region', 'sdg'];
const MAX_ZOOM = 32;
const MERGE_DISTANCE = 32; // viewBox units: dots closer than this at the current zoom are one (two of the largest would touch)
const DRAG_SLOP = 4; // pointer movement (viewBox units) below which a press is a click

// d3-geo, topojson and the countries load with the map (their own chunks,
// precached with the app), not with the first page.
let geoLoading = null;
function loadGeo() {
  if (!geoLoading) {
    geoLoading = Promise.all([
      import('d3-geo'),
      import('topojson-client'),
      import('world-atlas/countries-110m.json'),
    ]).then(([d3, topo, atlas]) => {
      const world = atlas.default || atlas;
      return {
        d3,
        land: topo.feature(world, world.objects.countries),
        borders: topo.mesh(world, world.objects.countries, (a, b) => a !== b),
      };
    });
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
  return {
    type: 'MultiPoint',
    coordinates: [
      [x0, y0],
      [x1, y1],
      [x0, y1],
      [x1, y0],
    ],
  };
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
  const places = placeProjects(hits, cities);
  const placed = places.reduce((n, p) => n + p.count, 0);
  const unplaced = hits.length - placed;

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
      <p role="status" class="map-count" data-testid="map-count" data-count={projects.data ? placed : ''}>
        {projects.data
          ? t('map.summary', {
              projects: typeCount('project', placed),
              cities: typeCount('city', rows.filter((r) => r.count > 0).length),
            })
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
            <WorldMap key={key} geo={geo} places={places} filtered={filtered} projectFilters={filters} />
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
                  <span class="legend-label">{valueLabel('sector', s)}</span>
                  <span class="muted">{fmt.number(perSector.get(s) || 0)}</span>
                </button>
              </li>
            ))}
            <li class="legend-city">
              <span class="city-dot" aria-hidden="true">
                3
              </span>
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
                        aria-label={t('map.openCityProjects', {
                          projects: typeCount('project', c.count),
                          city: c.name,
                        })}
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

// The places of `hits` on the map: one per city with a location ({key,
// cities: [id], lon, lat, count}), and one per located project without such
// a city.
function placeProjects(hits, cities) {
  const byKey = new Map();
  for (const h of hits) {
    const s = h.summary;
    const city = s.city ? cities.get(s.city) : null;
    let key;
    let at;
    if (city && located(city.summary)) [key, at] = [`city:${city.id}`, city.summary];
    else if (located(s)) [key, at] = [`project:${h.id}`, s];
    else continue;
    const place = byKey.get(key);
    if (place) place.count += 1;
    else
      byKey.set(key, {
        key,
        cities: city && key.startsWith('city:') ? [city.id] : [],
        names: city ? [city.name] : [],
        lon: at.lon,
        lat: at.lat,
        count: 1,
      });
  }
  return [...byKey.values()];
}

// Merges places closer than MERGE_DISTANCE on screen, largest first; each
// dot sits at the count-weighted centre of what it holds.
function mergeDots(places, toScreen) {
  const dots = [];
  for (const p of [...places].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))) {
    const [x, y] = toScreen(p.base);
    const near = dots.find((d) => Math.hypot(d.x - x, d.y - y) < MERGE_DISTANCE);
    if (near) {
      const n = near.count + p.count;
      near.bx = (near.bx * near.count + p.base[0] * p.count) / n;
      near.by = (near.by * near.count + p.base[1] * p.count) / n;
      near.count = n;
      near.places.push(p);
      [near.x, near.y] = toScreen([near.bx, near.by]);
    } else {
      dots.push({ x, y, bx: p.base[0], by: p.base[1], count: p.count, places: [p] });
    }
  }
  return dots;
}

function WorldMap({ geo, places, filtered, projectFilters }) {
  const { geoEqualEarth, geoPath } = geo.d3;
  const projection = geoEqualEarth().fitExtent(
    [
      [PAD, PAD],
      [W - PAD, H - PAD],
    ],
    fitTarget(places, filtered),
  );
  const path = geoPath(projection);
  // The view: zoom k around the centre (cx, cy), in the projection's units.
  const [view, setView] = useState({ k: 1, cx: W / 2, cy: H / 2 });
  const clamp = ({ k, cx, cy }) => {
    k = Math.min(MAX_ZOOM, Math.max(1, k));
    const hw = W / 2 / k;
    const hh = H / 2 / k;
    return { k, cx: Math.min(W - hw, Math.max(hw, cx)), cy: Math.min(H - hh, Math.max(hh, cy)) };
  };
  const zoomTo = (k, cx = view.cx, cy = view.cy) => setView(clamp({ k, cx, cy }));
  const toScreen = ([x, y]) => [(x - view.cx) * view.k + W / 2, (y - view.cy) * view.k + H / 2];
  const based = places.map((p) => ({ ...p, base: projection([p.lon, p.lat]) })).filter((p) => p.base);
  const dots = mergeDots(based, toScreen);
  const max = Math.max(1, ...dots.map((d) => d.count));
  const radius = (n) => 8 + 8 * Math.sqrt(n / max);

  // Dragging pans; a press that hardly moved is a click on what is under it.
  const svg = useRef(null);
  const drag = useRef(null);
  const units = () => W / (svg.current?.getBoundingClientRect().width || W);
  const onPointerDown = (e) => {
    if (e.button !== 0) return;
    drag.current = { x: e.clientX, y: e.clientY, view, moved: false };
  };
  const onPointerMove = (e) => {
    const d = drag.current;
    if (!d) return;
    const dx = (e.clientX - d.x) * units();
    const dy = (e.clientY - d.y) * units();
    if (!d.moved && Math.hypot(dx, dy) < DRAG_SLOP) return;
    if (!d.moved) svg.current?.setPointerCapture?.(e.pointerId);
    d.moved = true;
    setView(clamp({ k: d.view.k, cx: d.view.cx - dx / d.view.k, cy: d.view.cy - dy / d.view.k }));
  };
  const onPointerUp = (e) => {
    const d = drag.current;
    drag.current = null;
    if (!d || d.moved) return;
    const el = e.target.closest && e.target.closest('[data-dot]');
    if (!el) return;
    const dot = dots[Number(el.getAttribute('data-dot'))];
    if (!dot) return;
    // One city: its projects in Discover; several: zoom in on them.
    if (dot.places.length === 1 && dot.places[0].cities.length === 1)
      navigate(filterHash('discover', { ...projectFilters, type: 'project', city: dot.places[0].cities[0] }));
    else zoomTo(view.k * 2, dot.bx, dot.by);
  };

  const label = (dot) => {
    if (dot.places.length === 1) {
      const name = dot.places[0].names[0];
      return name ? `${name} — ${typeCount('project', dot.count)}` : typeCount('project', dot.count);
    }
    const names = dot.places.flatMap((p) => p.names);
    return t('map.mergedDot', {
      projects: typeCount('project', dot.count),
      places: names.join(', ') || typeCount('project', dot.count),
    });
  };

  return (
    <div class="world-wrap">
      <svg
        ref={svg}
        class={view.k > 1 ? 'world zoomed' : 'world'}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={t('map.imageLabel', {
          projects: typeCount(
            'project',
            dots.reduce((n, d) => n + d.count, 0),
          ),
        })}
        data-testid="map"
        data-zoom={view.k}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => (drag.current = null)}
      >
        <g transform={`translate(${W / 2 - view.cx * view.k} ${H / 2 - view.cy * view.k}) scale(${view.k})`}>
          <path class="sea" d={path({ type: 'Sphere' })} />
          <path class="land" d={path(geo.land)} />
          <path class="borders" d={path(geo.borders)} />
        </g>
        <g class="dots">
          {dots.map((d, i) => (
            <g
              key={d.places[0].key}
              class={d.places.length > 1 ? 'dot merged' : 'dot'}
              data-dot={i}
              data-testid="map-dot"
              data-count={d.count}
              data-cities={d.places.flatMap((p) => p.cities).join(' ')}
              data-places={d.places.length}
              transform={`translate(${d.x.toFixed(1)} ${d.y.toFixed(1)})`}
            >
              <title>{label(d)}</title>
              <circle r={radius(d.count).toFixed(1)} />
              <text dy="0.35em">{fmt.number(d.count)}</text>
            </g>
          ))}
        </g>
      </svg>
      <div class="zoom" role="group" aria-label={t('map.zoom')}>
        <button
          type="button"
          onClick={() => zoomTo(view.k * 2)}
          disabled={view.k >= MAX_ZOOM}
          aria-label={t('map.zoomIn')}
          title={t('map.zoomIn')}
          data-testid="zoom-in"
        >
          <span aria-hidden="true">+</span>
        </button>
        <button
          type="button"
          onClick={() => zoomTo(view.k / 2)}
          disabled={view.k <= 1}
          aria-label={t('map.zoomOut')}
          title={t('map.zoomOut')}
          data-testid="zoom-out"
        >
          <span aria-hidden="true">−</span>
        </button>
        <button
          type="button"
          onClick={() => setView({ k: 1, cx: W / 2, cy: H / 2 })}
          disabled={view.k <= 1}
          data-testid="zoom-reset"
        >
          {t('map.zoomReset')}
        </button>
      </div>
    </div>
  );
}
