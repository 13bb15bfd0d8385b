// Core benchmarks: local commit, remote apply, Discover query, state hash.
// The same source runs natively and as wasm under node; each figure is
// printed as a machine-readable line "BENCH <name> <value> <unit>" (the
// bootstrap script turns the native and wasm lines into one table with the
// wasm/native ratio) and as a human table at the end.
//
//   URBIS_BENCH_SCALE=0.1  shrinks every workload (smoke runs; bench_util.h).
//   URBIS_BENCH_DIR=DIR    where the SQLite files go (default: the system temp
//                          directory; under wasm that is Emscripten's in-memory
//                          file system, so /dev/shm gives the like-for-like
//                          native figure).
//   URBIS_BENCH_ONLY=a,b   only these parts: bounds, commit, stage, apply,
//                          apply1, discover, members (a part's inputs are built too:
//                          apply1 commits the 1-op changes it applies). For
//                          profiling one part.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <sodium.h>
#include <sqlite3.h>

#include "bench_util.h"
#include "urbis/replica.h"

using namespace urbis;
using namespace urbis::bench;

namespace {

struct Row {
  std::string name, unit;
  double value;
};
std::vector<Row> rows;

void report(const std::string& name, double value, const std::string& unit) {
  std::printf("BENCH %s %.1f %s\n", name.c_str(), value, unit.c_str());
  std::fflush(stdout);
  rows.push_back({name, unit, value});
}

bool want(const char* part) {
  const char* only = std::getenv("URBIS_BENCH_ONLY");
  if (only == nullptr || *only == '\0') return true;
  const std::string list = std::string(",") + only + ",";
  return list.find(std::string(",") + part + ",") != std::string::npos;
}

std::unique_ptr<Replica> open_replica(const std::string& name, Env& env, Identity id) {
  ReplicaOptions o;
  o.synchronous_full = false;  // WAL + NORMAL: durable across a process crash
  return must(Replica::open(fresh_path(name), std::move(id), env, o), "open");
}

const char* const kWords[] = {"교통",  "智慧",   "مدينة", "город",  "smart",  "energy",
                              "water", "akıllı", "solar", "sensor", "portal", "bus"};

// Commits `total_ops` ops in transactions of `per_tx` ops; returns ops/s and
// (optionally) the envelopes written.
// `group` > 1: that many transactions per commit_group (one SQLite commit).
// `staged`: each transaction is staged (Replica::stage), and sealed into
// changes when a bound is reached and at the end (timed); `wire_bytes_per_tx`
// then gets the envelope bytes the transactions took, per transaction.
double bench_commit(size_t per_tx, size_t total_ops, std::vector<Bytes>* out, SpaceId* space_out,
                    std::unique_ptr<Replica>* replica_out, Env& env, Identity id, size_t group = 1,
                    bool read_each = false, const DeviceKey* member = nullptr, bool staged = false,
                    double* wire_bytes_per_tx = nullptr) {
  auto r = open_replica("commit-" + std::to_string(per_tx) + "-" + std::to_string(group) + (read_each ? "-read" : "") +
                            (staged ? "-staged" : "") + ".db",
                        env, std::move(id));
  SpaceId space = must(r->create_space("bench"), "create space");
  // A member who holds the space's key before the content is written: its
  // replica reads each change as it arrives (2. below).
  if (member) must(r->add_member(space, *member, Role::Editor), "add member");
  std::vector<EntityId> ids;
  const VersionVector before = must(r->version_vector(space), "version vector");
  size_t transactions = 0;
  auto start = Clock::now();
  size_t done = 0;
  while (done < total_ops) {
    std::vector<Transaction> txs;
    while (txs.size() < group && done < total_ops) {
      Transaction tx = r->begin(space);
      size_t in_tx = 0;
      while (in_tx < per_tx && done < total_ops) {
        size_t n = done / 10, k = done % 10;
        if (k == 0) ids.push_back(tx.create("project"));
        size_t count = std::min({10 - k, per_tx - in_tx, total_ops - done});
        project_ops(tx, ids[n], n, k, count);
        in_tx += count;
        done += count;
      }
      txs.push_back(std::move(tx));
    }
    std::vector<CommitInfo> infos;
    transactions += txs.size();
    if (staged)
      must(r->stage(txs.front()), "stage");
    else if (group == 1)
      infos.push_back(must(r->commit(txs.front()), "commit"));
    else
      infos = must(r->commit_group(txs), "commit_group");
    if (out)
      for (auto& info : infos) out->push_back(std::move(info.envelope));
    if (read_each) must(r->refresh(), "refresh");  // what a read after each put does first
  }
  if (staged) must(r->seal(space), "seal");
  // What the puts left stale for the next read: part of their cost.
  must(r->refresh(), "refresh");
  double s = seconds_since(start);
  if (wire_bytes_per_tx) {
    size_t bytes = 0;
    for (const Bytes& c : must(r->changes_since(space, before), "changes_since")) bytes += c.size();
    *wire_bytes_per_tx = static_cast<double>(bytes) / static_cast<double>(transactions);
  }
  if (space_out) *space_out = space;
  if (replica_out) *replica_out = std::move(r);
  return done / s;
}

// ---- The physical bounds of a one-op commit (issue 13): what a `put`
// cannot avoid, measured on the same machine, directory and SQLite build.

// Runs `sql` on a bench connection, or exits naming it.
void exec_or_die(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "bench: %s: %s\n", sql, err ? err : "?");
    std::exit(1);
  }
}

sqlite3* open_plain(const std::string& path, const char* journal = "WAL") {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::fprintf(stderr, "bench: cannot open %s\n", path.c_str());
    std::exit(1);
  }
  // The replica's own settings (core/src/schema.cc).
  exec_or_die(db, (std::string("PRAGMA journal_mode=") + journal +
                   "; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16000; PRAGMA wal_autocheckpoint=4000")
                      .c_str());
  return db;
}

// Durable SQLite transactions per second (WAL, synchronous=NORMAL, as a
// replica), each writing one ~300-byte row into each of `pages` tables:
// `pages` dirty leaf pages, the least such a commit writes to the WAL.
double sqlite_commits_per_s(size_t pages, size_t n, const char* journal = "WAL") {
  const std::string path = fresh_path("bound-" + std::to_string(pages) + ".db");
  sqlite3* db = open_plain(path, journal);
  std::vector<sqlite3_stmt*> inserts;
  for (size_t t = 0; t < pages; ++t) {
    const std::string table = "t" + std::to_string(t);
    exec_or_die(db, ("CREATE TABLE " + table + "(id INTEGER PRIMARY KEY, v BLOB)").c_str());
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, ("INSERT INTO " + table + "(v) VALUES(?)").c_str(), -1, &s, nullptr);
    inserts.push_back(s);
  }
  sqlite3_stmt *begin = nullptr, *commit = nullptr;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  std::vector<uint8_t> row(300, 7);
  auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    sqlite3_step(begin);
    sqlite3_reset(begin);
    for (auto* s : inserts) {
      sqlite3_bind_blob(s, 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
      if (sqlite3_step(s) != SQLITE_DONE) {
        std::fprintf(stderr, "bench: insert: %s\n", sqlite3_errmsg(db));
        std::exit(1);
      }
      sqlite3_reset(s);
    }
    if (sqlite3_step(commit) != SQLITE_DONE) {
      std::fprintf(stderr, "bench: commit: %s\n", sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(commit);
  }
  double per_s = n / seconds_since(start);
  for (auto* s : inserts) sqlite3_finalize(s);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return per_s;
}

// WAL frames (pages) one `commit()` of a one-op edit writes, over `n`
// edits of existing projects, and which tables and indexes they belong to
// (SQLite's dbstat, where the build has it). The WAL is emptied first (a
// second connection checkpoints it with TRUNCATE while the replica is
// idle), and `n` stays under the replica's autocheckpoint so the WAL only
// grows.
double wal_frames_per_edit(Env& env, size_t n) {
  const std::string path = fresh_path("frames.db");
  ReplicaOptions o;
  o.synchronous_full = false;
  auto r = must(Replica::open(path, Identity::generate(env), env, o), "open");
  SpaceId space = must(r->create_space("frames"), "create space");
  std::vector<EntityId> ids;
  Transaction made = r->begin(space);
  for (size_t p = 0; p < 1000; ++p) {
    ids.push_back(made.create("project"));
    project_ops(made, ids.back(), p, 0, 10);
  }
  must(r->commit(made), "commit");
  sqlite3* side = open_plain(path);
  exec_or_die(side, "PRAGMA wal_checkpoint(TRUNCATE)");
  for (size_t i = 0; i < n; ++i) {
    Transaction tx = r->begin(space);
    tx.set(ids[(i * 7919) % ids.size()], "stage", kStages[i % std::size(kStages)]);
    must(r->commit(tx), "commit");
  }
  // The WAL: a 32-byte header, then frames of a 24-byte header (the page
  // number first, big-endian) and one page.
  std::vector<uint32_t> pages;
  {
    std::FILE* f = std::fopen((path + "-wal").c_str(), "rb");
    std::vector<uint8_t> frame(24 + 4096);
    if (f && std::fseek(f, 32, SEEK_SET) == 0)
      while (std::fread(frame.data(), 1, frame.size(), f) == frame.size())
        pages.push_back(uint32_t{frame[0]} << 24 | uint32_t{frame[1]} << 16 | uint32_t{frame[2]} << 8 | frame[3]);
    if (f) std::fclose(f);
  }
  std::map<uint32_t, std::string> owner;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(side, "SELECT pageno, name FROM dbstat", -1, &s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW)
      owner[static_cast<uint32_t>(sqlite3_column_int64(s, 0))] =
          reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    std::map<std::string, size_t> by_table;
    for (uint32_t p : pages) ++by_table[owner.count(p) ? owner[p] : "?"];
    std::vector<std::pair<size_t, std::string>> sorted;
    for (auto& [name, count] : by_table) sorted.emplace_back(count, name);
    std::sort(sorted.rbegin(), sorted.rend());
    std::printf("pages one one-op edit writes, by table or index:");
    for (auto& [count, name] : sorted) std::printf(" %s %.2f", name.c_str(), static_cast<double>(count) / n);
    std::printf("\n");
  }
  sqlite3_finalize(s);
  sqlite3_close(side);
  return static_cast<double>(pages.size()) / static_cast<double>(n);
}

// The rows changes of `ops_per_change` ops (100 or 1) to new projects of 10
// values write at the least, by plain SQLite statements on the replica's
// own schema: per change its log row (of a real change's size) and its
// author's chain head, per op a value row, per project its entity row and,
// once it is whole, its summary, 8 facet rows and full-text row; `per_tx`
// changes per durable transaction (1: a local commit's shape; 100: a
// catch-up batch's). Nothing is read, parsed, encrypted, signed or
// verified: a bound for the commit and apply rows (what their writes alone
// cost on this machine), not a design. Without `derived`, only the log,
// value and entity rows (what Discover's facets, full text and summaries
// cost on top).
double bound_rows_ops_per_s(Env& env, size_t changes, bool derived, size_t per_tx, size_t ops_per_change = 100) {
  const std::string path = fresh_path("bound-rows.db");
  // The shapes: one real 100-op change of 10 projects, refreshed.
  size_t envelope_bytes = 0;
  {
    ReplicaOptions o;
    o.synchronous_full = false;
    auto r = must(Replica::open(path, Identity::generate(env), env, o), "open");
    SpaceId space = must(r->create_space("rows"), "create space");
    Transaction tx = r->begin(space);
    for (size_t p = 0; p < 10; ++p) project_ops(tx, tx.create("project"), p, 0, 10);
    envelope_bytes = must(r->commit(tx), "commit").envelope.size();
    must(r->refresh(), "refresh");
  }
  if (ops_per_change != 100) {  // a real change of that many ops: its size
    ReplicaOptions o;
    o.synchronous_full = false;
    auto r = must(Replica::open(fresh_path("bound-rows-size.db"), Identity::generate(env), env, o), "open");
    SpaceId space = must(r->create_space("rows"), "create space");
    Transaction tx = r->begin(space);
    for (size_t p = 0, done = 0; done < ops_per_change; ++p, done += 10)
      project_ops(tx, tx.create("project"), p, 0, std::min<size_t>(10, ops_per_change - done));
    envelope_bytes = must(r->commit(tx), "commit").envelope.size();
  }
  sqlite3* db = open_plain(path);
  auto prepare = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(db));
      std::exit(1);
    }
    return s;
  };
  auto step = [&](sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      std::fprintf(stderr, "bench: %s: %s\n", sqlite3_sql(s), sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(s);
  };
  struct Shape {
    int64_t entity;
    std::string doc, title, text;
    std::vector<std::pair<std::string, std::string>> facets;
    std::vector<std::tuple<int, std::string, std::string, std::string>> vals;  // kind, field, key, value
  };
  std::vector<Shape> shapes;
  {
    sqlite3_stmt* e = prepare("SELECT id, doc, title FROM entities ORDER BY id");
    while (sqlite3_step(e) == SQLITE_ROW)
      shapes.push_back({sqlite3_column_int64(e, 0),
                        reinterpret_cast<const char*>(sqlite3_column_text(e, 1)),
                        reinterpret_cast<const char*>(sqlite3_column_text(e, 2)),
                        "",
                        {},
                        {}});
    sqlite3_finalize(e);
    sqlite3_stmt* t = prepare("SELECT body FROM fts WHERE rowid=?");
    sqlite3_stmt* f = prepare("SELECT field, value FROM facets WHERE entity=?");
    sqlite3_stmt* v = prepare("SELECT kind, field, key, value FROM vals WHERE entity=?");
    for (Shape& sh : shapes) {
      sqlite3_bind_int64(t, 1, sh.entity);
      if (sqlite3_step(t) == SQLITE_ROW) sh.text = reinterpret_cast<const char*>(sqlite3_column_text(t, 0));
      sqlite3_reset(t);
      sqlite3_bind_int64(f, 1, sh.entity);
      while (sqlite3_step(f) == SQLITE_ROW)
        sh.facets.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(f, 0)),
                               reinterpret_cast<const char*>(sqlite3_column_text(f, 1)));
      sqlite3_reset(f);
      sqlite3_bind_int64(v, 1, sh.entity);
      while (sqlite3_step(v) == SQLITE_ROW)
        sh.vals.emplace_back(sqlite3_column_int(v, 0), reinterpret_cast<const char*>(sqlite3_column_text(v, 1)),
                             reinterpret_cast<const char*>(sqlite3_column_text(v, 2)),
                             reinterpret_cast<const char*>(sqlite3_column_text(v, 3)));
      sqlite3_reset(v);
    }
    sqlite3_finalize(t);
    sqlite3_finalize(f);
    sqlite3_finalize(v);
  }
  if (shapes.size() != 10 || shapes[0].vals.size() != 10 || shapes[0].facets.empty()) {
    std::fprintf(stderr, "bench: the real change did not give 10 projects of 10 values\n");
    std::exit(1);
  }
  sqlite3_stmt* begin = prepare("BEGIN IMMEDIATE");
  sqlite3_stmt* commit = prepare("COMMIT");
  sqlite3_stmt* log = prepare(
      "INSERT INTO changes(author, seq, kind, epoch, hlc, hash, envelope, space) VALUES(1, ?, 0, 1, ?, ?, ?, 1)");
  sqlite3_stmt* head = prepare("UPDATE authors SET head_seq=?, head_hash=?, newest_hlc=? WHERE id=1");
  sqlite3_stmt* entity = prepare(
      "INSERT INTO entities(space, eid, type, claim_rank, claim_hlc, claim_op, home) VALUES(1, ?, 'project', 1, ?, ?, "
      "x'')");
  sqlite3_stmt* val =
      prepare("INSERT INTO vals(op, entity, kind, field, key, value, hlc, src) VALUES(?, ?, ?, ?, ?, ?, ?, '')");
  sqlite3_stmt* facet = prepare("INSERT INTO facets(field, value, entity) VALUES(?, ?, ?)");
  sqlite3_stmt* text = prepare("INSERT INTO fts(rowid, body) VALUES(?, ?)");
  sqlite3_stmt* summary = prepare("UPDATE entities SET updated=?, title=?, doc=?, text_hash=? WHERE id=?");
  std::vector<uint8_t> envelope(envelope_bytes, 7), hash(32, 1), eid(16, 0);
  int64_t op = int64_t{1} << 50;
  // The next value to write: of project `p` (its shape p % 10), value `k`.
  size_t p = 0, k = 0;
  int64_t id = 0;
  auto start = Clock::now();
  for (size_t c = 0; c < changes; ++c) {
    const auto seq = static_cast<int64_t>(c + 3);  // after the genesis and the real change
    if (c % per_tx == 0) step(begin);
    hash[0] = static_cast<uint8_t>(c);
    hash[1] = static_cast<uint8_t>(c >> 8);
    sqlite3_bind_int64(log, 1, seq);
    sqlite3_bind_int64(log, 2, seq);
    sqlite3_bind_blob(log, 3, hash.data(), 32, SQLITE_STATIC);
    sqlite3_bind_blob(log, 4, envelope.data(), static_cast<int>(envelope.size()), SQLITE_STATIC);
    step(log);
    sqlite3_bind_int64(head, 1, seq);
    sqlite3_bind_blob(head, 2, hash.data(), 32, SQLITE_STATIC);
    sqlite3_bind_int64(head, 3, seq);
    step(head);
    for (size_t n = 0; n < ops_per_change; ++n) {
      const Shape& sh = shapes[p % shapes.size()];
      if (k == 0) {
        randombytes_buf(eid.data(), eid.size());
        sqlite3_bind_blob(entity, 1, eid.data(), 16, SQLITE_STATIC);
        sqlite3_bind_int64(entity, 2, seq);
        sqlite3_bind_int64(entity, 3, op);
        step(entity);
        id = sqlite3_last_insert_rowid(db);
      }
      const auto& [kind, field, key, value] = sh.vals[k];
      sqlite3_bind_int64(val, 1, op++);
      sqlite3_bind_int64(val, 2, id);
      sqlite3_bind_int(val, 3, kind);
      sqlite3_bind_text(val, 4, field.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(val, 5, key.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(val, 6, value.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(val, 7, seq);
      step(val);
      if (++k < sh.vals.size()) continue;
      k = 0;
      ++p;
      // The project is whole: its derived rows, once (a batch refreshes
      // each entity once, whatever number of changes wrote it).
      if (!derived) continue;
      for (const auto& [ffield, fvalue] : sh.facets) {
        sqlite3_bind_text(facet, 1, ffield.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(facet, 2, fvalue.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(facet, 3, id);
        step(facet);
      }
      sqlite3_bind_int64(text, 1, id);
      sqlite3_bind_text(text, 2, sh.text.c_str(), -1, SQLITE_STATIC);
      step(text);
      sqlite3_bind_int64(summary, 1, seq);
      sqlite3_bind_text(summary, 2, sh.title.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(summary, 3, sh.doc.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(summary, 4, op | 1);
      sqlite3_bind_int64(summary, 5, id);
      step(summary);
    }
    if ((c + 1) % per_tx == 0 || c + 1 == changes) step(commit);
  }
  const double per_s = static_cast<double>(ops_per_change * changes) / seconds_since(start);
  for (auto* s : {begin, commit, log, head, entity, val, facet, text, summary}) sqlite3_finalize(s);
  sqlite3_close(db);
  return per_s;
}

// What a one-op `put` must do at the least, each in its own rows: its
// durable SQLite commit (one page, and as many pages as a real edit writes)
// and its Ed25519 signature; and what a remote apply must do: verify.
void report_bounds(Env& env) {
  const size_t n = scaled(20000);
  const double frames = wal_frames_per_edit(env, 100);  // ~2,000 frames: under the autocheckpoint
  if (frames < 1) {                                     // every edit writes at least its log row: the WAL was not read
    std::fprintf(stderr, "bench: no WAL frames found for the edits\n");
    std::exit(1);
  }
  report("bound_wal_frames_per_1op_edit", frames, "pages");
  report("bound_sqlite_commit_1page_per_s", sqlite_commits_per_s(1, n), "commits/s");
  const size_t pages = static_cast<size_t>(frames + 0.5);
  report("bound_sqlite_commit_" + std::to_string(pages) + "pages_per_s", sqlite_commits_per_s(pages, n), "commits/s");
  report("bound_sqlite_commit_" + std::to_string(pages) + "pages_memory_journal_per_s",
         sqlite_commits_per_s(pages, n, "MEMORY"), "commits/s");
  report("bound_sqlite_commit_" + std::to_string(pages) + "pages_journal_off_per_s",
         sqlite_commits_per_s(pages, n, "OFF"), "commits/s");
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<uint8_t, 200> msg{};
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    msg[0] = static_cast<uint8_t>(i);
    crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
  }
  report("bound_ed25519_sign_per_s", n / seconds_since(start), "signatures/s");
  start = Clock::now();
  size_t good = 0;
  for (size_t i = 0; i < n; ++i)
    good += crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
  report("bound_ed25519_verify_per_s", n / seconds_since(start), "verifications/s");
  if (good != n) {
    std::fprintf(stderr, "bench: a signature did not verify\n");
    std::exit(1);
  }
  // The writes of the 100-op rows: a commit's shape (a transaction per
  // change) and an apply's (100 changes per transaction, as a catch-up's
  // batch), then the commit's shape without the derived rows.
  report("bound_rows_100op_changes_ops_per_s", bound_rows_ops_per_s(env, scaled(1000), true, 1), "ops/s");
  report("bound_rows_100op_changes_batch100_ops_per_s", bound_rows_ops_per_s(env, scaled(1000), true, 100), "ops/s");
  report("bound_rows_100op_changes_no_derived_ops_per_s", bound_rows_ops_per_s(env, scaled(1000), false, 1), "ops/s");
  // The one-op apply row's: one-op changes of the same projects (a new
  // project every tenth change), 100 per transaction.
  report("bound_rows_1op_changes_batch100_per_s", bound_rows_ops_per_s(env, scaled(20000), true, 100, 1), "changes/s");
}

}  // namespace

int main() {
  auto env = make_deterministic_env(42);
  std::printf("urbis core benchmark (scale %.3g)\n", scale());
  if (sodium_init() < 0) return 1;

  // 0. The physical bounds of a one-op commit and apply.
  if (want("bounds")) report_bounds(*env);

  // 1. Local commits.
  std::vector<Bytes> changes1;
  SpaceId space1;
  std::unique_ptr<Replica> writer1;
  // The writer of 1-op changes is a key a second replica can hold too: that
  // replica (another device of the same member) applies them in 2b.
  std::array<uint8_t, 32> seed1{};
  seed1[0] = 1;
  if (want("commit") || want("apply1"))
    report("commit_ops_per_s_tx1",
           bench_commit(1, scaled(20000), &changes1, &space1, &writer1, *env, Identity::from_seed(seed1)), "ops/s");
  if (want("commit") || want("stage")) {
    // The same puts staged (Replica::stage): durable and visible each, many
    // sealed into one signed change. Checked against a reader that applies
    // what was sealed. On the real clock, as the age bound is one of the
    // seal points (kMaxStagedAgeMs): the deterministic one ticks per read.
    Env& real = system_env();
    std::array<uint8_t, 32> seed{};
    seed[0] = 2;
    Identity reader_id = Identity::generate(*env);
    const DeviceKey reader_key = reader_id.device();
    SpaceId space;
    std::unique_ptr<Replica> writer;
    double bytes_per_put = 0;
    report("commit_staged_ops_per_s_tx1",
           bench_commit(1, scaled(20000), nullptr, &space, &writer, real, Identity::from_seed(seed), 1, false,
                        &reader_key, true, &bytes_per_put),
           "ops/s");
    report("commit_staged_wire_bytes_per_1op_put", bytes_per_put, "bytes");
    auto reader = open_replica("staged-reader.db", real, std::move(reader_id));
    for (auto& r : reader->apply_batch(must(writer->changes_since(space, {}), "changes_since")))
      must(std::move(r), "apply");
    if (must(reader->state_hash(space), "hash") != must(writer->state_hash(space), "hash")) {
      std::fprintf(stderr, "bench: a reader of the sealed changes diverged\n");
      return 1;
    }
    report("commit_staged_ops_per_s_tx100",
           bench_commit(100, scaled(100000), nullptr, nullptr, nullptr, real, Identity::generate(*env), 1, false,
                        nullptr, true),
           "ops/s");
  }
  if (want("commit")) {
    // The same puts, each followed by a read (the refresh a find does
    // first): what a put costs when nothing amortizes its entity's refresh.
    report("commit_ops_per_s_tx1_read_each",
           bench_commit(1, scaled(20000), nullptr, nullptr, nullptr, *env, Identity::generate(*env), 1, true), "ops/s");
    report("commit_ops_per_s_tx10",
           bench_commit(10, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env)), "ops/s");
    report("commit_ops_per_s_tx10_group100",
           bench_commit(10, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env), 100), "ops/s");
    report("commit_ops_per_s_tx100_group100",
           bench_commit(100, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env), 100), "ops/s");
  }
  if (want("commit") || want("apply")) {
    std::vector<Bytes> changes;
    SpaceId space;
    std::unique_ptr<Replica> writer;
    Identity reader_id = Identity::generate(*env);
    DeviceKey reader_key = reader_id.device();
    size_t ops100 = scaled(100000);
    report("commit_ops_per_s_tx100",
           bench_commit(100, ops100, &changes, &space, &writer, *env, Identity::generate(*env), 1, false, &reader_key),
           "ops/s");

    // 2. Remote apply: a member receives the 100-op changes. It holds the
    // key already (the writer added it first), as a member syncing new work.
    if (want("apply")) {
      auto log = must(writer->changes_since(space, {}), "changes_since");
      auto reader = open_replica("apply.db", *env, std::move(reader_id));
      for (const auto& c : {log[0], log[1]}) must(reader->apply(c), "apply membership");  // the genesis, the grant
      auto apply_all = [&](Replica& to) {
        for (size_t i = 0; i < changes.size(); i += 100) {
          std::vector<Bytes> batch(changes.begin() + static_cast<std::ptrdiff_t>(i),
                                   changes.begin() + static_cast<std::ptrdiff_t>(std::min(changes.size(), i + 100)));
          for (auto& r : to.apply_batch(batch)) must(std::move(r), "apply");
        }
        must(to.refresh(), "refresh");  // what reads show, up to date: part of the cost
      };
      auto start = Clock::now();
      apply_all(*reader);
      report("apply_ops_per_s", ops100 / seconds_since(start), "ops/s");
      if (must(reader->state_hash(space), "hash") != must(writer->state_hash(space), "hash")) {
        std::fprintf(stderr, "bench: replicas diverged\n");
        return 1;
      }

      // 2a. The same content where the key comes after it: a device added
      // once the content exists (a join) stores it unread, and its grant
      // (the writer's last change, held until the chain below it arrived)
      // rebuilds the space from the log.
      Identity late_id = Identity::generate(*env);
      must(writer->add_member(space, late_id.device(), Role::Viewer), "add member");
      log = must(writer->changes_since(space, {}), "changes_since");
      auto late = open_replica("rebuild.db", *env, std::move(late_id));
      for (const auto& c : {log[0], log[1], log.back()}) must(late->apply(c), "apply membership");
      start = Clock::now();
      apply_all(*late);
      report("rebuild_ops_per_s", ops100 / seconds_since(start), "ops/s");
      if (must(late->state_hash(space), "hash") != must(writer->state_hash(space), "hash")) {
        std::fprintf(stderr, "bench: replicas diverged (rebuild)\n");
        return 1;
      }
    }
  }

  // 2b. Remote apply of 1-op changes (the sync case: many small changes from
  // many devices), in batches of 100 as a catch-up brings them.
  if (want("apply1")) {
    auto log1 = must(writer1->changes_since(space1, {}, 1), "changes_since");  // the genesis
    auto reader1 = open_replica("apply1.db", *env, Identity::from_seed(seed1));
    must(reader1->apply(log1.front()), "apply genesis");
    auto t1 = Clock::now();
    for (size_t i = 0; i < changes1.size(); i += 100) {
      std::vector<Bytes> batch(changes1.begin() + static_cast<std::ptrdiff_t>(i),
                               changes1.begin() + static_cast<std::ptrdiff_t>(std::min(changes1.size(), i + 100)));
      for (auto& r : reader1->apply_batch(batch)) must(std::move(r), "apply");
    }
    must(reader1->refresh(), "refresh");
    report("apply_changes_per_s_tx1", changes1.size() / seconds_since(t1), "changes/s");
    if (must(reader1->state_hash(space1), "hash") != must(writer1->state_hash(space1), "hash")) {
      std::fprintf(stderr, "bench: replicas diverged (1-op changes)\n");
      return 1;
    }
  }

  // 3. Discover over 50k projects: text + two facets.
  const size_t projects = scaled(50000);
  size_t hits = 0;
  if (want("discover")) {
    auto cat = open_replica("discover.db", *env, Identity::generate(*env));
    SpaceId cspace = must(cat->create_space("catalogue"), "create");
    for (size_t n = 0; n < projects;) {
      Transaction tx = cat->begin(cspace);
      for (size_t k = 0; k < 100 && n < projects; ++k, ++n) project_ops(tx, tx.create("project"), n, 0, 10);
      must(cat->commit(tx), "commit");
    }
    std::vector<double> ms;
    for (size_t i = 0; i < 200; ++i) {
      Query q;
      q.type = "project";
      q.text = kWords[i % std::size(kWords)];
      q.where = {{"sector", kSectors[i % std::size(kSectors)]}, {"stage", kStages[i % std::size(kStages)]}};
      auto t = Clock::now();
      auto r = must(cat->find(cspace, q), "find");
      ms.push_back(seconds_since(t) * 1000);
      hits += r.total;
    }
    report("discover_query_p50_ms", percentile(ms, 0.5), "ms");
    report("discover_query_p99_ms", percentile(ms, 0.99), "ms");
    std::vector<double> ms_text;
    for (size_t i = 0; i < 100; ++i) {
      Query q;
      q.text = kWords[i % std::size(kWords)];
      auto t = Clock::now();
      (void)must(cat->find(cspace, q), "find");
      ms_text.push_back(seconds_since(t) * 1000);
    }
    report("discover_text_only_p50_ms", percentile(ms_text, 0.5), "ms");

    // 4. State hash over the catalogue.
    auto start = Clock::now();
    (void)must(cat->state_hash(cspace), "hash");
    report("state_hash_50k_projects_ms", seconds_since(start) * 1000, "ms");
  }

  // 5. Membership (docs/membership.md): a fresh replica applies the log of
  // N member additions, made by one admin (each change follows the last: the
  // resolver replays it on top), and made by two admins at once (their
  // changes interleave by HLC, arriving out of that order: the resolver
  // replays everything for many of them).
  if (want("members")) {
    const size_t n = scaled(2000);
    auto admin_env = make_deterministic_env(7);
    auto one = open_replica("members-one.db", *admin_env, Identity::generate(*admin_env));
    SpaceId ms = must(one->create_space("members"), "create");
    for (size_t i = 0; i < n; ++i) must(one->add_member(ms, Identity::generate(*env).device(), Role::Viewer), "add");
    auto mlog = must(one->changes_since(ms, {}), "log");
    auto fresh = open_replica("members-fresh.db", *env, Identity::generate(*env));
    auto start = Clock::now();
    for (const auto& c : mlog) must(fresh->apply(c), "apply membership");
    report("membership_apply_per_s_one_admin", mlog.size() / seconds_since(start), "changes/s");

    auto b_env = make_deterministic_env(8);
    Identity b_id = Identity::generate(*b_env);
    const DeviceKey b_key = b_id.device();
    auto two = open_replica("members-two.db", *admin_env, Identity::generate(*admin_env));
    SpaceId ts = must(two->create_space("members"), "create");
    must(two->add_member(ts, b_key, Role::Admin), "add admin");
    auto b = open_replica("members-b.db", *b_env, std::move(b_id));
    for (const auto& c : must(two->changes_since(ts, {}), "log")) must(b->apply(c), "apply");
    for (size_t i = 0; i < n / 2; ++i) {
      must(two->add_member(ts, Identity::generate(*env).device(), Role::Viewer), "add");
      must(b->add_member(ts, Identity::generate(*env).device(), Role::Viewer), "add");
    }
    auto a_log = must(two->changes_since(ts, {}), "log");
    auto b_log = must(b->changes_since(ts, must(two->version_vector(ts), "vv")), "log");
    auto fresh2 = open_replica("members-fresh2.db", *env, Identity::generate(*env));
    start = Clock::now();
    for (const auto& c : a_log) must(fresh2->apply(c), "apply membership");
    for (const auto& c : b_log) must(fresh2->apply(c), "apply membership");
    report("membership_apply_per_s_two_admins_at_once", (a_log.size() + b_log.size()) / seconds_since(start),
           "changes/s");
  }

  std::printf("\n| benchmark | value | unit |\n|---|---:|---|\n");
  for (const auto& r : rows) std::printf("| %s | %.1f | %s |\n", r.name.c_str(), r.value, r.unit.c_str());
  std::printf("(%zu projects in the catalogue, %zu query hits in total)\n", projects, hits);
  return 0;
}
