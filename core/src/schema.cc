#include "schema.h"

#include <string>

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

// Version 4 (issue 10). Content rules (core/README.md): an entity's type is
// its best claim (rank, hlc, author, seq, op index), kept in claim_*; an
// overwrite of an op not live here is remembered with what judges it when
// that op arrives (superseded: the op's space, author key and seq<<15|index,
// the overwriting op, its entity, register slot hash and hlc). The
// materialization is rebuilt at open (meta 'content_rules').
constexpr const char* kV4 = R"sql(
ALTER TABLE entities ADD COLUMN claim_rank INTEGER NOT NULL DEFAULT 1;
ALTER TABLE entities ADD COLUMN claim_hlc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN claim_op INTEGER NOT NULL DEFAULT 0;
DROP TABLE superseded;
CREATE TABLE superseded(
  space INTEGER NOT NULL, author BLOB NOT NULL, op INTEGER NOT NULL, by INTEGER NOT NULL,
  entity INTEGER NOT NULL, slot BLOB NOT NULL, hlc INTEGER NOT NULL,
  PRIMARY KEY(space, author, op, by)) WITHOUT ROWID;
)sql";

constexpr const char* kMigrations[] = {kV1, kV2, kV3, kV4};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion);

}  // namespace

Status prepare_schema(Db& db, bool synchronous_full) {
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA journal_mode=WAL"));
  URBIS_RETURN_IF_ERROR(
      db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA busy_timeout=5000"));
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA cache_size=-16000"));
  // Fewer, larger checkpoints: each WAL page is copied back once per ~16 MB.
  URBIS_RETURN_IF_ERROR(db.exec("PRAGMA wal_autocheckpoint=4000"));
  URBIS_RETURN_IF_ERROR(
      db.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID"));
  int version = 0;
  {
    Stmt s = db.prepare("SELECT value FROM meta WHERE key='schema_version'");
    if (s.step()) version = static_cast<int>(s.i64(0));
  }
  if (version > kSchemaVersion)
    return Status(Code::Storage, "store was written by a newer Urbis (schema version " +
                                     std::to_string(version) + ", this build knows " +
                                     std::to_string(kSchemaVersion) + ")");
  for (int v = version + 1; v <= kSchemaVersion; ++v) {
    DbTransaction tx(db);
    URBIS_RETURN_IF_ERROR(tx.begin());
    URBIS_RETURN_IF_ERROR(db.exec(kMigrations[v - 1]));
    Stmt s = db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, v).run());
    URBIS_RETURN_IF_ERROR(tx.commit());
  }
  return Status::ok();
}

}  // namespace urbis
