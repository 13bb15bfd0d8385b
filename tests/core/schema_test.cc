// The store's schema and its migrations (core/src/schema.cc): a store
// written by an older build opens, upgraded in place, with its data intact;
// one written by a newer build is refused.
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "schema.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "urbis-tests";
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return path.string();
}

// Runs `sql` on the file directly, as another program would.
void exec_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

int64_t query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  int64_t v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

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
  exec_sql(path,
           "DROP INDEX authors_writing;"
           "ALTER TABLE authors DROP COLUMN invite_expires;"
           "UPDATE meta SET value=1 WHERE key='schema_version';");
  // Version 4 (content rules): no claim columns, the old superseded table,
  // materialized under the old rules (rebuilt at open).
  exec_sql(path,
           "ALTER TABLE entities DROP COLUMN claim_rank;"
           "ALTER TABLE entities DROP COLUMN claim_hlc;"
           "ALTER TABLE entities DROP COLUMN claim_op;"
           "DROP TABLE superseded; CREATE TABLE superseded(op INTEGER PRIMARY KEY);"
           "DELETE FROM meta WHERE key='content_rules';");
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
    auto invite = (*r)->create_invite(space, Role::Viewer, 600);
    URBIS_REQUIRE_OK(invite);
    Device joiner{13};
    pull(*joiner.replica, **r, space);
    auto redeem = joiner->redeem_invite(invite->secret);
    URBIS_REQUIRE_OK(redeem);
    URBIS_REQUIRE_OK(joiner->apply(redeem->envelope));
    URBIS_REQUIRE_OK((*r)->apply(redeem->envelope));
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

}  // namespace
}  // namespace urbis
