#include "schema.h"

#include <string>
#include <vector>

namespace urbis {
namespace {

// Version 1. Tables:
//  spaces     one row per space held; `epoch` is the newest key epoch known.
//  authors    one row per (space, device): its chain head and its membership
//             (role, the epoch it joined, and the cutoff if it lost a role).
//  changes    the log: exact envelope bytes in arrival order (the order in
//             which they were valid here, hence the order to forward them).
//  held       verified changes waiting for their predecessor.
//  epochs, grants   key epochs and the space keys sealed to members.
//  entities, vals, superseded, facets, fts   the materialization.
constexpr const char* kV1 = R"sql(
CREATE TABLE spaces(
  id INTEGER PRIMARY KEY, sid BLOB NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
  epoch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE authors(
  id INTEGER PRIMARY KEY, space INTEGER NOT NULL, pk BLOB NOT NULL,
  head_seq INTEGER NOT NULL DEFAULT 0, head_hash BLOB,
  role INTEGER NOT NULL DEFAULT 0, joined_epoch INTEGER NOT NULL DEFAULT 0,
  cutoff_epoch INTEGER NOT NULL DEFAULT 0, cutoff_seq INTEGER NOT NULL DEFAULT 0,
  cutoff_role INTEGER NOT NULL DEFAULT 0,
  UNIQUE(space, pk));
CREATE TABLE changes(
  id INTEGER PRIMARY KEY, author INTEGER NOT NULL, seq INTEGER NOT NULL,
  kind INTEGER NOT NULL, epoch INTEGER NOT NULL, hlc INTEGER NOT NULL,
  hash BLOB NOT NULL, envelope BLOB NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
  UNIQUE(author, seq));
CREATE TABLE held(
  space INTEGER NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL,
  PRIMARY KEY(space, author, seq)) WITHOUT ROWID;
CREATE TABLE epochs(space INTEGER NOT NULL, epoch INTEGER NOT NULL,
  PRIMARY KEY(space, epoch)) WITHOUT ROWID;
CREATE TABLE grants(space INTEGER NOT NULL, epoch INTEGER NOT NULL, device BLOB NOT NULL,
  sealed BLOB NOT NULL, PRIMARY KEY(space, epoch, device, sealed)) WITHOUT ROWID;
CREATE TABLE entities(
  id INTEGER PRIMARY KEY, space INTEGER NOT NULL, eid BLOB NOT NULL, type TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
  title TEXT NOT NULL DEFAULT '', doc TEXT NOT NULL DEFAULT '{}',
  text_hash INTEGER NOT NULL DEFAULT 0,
  UNIQUE(space, eid));
CREATE INDEX entities_by_type ON entities(space, type, deleted);
CREATE INDEX entities_by_updated ON entities(space, updated);
CREATE TABLE vals(
  op INTEGER PRIMARY KEY, entity INTEGER NOT NULL, kind INTEGER NOT NULL,
  field TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, hlc INTEGER NOT NULL,
  src TEXT NOT NULL DEFAULT '');
CREATE INDEX vals_by_entity ON vals(entity, field, key);
CREATE TABLE superseded(op INTEGER PRIMARY KEY);
CREATE TABLE facets(field TEXT NOT NULL, value TEXT NOT NULL, entity INTEGER NOT NULL,
  PRIMARY KEY(field, value, entity)) WITHOUT ROWID;
CREATE INDEX facets_by_entity ON facets(entity);
CREATE VIRTUAL TABLE fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
)sql";

// Version 2: invites. authors.invite_expires is non-zero for an invite key
// (a key pair derived from an invite code, not a device): the wall-clock ms
// until which it may be redeemed (replica.h, create_invite).
constexpr const char* kV2 = R"sql(
ALTER TABLE authors ADD COLUMN invite_expires INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 3: the authors that have written, found without visiting every
// member row (version_vector and changes_since of a space with thousands of
// members who never wrote).
constexpr const char* kV3 = R"sql(
CREATE INDEX authors_writing ON authors(space, id) WHERE head_seq > 0;
)sql";

// Version 4 (issue 10).
//  held_usage   running totals of `held`, per (space, author) and per space
//               (author = x''): rows and envelope bytes, so the limits on
//               held changes are checked without counting the table.
//  spaces.author_rows   author rows named by the space's membership changes,
//               bounded per space (ReplicaOptions::max_authors_per_space).
// Held changes that can never apply (at or below their author's head, or by
// an author who may not write at all) are dropped on the way.
//  authors.invite_witnesses: for an invite key, the concatenated 32-byte keys
//  of the nodes that may witness its redeem (change.proto, Receipt); empty for
//  invites made before witnessed invites.
// Content rules (core/README.md): an entity's type is
// its best claim (rank, hlc, author, seq, op index), kept in claim_*; an
// overwrite of an op not live here is remembered with what judges it when
// that op arrives (superseded: the op's space, author key and seq<<15|index,
// the overwriting op, its entity, register slot hash and hlc). The
// materialization is rebuilt at open (meta 'content_rules').
//  authors_by_pk: whether a device is a member of any space held here
//  (Replica::member_of_any, a node's space-creation policy) in one lookup.
constexpr const char* kV4 = R"sql(
ALTER TABLE authors ADD COLUMN invite_witnesses BLOB NOT NULL DEFAULT x'';
ALTER TABLE spaces ADD COLUMN author_rows INTEGER NOT NULL DEFAULT 0;
UPDATE spaces SET author_rows = (SELECT count(*) FROM authors a WHERE a.space = spaces.id);
DELETE FROM held WHERE NOT EXISTS (
  SELECT 1 FROM authors a WHERE a.space = held.space AND a.pk = held.author
    AND held.seq > a.head_seq AND (a.role >= 2 OR (a.cutoff_role >= 2 AND held.seq <= a.cutoff_seq)));
CREATE TABLE held_usage(
  space INTEGER NOT NULL, author BLOB NOT NULL, held_rows INTEGER NOT NULL, held_bytes INTEGER NOT NULL,
  PRIMARY KEY(space, author)) WITHOUT ROWID;
INSERT INTO held_usage SELECT space, author, count(*), sum(length(envelope)) FROM held GROUP BY space, author;
INSERT INTO held_usage SELECT space, x'', count(*), sum(length(envelope)) FROM held GROUP BY space;
ALTER TABLE entities ADD COLUMN claim_rank INTEGER NOT NULL DEFAULT 1;
ALTER TABLE entities ADD COLUMN claim_hlc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN claim_op INTEGER NOT NULL DEFAULT 0;
DROP TABLE superseded;
CREATE TABLE superseded(
  space INTEGER NOT NULL, author BLOB NOT NULL, op INTEGER NOT NULL, by INTEGER NOT NULL,
  entity INTEGER NOT NULL, slot BLOB NOT NULL, hlc INTEGER NOT NULL,
  PRIMARY KEY(space, author, op, by)) WITHOUT ROWID;
ALTER TABLE authors ADD COLUMN cutoff_hash BLOB NOT NULL DEFAULT x'';
CREATE INDEX IF NOT EXISTS authors_by_pk ON authors(pk) WHERE role > 0;
)sql";

// Version 5 (issue 11): membership as a function of the set of membership
// changes (docs/membership.md).
//  mlog         a space's membership changes in replay order (HLC, author
//               key, seq), with whether each counts after resolution.
//  role_ranges  a member's role and scope for its own changes from from_seq
//               on (until the next row): what judges each change it wrote.
//  authors.scope, ranges_from: its current scope, and the seq from which its
//               current role holds (role_ranges is read only below it).
//  authors.invite_role: the role an invite key was created with (its `role`
//               is its current one: none once used or revoked).
//  epochs.key_id, starts: the key id of the first counted change that started
//               the epoch (the key writers use) and how many did.
//  grants.key_id: the key id a grant names (empty: not named).
//  entities.home: the entity's home city (16-byte id; itself for a `city`),
//               from the group of its best type claim: what scoped roles
//               are judged on. scoped_pending: entities a scoped writer wrote
//               before their home was known here (its arrival rebuilds).
//  spaces.key_sound: 0 while the current epoch's key reached someone who is
//               not a member (two admins rotated at once): an admin heals it.
// Every space is resolved again at open (meta 'membership_rules'); content
// changes are judged by role_ranges, not by changes.revoked.
constexpr const char* kV5 = R"sql(
CREATE TABLE mlog(
  space INTEGER NOT NULL, hlc INTEGER NOT NULL, pk BLOB NOT NULL, seq INTEGER NOT NULL,
  author INTEGER NOT NULL, counted INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY(space, hlc, pk, seq)) WITHOUT ROWID;
CREATE TABLE role_ranges(
  author INTEGER NOT NULL, from_seq INTEGER NOT NULL, role INTEGER NOT NULL, scope BLOB NOT NULL,
  PRIMARY KEY(author, from_seq)) WITHOUT ROWID;
ALTER TABLE authors ADD COLUMN scope BLOB NOT NULL DEFAULT x'';
ALTER TABLE authors ADD COLUMN ranges_from INTEGER NOT NULL DEFAULT 1;
ALTER TABLE authors ADD COLUMN invite_role INTEGER NOT NULL DEFAULT 0;
UPDATE authors SET invite_role = role WHERE invite_expires != 0;
ALTER TABLE epochs ADD COLUMN key_id BLOB NOT NULL DEFAULT x'';
ALTER TABLE epochs ADD COLUMN starts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE grants ADD COLUMN key_id BLOB NOT NULL DEFAULT x'';
ALTER TABLE spaces ADD COLUMN key_sound INTEGER NOT NULL DEFAULT 1;
ALTER TABLE entities ADD COLUMN home BLOB NOT NULL DEFAULT x'';
CREATE TABLE scoped_pending(space INTEGER NOT NULL, eid BLOB NOT NULL,
  PRIMARY KEY(space, eid)) WITHOUT ROWID;
INSERT INTO mlog SELECT a.space, c.hlc, a.pk, c.seq, a.id, 1
  FROM changes c JOIN authors a ON a.id = c.author WHERE c.kind = 1;
UPDATE changes SET revoked = 0 WHERE revoked != 0;
)sql";

// Version 6 (issue 13): costs that do not grow with history.
//  changes.space and changes_by_space: the log of one space in arrival order
//               is an index range (changes_since, rebuild_space); before, it
//               was every change of every author of the space, then sorted.
//               The index is on (space) alone: SQLite appends the rowid (id,
//               the arrival order) to every index entry.
//  authors.newest_hlc: the highest HLC of the author's changes stored here,
//               so the clock continues after the newest stored change without
//               reading the whole log at open.
//  vals         clustered by entity (WITHOUT ROWID, key entity, field, key,
//               kind, op), with vals_by_op for the lookups by op. Keyed by op
//               (ever increasing) as before, an entity's live values were
//               spread over every page written since it was created, and the
//               table grew with history while its live rows did not: get,
//               find and state_hash slowed as a space aged (measured:
//               docs/BENCHMARKS.md, "History growth"). Clustered, an edit
//               reuses the space of the value it replaces.
constexpr const char* kV6 = R"sql(
ALTER TABLE changes ADD COLUMN space INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET space = (SELECT a.space FROM authors a WHERE a.id = changes.author);
CREATE INDEX changes_by_space ON changes(space);
ALTER TABLE authors ADD COLUMN newest_hlc INTEGER NOT NULL DEFAULT 0;
UPDATE authors SET newest_hlc = coalesce(
  (SELECT max(c.hlc) FROM changes c WHERE c.author = authors.id), 0);
CREATE TABLE vals_by_entity_v6(
  entity INTEGER NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL,
  op INTEGER NOT NULL, value TEXT NOT NULL, hlc INTEGER NOT NULL, src TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(entity, field, key, kind, op)) WITHOUT ROWID;
INSERT INTO vals_by_entity_v6(entity, field, key, kind, op, value, hlc, src)
  SELECT entity, field, key, kind, op, value, hlc, src FROM vals;
DROP TABLE vals;
ALTER TABLE vals_by_entity_v6 RENAME TO vals;
CREATE UNIQUE INDEX vals_by_op ON vals(op);
)sql";

// Version 7 (issue 13): dark_epochs, the (space, epoch) pairs of which this
// replica stored content it held no key to open. A new key of an epoch
// rebuilds the space only when the epoch is dark; before, asking whether any
// content of the epoch was stored scanned the space's log (0.3 s at 1M
// changes, per grant received). Filled conservatively for older stores:
// every epoch with content, which is the question they asked before.
constexpr const char* kV7 = R"sql(
CREATE TABLE dark_epochs(
  space INTEGER NOT NULL, epoch INTEGER NOT NULL, PRIMARY KEY(space, epoch)) WITHOUT ROWID;
INSERT OR IGNORE INTO dark_epochs(space, epoch) SELECT DISTINCT space, epoch FROM changes WHERE kind = 0;
)sql";

// Version 8 (issue 13).
//  authors.wrote: authors_writing is partial on a flag set once, at an
//      author's first change, instead of on head_seq. An index whose WHERE
//      names a column the UPDATE sets is rewritten by that UPDATE: every
//      change, local or remote, rewrote its author's entry (one page of
//      each commit's ~21).
//  stale_entities: entities whose values a local commit or a large
//      apply_batch changed and whose summary document, facets and full text
//      are not refreshed yet (Replica::Impl::mark_stale): refreshed before
//      the next read, or at Replica::refresh(). Written in the transaction
//      that changed the values, so a crash between the two loses no
//      refresh.
constexpr const char* kV8 = R"sql(
ALTER TABLE authors ADD COLUMN wrote INTEGER NOT NULL DEFAULT 0;
UPDATE authors SET wrote = 1 WHERE head_seq > 0;
DROP INDEX IF EXISTS authors_writing;
CREATE INDEX authors_writing ON authors(space, id) WHERE wrote;
CREATE TABLE stale_entities(entity INTEGER PRIMARY KEY);
)sql";

// Version 9 (issue 13): staged, the puts of this device not yet sealed into
// a signed change (Replica::stage): one row per put, its body as it will
// appear in the sealed change (its ops numbered from `first`, `ops` of
// them), with its author (the device key), the pending change's seq and HLC,
// the clock at its first put (`at`, ms; 0: closed to new puts), and the
// body bytes staged so far in the space up to and including this put. Its
// values are in `vals` from the put's own SQLite commit: durable at once,
// sealed later.
constexpr const char* kV9 = R"sql(
CREATE TABLE staged(
  space INTEGER NOT NULL, first INTEGER NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,
  hlc INTEGER NOT NULL, at INTEGER NOT NULL, ops INTEGER NOT NULL, bytes INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY(space, first)) WITHOUT ROWID;
)sql";

constexpr const char* kMigrations[] = {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8, kV9};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion);

constexpr const char* kMetaTable = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID";

// A store whose file is at most this big gets PRAGMA quick_check at every
// open: it reads every page once, ~3 ms per MiB natively (measured on the
// 34 MB demo store: 96 ms), so at most ~25 ms here, about twice that in
// wasm, where the browser opens the store at every start. A larger store is
// checked on request (check_integrity, `urbis check`), so opening a node's
// big store stays cheap.
constexpr int64_t kQuickCheckMaxBytes = int64_t{8} << 20;

// One table, index, view or trigger of the schema, with its columns when it
// is a table (virtual tables included).
struct SchemaObject {
  std::string type, name;
  std::vector<std::string> columns;
};

Result<std::vector<SchemaObject>> read_schema(Db& db) {
  std::vector<SchemaObject> out;
  {
    auto s = db.prepare_once("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name");
    if (!s.is_ok()) return s.status();
    while (s->step()) out.push_back({s->str(0), s->str(1), {}});
    URBIS_RETURN_IF_ERROR(s->status());
  }
  for (SchemaObject& o : out) {
    if (o.type != "table") continue;
    auto s = db.prepare_once("SELECT name FROM pragma_table_info(?) ORDER BY cid");
    if (!s.is_ok()) return s.status();
    s->bind(1, o.name);
    while (s->step()) o.columns.push_back(s->str(0));
    URBIS_RETURN_IF_ERROR(s->status());
  }
  return out;
}

// What the migrations make: every migration run on an empty in-memory
// database, once per process. Whatever a later migration adds is expected
// without a second list to keep in step.
const Result<std::vector<SchemaObject>>& expected_schema() {
  static const Result<std::vector<SchemaObject>> expected = []() -> Result<std::vector<SchemaObject>> {
    auto db = Db::open(":memory:");
    if (!db.is_ok()) return db.status();
    URBIS_RETURN_IF_ERROR((*db)->exec(kMetaTable));
    for (const char* migration : kMigrations) URBIS_RETURN_IF_ERROR((*db)->exec(migration));
    return read_schema(**db);
  }();
  return expected;
}

// Every object the migrations make is in the store, with every column they
// give it. Extra objects or columns are not an error (none is read).
Status check_schema_objects(Db& db) {
  const auto& expected = expected_schema();
  if (!expected.is_ok()) return expected.status();
  auto found = read_schema(db);
  if (!found.is_ok())
    return Status(Code::Storage,
                  "the store's schema cannot be read (" + found.status().message() + "); the file is damaged");
  for (const SchemaObject& want : *expected) {
    const SchemaObject* have = nullptr;
    for (const SchemaObject& o : *found)
      if (o.name == want.name) have = &o;
    if (!have || have->type != want.type)
      return Status(Code::Storage, "the store is damaged: " + want.type + " '" + want.name + "' is missing");
    for (const std::string& column : want.columns) {
      bool present = false;
      for (const std::string& c : have->columns) present = present || c == column;
      if (!present)
        return Status(Code::Storage, "the store is damaged: table '" + want.name + "' has no column '" + column + "'");
    }
  }
  return Status::ok();
}

int64_t pragma_int(Db& db, const char* sql) {
  Stmt s = db.prepare(sql);
  return s.step() ? s.i64(0) : 0;
}

// PRAGMA quick_check or integrity_check: ok, or a Storage error listing the
// first problems SQLite reports.
Status run_check(Db& db, const char* pragma) {
  auto s = db.prepare_once(pragma);
  if (!s.is_ok()) return Status(Code::Storage, "the store is damaged: " + s.status().message());
  std::string problems;
  while (s->step()) {
    std::string line = s->str(0);
    if (line == "ok") continue;
    problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!s->status().is_ok()) return Status(Code::Storage, "the store is damaged: " + s->status().message());
  if (!problems.empty()) return Status(Code::Storage, "the store is damaged: " + problems);
  return Status::ok();
}

}  // namespace

Status prepare_schema(Db& db, bool synchronous_full, const std::function<Status(int, int)>& before_migration) {
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA journal_mode=WAL"));
  URBIS_RETURN_IF_ERROR(db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA busy_timeout=5000"));
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA cache_size=-16000"));
  // Statement journals and sorter spills stay in memory: on disk each was a
  // file created and unlinked per write (measured: one per local commit).
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA temp_store=MEMORY"));
  // Fewer, larger checkpoints: each WAL page is copied back once per ~16 MB.
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA wal_autocheckpoint=4000"));
  // A small store is checked page by page before anything is written to it.
  if (pragma_int(db, "PRAGMA page_count") * pragma_int(db, "PRAGMA page_size") <= kQuickCheckMaxBytes)
    URBIS_RETURN_IF_ERROR(run_check(db, "PRAGMA quick_check(10)"));
  URBIS_RETURN_IF_ERROR(db.exec(kMetaTable));
  int version = 0;
  {
    Stmt s = db.prepare("SELECT value FROM meta WHERE key='schema_version'");
    if (s.step()) version = static_cast<int>(s.i64(0));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (version == 0) {
    // No version but tables: meta was dropped or emptied, and the migrations
    // would fail on tables that exist. Say so rather than guess a version.
    Stmt s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='spaces'");
    if (s.step() && s.i64(0) > 0)
      return Status(Code::Storage, "the store is damaged: its schema version (table 'meta') is missing");
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (version > kSchemaVersion)
    return Status(Code::Storage, "store was written by a newer Urbis (schema version " + std::to_string(version) +
                                     ", this build knows " + std::to_string(kSchemaVersion) + ")");
  // A store of an earlier release: the caller may keep a copy of it first.
  if (version > 0 && version < kSchemaVersion && before_migration)
    URBIS_RETURN_IF_ERROR(before_migration(version, kSchemaVersion));
  for (int v = version + 1; v <= kSchemaVersion; ++v) {
    DbTransaction tx(db);
    URBIS_RETURN_IF_ERROR(tx.begin());
    URBIS_RETURN_IF_ERROR(db.exec(kMigrations[v - 1]));
    Stmt s = db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, v).run());
    URBIS_RETURN_IF_ERROR(tx.commit());
  }
  // A table or index dropped or replaced by another program (or lost with a
  // damaged page of sqlite_master) is refused here, by name, rather than
  // failing the first query that touches it.
  return check_schema_objects(db);
}

Status check_integrity(Db& db) {
  URBIS_RETURN_IF_ERROR(run_check(db, "PRAGMA integrity_check(10)"));
  return check_schema_objects(db);
}

}  // namespace urbis
