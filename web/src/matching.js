// Matching (issue 14, item 3): the practices and projects of other cities
// that fit a need, ranked and explained. Pure: no DOM, no catalogs; the
// database is the `find` of the client API passed in, so Node tests it with a
// fake (test/matching_build.test.mjs) and the need's page runs it on the
// local replica (offline like everything else).
//
// How candidates are found, with a bounded number of queries whatever the
// size of the space (no query per candidate; every query has a limit):
// per candidate type (practice, project)
//   - sector ∧ SDG s, for each of the need's SDGs (the best candidates, found
//     even when the sector alone has thousands of hits),
//   - sector alone, each SDG alone, each tag alone,
//   - each of a few title words (any translation of the need's title).
// That is at most 2 × (1 + 2·MAX_SDGS + MAX_TAGS + MAX_WORDS) queries of at
// most PER_QUERY hits. The facets (sector, SDGs, tags) are codes, not words
// in a language, so a need written in Spanish matches a practice written in
// Korean through them: cross-language matching falls out of the facets. The
// text query searches every locale of the candidates, so a word matches
// whatever language it was written in, but only text in that same language.
//
// Scores (documented weights; a larger score ranks first): same sector 12,
// each shared SDG 4, each shared tag 2, each title word found 0.5 (at most 3).
// So one shared facet always beats any amount of word overlap, and the
// sector beats two shared SDGs. Ties: practices before projects (a practice
// is the lesson a need asks for), then by id (stable). Candidates of the
// need's own city, with no score, or deleted, are left out; at most `max`.

export const WEIGHTS = { sector: 12, sdg: 4, tag: 2, word: 0.5, maxWords: 3 };
export const MATCH_TYPES = ['practice', 'project'];
export const MAX_MATCHES = 10;
export const PER_QUERY = 50;
export const MAX_SDGS = 17;
export const MAX_TAGS = 8;
export const MAX_WORDS = 6;

// Words too common to tell anything, of four letters or more (shorter
// words are dropped anyway), in the content languages that have them.
const STOP = new Set([
  'with',
  'from',
  'that',
  'this',
  'into',
  'over',
  'their',
  'more',
  'city',
  'cities',
  'para',
  'sobre',
  'entre',
  'desde',
  'como',
  'ciudad',
  'pour',
  'dans',
  'avec',
  'sans',
  'sous',
  'ville',
  'için',
  'olan',
  'şehir',
  'через',
  'город',
  'города',
]);
const isCjk = (w) => /[\p{Script=Han}\p{Script=Hangul}\p{Script=Hiragana}\p{Script=Katakana}]/u.test(w);

const asArray = (v) => (Array.isArray(v) ? v : v === undefined || v === null || v === '' ? [] : [v]);

// What matching reads of a need, from the client's `get` ({id, values,
// translations}) or a find hit ({id, summary}).
export function needFacts(e) {
  const v = e.values || e.summary || {};
  const titles = {};
  const tr = e.translations && e.translations.title;
  if (tr && tr.values) Object.assign(titles, tr.values);
  else if (v.title && typeof v.title === 'object') Object.assign(titles, v.title);
  else if (typeof v.title === 'string') titles.und = v.title;
  return {
    id: e.id,
    city: typeof v.city === 'string' ? v.city : null,
    sector: typeof v.sector === 'string' && v.sector ? v.sector : null,
    sdgs: asArray(v.sdgs)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n >= 1 && n <= 17)
      .sort((a, b) => a - b)
      .slice(0, MAX_SDGS),
    tags: [
      ...new Set(
        asArray(v.tags)
          .filter((x) => typeof x === 'string' && x)
          .map((x) => x.toLowerCase()),
      ),
    ]
      .sort()
      .slice(0, MAX_TAGS),
    titles,
  };
}

// The words of the need's titles worth a text query: letters and digits,
// four or more (two or more in Chinese, Japanese or Korean, where a word is
// short), not a stop word; the longest first, at most MAX_WORDS in all.
export function titleWords(titles) {
  const words = new Set();
  for (const text of Object.values(titles || {}))
    for (const m of String(text)
      .toLowerCase()
      .matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
      const w = m[0];
      if ([...w].length >= (isCjk(w) ? 2 : 4) && !STOP.has(w)) words.add(w);
    }
  return [...words].sort((a, b) => [...b].length - [...a].length || (a < b ? -1 : a > b ? 1 : 0)).slice(0, MAX_WORDS);
}

// The queries for one need: [{type, where?, text?, word?}], each a `find`.
export function matchQueries(facts) {
  const out = [];
  const words = titleWords(facts.titles);
  for (const type of MATCH_TYPES) {
    if (facts.sector) {
      for (const s of facts.sdgs) out.push({ type, where: { sector: facts.sector, sdgs: s } });
      out.push({ type, where: { sector: facts.sector } });
    }
    for (const s of facts.sdgs) out.push({ type, where: { sdgs: s } });
    for (const tag of facts.tags) out.push({ type, where: { tags: tag } });
    for (const word of words) out.push({ type, text: word, word });
  }
  return out;
}

const sdgsOf = (summary) => asArray(summary.sdgs).map(Number);
const tagsOf = (summary) =>
  asArray(summary.tags)
    .filter((x) => typeof x === 'string')
    .map((x) => x.toLowerCase());

// Scores one candidate: {score, reasons: {sector, sdgs, tags, text}}. The
// facets are read from the hit's summary (so a hit found by one query is
// credited for all it shares); `words` are the title words whose text query
// found it (the index decides what a word matches).
export function scoreCandidate(facts, summary, words = []) {
  const sector = !!facts.sector && summary.sector === facts.sector;
  const theirSdgs = new Set(sdgsOf(summary));
  const sdgs = facts.sdgs.filter((s) => theirSdgs.has(s));
  const theirTags = new Set(tagsOf(summary));
  const tags = facts.tags.filter((x) => theirTags.has(x));
  const nWords = Math.min(WEIGHTS.maxWords, new Set(words).size);
  const score =
    (sector ? WEIGHTS.sector : 0) + WEIGHTS.sdg * sdgs.length + WEIGHTS.tag * tags.length + WEIGHTS.word * nWords;
  return { score, reasons: { sector, sdgs, tags, text: nWords > 0 } };
}

// Ranks the candidates found: `found` is a Map id -> {hit, words}. Returns
// at most `max` of [{id, type, hit, score, reasons}], best first.
export function rankMatches(facts, found, { max = MAX_MATCHES } = {}) {
  const out = [];
  for (const [id, { hit, words }] of found) {
    const summary = hit.summary || {};
    if (id === facts.id) continue;
    if (facts.city && summary.city === facts.city) continue;
    if (summary._deleted === true) continue;
    const { score, reasons } = scoreCandidate(facts, summary, words);
    if (score > 0) out.push({ id, type: hit.type, hit, score, reasons });
  }
  const typeRank = (t) => (MATCH_TYPES.indexOf(t) < 0 ? MATCH_TYPES.length : MATCH_TYPES.indexOf(t));
  out.sort(
    (a, b) => b.score - a.score || typeRank(a.type) - typeRank(b.type) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return out.slice(0, max);
}

// Runs the queries on `db` (the client: find(space, query) -> {total, hits})
// and ranks what they found. Returns {matches, queries} (queries: how many
// finds ran, for tests and the benchmark).
export async function findMatches(db, space, facts, { lang, max = MAX_MATCHES, perQuery = PER_QUERY } = {}) {
  const queries = matchQueries(facts);
  const results = await Promise.all(
    queries.map((q) =>
      db.find(space, {
        type: q.type,
        ...(q.where ? { where: q.where } : {}),
        ...(q.text ? { text: q.text } : {}),
        ...(lang ? { lang } : {}),
        sort: q.text ? 'relevance' : 'updated',
        limit: perQuery,
      }),
    ),
  );
  const found = new Map();
  queries.forEach((q, i) => {
    for (const hit of results[i].hits) {
      let c = found.get(hit.id);
      if (!c) found.set(hit.id, (c = { hit, words: [] }));
      if (q.word) c.words.push(q.word);
    }
  });
  return { matches: rankMatches(facts, found, { max }), queries: queries.length };
}
