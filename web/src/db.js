// The app's handle on the browser client (wasm/js/urbis.js, copied into the
// build as urbis/): one UrbisDB per page, opened once. The API is documented
// in wasm/README.md; this module adds the app's choices on top: the current
// space, and hooks that re-query when changes arrive.
import { useEffect, useState, useRef } from 'preact/hooks';

let dbPromise = null;
let db = null;

// Test knob: localStorage 'urbis.pwhashCost' = 'minimal' makes identity
// creation fast in the browser tests. It exists only in the build made for
// them (`vite build --mode test` -> dist-test, web/CMakeLists.txt): in the
// release build import.meta.env.MODE is the constant "production", so the
// knob is dead code the minifier removes, and users always get 'interactive'
// (as the native `urbis` refuses URBIS_PWHASH=minimal outside `urbis-test`).
function pwhashCost() {
  if (import.meta.env.MODE !== 'test') return 'interactive';
  try {
    return localStorage.getItem('urbis.pwhashCost') || 'interactive';
  } catch (e) {
    return 'interactive';
  }
}

export function openDb() {
  if (!dbPromise) {
    dbPromise = (async () => {
      const url = new URL('urbis/urbis.js', document.baseURI).href;
      const { Urbis } = await import(/* @vite-ignore */ url);
      db = await Urbis.open({ pwhashCost: pwhashCost() });
      window.urbisDb = db; // for the browser tests and the console
      return db;
    })();
    dbPromise.catch(() => (dbPromise = null));
  }
  return dbPromise;
}

// Whether this browser held an identity when last opened (a hint for the
// first screen only: the worker's answer decides).
const IDENTITY_HINT = 'urbis.hasIdentity';
export function identityHintSet() {
  try {
    return localStorage.getItem(IDENTITY_HINT) === '1';
  } catch (e) {
    return false;
  }
}
export function setIdentityHint(has) {
  try {
    if (has) localStorage.setItem(IDENTITY_HINT, '1');
    else localStorage.removeItem(IDENTITY_HINT);
  } catch (e) {
    // only the first screen waits a little longer next time
  }
}

export function getDb() {
  if (!db) throw new Error('the database is not open yet');
  return db;
}

// ---- the current space -------------------------------------------------------

const SPACE_KEY = 'urbis.space';
const spaceListeners = new Set();
let currentSpace = null;

export function setCurrentSpace(space) {
  currentSpace = space;
  try {
    localStorage.setItem(SPACE_KEY, space);
  } catch (e) {
    // not remembered
  }
  for (const cb of spaceListeners) cb(space);
}

// Picks the remembered space if this device still has it, else the first.
export async function chooseSpace() {
  const spaces = await getDb().spaces();
  let saved = null;
  try {
    saved = localStorage.getItem(SPACE_KEY);
  } catch (e) {
    // none
  }
  const pick = spaces.find((s) => s.space === saved) || spaces[0] || null;
  currentSpace = pick ? pick.space : null;
  return { spaces, space: currentSpace };
}

export function useSpace() {
  const [space, setSpace] = useState(currentSpace);
  useEffect(() => {
    spaceListeners.add(setSpace);
    return () => spaceListeners.delete(setSpace);
  }, []);
  return space;
}

// ---- hooks -------------------------------------------------------------------

// Runs `query(db)` now, whenever `deps` change, and again after changes are
// stored in `space` (local or remote, coalesced to one re-run per 150 ms).
// Returns {data, error, loading}.
export function useQuery(space, query, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const run = useRef(0);
  useEffect(() => {
    let timer = null;
    let alive = true;
    const go = async () => {
      const n = ++run.current;
      try {
        const data = await query(getDb());
        if (alive && n === run.current) setState({ data, error: null, loading: false });
      } catch (error) {
        if (alive && n === run.current) setState((s) => ({ data: s.data, error, loading: false }));
      }
    };
    setState((s) => ({ ...s, loading: true }));
    go();
    const unsubscribe = space
      ? getDb().subscribe(space, () => {
          clearTimeout(timer);
          timer = setTimeout(go, 150);
        })
      : () => {};
    return () => {
      alive = false;
      clearTimeout(timer);
      unsubscribe();
    };
  }, [space, ...deps]);
  return state;
}

// The sync status {state, pending, lastSync}, live.
export function useSyncStatus() {
  const [status, setStatus] = useState(db ? db.status : { state: 'offline', pending: 0, lastSync: null });
  useEffect(() => {
    if (!db) return undefined;
    db.syncStatus().then(setStatus, () => {});
    return db.onStatus(setStatus);
  }, []);
  return status;
}

// ---- people -------------------------------------------------------------------

// This device's key (hex), once unlocked.
let myDevice = null;
export async function device() {
  if (!myDevice) myDevice = await getDb().device();
  return myDevice;
}

const NAME_KEY = 'urbis.name';
export function myName() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch (e) {
    return '';
  }
}
export function setMyName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch (e) {
    // kept for this session only
  }
}

// A person's display name lives in the space as content (docs/DATA_MODEL.md,
// "People"): a `profile` entity {device, name, at}, or, for a commenter (who
// may write comments only), a `comment` {kind: 'profile', device, name, at}.
// Where a device has several, the newest `at` wins. Viewers cannot write: their
// name stays on their device.
// With milliseconds: a name changed within a second of the profile written
// on entering the space must still be the newer one (authorsOf).
const nowIso = () => new Date().toISOString();

// Makes sure `space` shows this device's name (myName()) to its members;
// writes a profile only when the name shown differs. Resolves to whether the
// name is shared there (false: a viewer, no name, or no longer a member).
export async function ensureProfile(space) {
  const name = myName();
  if (!space || !name) return false;
  const db = getDb();
  const me = await device();
  const role = (await db.spaces()).find((s) => s.space === space)?.role;
  if (!role || role === 'viewer' || role === 'none') return false;
  if ((await authorsOf(space)).get(me) === name) return true;
  const commenter = role === 'commenter';
  const type = commenter ? 'comment' : 'profile';
  const found = await db.find(space, {
    type,
    where: commenter ? { kind: 'profile', device: me } : { device: me },
    limit: 1,
  });
  const fields = { ...(commenter ? { kind: 'profile' } : {}), device: me, name, at: nowIso() };
  await db.put(space, type, found.hits[0]?.id || 'new', fields);
  return true;
}

// Changes this device's display name: kept here, and shared in every space
// where its role lets it write. Rejects with the first space's error.
export async function changeMyName(name) {
  setMyName(name);
  const spaces = await getDb().spaces();
  let error = null;
  for (const s of spaces) await ensureProfile(s.space).catch((e) => (error = error || e));
  if (error) throw error;
}

// device key -> display name of the people who wrote in `space` (and 'me'
// -> this device's key). Read once per space and change, however many
// conflicts on the page ask: every Conflict shows authors.
const authorsCache = new Map(); // space -> Promise<Map>
async function authorsOf(space) {
  if (!authorsCache.has(space)) {
    const db = getDb();
    const stop = db.subscribe(space, () => {
      authorsCache.delete(space);
      stop();
    });
    authorsCache.set(
      space,
      (async () => {
        const [profiles, notes] = await Promise.all([
          db.find(space, { type: 'profile', limit: 1000 }),
          db.find(space, { type: 'comment', where: { kind: 'profile' }, limit: 1000 }),
        ]);
        const newest = new Map(); // device -> {name, at}
        for (const h of [...profiles.hits, ...notes.hits]) {
          const d = h.summary?.device;
          if (typeof d !== 'string' || typeof h.summary.name !== 'string') continue;
          // As times, not strings: older records have no milliseconds.
          const at = typeof h.summary.at === 'string' ? Date.parse(h.summary.at) || 0 : 0;
          if (!newest.has(d) || at > newest.get(d).at) newest.set(d, { name: h.summary.name, at });
        }
        const map = new Map([...newest].map(([d, v]) => [d, v.name]));
        map.set('me', await device());
        return map;
      })().catch((e) => {
        authorsCache.delete(space); // ask again next time
        stop();
        throw e;
      }),
    );
  }
  return authorsCache.get(space);
}

export function useAuthors(space) {
  const { data } = useQuery(space, () => authorsOf(space), []);
  return data || EMPTY_AUTHORS;
}
const EMPTY_AUTHORS = new Map();

// The time a version was written: the high bits of its hybrid logical clock
// are Unix milliseconds (core/src/replica.cc).
export function versionTime(hlc) {
  return Math.floor(Number(hlc) / 65536);
}
