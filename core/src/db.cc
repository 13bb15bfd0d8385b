#include "db.h"

namespace urbis {

Status Stmt::run() {
  while (step()) {
  }
  return status();
}

Status Stmt::status() const {
  if (ok()) return Status::ok();
  if (error_) return Status(Code::Storage, *error_);
  // The connection's message names what failed (a trigger's, a constraint's,
  // "database or disk is full"), while it is still this statement's.
  if (s_ && sqlite3_extended_errcode(sqlite3_db_handle(s_)) == rc_)
    return Status(Code::Storage, sqlite3_errmsg(sqlite3_db_handle(s_)));
  return Status(Code::Storage, sqlite3_errstr(rc_));
}

Result<std::unique_ptr<Db>> Db::open(const std::string& location) {
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(location.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return Status(Code::Storage, "cannot open " + location + ": " + msg);
  }
  sqlite3_extended_result_codes(handle, 1);
  return std::unique_ptr<Db>(new Db(handle));
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Db::error(std::string_view what) {
  return Status(Code::Storage, std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Db::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Status s(Code::Storage, err ? err : "sqlite3_exec failed");
    sqlite3_free(err);
    return s;
  }
  return Status::ok();
}

Stmt Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Stmt(it->second);
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    // Not cached: the next call tries again (the store may have been repaired).
    sqlite3_finalize(stmt);
    prepare_error_ =
        std::string("the store cannot run a query (") + sqlite3_errmsg(db_) + "); the store may be damaged";
    return Stmt::failed(rc == SQLITE_OK ? SQLITE_ERROR : rc, &prepare_error_);
  }
  cache_.emplace(sql, stmt);
  return Stmt(stmt);
}

Result<Stmt> Db::prepare_once(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return error("prepare");
  return Stmt(stmt, true);
}

}  // namespace urbis
