// Reads the views share: every hit of a query (past find's limit of 1000 per
// call), the cities of a space (names for hits, the city facet, the map, the
// plan) and this device's role in a space with what it may do.
import { useQuery } from './db.js';
import { hitTitle } from './fields.js';

const PAGE = 1000; // find's largest limit

// The first `max` hits of `query` (all of them by default), in pages;
// `onPage(hitsSoFar, total)` after each page (for progress).
export async function findAll(db, space, query, max = Infinity, onPage = null) {
  const first = await db.find(space, { ...query, limit: Math.min(PAGE, max), offset: 0 });
  const hits = first.hits;
  if (onPage) onPage(hits.length, first.total);
  while (hits.length < Math.min(first.total, max)) {
    const r = await db.find(space, { ...query, limit: Math.min(PAGE, max - hits.length), offset: hits.length });
    if (!r.hits.length) break; // the space changed under us; what we have is enough
    hits.push(...r.hits);
    if (onPage) onPage(hits.length, first.total);
  }
  return { total: first.total, hits };
}

// Map id -> {id, name, nameLang, summary} of the space's cities, names in
// `lang` (with fallback); re-read when the space changes. Empty while loading.
export function useCities(space, lang) {
  const { data } = useQuery(
    space,
    async (db) => {
      const { hits } = await findAll(db, space, { type: 'city', sort: 'title' });
      const map = new Map();
      for (const h of hits) {
        const name = hitTitle(h.summary, lang);
        map.set(h.id, { id: h.id, name: name ? name.text : h.title, nameLang: name && name.lang, summary: h.summary });
      }
      return map;
    },
    [lang],
  );
  return data || EMPTY;
}
const EMPTY = new Map();

// The roles of a space's members, least to most (docs/membership.md).
export const ROLES = ['viewer', 'commenter', 'editor', 'admin'];

// This device's role in `space` (one of ROLES, or 'none' once removed),
// undefined while loading; re-read when the space changes (an admin may
// change it).
export function useRole(space) {
  const { data } = useQuery(space, (db) => db.spaces(), []);
  return data ? data.find((s) => s.space === space)?.role : undefined;
}

// Editors and admins write content (plans, entities); commenters comment.
export function canEdit(role) {
  return role === 'admin' || role === 'editor';
}
export function canComment(role) {
  return canEdit(role) || role === 'commenter';
}

// The cities this device's role is limited to in `space` (ids; [] for the
// whole space), undefined while loading.
export function useMyScope(space) {
  const { data } = useQuery(
    space,
    async (db) => {
      const [me, members] = await Promise.all([db.device(), db.members(space)]);
      const entry = members.find((m) => m.device === me);
      return entry && Array.isArray(entry.scope) ? entry.scope : [];
    },
    [],
  );
  return data;
}
