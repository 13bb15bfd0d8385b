// Helpers for core tests that look at a replica's store file directly, as
// another program would: a fresh temporary path, and raw SQL on the file.
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace urbis::testing {

// Undoes schema version 9 (issue 13: staged puts).
inline constexpr const char* kUndoV9 = "DROP TABLE staged; UPDATE meta SET value=8 WHERE key='schema_version';";

// Undoes schema versions 9 and 8 (issue 13: authors_writing on a flag set
// once, stale entities).
inline constexpr const char* kUndoV8 =
    "DROP TABLE staged; DROP TABLE stale_entities; DROP INDEX authors_writing; ALTER TABLE authors DROP COLUMN wrote;"
    "CREATE INDEX authors_writing ON authors(space, id) WHERE head_seq > 0;"
    "UPDATE meta SET value=7 WHERE key='schema_version';";

// Undoes schema versions 9 to 7 (issue 13: dark epochs).
inline const std::string kUndoV7 =
    std::string(kUndoV8) + "DROP TABLE dark_epochs; UPDATE meta SET value=6 WHERE key='schema_version';";

// Undoes schema versions 9 to 6 (issue 13: the log by space, authors'
// newest HLC, vals clustered by entity).
inline const std::string kUndoV6 =
    std::string(kUndoV7) +
    "CREATE TABLE vals_v5(op INTEGER PRIMARY KEY, entity INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  field TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, hlc INTEGER NOT NULL,"
    "  src TEXT NOT NULL DEFAULT '');"
    "INSERT INTO vals_v5 SELECT op, entity, kind, field, key, value, hlc, src FROM vals;"
    "DROP TABLE vals; ALTER TABLE vals_v5 RENAME TO vals;"
    "CREATE INDEX vals_by_entity ON vals(entity, field, key);"
    "DROP INDEX changes_by_space; ALTER TABLE changes DROP COLUMN space;"
    "ALTER TABLE authors DROP COLUMN newest_hlc;"
    "UPDATE meta SET value=5 WHERE key='schema_version';";

// Undoes schema versions 6 and 5 (issue 11, membership resolution) on a
// store, so a test can make what an older release wrote.
inline const std::string kUndoV5 = std::string(kUndoV6) +
                                   "DROP TABLE mlog; DROP TABLE role_ranges;"
                                   "ALTER TABLE authors DROP COLUMN scope; ALTER TABLE authors DROP COLUMN ranges_from;"
                                   "ALTER TABLE authors DROP COLUMN invite_role;"
                                   "ALTER TABLE epochs DROP COLUMN key_id; ALTER TABLE epochs DROP COLUMN starts;"
                                   "ALTER TABLE grants DROP COLUMN key_id; ALTER TABLE spaces DROP COLUMN key_sound;"
                                   "ALTER TABLE entities DROP COLUMN home; DROP TABLE scoped_pending;"
                                   "DELETE FROM meta WHERE key='membership_rules';";

// A path for a store named `name` in the temporary directory, with any store
// (and WAL/SHM files) a previous run left there removed.
inline std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "urbis-tests";
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return path.string();
}

// Runs `sql` on the file directly, as another program would.
inline void exec_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

// Runs `sql` returning one integer on the store file at `path`; -1 when it
// returns no row.
inline int64_t query_int(const std::string& path, const std::string& sql) {
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

// The plan SQLite chooses for `sql` on the store at `path`, one line per step.
inline std::string query_plan(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr) == SQLITE_OK);
  std::string plan;
  while (sqlite3_step(s) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
    plan += '\n';
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return plan;
}

}  // namespace urbis::testing
