// Results of a questionnaire (#/questionnaire/ID/results): completion per
// region and per city of those it was published to (submitted, in
// progress, not started), the answers as charts (counts per choice or scale
// point with the mean, numbers' range and median, texts with their city)
// and the answers as CSV, one row per city. A region and "submitted only"
// narrow the charts, the city table and the CSV.
import { useState } from 'preact/hooks';
import { t, fmt, useLocale } from '../i18n.js';
import { useQuery } from '../db.js';
import { href } from '../router.js';
import { useCities, findAll } from '../content.js';
import {
  SCALE,
  structureOf,
  structureProblem,
  sectionField,
  questionField,
  choiceField,
  completion,
  byRegion,
  targetCities,
  questionStats,
  buildResponsesCsv,
} from '../questionnaire.js';
import { Crumbs, Label, Loading, TooBig, label, regionName, cityStatus, InlineCheck } from './questionnaires.jsx';

const STATUSES = ['submitted', 'progress', 'none'];

export function ResultsPage({ space, id }) {
  const lang = useLocale();
  const cities = useCities(space, lang);
  const data = useQuery(
    space,
    async (db) => {
      const [e, responses] = await Promise.all([
        db.get(space, 'questionnaire', id, { lang }),
        findAll(db, space, { type: 'response', where: { questionnaire: id } }),
      ]);
      return { e, responses: responses.hits };
    },
    [id, lang],
  );
  const [region, setRegion] = useState('');
  const [submittedOnly, setSubmittedOnly] = useState(false);
  if (!data.data || !cities.size)
    return (
      <div class="page q-results">
        <Crumbs />
        <h1>{t('questionnaire.resultsTitle')}</h1>
        <Loading error={data.error} />
      </div>
    );
  const { e, responses } = data.data;
  const problem = structureProblem(e.values);
  if (problem)
    return (
      <div class="page q-results" data-testid="q-results">
        <Crumbs e={e} here />
        <h1>{t('questionnaire.resultsTitle')}</h1>
        <TooBig problem={problem} />
      </div>
    );
  const structure = structureOf(e.values);
  const collator = new Intl.Collator(lang);
  const targets = targetCities(e.values, cities);
  const rows = completion(structure, targets, responses).sort(
    (a, b) =>
      collator.compare(regionName(a.city.summary.region || ''), regionName(b.city.summary.region || '')) ||
      collator.compare(a.city.name, b.city.name),
  );
  const regions = byRegion(rows).sort((a, b) => collator.compare(regionName(a.region), regionName(b.region)));
  const count = (s) => rows.filter((r) => r.status === s).length;
  const shown = rows.filter(
    (r) =>
      (!region || r.city.summary.region === region) && (submittedOnly ? r.status === 'submitted' : r.status !== 'none'),
  );
  const listed = rows.filter((r) => !region || r.city.summary.region === region);
  const share = (n, d) => fmt.number(d ? n / d : 0, { style: 'percent', maximumFractionDigits: 0 });
  const titleText = label(e, 'title');

  const exportCsv = () => {
    const text = buildResponsesCsv(
      structure,
      listed.filter((r) => !submittedOnly || r.status === 'submitted'),
      {
        label: (q) => (label(e, questionField(q.id)) || { text: q.id }).text,
        choiceLabel: (q, c) => (label(e, choiceField(q.id, c)) || { text: c }).text,
        head: [
          t('questionnaire.colCity'),
          t('questionnaire.colCountry'),
          t('questionnaire.colRegion'),
          t('questionnaire.colStatus'),
          t('questionnaire.colSubmittedAt'),
          t('questionnaire.colAnswered'),
        ],
        statusLabel: (s) => t(`questionnaire.completion_${s}`),
      },
    );
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    const a = document.createElement('a');
    a.href = url;
    const slug = (titleText ? titleText.text : 'questionnaire')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 60);
    a.download = `${slug || 'questionnaire'}-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };

  return (
    <div class="page q-results" data-testid="q-results">
      <Crumbs e={e} here />
      <h1>
        {t('questionnaire.resultsTitle')}: <Label e={e} field="title" fallback={t('questionnaire.untitled')} />
      </h1>
      <section class="card" aria-labelledby="qr-completion">
        <h2 id="qr-completion">{t('questionnaire.completionTitle')}</h2>
        <p
          data-testid="qr-summary"
          data-targets={targets.length}
          data-submitted={count('submitted')}
          data-progress={count('progress')}
          data-none={count('none')}
        >
          {t('questionnaire.completionSummary', {
            total: targets.length,
            submitted: count('submitted'),
            progress: count('progress'),
            none: count('none'),
          })}
        </p>
        <div class="table-wrap">
          <table class="data" data-testid="qr-regions">
            <caption>{t('questionnaire.byRegion')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('questionnaire.colRegion')}</th>
                <th scope="col" class="num">
                  {t('questionnaire.colCities')}
                </th>
                {STATUSES.map((s) => (
                  <th key={s} scope="col" class="num">
                    {t(`questionnaire.completion_${s}`)}
                  </th>
                ))}
                <th scope="col">{t('questionnaire.colShareSubmitted')}</th>
              </tr>
            </thead>
            <tbody>
              {regions.map((r) => (
                <tr
                  key={r.region}
                  data-testid="region-row"
                  data-region={r.region}
                  data-submitted={r.submitted}
                  data-cities={r.cities}
                >
                  <th scope="row">{regionName(r.region)}</th>
                  <td class="num">{fmt.number(r.cities)}</td>
                  {STATUSES.map((s) => (
                    <td key={s} class="num">
                      {fmt.number(r[s])}
                    </td>
                  ))}
                  <td>
                    <span class="q-meter" aria-hidden="true">
                      <span style={{ inlineSize: `${Math.round((100 * r.submitted) / (r.cities || 1))}%` }} />
                    </span>{' '}
                    {share(r.submitted, r.cities)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section class="card q-filters" aria-labelledby="qr-filters">
        <h2 id="qr-filters">{t('questionnaire.filtersTitle')}</h2>
        <div class="q-edit-row">
          <div class="field">
            <label for="qr-region">{t('questionnaire.colRegion')}</label>
            <select id="qr-region" value={region} onChange={(ev) => setRegion(ev.currentTarget.value)}>
              <option value="">{t('questionnaire.allRegions')}</option>
              {regions.map((r) => (
                <option key={r.region} value={r.region}>
                  {regionName(r.region)}
                </option>
              ))}
            </select>
          </div>
          <InlineCheck checked={submittedOnly} onChange={setSubmittedOnly}>
            {t('questionnaire.submittedOnly')}
          </InlineCheck>
          <button type="button" onClick={exportCsv} data-testid="q-export">
            {t('questionnaire.exportCsv')}
          </button>
        </div>
        <p class="hint">{t('questionnaire.chartBasis', { count: shown.length })}</p>
      </section>

      <section class="card" aria-labelledby="qr-cities">
        <h2 id="qr-cities">{t('questionnaire.byCity')}</h2>
        <div class="table-wrap q-city-table">
          <table class="data" data-testid="qr-cities-table">
            <caption class="sr-only">{t('questionnaire.byCity')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('questionnaire.colCity')}</th>
                <th scope="col">{t('questionnaire.colRegion')}</th>
                <th scope="col">{t('questionnaire.colStatus')}</th>
                <th scope="col">{t('questionnaire.colSubmittedAt')}</th>
              </tr>
            </thead>
            <tbody>
              {listed.map((r) => (
                <tr
                  key={r.city.id}
                  data-testid="city-row"
                  data-city={r.city.id}
                  data-status={r.status}
                  data-answered={r.progress.answered}
                >
                  <th scope="row">
                    <a href={href('entity', 'city', r.city.id)} dir="auto">
                      {r.city.name}
                    </a>
                  </th>
                  <td>{regionName(r.city.summary.region || '')}</td>
                  <td>
                    <span class={`q-dot q-dot-${r.status}`} aria-hidden="true" /> {cityStatus(r)}
                  </td>
                  <td>{r.submittedAt ? fmt.date(r.submittedAt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <h2>{t('questionnaire.answersTitle')}</h2>
      {label(e, 'scale') && (
        <p class="hint">
          <Label e={e} field="scale" />
        </p>
      )}
      {structure.sections.map((s) => (
        <section key={s.id} class="card q-section" aria-labelledby={`qr-s-${s.id}`}>
          <h3 id={`qr-s-${s.id}`}>
            <Label e={e} field={sectionField(s.id)} fallback={t('questionnaire.untitledSection')} />
          </h3>
          {s.questions.map((q) => (
            <QuestionChart key={q.id} e={e} q={q} rows={shown} />
          ))}
        </section>
      ))}
    </div>
  );
}

// A bar chart as a table: a row per key, its label, a bar as long as its
// count against the largest, and the count.
function Bars({ labelledBy, keys, counts, label }) {
  const max = Math.max(1, ...counts);
  return (
    <table class="q-bars" aria-labelledby={labelledBy}>
      <tbody>
        {keys.map((k, i) => (
          <tr key={k}>
            <th scope="row">{label(k)}</th>
            <td>
              <span class="q-bar" style={{ inlineSize: `${(100 * counts[i]) / max}%` }} />
            </td>
            <td class="num">{fmt.number(counts[i])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function QuestionChart({ e, q, rows }) {
  const st = questionStats(q, rows);
  const title = <Label e={e} field={questionField(q.id)} fallback={q.id} />;
  const id = `qc-${q.id}`;
  const answered = t('questionnaire.answeredBy', { count: st.n, total: rows.length });
  if (q.kind === 'scale')
    return (
      <div
        class="q-chart q-chart-scale"
        data-testid="q-chart"
        data-qid={q.id}
        data-n={st.n}
        data-counts={st.counts.join(',')}
      >
        <h4 id={id}>{title}</h4>
        <p class="muted">
          {answered}
          {st.mean !== null && (
            <>
              {' '}
              ·{' '}
              <span data-testid="q-mean">
                {t('questionnaire.mean', { mean: fmt.number(st.mean, { maximumFractionDigits: 1 }) })}
              </span>
            </>
          )}
        </p>
        <Bars labelledBy={id} keys={SCALE} counts={st.counts} label={(p) => fmt.number(p)} />
      </div>
    );
  if (q.kind === 'single' || q.kind === 'multiple')
    return (
      <div class="q-chart" data-testid="q-chart" data-qid={q.id} data-n={st.n} data-counts={st.counts.join(',')}>
        <h4 id={id}>{title}</h4>
        <p class="muted">{answered}</p>
        <Bars
          labelledBy={id}
          keys={st.keys}
          counts={st.counts}
          label={(c) => <Label e={e} field={choiceField(q.id, c)} fallback={c} />}
        />
      </div>
    );
  if (q.kind === 'number')
    return (
      <div class="q-chart" data-testid="q-chart" data-qid={q.id} data-n={st.n}>
        <h4 id={id}>{title}</h4>
        <p class="muted">{answered}</p>
        {st.n > 0 && (
          <p>
            {t('questionnaire.numberSummary', {
              min: fmt.number(st.min),
              median: fmt.number(st.median),
              max: fmt.number(st.max),
              sum: fmt.number(st.sum),
            })}
          </p>
        )}
      </div>
    );
  return (
    <div class="q-chart" data-testid="q-chart" data-qid={q.id} data-n={st.n}>
      <h4 id={id}>{title}</h4>
      <p class="muted">{answered}</p>
      {st.n > 0 && (
        <details>
          <summary>{t('questionnaire.showTexts')}</summary>
          <ul class="q-texts">
            {st.texts.map((x) => (
              <li key={x.city.id}>
                <strong dir="auto">{x.city.name}</strong>: <span dir="auto">{x.text}</span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
