// Discover's Export control: a disclosure button that opens a panel to
// download exactly the current result (the search and filters in the route,
// every hit, not only the page shown) as CSV, GeoJSON or JSON. Everything is
// built here in the browser from this device's replica (offline too) by
// src/export.js and saved through a Blob link. Gathering reads find's pages
// of 1000 one after another (the worker answers; the page stays responsive)
// and says how far it got.
import { useRef, useState } from 'preact/hooks';
import { t, fmt } from '../i18n.js';
import { getDb } from '../db.js';
import { errorText } from '../errors.js';
import { findAll } from '../content.js';
import { TYPES, FIELD_ORDER, CONTENT_LOCALES } from '../fields.js';
import { buildCsv, buildGeoJson, buildJson, exportFileName, FORMATS } from '../export.js';
import { whereOf } from './facets.jsx';

const FORMAT_NAMES = { csv: 'CSV', geojson: 'GeoJSON', json: 'JSON' };

// Every hit of the Discover result `filters` (one type, or all of them, as
// the page counts them), in the page's order.
async function gather(db, space, filters, lang, onProgress) {
  const base = { text: filters.q, where: whereOf(filters), lang, sort: filters.sort || 'relevance' };
  const types = filters.type ? [filters.type] : TYPES;
  const counts = await Promise.all(types.map((type) => db.find(space, { ...base, type, limit: 0 })));
  const total = counts.reduce((n, c) => n + c.total, 0);
  const hits = [];
  onProgress(0, total);
  for (const type of types) {
    const before = hits.length;
    const r = await findAll(db, space, { ...base, type }, Infinity, (n) => onProgress(before + n, total));
    hits.push(...r.hits);
  }
  return hits;
}

function download(text, name, mime) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoked later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function ExportControl({ space, filters, lang, cities, total }) {
  const [open, setOpen] = useState(false);
  const [perTranslation, setPerTranslation] = useState(false);
  const [state, setState] = useState({ busy: false }); // {busy, done, total} | {result} | {error}
  const button = useRef(null);

  const run = async (format) => {
    setState({ busy: true, done: 0, total });
    try {
      const db = getDb();
      const hits = await gather(db, space, filters, lang, (done, all) => setState({ busy: true, done, total: all }));
      const spaces = await db.spaces();
      // Named as the header names it (a joined space may not know its name).
      const spaceName = spaces.find((s) => s.space === space)?.name || space.slice(0, 8);
      const cityNames = new Map([...cities.values()].map((c) => [c.id, c.name]));
      let built;
      if (format === 'csv')
        built = buildCsv(hits, {
          lang,
          perTranslation,
          cityNames,
          fieldOrder: FIELD_ORDER,
          types: TYPES,
          locales: CONTENT_LOCALES,
        });
      else if (format === 'geojson') built = buildGeoJson(hits, { lang, cityNames });
      else built = buildJson(hits, { space, spaceName, filters, lang });
      download(built.text, exportFileName(spaceName, format), FORMATS[format].mime);
      setState({
        result: { format, count: format === 'geojson' ? built.features : built.rows, unlocated: built.unlocated || 0 },
      });
    } catch (e) {
      setState({ error: e });
    }
  };

  const close = () => {
    setOpen(false);
    button.current?.focus();
  };

  return (
    <div class="export">
      <button
        type="button"
        ref={button}
        id="export-button"
        aria-expanded={open ? 'true' : 'false'}
        aria-controls="export-panel"
        onClick={() => (open ? close() : setOpen(true))}
        data-testid="export"
      >
        {t('discover.export')}
      </button>
      {open && (
        <div
          id="export-panel"
          class="export-panel card"
          role="group"
          aria-labelledby="export-heading"
          onKeyDown={(e) => {
            if (e.key === 'Escape') close();
          }}
          data-testid="export-panel"
        >
          <h2 id="export-heading">{t('discover.exportHeading', { count: total })}</h2>
          <p class="hint">{t('discover.exportHint', { language: fmt.language(lang) })}</p>
          <label class="check">
            <input
              type="checkbox"
              checked={perTranslation}
              onChange={(e) => setPerTranslation(e.currentTarget.checked)}
              data-testid="export-per-translation"
            />{' '}
            {t('discover.exportPerTranslation')}
          </label>
          <div class="export-buttons">
            {Object.keys(FORMATS).map((format) => (
              <button
                type="button"
                key={format}
                disabled={state.busy || total === 0}
                onClick={() => run(format)}
                data-testid={`export-${format}`}
              >
                {t('discover.exportAs', { format: FORMAT_NAMES[format] })}
              </button>
            ))}
          </div>
          <p
            role="status"
            class="export-status"
            aria-busy={state.busy ? 'true' : 'false'}
            data-testid="export-status"
            data-state={state.busy ? 'busy' : state.result ? 'done' : state.error ? 'error' : ''}
            data-unlocated={state.result ? state.result.unlocated : ''}
          >
            {state.busy && t('discover.exportBusy', { done: state.done, total: state.total })}
            {state.result &&
              t('discover.exportDone', { count: state.result.count, format: FORMAT_NAMES[state.result.format] })}
            {state.result && state.result.unlocated > 0 && (
              <> {t('discover.exportUnlocated', { count: state.result.unlocated })}</>
            )}
          </p>
          {state.error && (
            <p class="error" role="alert">
              {errorText(state.error)}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
