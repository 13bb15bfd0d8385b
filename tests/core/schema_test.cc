// The store's schema and its migrations (core/src/schema.cc): a store
// written by an older build opens, upgraded in place, with its data intact;
// one written by a newer build is refused.

#include <fstream>
#include <string>

#include "kV5StoreFile.h"
#include "schema.h"
#include "store_util.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

bool authors_have_invite_column(const std::string& path) {
  return query_int(path, "SELECT count(*) FROM pragma_table_info('authors') WHERE name='invite_expires'") == 1;
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
    auto receipted = (*r)->witness_redeem(redeem->envelope, node.device(), [&](ByteView m) { return node.sign(m); });
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

// tests/core/data/v5-store.db, written by the release before schema version
// 6 (commit 2bc081b; how: tests/core/data/README.md): the owner's store of
// two spaces, 50 and 5 changes by two authors. What that release computed:
constexpr const char* kV5Space1 = "52648c7493891e9862b924c7038df170";
constexpr const char* kV5Space2 = "5a12a57c091a2af1408cd914ae5520af";
constexpr const char* kV5Hash1 = "e7574f215729234afcad10d076215f7d744c9a8de1056c9d79d6750ce8ce108c";
constexpr const char* kV5Hash2 = "6d6f961aa63c3dd46e363b1559a66dc9727ce1d51fc2ad068ba97dfd07a82ce6";

TEST_CASE("schema: a version 5 store written by the previous release opens, upgraded, with its data") {
  const std::string path = temp_db("schema-v5.db");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(kV5StoreFile), sizeof kV5StoreFile);
  }
  REQUIRE(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == 5);
  const int64_t newest_hlc = query_int(path, "SELECT max(hlc) FROM changes");
  auto log_of = [&](const char* space_hex) {
    // The log in arrival order, as the previous release stored it.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               "SELECT c.envelope FROM changes c JOIN authors a ON a.id=c.author "
                               "JOIN spaces p ON p.id=a.space WHERE hex(p.sid)=upper(?) ORDER BY c.id",
                               -1, &s, nullptr) == SQLITE_OK);
    sqlite3_bind_text(s, 1, space_hex, -1, SQLITE_STATIC);
    std::vector<Bytes> log;
    while (sqlite3_step(s) == SQLITE_ROW) {
      auto p = static_cast<const uint8_t*>(sqlite3_column_blob(s, 0));
      log.emplace_back(p, p + sqlite3_column_bytes(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return log;
  };
  const std::vector<Bytes> old1 = log_of(kV5Space1), old2 = log_of(kV5Space2);
  REQUIRE(old1.size() == 50);
  REQUIRE(old2.size() == 5);

  // The owner's key: the release made it from this seed; the clock starts
  // where that release's did, so only the store can move it past its changes.
  auto env = make_deterministic_env(61);
  Identity owner = Identity::generate(*env);
  auto r = Replica::open(path, std::move(owner), *env);
  URBIS_REQUIRE_OK(r);
  const SpaceId s1 = *SpaceId::from_hex(kV5Space1), s2 = *SpaceId::from_hex(kV5Space2);
  CHECK(hash_of(**r, s1).hex() == kV5Hash1);
  CHECK(hash_of(**r, s2).hex() == kV5Hash2);
  auto log1 = (*r)->changes_since(s1, {});
  URBIS_REQUIRE_OK(log1);
  CHECK(*log1 == old1);
  auto log2 = (*r)->changes_since(s2, {});
  URBIS_REQUIRE_OK(log2);
  CHECK(*log2 == old2);
  // A device that knows the first 40 of space 1 gets the rest, in order.
  Device fresh{63};
  for (size_t i = 0; i < 40; ++i) {
    auto a = fresh->apply(old1[i]);
    // Changes of space 1 only; the fresh device is no member, so it holds
    // none of the content it cannot read, but the log applies.
    REQUIRE_MESSAGE(a.is_ok(), a.status().to_string());
  }
  auto vv = fresh->version_vector(s1);
  URBIS_REQUIRE_OK(vv);
  auto rest = (*r)->changes_since(s1, *vv);
  URBIS_REQUIRE_OK(rest);
  CHECK(*rest == std::vector<Bytes>(old1.begin() + 40, old1.end()));

  // It takes writes, dated after everything it held.
  Transaction tx = (*r)->begin(s1);
  EntityId e = tx.create("need");
  tx.set_text(e, "title", "en", "Written after the upgrade");
  URBIS_REQUIRE_OK((*r)->commit(tx));
  r->reset();
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion);
  CHECK(query_int(path, "SELECT hlc FROM changes ORDER BY id DESC LIMIT 1") > newest_hlc);
  CHECK(query_int(path, "SELECT count(*) FROM changes WHERE space=0") == 0);
  CHECK(query_int(path, "SELECT max(newest_hlc) FROM authors") == query_int(path, "SELECT max(hlc) FROM changes"));
  // The log of a space is read as an index range, whatever else the store holds.
  const std::string plan =
      query_plan(path, "SELECT author, seq, envelope FROM changes WHERE space=1 AND id>=1 ORDER BY id");
  INFO(plan);
  CHECK(plan.find("USING INDEX changes_by_space (space=? AND rowid>?)") != std::string::npos);
  CHECK(plan.find("TEMP B-TREE") == std::string::npos);
  // An entity's values are one range of the table (clustered by entity),
  // and a value is found by its op through an index.
  const std::string by_entity = query_plan(path, "SELECT op, value FROM vals WHERE entity=1");
  INFO(by_entity);
  CHECK(by_entity.find("SEARCH vals USING PRIMARY KEY (entity=?)") != std::string::npos);
  const std::string by_op = query_plan(path, "SELECT entity, value FROM vals WHERE op=1");
  INFO(by_op);
  CHECK(by_op.find("USING INDEX vals_by_op (op=?)") != std::string::npos);
  CHECK(query_int(path, "SELECT count(*) FROM vals") > 0);
  // Every epoch with content counts as dark (the question older stores
  // asked of their log), and a grant asks it of one row.
  CHECK(query_int(path, "SELECT count(*) FROM dark_epochs") ==
        query_int(path, "SELECT count(*) FROM (SELECT DISTINCT space, epoch FROM changes WHERE kind=0)"));
  const std::string dark = query_plan(path, "SELECT 1 FROM dark_epochs WHERE space=1 AND epoch=1");
  INFO(dark);
  CHECK(dark.find("SEARCH dark_epochs USING PRIMARY KEY (space=? AND epoch=?)") != std::string::npos);
}

TEST_CASE("schema: a store from a newer build is refused, untouched") {
  const std::string path = temp_db("schema-newer.db");
  {
    Device d{14, path};
    URBIS_REQUIRE_OK(d->create_space("Future"));
  }
  exec_sql(path, "UPDATE meta SET value=" + std::to_string(kSchemaVersion + 1) + " WHERE key='schema_version';");
  auto env = make_deterministic_env(15);
  auto r = Replica::open(path, Identity::generate(*env), *env);
  CHECK(r.code() == Code::Storage);
  CHECK(r.status().message().find("newer") != std::string::npos);
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion + 1);
}

// ReplicaOptions::before_migration: the native `urbis` keeps a copy of an
// older store there (replica.db.pre-vN) before it is migrated.
TEST_CASE("schema: before_migration runs once before an older store is migrated; its error migrates nothing") {
  const std::string path = temp_db("schema-before-migration.db");
  {
    Device d{16, path};
    URBIS_REQUIRE_OK(d->create_space("Upgrade"));
  }
  auto env = make_deterministic_env(17);
  std::vector<std::pair<int, int>> calls;
  ReplicaOptions options;
  options.before_migration = [&](int from, int to) {
    calls.emplace_back(from, to);
    return Status::ok();
  };
  // A new store and a current one: not called.
  URBIS_REQUIRE_OK(Replica::open(":memory:", Identity::generate(*env), *env, options));
  URBIS_REQUIRE_OK(Replica::open(path, Identity::generate(*env), *env, options));
  CHECK(calls.empty());

  exec_sql(path, kUndoV7);  // what the release before version 7 wrote
  const auto version = [&] { return query_int(path, "SELECT value FROM meta WHERE key='schema_version'"); };
  const auto has_dark_epochs = [&] {
    return query_int(path, "SELECT count(*) FROM sqlite_master WHERE name='dark_epochs'") == 1;
  };
  REQUIRE(version() == 6);

  // Refused (the copy could not be made): the open fails with that error and
  // the store is still version 6.
  options.before_migration = [&](int from, int to) {
    calls.emplace_back(from, to);
    return Status(Code::Storage, "no room for the copy");
  };
  auto refused = Replica::open(path, Identity::generate(*env), *env, options);
  CHECK(refused.code() == Code::Storage);
  CHECK(refused.status().message() == "no room for the copy");
  CHECK(calls == std::vector<std::pair<int, int>>{{6, kSchemaVersion}});
  CHECK(version() == 6);
  CHECK_FALSE(has_dark_epochs());

  // Agreed: another connection sees the unmigrated store from the hook, and
  // the store is migrated after it.
  calls.clear();
  int64_t seen_from_hook = -1;
  options.before_migration = [&](int from, int to) {
    calls.emplace_back(from, to);
    seen_from_hook = version();
    return Status::ok();
  };
  auto opened = Replica::open(path, Identity::generate(*env), *env, options);
  URBIS_REQUIRE_OK(opened);
  CHECK(calls == std::vector<std::pair<int, int>>{{6, kSchemaVersion}});
  CHECK(seen_from_hook == 6);
  CHECK(version() == kSchemaVersion);
  CHECK(has_dark_epochs());
  auto spaces = (*opened)->spaces();
  URBIS_REQUIRE_OK(spaces);
  CHECK(spaces->size() == 1);
}

TEST_CASE("schema: version 8 finds the authors that wrote by a flag set once; a version 7 store keeps its log") {
  const std::string path = temp_db("schema-v8.db");
  SpaceId space;
  VersionVector before;
  size_t changes = 0;
  Device editor{82}, later{83};
  auto edit = [&](Device& d, const char* title) {
    Transaction tx = d->begin(space);
    tx.set_text(tx.create("project"), "title", "en", title);
    URBIS_REQUIRE_OK(d->commit(tx));
  };
  {
    Device owner{81, path};
    auto s = owner->create_space("Writers");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(owner->add_member(space, editor.key, Role::Editor));
    URBIS_REQUIRE_OK(owner->add_member(space, later.key, Role::Editor));
    pull(*editor.replica, *owner.replica, space);
    pull(*later.replica, *owner.replica, space);
    edit(editor, "Written by the editor");
    pull(*owner.replica, *editor.replica, space);
    edit(owner, "Written by the owner");
    before = *owner->version_vector(space);
    changes = owner->changes_since(space, {})->size();
  }
  // Three member rows, two of them wrote.
  CHECK(query_int(path, "SELECT count(*) FROM authors") == 3);
  CHECK(query_int(path, "SELECT count(*) FROM authors WHERE wrote") == 2);
  exec_sql(path, kUndoV8);
  REQUIRE(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == 7);

  Device owner{81, path};
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion);
  CHECK(query_int(path, "SELECT count(*) FROM authors WHERE wrote") == 2);
  CHECK(*owner->version_vector(space) == before);
  CHECK(owner->changes_since(space, {})->size() == changes);
  // The writers of a space are read by the index, not by every member row.
  CHECK(query_plan(path, "SELECT id, pk, head_seq FROM authors WHERE space=1 AND wrote AND head_seq>0")
            .find("authors_writing") != std::string::npos);
  // An author's first change flags it; the log and the vector follow.
  edit(later, "Written by the third member");
  pull(*owner.replica, *later.replica, space);
  CHECK(query_int(path, "SELECT count(*) FROM authors WHERE wrote") == 3);
  CHECK(owner->version_vector(space)->at(later.key) == 1);
  auto from_later = owner->changes_since(space, before);
  URBIS_REQUIRE_OK(from_later);
  CHECK(from_later->size() == 1);
}

TEST_CASE("schema: version 9 gives a version 8 store the table of staged puts; it stages and seals") {
  const std::string path = temp_db("schema-v9.db");
  SpaceId space;
  EntityId project;
  uint64_t committed = 0;
  Device reader{92};
  {
    Device owner{91, path};
    auto s = owner->create_space("Staged");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(owner->add_member(space, reader.key, Role::Viewer));
    Transaction tx = owner->begin(space);
    project = tx.create("project");
    tx.set(project, "stage", "idea");
    auto info = owner->commit(tx);
    URBIS_REQUIRE_OK(info);
    committed = info->seq;
  }
  exec_sql(path, kUndoV9);
  REQUIRE(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == 8);

  Device owner{91, path};
  CHECK(query_int(path, "SELECT value FROM meta WHERE key='schema_version'") == kSchemaVersion);
  CHECK(query_int(path, "SELECT count(*) FROM staged") == 0);
  Transaction tx = owner->begin(space);
  tx.set(project, "stage", "planning");
  URBIS_REQUIRE_OK(owner->stage(tx));
  CHECK(query_int(path, "SELECT count(*) FROM staged") == 1);
  auto sealed = owner->seal(space);
  URBIS_REQUIRE_OK(sealed);
  REQUIRE(sealed->has_value());
  CHECK((*sealed)->seq == committed + 1);
  CHECK(query_int(path, "SELECT count(*) FROM staged") == 0);
  pull(*reader.replica, *owner.replica, space);
  auto e = reader->get(space, project);
  URBIS_REQUIRE_OK(e);
  CHECK(e->fields.at("stage").winner.value == "planning");
  CHECK(hash_of(*reader.replica, space) == hash_of(*owner.replica, space));
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
      {"DROP INDEX vals_by_op;", "'vals_by_op' is missing"},
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
