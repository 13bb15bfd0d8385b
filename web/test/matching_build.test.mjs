// The matching module (src/matching.js) without a browser, against a fake
// `find` that applies type, where (sets: contains) and a word of the text
// to an in-memory list: the ranking follows the documented weights, the
// need's own city and unrelated entities are left out, facets match across
// languages, the reasons are what is shared, and the number of queries
// depends on the need alone, not on the size of the space.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  needFacts,
  titleWords,
  matchQueries,
  rankMatches,
  findMatches,
  scoreCandidate,
  WEIGHTS,
  MAX_MATCHES,
  PER_QUERY,
} from '../src/matching.js';

const NEED = {
  id: 'n1',
  values: { title: 'Fugas de agua en la red', city: 'c-es', sector: 'water', sdgs: [6, 11], tags: ['Leaks'] },
  translations: {
    title: { original: 'es', shown: 'es', values: { es: 'Fugas de agua en la red', en: 'Water leaks in the network' } },
  },
};

const e = (id, type, summary) => ({ id, type, title: '', summary });
const SPACE = [
  e('p-ko', 'practice', { title: { ko: '스마트 누수 감지' }, city: 'c-ko', sector: 'water', sdgs: [6] }), // sector + SDG 6, Korean text
  e('p-both', 'practice', { title: { fr: 'Compteurs' }, city: 'c-fr', sector: 'water', sdgs: [6, 11] }), // sector + 2 SDGs
  e('p-own', 'practice', { title: { es: 'Fugas' }, city: 'c-es', sector: 'water', sdgs: [6, 11] }), // the need's own city
  e('p-sdg', 'practice', { title: { en: 'Parks' }, city: 'c-en', sector: 'environment', sdgs: [11] }), // SDG 11 only
  e('p-word', 'practice', { title: { en: 'Fixing leaks in pipes' }, city: 'c-en', sector: 'energy', sdgs: [7] }), // a word only
  e('p-none', 'practice', { title: { en: 'Bus lanes' }, city: 'c-en', sector: 'mobility', sdgs: [9] }), // nothing
  e('j-tag', 'project', { title: { tr: 'Sayaçlar' }, city: 'c-tr', sector: 'water', tags: ['leaks', 'iot'] }), // sector + tag
  e('j-sector', 'project', { title: { ar: 'مياه' }, city: 'c-ar', sector: 'water', sdgs: [3] }), // sector only
  e('n-other', 'need', { title: { en: 'Water' }, city: 'c-en', sector: 'water', sdgs: [6] }), // not a candidate type
];

// A fake client: every query recorded.
function fakeDb(entities) {
  const calls = [];
  return {
    calls,
    async find(space, q) {
      calls.push(q);
      let hits = entities.filter((h) => !q.type || h.type === q.type);
      for (const [f, v] of Object.entries(q.where || {}))
        hits = hits.filter((h) =>
          Array.isArray(h.summary[f])
            ? h.summary[f].map(String).includes(String(v))
            : String(h.summary[f]) === String(v),
        );
      if (q.text)
        hits = hits.filter((h) => Object.values(h.summary.title || {}).some((s) => s.toLowerCase().includes(q.text)));
      return { total: hits.length, hits: hits.slice(0, q.limit) };
    },
  };
}

test('facts of a need and the words of its titles', () => {
  const f = needFacts(NEED);
  assert.deepEqual(
    { city: f.city, sector: f.sector, sdgs: f.sdgs, tags: f.tags },
    { city: 'c-es', sector: 'water', sdgs: [6, 11], tags: ['leaks'] },
  );
  // Every translation counts; short words and stop words do not.
  assert.deepEqual(titleWords(f.titles), ['network', 'fugas', 'leaks', 'water', 'agua']);
  assert.deepEqual(titleWords({ ko: '스마트 누수 감지', zh: '漏水' }), ['스마트', '漏水', '감지', '누수']);
  assert.deepEqual(titleWords({ en: 'A city with the best ideas for it' }), ['ideas', 'best']);
  // From a find hit too.
  assert.deepEqual(
    needFacts({ id: 'x', summary: { title: { en: 'Solar' }, sdgs: [7, '3', 40], sector: 'energy' } }).sdgs,
    [3, 7],
  );
});

test('ranked by the documented weights, own city and unrelated left out, reasons as shared', async () => {
  const db = fakeDb(SPACE);
  const { matches } = await findMatches(db, 's', needFacts(NEED), { lang: 'en' });
  const ids = matches.map((m) => m.id);
  assert.deepEqual(ids, ['p-both', 'p-ko', 'j-tag', 'j-sector', 'p-sdg', 'p-word']);
  const by = Object.fromEntries(matches.map((m) => [m.id, m]));
  assert.equal(by['p-both'].score, WEIGHTS.sector + 2 * WEIGHTS.sdg);
  assert.deepEqual(
    by['p-ko'].reasons,
    { sector: true, sdgs: [6], tags: [], text: false },
    'Korean text, matched by its facets',
  );
  assert.deepEqual(by['j-tag'].reasons, { sector: true, sdgs: [], tags: ['leaks'], text: false });
  assert.deepEqual(by['p-sdg'].reasons, { sector: false, sdgs: [11], tags: [], text: false });
  assert.deepEqual(by['p-word'].reasons, { sector: false, sdgs: [], tags: [], text: true });
  assert.ok(!ids.includes('p-own'), "the need's own city is left out");
  assert.ok(!ids.includes('p-none') && !ids.includes('n-other'));
  // Every query is bounded, and only candidate types are asked for.
  for (const q of db.calls) {
    assert.ok(q.limit <= PER_QUERY);
    assert.ok(['practice', 'project'].includes(q.type));
  }
});

test('one shared facet beats any word overlap; the sector beats two SDGs', () => {
  const f = needFacts(NEED);
  const words = scoreCandidate(f, { sector: 'energy' }, ['a', 'b', 'c', 'd', 'e', 'f']).score;
  assert.ok(scoreCandidate(f, { tags: ['leaks'] }).score > words);
  assert.ok(scoreCandidate(f, { sector: 'water' }).score > scoreCandidate(f, { sdgs: [6, 11] }).score);
  // A practice before a project of the same score.
  const found = new Map([
    ['a', { hit: e('a', 'project', { sector: 'water' }), words: [] }],
    ['b', { hit: e('b', 'practice', { sector: 'water' }), words: [] }],
  ]);
  assert.deepEqual(
    rankMatches(f, found).map((m) => m.id),
    ['b', 'a'],
  );
});

test('the queries depend on the need, not on the space; the result is capped', async () => {
  const facts = needFacts(NEED);
  const many = [];
  for (let i = 0; i < 5000; i++)
    many.push(e(`x${i}`, i % 2 ? 'practice' : 'project', { city: `c${i}`, sector: 'water', sdgs: [6] }));
  const small = fakeDb(SPACE);
  const big = fakeDb(many);
  const a = await findMatches(small, 's', facts);
  const b = await findMatches(big, 's', facts);
  assert.equal(a.queries, b.queries);
  assert.equal(small.calls.length, big.calls.length);
  assert.equal(a.queries, matchQueries(facts).length);
  // 2 types × (2 sector∧SDG + sector + 2 SDGs + 1 tag + 5 words)
  assert.equal(a.queries, 2 * (2 + 1 + 2 + 1 + 5));
  assert.equal(b.matches.length, MAX_MATCHES);
  // A need with no facets and no usable words asks nothing.
  assert.equal(matchQueries(needFacts({ id: 'z', values: { title: 'a b' }, translations: {} })).length, 0);
});
