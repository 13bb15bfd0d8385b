// A thin RAII layer over the SQLite C API, internal to the core: one Db per
// connection, prepared statements cached by SQL text, and a Stmt wrapper
// whose step()/column accessors keep call sites short. Errors surface as
// urbis::Status with Code::Storage.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis {

class Stmt {
 public:
  // `owned`: finalize on destruction (one-off SQL); else reset for reuse.
  explicit Stmt(sqlite3_stmt* s, bool owned = false) : s_(s), owned_(owned) {}
  // A statement that could not be prepared (a damaged store: a table or
  // column missing): binds are ignored, step() returns false, and run() /
  // status() give a Storage error with SQLite's message, `error`.
  static Stmt failed(int rc, const std::string* error) {
    Stmt s(nullptr);
    s.rc_ = rc;
    s.error_ = error;
    return s;
  }
  ~Stmt() {
    if (!s_) return;
    if (owned_) {
      sqlite3_finalize(s_);
    } else {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(o.s_), owned_(o.owned_), rc_(o.rc_), error_(o.error_) { o.s_ = nullptr; }

  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, uint64_t v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, uint32_t v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, std::string_view v) {
    // An empty view may have no data: SQLite would bind NULL, not ''.
    sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, ByteView v) {
    // A zero-length blob must still bind as a blob, not NULL.
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(s_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }

  // true: a row is available; false: done. Errors throw-free: see ok().
  bool step() {
    if (!s_) return false;  // failed(): rc_ keeps the prepare error
    rc_ = sqlite3_step(s_);
    return rc_ == SQLITE_ROW;
  }
  // Runs to completion; Storage error on failure.
  Status run();
  bool ok() const { return rc_ == SQLITE_ROW || rc_ == SQLITE_DONE || rc_ == SQLITE_OK; }
  Status status() const;

  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string str(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, sqlite3_column_bytes(s_, col)) : std::string();
  }
  ByteView blob(int col) const {
    auto p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
    return {p, static_cast<size_t>(sqlite3_column_bytes(s_, col))};
  }
  Bytes bytes(int col) const {
    auto b = blob(col);
    return Bytes(b.begin(), b.end());
  }
  template <typename Id>
  Id id(int col) const {
    Id out;
    auto b = blob(col);
    if (b.size() == Id::kSize) std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  }

 private:
  sqlite3_stmt* s_;
  bool owned_ = false;
  int rc_ = SQLITE_OK;
  const std::string* error_ = nullptr;  // failed(): the prepare error, owned by the Db
};

class Db {
 public:
  static Result<std::unique_ptr<Db>> open(const std::string& location);
  ~Db();
  Status exec(std::string_view sql);
  // A cached prepared statement, reset when the returned Stmt goes away.
  // When the SQL cannot be prepared (a bug, or a damaged store whose schema
  // lacks a table: prepare_schema refuses such a store at open, but the
  // file can change under a running process) the Stmt is failed(): its
  // status() is a Storage error naming SQLite's complaint. Never aborts.
  Stmt prepare(const char* sql);
  // A statement for SQL built at run time; finalized when dropped.
  Result<Stmt> prepare_once(const std::string& sql);
  sqlite3* handle() { return db_; }
  int64_t last_insert_rowid() { return sqlite3_last_insert_rowid(db_); }
  int changes() { return sqlite3_changes(db_); }
  // Inside a transaction (SQLite may end one itself on a full disk or an I/O
  // error, rolling it back).
  bool in_transaction() { return sqlite3_get_autocommit(db_) == 0; }
  Status error(std::string_view what);

  // Sets how long a statement waits for another connection's lock (ms) for
  // its lifetime, then restores the setting before it.
  class BusyTimeout {
   public:
    BusyTimeout(Db& db, int ms) : db_(db) {
      Stmt s = db.prepare("PRAGMA busy_timeout");
      if (s.step()) before_ = static_cast<int>(s.i64(0));
      sqlite3_busy_timeout(db.db_, ms);
    }
    ~BusyTimeout() { sqlite3_busy_timeout(db_.db_, before_); }
    BusyTimeout(const BusyTimeout&) = delete;
    BusyTimeout& operator=(const BusyTimeout&) = delete;

   private:
    Db& db_;
    int before_ = 0;
  };

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
  std::string prepare_error_;  // the message of the last failed prepare()
};

// BEGIN IMMEDIATE ... COMMIT, rolled back unless commit() succeeded.
class DbTransaction {
 public:
  explicit DbTransaction(Db& db) : db_(db) {}
  Status begin() {
    auto s = db_.prepare("BEGIN IMMEDIATE").run();
    open_ = s.is_ok();
    return s;
  }
  Status commit() {
    auto s = db_.prepare("COMMIT").run();
    if (s.is_ok()) open_ = false;
    return s;
  }
  void rollback() {
    if (open_) (void)db_.exec("ROLLBACK");
    open_ = false;
  }
  ~DbTransaction() { rollback(); }

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace urbis
