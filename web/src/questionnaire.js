// Questionnaires (readiness assessments and intake surveys) and their
// responses, as docs/DATA_MODEL.md ("Questionnaires") stores them: pure
// helpers over the JSON the client returns (no DOM, no catalogs), shared by
// the views in src/views/questionnaire*.jsx.
//
// A `questionnaire` holds its structure in the plain field `structure`
// ({sections: [{id, questions: [{id, kind, optional, choices}]}]}) and every
// label in a translatable field of its own: `s.SECTION`, `q.QUESTION`,
// `c.QUESTION.CHOICE`. A `response` is one city's answers to one
// questionnaire: `a.QUESTION` per question (a set for multiple choice), so
// two officials answering different questions merge field by field.
import Papa from 'papaparse';
import { BOM, FORMULA_START } from './export.js';

export const KINDS = ['single', 'multiple', 'scale', 'number', 'text'];
export const QUESTIONNAIRE_KINDS = ['readiness', 'survey'];
export const SCALE = [1, 2, 3, 4, 5];

export const sectionField = (sid) => `s.${sid}`;
export const questionField = (qid) => `q.${qid}`;
export const choiceField = (qid, cid) => `c.${qid}.${cid}`;
export const answerField = (qid) => `a.${qid}`;

// A fresh id for a section, question or choice: short, ASCII, unique within
// its questionnaire in practice (48 random bits).
export function newId(prefix) {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return prefix + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

// The structure of a questionnaire's values (or summary), tolerant of
// anything another writer stored: sections with questions of known kinds.
export function structureOf(values) {
  const raw = values && values.structure;
  const sections = raw && Array.isArray(raw.sections) ? raw.sections : [];
  return {
    sections: sections
      .filter((s) => s && typeof s.id === 'string')
      .map((s) => ({
        id: s.id,
        questions: (Array.isArray(s.questions) ? s.questions : [])
          .filter((q) => q && typeof q.id === 'string' && KINDS.includes(q.kind))
          .map((q) => ({
            id: q.id,
            kind: q.kind,
            optional: q.optional === true,
            choices:
              q.kind === 'single' || q.kind === 'multiple'
                ? Array.isArray(q.choices)
                  ? q.choices.filter((c) => typeof c === 'string')
                  : []
                : [],
            ...(typeof q.min === 'number' ? { min: q.min } : {}),
            ...(typeof q.max === 'number' ? { max: q.max } : {}),
          })),
      })),
  };
}

// Caps on a questionnaire's structure: a hostile or careless admin's
// questionnaire of thousands of questions would make every city's answer
// page (and the results) heavy. The editor cannot go past them; a structure
// another writer stored past them is not shown (structureProblem).
export const LIMITS = { sections: 50, questions: 200, choices: 30, label: 500 };

// Why the questionnaire `values` (as get or find returns them) is over the
// caps, or null: {what: 'sections' | 'questions' | 'choices' | 'label',
// limit}. Counts what was stored, before structureOf drops what it cannot
// read, and looks at the labels (s.*, q.*, c.*) in the language shown.
export function structureProblem(values) {
  const raw = values && values.structure;
  const sections = raw && Array.isArray(raw.sections) ? raw.sections : [];
  if (sections.length > LIMITS.sections) return { what: 'sections', limit: LIMITS.sections };
  let questions = 0;
  for (const sec of sections) {
    const list = sec && Array.isArray(sec.questions) ? sec.questions : [];
    questions += list.length;
    if (questions > LIMITS.questions) return { what: 'questions', limit: LIMITS.questions };
    for (const q of list)
      if (q && Array.isArray(q.choices) && q.choices.length > LIMITS.choices)
        return { what: 'choices', limit: LIMITS.choices };
  }
  for (const [k, v] of Object.entries(values || {}))
    if (/^[sqc]\./.test(k) && typeof v === 'string' && v.length > LIMITS.label)
      return { what: 'label', limit: LIMITS.label };
  return null;
}

// What adding one more `what` ('sections' | 'questions' | 'choices', the
// latter to question `qi` of section `si`) to `structure` would pass, or
// null when it fits.
export function capReached(structure, what, si, qi) {
  if (what === 'sections' && structure.sections.length >= LIMITS.sections) return { what, limit: LIMITS.sections };
  if (what === 'questions' && questionsOf(structure).length >= LIMITS.questions)
    return { what, limit: LIMITS.questions };
  if (what === 'choices' && structure.sections[si].questions[qi].choices.length >= LIMITS.choices)
    return { what, limit: LIMITS.choices };
  // A new section comes with a question.
  if (what === 'sections' && questionsOf(structure).length >= LIMITS.questions)
    return { what: 'questions', limit: LIMITS.questions };
  return null;
}

export function questionsOf(structure) {
  return structure.sections.flatMap((s) => s.questions.map((q) => ({ ...q, section: s.id })));
}

// Whether `value` (an answer as stored) answers a question of `kind`.
export function isAnswered(kind, value) {
  if (value === null || value === undefined) return false;
  if (kind === 'multiple') return Array.isArray(value) && value.length > 0;
  if (kind === 'text') return typeof value === 'string' && value.trim() !== '';
  if (kind === 'number' || kind === 'scale') return typeof value === 'number' && Number.isFinite(value);
  return typeof value === 'string' && value !== '';
}

// The answers of a city: the fields a.* of its responses. A city has one
// response (made when the questionnaire is published); should two exist
// (a city added later, answered on two devices before they met), the one
// with the lowest id is the city's and the other fills its gaps.
export function canonical(hits) {
  return [...hits].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
export function mergedAnswers(responses) {
  const out = {};
  for (const r of canonical(responses)) {
    const s = r.summary || r.values || {};
    for (const [k, v] of Object.entries(s)) if (k.startsWith('a.') && !(k in out && out[k] !== null)) out[k] = v;
  }
  return out;
}

// {answered, required, requiredAnswered, total} of `answers` ({a.Q: value}).
export function progress(structure, answers) {
  let answered = 0;
  let required = 0;
  let requiredAnswered = 0;
  let total = 0;
  for (const q of questionsOf(structure)) {
    total += 1;
    const yes = isAnswered(q.kind, answers[answerField(q.id)]);
    if (yes) answered += 1;
    if (!q.optional) {
      required += 1;
      if (yes) requiredAnswered += 1;
    }
  }
  return { answered, required, requiredAnswered, total };
}

// The cities a questionnaire is published to: all, or those of a region.
export function targetCities(values, cities) {
  const audience = values && typeof values.audience === 'string' ? values.audience : 'all';
  return [...cities.values()].filter((c) => audience === 'all' || (c.summary && c.summary.region === audience));
}

// Per city of `targets`: {city, status: 'submitted' | 'progress' | 'none',
// answers, progress, submittedAt}; `responses` are find hits of the
// questionnaire's responses.
export function completion(structure, targets, responses) {
  const byCity = new Map();
  for (const h of responses) {
    const c = h.summary && h.summary.city;
    if (typeof c !== 'string') continue;
    if (!byCity.has(c)) byCity.set(c, []);
    byCity.get(c).push(h);
  }
  return targets.map((city) => {
    const hits = byCity.get(city.id) || [];
    const answers = mergedAnswers(hits);
    const p = progress(structure, answers);
    const submitted = hits.some((h) => h.summary.status === 'submitted');
    const at = hits.map((h) => h.summary.submitted_at).find((x) => typeof x === 'string');
    return {
      city,
      status: submitted ? 'submitted' : p.answered > 0 ? 'progress' : 'none',
      answers,
      progress: p,
      submittedAt: at || null,
    };
  });
}

// Rows per region: {region, cities, submitted, progress, none}.
export function byRegion(rows) {
  const map = new Map();
  for (const r of rows) {
    const region = (r.city.summary && r.city.summary.region) || '';
    if (!map.has(region)) map.set(region, { region, cities: 0, submitted: 0, progress: 0, none: 0 });
    const x = map.get(region);
    x.cities += 1;
    x[r.status] += 1;
  }
  return [...map.values()];
}

// What the answers to one question add up to over `rows` (completion rows):
// counts per choice or scale point, numbers' summary, texts with their city.
export function questionStats(q, rows) {
  const field = answerField(q.id);
  const values = rows.map((r) => ({ city: r.city, v: r.answers[field] })).filter((x) => isAnswered(q.kind, x.v));
  const n = values.length;
  if (q.kind === 'scale') {
    const counts = SCALE.map((p) => values.filter((x) => x.v === p).length);
    const mean = n ? values.reduce((s, x) => s + x.v, 0) / n : null;
    return { n, counts, keys: SCALE.map(String), mean };
  }
  if (q.kind === 'single' || q.kind === 'multiple') {
    const keys = [...q.choices];
    for (const x of values) for (const c of q.kind === 'multiple' ? x.v : [x.v]) if (!keys.includes(c)) keys.push(c);
    const counts = keys.map((c) => values.filter((x) => (q.kind === 'multiple' ? x.v.includes(c) : x.v === c)).length);
    return { n, counts, keys };
  }
  if (q.kind === 'number') {
    const sorted = values.map((x) => x.v).sort((a, b) => a - b);
    const median = n ? (n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2) : null;
    return {
      n,
      min: n ? sorted[0] : null,
      max: n ? sorted[n - 1] : null,
      median,
      sum: sorted.reduce((s, x) => s + x, 0),
    };
  }
  return { n, texts: values.map((x) => ({ city: x.city, text: x.v })) };
}

const safe = (v) => (typeof v === 'string' && FORMULA_START.test(v) ? `'${v}` : v);

// The CSV of a questionnaire's answers: one row per city of `rows`, the
// city's columns first, then one column per question headed by its label
// (`label(q)`) and id; choices as their labels (`choiceLabel(q, c)`), several
// joined with "; " in the questionnaire's order. Cells a spreadsheet would run are quoted with an
// apostrophe; UTF-8 with a byte-order mark.
export function buildResponsesCsv(structure, rows, { label, choiceLabel, head, statusLabel }) {
  const questions = questionsOf(structure);
  const header = [...head, ...questions.map((q) => `${label(q)} [${q.id}]`)];
  const data = rows.map((r) => {
    const s = r.city.summary || {};
    const cells = [
      r.city.name,
      s.country || '',
      s.region || '',
      statusLabel(r.status),
      r.submittedAt || '',
      r.progress.answered,
    ];
    for (const q of questions) {
      const v = r.answers[answerField(q.id)];
      if (!isAnswered(q.kind, v)) cells.push('');
      else if (q.kind === 'single') cells.push(choiceLabel(q, v));
      else if (q.kind === 'multiple')
        cells.push(
          [...q.choices.filter((c) => v.includes(c)), ...v.filter((c) => !q.choices.includes(c))]
            .map((c) => choiceLabel(q, c))
            .join('; '),
        );
      else cells.push(v);
    }
    return cells;
  });
  return (
    BOM +
    Papa.unparse(
      [header, ...data].map((row) => row.map(safe)),
      { newline: '\r\n' },
    )
  );
}
