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
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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
double bench_commit(size_t per_tx, size_t total_ops, std::vector<Bytes>* out, SpaceId* space_out,
                    std::unique_ptr<Replica>* replica_out, Env& env, Identity id, size_t group = 1) {
  auto r = open_replica("commit-" + std::to_string(per_tx) + "-" + std::to_string(group) + ".db", env, std::move(id));
  SpaceId space = must(r->create_space("bench"), "create space");
  std::vector<EntityId> ids;
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
    if (group == 1)
      infos.push_back(must(r->commit(txs.front()), "commit"));
    else
      infos = must(r->commit_group(txs), "commit_group");
    if (out)
      for (auto& info : infos) out->push_back(std::move(info.envelope));
  }
  double s = seconds_since(start);
  if (space_out) *space_out = space;
  if (replica_out) *replica_out = std::move(r);
  return done / s;
}

}  // namespace

int main() {
  auto env = make_deterministic_env(42);
  std::printf("urbis core benchmark (scale %.3g)\n", scale());

  // 1. Local commits.
  std::vector<Bytes> changes1;
  SpaceId space1;
  std::unique_ptr<Replica> writer1;
  // The writer of 1-op changes is a key a second replica can hold too: that
  // replica (another device of the same member) applies them in 2b.
  std::array<uint8_t, 32> seed1{};
  seed1[0] = 1;
  report("commit_ops_per_s_tx1",
         bench_commit(1, scaled(20000), &changes1, &space1, &writer1, *env, Identity::from_seed(seed1)), "ops/s");
  report("commit_ops_per_s_tx10",
         bench_commit(10, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env)), "ops/s");
  report("commit_ops_per_s_tx10_group100",
         bench_commit(10, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env), 100), "ops/s");
  report("commit_ops_per_s_tx100_group100",
         bench_commit(100, scaled(100000), nullptr, nullptr, nullptr, *env, Identity::generate(*env), 100), "ops/s");
  std::vector<Bytes> changes;
  SpaceId space;
  std::unique_ptr<Replica> writer;
  Identity reader_id = Identity::generate(*env);
  DeviceKey reader_key = reader_id.device();
  size_t ops100 = scaled(100000);
  report("commit_ops_per_s_tx100", bench_commit(100, ops100, &changes, &space, &writer, *env, Identity::generate(*env)),
         "ops/s");

  // 2. Remote apply: a member receives the 100-op changes.
  must(writer->add_member(space, reader_key, Role::Editor), "add member");
  auto log = must(writer->changes_since(space, {}), "changes_since");
  auto reader = open_replica("apply.db", *env, std::move(reader_id));
  // Membership first (genesis and the grant), then time the content.
  std::vector<Bytes> membership{log.front(), log.back()};
  for (const auto& c : membership) must(reader->apply(c), "apply membership");
  auto start = Clock::now();
  for (size_t i = 0; i < changes.size(); i += 100) {
    std::vector<Bytes> batch(changes.begin() + i, changes.begin() + std::min(changes.size(), i + 100));
    for (auto& r : reader->apply_batch(batch)) must(std::move(r), "apply");
  }
  report("apply_ops_per_s", ops100 / seconds_since(start), "ops/s");

  // 2b. Remote apply of 1-op changes (the sync case: many small changes from
  // many devices), in batches of 100 as a catch-up brings them.
  {
    auto log1 = must(writer1->changes_since(space1, {}, 1), "changes_since");  // the genesis
    auto reader1 = open_replica("apply1.db", *env, Identity::from_seed(seed1));
    must(reader1->apply(log1.front()), "apply genesis");
    auto t1 = Clock::now();
    for (size_t i = 0; i < changes1.size(); i += 100) {
      std::vector<Bytes> batch(changes1.begin() + static_cast<std::ptrdiff_t>(i),
                               changes1.begin() + static_cast<std::ptrdiff_t>(std::min(changes1.size(), i + 100)));
      for (auto& r : reader1->apply_batch(batch)) must(std::move(r), "apply");
    }
    report("apply_changes_per_s_tx1", changes1.size() / seconds_since(t1), "changes/s");
    if (must(reader1->state_hash(space1), "hash") != must(writer1->state_hash(space1), "hash")) {
      std::fprintf(stderr, "bench: replicas diverged (1-op changes)\n");
      return 1;
    }
  }
  if (must(reader->state_hash(space), "hash") != must(writer->state_hash(space), "hash")) {
    std::fprintf(stderr, "bench: replicas diverged\n");
    return 1;
  }

  // 3. Discover over 50k projects: text + two facets.
  size_t projects = scaled(50000);
  auto cat = open_replica("discover.db", *env, Identity::generate(*env));
  SpaceId cspace = must(cat->create_space("catalogue"), "create");
  for (size_t n = 0; n < projects;) {
    Transaction tx = cat->begin(cspace);
    for (size_t k = 0; k < 100 && n < projects; ++k, ++n) project_ops(tx, tx.create("project"), n, 0, 10);
    must(cat->commit(tx), "commit");
  }
  std::vector<double> ms;
  size_t hits = 0;
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
  start = Clock::now();
  (void)must(cat->state_hash(cspace), "hash");
  report("state_hash_50k_projects_ms", seconds_since(start) * 1000, "ms");

  // 5. Membership (docs/membership.md): a fresh replica applies the log of
  // N member additions, made by one admin (each change follows the last: the
  // resolver replays it on top), and made by two admins at once (their
  // changes interleave by HLC, arriving out of that order: the resolver
  // replays everything for many of them).
  {
    const size_t n = scaled(2000);
    auto admin_env = make_deterministic_env(7);
    auto one = open_replica("members-one.db", *admin_env, Identity::generate(*admin_env));
    SpaceId ms = must(one->create_space("members"), "create");
    for (size_t i = 0; i < n; ++i) must(one->add_member(ms, Identity::generate(*env).device(), Role::Viewer), "add");
    auto mlog = must(one->changes_since(ms, {}), "log");
    auto fresh = open_replica("members-fresh.db", *env, Identity::generate(*env));
    start = Clock::now();
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
