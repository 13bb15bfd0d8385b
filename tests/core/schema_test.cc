// The store's schema and its migrations (core/src/schema.cc): a store
// written by an older build opens, upgraded in place, with its data intact;
// one written by a newer build is refused.

#include <fstream>
#include <string>

#include "schema.h"
#include "store_util.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

bool authors_have_invite_column(const std::string& path) {
  return query_int(path,
                   "SELECT count(*) FROM pragma_table_info('authors') WHERE name='invite_expires'") == 1;
}

TEST_CASE("schema: a version 1 store (before invites) opens, upgraded, with its data") {
  const std::string path = temp_db("schema-v1.db");
  auto env = make_deterministic_env(11);
  Identity id = Identity::generate(*env);
  auto wrapped = id.wrap("pw", *env, PwhashCost::Minimal);
  URBIS_REQUIRE_OK(wrapped);
  Device editor{12};
  SpaceId space;
  EntityId project;
  Hash before;
  {
    auto r = Replica::open(path, std::move(id), *env);
    URBIS_REQUIRE_OK(r);
    auto s = (*r)->create_space("Old store");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK((*r)->add_member(space, editor.key, Role::Editor));
    Transaction tx = (*r)->begin(space);
    project = tx.create("project");
    tx.set_text(project, "title", "en", "Flood sensors");
    URBIS_REQUIRE_OK((*r)->commit(tx));
    before = hash_of(**r, space);
  }
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion);
  CHECK(authors_have_invite_column(path));
  // Make it exactly what version 1 wrote: no invite column, no index of
  // writing authors, version 1.
  exec_sql(path, kUndoV5);
  exec_sql(path,
           "DROP INDEX authors_writing;"
           "ALTER TABLE authors DROP COLUMN invite_witnesses;"
           "DROP TABLE held_usage;"
           "ALTER TABLE spaces DROP COLUMN author_rows;"
           "ALTER TABLE authors DROP COLUMN invite_expires;"
           "UPDATE meta SET value=1 WHERE key='schema_version';");
  // Version 4 (content rules): no claim columns, the old superseded table,
  // materialized under the old rules (rebuilt at open).
  exec_sql(path,
           "ALTER TABLE entities DROP COLUMN claim_rank;"
           "ALTER TABLE entities DROP COLUMN claim_hlc;"
           "ALTER TABLE entities DROP COLUMN claim_op;"
           "DROP TABLE superseded; CREATE TABLE superseded(op INTEGER PRIMARY KEY);"
           "DROP INDEX authors_by_pk;"
           "DELETE FROM meta WHERE key='content_rules';"
           "ALTER TABLE authors DROP COLUMN cutoff_hash;");
  REQUIRE_FALSE(authors_have_invite_column(path));

  auto again = Identity::unwrap(*wrapped, "pw");
  URBIS_REQUIRE_OK(again);
  {
    auto r = Replica::open(path, std::move(again).value(), *env);
    URBIS_REQUIRE_OK(r);
    CHECK(hash_of(**r, space) == before);
    auto e = (*r)->get(space, project);
    URBIS_REQUIRE_OK(e);
    CHECK(e->text("title", "en")->winner.value == "Flood sensors");
    // The upgraded store takes invites, and a device joins by one.
    // (Witnessed by a node key of its own; here the store itself plays the node.)
    auto node_env = make_deterministic_env(16);
    const Identity node = Identity::generate(*node_env);
    auto invite = (*r)->create_invite(space, Role::Viewer, 600, {node.device()});
    URBIS_REQUIRE_OK(invite);
    Device joiner{13};
    pull(*joiner.replica, **r, space);
    auto redeem = joiner->redeem_invite(invite->secret);
    URBIS_REQUIRE_OK(redeem);
    auto receipted = (*r)->witness_redeem(redeem->envelope, node.device(),
                                          [&](ByteView m) { return node.sign(m); });
    URBIS_REQUIRE_OK(receipted);
    REQUIRE(receipted->has_value());
    URBIS_REQUIRE_OK(joiner->apply(**receipted));
    URBIS_REQUIRE_OK((*r)->apply(**receipted));
    CHECK(joiner->get(space, project).is_ok());
    CHECK(hash_of(*joiner.replica, space) == hash_of(**r, space));
  }
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion);
  CHECK(authors_have_invite_column(path));
  CHECK(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name='authors_writing'") == 1);
  CHECK(query_int(path, "SELECT count(*) FROM authors WHERE invite_expires>0") == 1);
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='content_rules'") >= 2);
  CHECK(query_int(path, "SELECT count(*) FROM entities WHERE claim_hlc>0") == 1);
}

TEST_CASE("schema: a store from a newer build is refused, untouched") {
  const std::string path = temp_db("schema-newer.db");
  {
    Device d{14, path};
    URBIS_REQUIRE_OK(d->create_space("Future"));
  }
  exec_sql(path, "UPDATE meta SET value=" + std::to_string(kSchemaVersion + 1) +
                     " WHERE key='schema_version';");
  auto env = make_deterministic_env(15);
  auto r = Replica::open(path, Identity::generate(*env), *env);
  CHECK(r.code() == Code::Storage);
  CHECK(r.status().message().find("newer") != std::string::npos);
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion + 1);
}

// A store with one space and a few entities, closed (its WAL checkpointed
// into the file, so the file alone is the store).
SpaceId make_store(const std::string& path, uint64_t seed) {
  SpaceId space;
  {
    Device d{seed, path};
    auto s = d->create_space("Damaged");
    URBIS_REQUIRE_OK(s);
    space = *s;
    for (int i = 0; i < 50; ++i) {
      Transaction tx = d->begin(space);
      EntityId e = tx.create("project");
      tx.set_text(e, "title", "en", "Project number " + std::to_string(i) + std::string(200, 'x'));
      URBIS_REQUIRE_OK(d->commit(tx));
    }
  }
  exec_sql(path, "PRAGMA wal_checkpoint(TRUNCATE);");
  return space;
}

Result<std::unique_ptr<Replica>> reopen(const std::string& path, uint64_t seed) {
  auto env = make_deterministic_env(seed);
  return Replica::open(path, Identity::generate(*env), *env);
}

TEST_CASE("schema: a store missing a table, an index or a column is refused at open, by name") {
  struct Damage {
    const char* sql;
    const char* named;  // what the error must name
  };
  const Damage damages[] = {
      {"DROP TABLE held;", "'held' is missing"},
      {"DROP TABLE changes;", "'changes' is missing"},
      {"DROP INDEX vals_by_entity;", "'vals_by_entity' is missing"},
      {"DROP TABLE fts;", "'fts' is missing"},
      {"DROP TABLE meta;", "table 'meta') is missing"},
      {"DELETE FROM meta;", "table 'meta') is missing"},
      {"ALTER TABLE entities DROP COLUMN text_hash;", "no column 'text_hash'"},
      // Replaced by a table of the same name but another shape.
      {"DROP TABLE superseded; CREATE TABLE superseded(x);", "table 'superseded' has no column"},
  };
  for (const Damage& d : damages) {
    CAPTURE(d.sql);
    const std::string path = temp_db("schema-damaged.db");
    make_store(path, 20);
    exec_sql(path, d.sql);
    const int64_t changes_before =
        d.sql == std::string("DROP TABLE changes;") ? -1 : query_int(path, "SELECT count(*) FROM changes");
    auto r = reopen(path, 21);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Code::Storage);
    INFO(r.status().message());
    CHECK(r.status().message().find(d.named) != std::string::npos);
    // Refused before anything was written: the rest of the store is as it was.
    if (changes_before >= 0) CHECK(query_int(path, "SELECT count(*) FROM changes") == changes_before);
  }
}

TEST_CASE("schema: a store with a damaged page is refused at open, and check_integrity names it") {
  const std::string path = temp_db("schema-corrupt.db");
  const SpaceId space = make_store(path, 22);
  {
    // A healthy store passes the full check.
    auto r = reopen(path, 23);
    URBIS_REQUIRE_OK(r);
    URBIS_REQUIRE_OK((*r)->check_integrity());
    CHECK((*r)->find(space, Query{}).is_ok());
  }
  exec_sql(path, "PRAGMA wal_checkpoint(TRUNCATE);");
  const int64_t page_size = query_int(path, "PRAGMA page_size");
  const int64_t root = query_int(path, "SELECT rootpage FROM sqlite_master WHERE name='vals'");
  REQUIRE(root > 1);
  {
    // Garbage over the b-tree page of a table, as a bad sector or a torn copy leaves it.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp((root - 1) * page_size);
    const std::string garbage(static_cast<size_t>(page_size), '\xA5');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto r = reopen(path, 24);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.code() == Code::Storage);
  INFO(r.status().message());
  CHECK(r.status().message().find("damaged") != std::string::npos);
}

TEST_CASE("db: a statement the store cannot prepare is a Storage error, never an abort") {
  auto db = Db::open(":memory:");
  URBIS_REQUIRE_OK(db);
  Stmt s = (*db)->prepare("SELECT x FROM no_such_table WHERE x=?");
  s.bind(1, 5);
  CHECK_FALSE(s.step());
  Status st = s.status();
  CHECK(st.code() == Code::Storage);
  CHECK(st.message().find("no such table") != std::string::npos);
  CHECK((*db)->prepare("INSERT INTO no_such_table VALUES(1)").run().code() == Code::Storage);
  // Not cached as broken: once the table exists, the same SQL works.
  URBIS_REQUIRE_OK((*db)->exec("CREATE TABLE no_such_table(x)"));
  Stmt again = (*db)->prepare("SELECT x FROM no_such_table WHERE x=?");
  again.bind(1, 5);
  CHECK_FALSE(again.step());
  URBIS_REQUIRE_OK(again.status());
}

}  // namespace
}  // namespace urbis
