// History-growth benchmark (issue 13, item 5): one space grows to N one-op
// changes in steps, and at each step the per-change costs are measured at
// that size. A cost that grows with history shows as a ratio above 1 in the
// last column of the table ("largest step / 10k"; the issue asks ≤ 1.3).
// The same source runs natively and as wasm under node; each figure is a line
// "BENCH history_<row>_<step> <value> <unit>", then a markdown table.
//
// The space: 10,000 projects of 10 field values (bench_util.h), created in
// 100-op transactions, then N edits, each one op on one field of an existing
// project (stage, budget, title, summary, a tag, sector, position: the mix
// below), each its own transaction and change. Growth goes through
// commit_group (1,000 one-op transactions per SQLite commit, each still its
// own change) because the figure of interest is the cost at size N, not the
// time to get there; a reader replica (a member, added by add_member) applies
// the growth in apply_batch batches of 100, so it is at size N too.
//
// At each step N (the window of measured changes starts at N):
//   commit        4,000 one-op edits, each its own commit(): µs per change
//                 (the mean counts the refresh of what they left stale)
//   apply         the reader applies those 4,000: the first 2,000 in
//                 apply_batch batches of 100 (µs per change), the next 2,000
//                 one apply() each (µs per change)
//   stage         1,000 one-op edits, each staged (Replica::stage): µs per
//                 put; then the seal of the change holding them (ms), which
//                 the reader applies
//   catch-up      one changes_since batch of at most 256 KiB (the sync
//                 session's default batch) for a peer lacking the window, and
//                 for a peer that knows nothing (its first batch)
//   find          text + type + two facets, 300 queries: p50 / p99
//   get           1,000 gets of random projects
//   state hash    the writer's, median of 3 (and checked equal to the reader's)
//   version vector
//   removal       the reader applies a removal (a new epoch, its key granted
//                 to the reader): ms, median of 3
//   control_*     find and the state hash on the same state without its
//                 history (a copy of the writer's store, its log emptied and
//                 the file vacuumed): what the content alone costs. Where a
//                 row grows from 10k to 1M, its control says how much of it
//                 is the catalogue's growth (more tags, summaries, longer
//                 documents) rather than the history's.
//
//   URBIS_HISTORY_MAX=N    largest step (default 1,000,000 natively, 100,000 in
//                          wasm); steps are 1k, 10k, 100k, 1M up to it, plus N
//                          (when N is past the last step's window).
//                          URBIS_BENCH_SCALE does not change the steps.
//   URBIS_HISTORY_PROJECTS=P  projects edited (default 10,000; the smoke test
//                          in ctest uses fewer).
//   URBIS_BENCH_DIR=DIR    where the SQLite files go (as core_bench.cc).
//   URBIS_HISTORY_NO_CONTROL=1  skip the control of each step (the same state
//                          without its history, below).
//   URBIS_HISTORY_KEEP=1   keep both stores at the end (history-writer.db,
//                          history-reader.db), e.g. to read their tables'
//                          sizes with SQLite's dbstat.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "bench_util.h"
#include "urbis/replica.h"

using namespace urbis;
using namespace urbis::bench;

namespace {

constexpr size_t kDefaultProjects = 10'000;
constexpr size_t kWindow = 4'000;           // measured one-op commits per step
constexpr size_t kStaged = 1'000;           // measured staged one-op puts per step
constexpr size_t kGrowGroup = 1'000;        // one-op transactions per commit_group while growing
constexpr size_t kApplyBatch = 100;         // envelopes per apply_batch
constexpr size_t kBatchBytes = 256u << 10;  // sync::SessionOptions::max_batch_bytes
#ifdef __EMSCRIPTEN__
constexpr size_t kDefaultMax = 100'000;  // MEMFS keeps both stores in the wasm heap
#else
constexpr size_t kDefaultMax = 1'000'000;
#endif

size_t env_size(const char* name, size_t fallback) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  return std::max<size_t>(10, std::strtoull(s, nullptr, 10));
}

// 1k, 10k, 100k, 1M up to `max`, then `max` itself.
std::vector<size_t> steps_to(size_t max) {
  std::vector<size_t> steps;
  for (size_t n = 1'000; n <= 1'000'000 && n <= max; n *= 10) steps.push_back(n);
  // `max` unless the previous step's window already went past it.
  if (steps.empty() || steps.back() + kWindow <= max) steps.push_back(max);
  return steps;
}

std::string label(size_t n) {
  char buf[32];
  if (n % 1'000'000 == 0)
    std::snprintf(buf, sizeof buf, "%zuM", n / 1'000'000);
  else if (n % 1'000 == 0)
    std::snprintf(buf, sizeof buf, "%zuk", n / 1'000);
  else
    std::snprintf(buf, sizeof buf, "%zu", n);
  return buf;
}

// Figures by row and step, for the table at the end (rows in first-seen order).
struct Table {
  std::vector<std::string> rows;
  std::map<std::string, std::string> units;
  std::map<std::string, std::map<size_t, double>> cells;

  void report(const std::string& row, size_t step, double value, const std::string& unit) {
    std::printf("BENCH history_%s_%s %.2f %s\n", row.c_str(), label(step).c_str(), value, unit.c_str());
    std::fflush(stdout);
    if (!units.count(row)) rows.push_back(row);
    units[row] = unit;
    cells[row][step] = value;
  }

  void print(const std::vector<size_t>& steps) const {
    const size_t last = steps.back();
    const bool ratio = last > 10'000 && std::find(steps.begin(), steps.end(), 10'000) != steps.end();
    std::printf("\n| row | unit |");
    for (size_t n : steps) std::printf(" %s |", label(n).c_str());
    if (ratio) std::printf(" %s / 10k |", label(last).c_str());
    std::printf("\n|---|---|");
    for (size_t i = 0; i < steps.size(); ++i) std::printf("---:|");
    if (ratio) std::printf("---:|");
    std::printf("\n");
    for (const auto& row : rows) {
      const auto& by_step = cells.at(row);
      std::printf("| %s | %s |", row.c_str(), units.at(row).c_str());
      for (size_t n : steps) {
        auto it = by_step.find(n);
        if (it == by_step.end())
          std::printf(" - |");
        else
          std::printf(" %.2f |", it->second);
      }
      if (ratio) {
        auto a = by_step.find(10'000), b = by_step.find(last);
        if (a != by_step.end() && b != by_step.end() && a->second != 0)
          std::printf(" %.2f |", b->second / a->second);
        else
          std::printf(" - |");
      }
      std::printf("\n");
    }
  }
};

void remove_store(const std::string& name) { fresh_path(name); }

std::unique_ptr<Replica> open_replica(const std::string& name, Env& env, Identity id) {
  ReplicaOptions o;
  o.synchronous_full = false;  // WAL + NORMAL, as core_bench.cc
  return must(Replica::open(fresh_path(name), std::move(id), env, o), "open");
}

// The machine's load average, to read the figures by (a shared machine's
// neighbours show in them); "" where there is no /proc (wasm).
std::string load_average() {
  std::string load;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f)) load = buf;
    std::fclose(f);
  }
  load = load.substr(0, load.find(' '));
  return load.empty() ? "" : ", load " + load;
}

uint64_t mix(uint64_t x) {  // splitmix64: a replayable stream of edit choices
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

const char* const kTags[] = {"pilot", "funded", "delayed", "open-data", "priority"};
const char* const kWords[] = {"교통",  "智慧",   "مدينة", "город",  "smart",  "energy",
                              "water", "akıllı", "solar", "sensor", "portal", "bus"};

// The space and its edits: edit number i is one op on one field of an
// existing project, 80% of them on a fifth of the projects (some projects
// are busy, most are not).
struct History {
  SpaceId space;
  std::vector<EntityId> projects;
  size_t edits = 0;

  void edit(Transaction& tx) {
    const size_t i = edits++;
    const uint64_t r = mix(i);
    const size_t count = projects.size();
    const size_t n = (r % 10 < 8) ? (r >> 8) % (count / 5) : (r >> 8) % count;
    const EntityId& id = projects[n];
    char text[160];
    switch ((r >> 40) % 20) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:  // 30%: stage
        tx.set(id, "stage", kStages[(r >> 48) % std::size(kStages)]);
        break;
      case 6:
      case 7:
      case 8:  // 15%: budget
        tx.set(id, "budget", static_cast<int64_t>(10'000 + (r >> 44) % 900'000));
        break;
      case 9:
      case 10:
      case 11: {  // 15%: the title, rewritten in its locale
        size_t v = n % std::size(kTitles);
        std::snprintf(text, sizeof text, kTitles[v], n);
        std::string title = text;
        title += " (rev ";
        title += std::to_string(i);
        title += ")";
        tx.set_text(id, "title", kLocales[v], std::move(title));
        break;
      }
      case 12:
      case 13:  // 10%: the summary
        std::snprintf(text, sizeof text, "A %s project about smart city services, revision %zu",
                      kWords[(r >> 48) % std::size(kWords)], i);
        tx.set_text(id, "summary", "en", text);
        break;
      case 14:
      case 15:  // 10%: a tag added
        tx.add(id, "tags", kTags[(r >> 48) % std::size(kTags)]);
        break;
      case 16:  // 5%: a tag removed
        tx.remove(id, "tags", kTags[(r >> 48) % std::size(kTags)]);
        break;
      case 17:  // 5%: sector
        tx.set(id, "sector", kSectors[(r >> 48) % std::size(kSectors)]);
        break;
      default:  // 10%: the position
        tx.set(id, (r >> 47) & 1 ? "lat" : "lon", 37.0 + static_cast<double>((r >> 48) % 10'000) * 1e-4);
        break;
    }
  }
};

struct FindTimes {
  double p50_ms, p99_ms, hits_mean;
};

// Discover queries (text + type + two facets) on `r`: 300, so that the p99
// is the third-slowest, not the second of 100 (too thin to read a trend by).
FindTimes time_find(Replica& r, const SpaceId& space) {
  constexpr size_t kQueries = 300;
  std::vector<double> ms;
  size_t hits = 0;
  for (size_t i = 0; i < kQueries; ++i) {
    Query q;
    q.type = "project";
    q.text = kWords[i % std::size(kWords)];
    q.where = {{"sector", kSectors[i % std::size(kSectors)]}, {"stage", kStages[(i / 3) % std::size(kStages)]}};
    auto t1 = Clock::now();
    hits += must(r.find(space, q), "find").total;
    ms.push_back(seconds_since(t1) * 1e3);
  }
  return {percentile(ms, 0.5), percentile(ms, 0.99), static_cast<double>(hits) / kQueries};
}

// The state hash of `space` on `r`: ms, median of 3.
double time_state_hash(Replica& r, const SpaceId& space, Hash* hash) {
  std::vector<double> ms;
  for (int i = 0; i < 3; ++i) {
    auto t1 = Clock::now();
    *hash = must(r.state_hash(space), "state_hash");
    ms.push_back(seconds_since(t1) * 1e3);
  }
  return percentile(ms, 0.5);
}

void sql_or_die(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "bench: %s: %s\n", sql.c_str(), err ? err : "?");
    std::exit(1);
  }
}

// The control of each step: the writer's state without its history. A copy
// of the writer's store (VACUUM INTO) without its log (the changes table
// emptied, then VACUUM: every table rewritten compact, as a store that
// never had those edits would be). What find and the state hash cost there
// is what the content costs; the rows with the history are to be read
// against these.
void measure_without_history(const std::string& writer_path, const SpaceId& space, size_t n, Table& table, Env& env) {
  const std::string path = fresh_path("history-control.db");
  auto t = Clock::now();
  {
    sqlite3* db = nullptr;
    if (sqlite3_open(writer_path.c_str(), &db) != SQLITE_OK) {
      std::fprintf(stderr, "bench: cannot open %s\n", writer_path.c_str());
      std::exit(1);
    }
    sql_or_die(db, "VACUUM INTO '" + path + "'");
    sqlite3_close(db);
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) std::exit(1);
    sql_or_die(db, "DELETE FROM changes; VACUUM");
    sqlite3_close(db);
  }
  const double copy_s = seconds_since(t);
  {
    ReplicaOptions o;
    o.synchronous_full = false;
    auto control = must(Replica::open(path, Identity::generate(env), env, o), "open the control");
    const FindTimes found = time_find(*control, space);
    table.report("control_find_p50_ms", n, found.p50_ms, "ms");
    table.report("control_find_p99_ms", n, found.p99_ms, "ms");
    Hash hash{};
    table.report("control_state_hash_ms", n, time_state_hash(*control, space, &hash), "ms");
  }
  remove_store("history-control.db");
  std::printf("the state without its history: copied and measured in %.1f s (copy %.1f s)\n", seconds_since(t), copy_s);
}

void apply_all(Replica& reader, const std::vector<Bytes>& envelopes, size_t begin, size_t end) {
  for (size_t i = begin; i < end; i += kApplyBatch) {
    std::vector<Bytes> batch(envelopes.begin() + static_cast<ptrdiff_t>(i),
                             envelopes.begin() + static_cast<ptrdiff_t>(std::min(end, i + kApplyBatch)));
    for (auto& r : reader.apply_batch(batch))
      if (must(std::move(r), "apply") != ApplyOutcome::Applied) {
        std::fprintf(stderr, "bench: a change of the growth was not applied at once\n");
        std::exit(1);
      }
  }
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Grows the space to `target` edits: commit_group of one-op transactions on
// the writer, the reader applying each group. Returns seconds spent in each.
std::pair<double, double> grow(Replica& writer, Replica& reader, History& h, size_t target) {
  double commit_s = 0, apply_s = 0;
  while (h.edits < target) {
    std::vector<Transaction> txs;
    while (txs.size() < kGrowGroup && h.edits < target) {
      txs.push_back(writer.begin(h.space));
      h.edit(txs.back());
    }
    auto t = Clock::now();
    auto infos = must(writer.commit_group(txs), "commit_group");
    must(writer.refresh(), "refresh");  // what the puts left for the next read, counted here
    commit_s += seconds_since(t);
    std::vector<Bytes> envelopes;
    envelopes.reserve(infos.size());
    for (auto& info : infos) envelopes.push_back(std::move(info.envelope));
    t = Clock::now();
    apply_all(reader, envelopes, 0, envelopes.size());
    must(reader.refresh(), "refresh");  // what a catch-up leaves stale, counted here
    apply_s += seconds_since(t);
  }
  return {commit_s, apply_s};
}

void measure(Replica& writer, Replica& reader, History& h, size_t n, Table& table, Env& env) {
  // Version vector (and the one a peer lacking the window holds).
  std::vector<double> us;
  VersionVector before;
  for (int i = 0; i < 200; ++i) {
    auto t = Clock::now();
    before = must(writer.version_vector(h.space), "version_vector");
    us.push_back(seconds_since(t) * 1e6);
  }
  table.report("version_vector_us", n, percentile(us, 0.5), "us");

  // Local commit: the window, one change per commit().
  std::vector<Bytes> window;
  us.clear();
  size_t bytes = 0;
  for (size_t i = 0; i < kWindow; ++i) {
    Transaction tx = writer.begin(h.space);
    h.edit(tx);
    auto t = Clock::now();
    CommitInfo info = must(writer.commit(tx), "commit");
    us.push_back(seconds_since(t) * 1e6);
    bytes += info.envelope.size();
    window.push_back(std::move(info.envelope));
  }
  // The puts leave their entities' summaries, facets and full text to the
  // next read: that refresh is part of the mean (the median is the put).
  const auto refresh_start = Clock::now();
  must(writer.refresh(), "refresh");
  const double refresh_us = seconds_since(refresh_start) * 1e6;
  table.report("commit_us_p50", n, percentile(us, 0.5), "us");
  table.report("commit_us_mean", n, mean(us) + refresh_us / kWindow, "us");
  table.report("envelope_bytes", n, static_cast<double>(bytes) / kWindow, "B");

  // Remote apply of the window by the reader, which holds everything before it.
  // Batches: per change, the median and the mean over the batches (one
  // batch may carry a WAL checkpoint).
  const size_t half = kWindow / 2;
  us.clear();
  for (size_t i = 0; i < half; i += kApplyBatch) {
    auto t = Clock::now();
    apply_all(reader, window, i, i + kApplyBatch);
    must(reader.refresh(), "refresh");  // each batch readable before the next, as before stale entities
    us.push_back(seconds_since(t) * 1e6 / kApplyBatch);
  }
  table.report("apply_batch100_us_p50", n, percentile(us, 0.5), "us");
  table.report("apply_batch100_us_mean", n, mean(us), "us");
  us.clear();
  for (size_t i = half; i < kWindow; ++i) {
    auto t1 = Clock::now();
    ApplyOutcome o = must(reader.apply(window[i]), "apply");
    us.push_back(seconds_since(t1) * 1e6);
    if (o != ApplyOutcome::Applied) {
      std::fprintf(stderr, "bench: a change of the window was not applied at once\n");
      std::exit(1);
    }
  }
  table.report("apply_single_us_p50", n, percentile(us, 0.5), "us");
  table.report("apply_single_us_mean", n, mean(us), "us");

  // Staged puts: the same one-op edits, sealed into one change, which the
  // reader applies (after the window, whose changes precede it).
  us.clear();
  for (size_t i = 0; i < kStaged; ++i) {
    Transaction tx = writer.begin(h.space);
    h.edit(tx);
    auto t = Clock::now();
    (void)must(writer.stage(tx), "stage");
    us.push_back(seconds_since(t) * 1e6);
  }
  table.report("stage_us_p50", n, percentile(us, 0.5), "us");
  {
    auto t = Clock::now();
    auto sealed = must(writer.seal(h.space), "seal");
    table.report("seal_ms", n, seconds_since(t) * 1e3, "ms");
    // One change, unless a bound (the age, on a slow machine) sealed one
    // before: the reader takes whatever the writer holds past the window.
    const VersionVector have = must(reader.version_vector(h.space), "version_vector");
    auto rest = must(writer.changes_since(h.space, have), "changes_since");
    if (!sealed || rest.empty()) {
      std::fprintf(stderr, "bench: the staged puts were not sealed\n");
      std::exit(1);
    }
    apply_all(reader, rest, 0, rest.size());
  }

  // Catch-up: one batch for a peer lacking the window, one for a new peer.
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto t1 = Clock::now();
    auto batch = must(writer.changes_since(h.space, before, kBatchBytes), "changes_since");
    ms.push_back(seconds_since(t1) * 1e3);
    if (batch.empty() || batch.front() != window.front()) {
      std::fprintf(stderr, "bench: the catch-up batch does not start with the window\n");
      std::exit(1);
    }
  }
  table.report("catchup_window_batch_ms", n, percentile(ms, 0.5), "ms");
  ms.clear();
  for (int i = 0; i < 5; ++i) {
    auto t1 = Clock::now();
    auto batch = must(writer.changes_since(h.space, {}, kBatchBytes), "changes_since");
    ms.push_back(seconds_since(t1) * 1e3);
    if (batch.empty()) {
      std::fprintf(stderr, "bench: no first batch for a new peer\n");
      std::exit(1);
    }
  }
  table.report("catchup_first_batch_ms", n, percentile(ms, 0.5), "ms");

  // Discover: text + type + two facets. How many projects match grows as
  // the edits spread the query words over the summaries (the catalogue's
  // content, not its history): find_hits_mean says how many.
  const FindTimes found = time_find(writer, h.space);
  table.report("find_p50_ms", n, found.p50_ms, "ms");
  table.report("find_hits_mean", n, found.hits_mean, "hits");
  table.report("find_p99_ms", n, found.p99_ms, "ms");

  us.clear();
  for (size_t i = 0; i < 1'000; ++i) {
    const EntityId& id = h.projects[mix(i + n) % h.projects.size()];
    auto t1 = Clock::now();
    (void)must(writer.get(h.space, id), "get");
    us.push_back(seconds_since(t1) * 1e6);
  }
  table.report("get_us_p50", n, percentile(us, 0.5), "us");

  Hash hash{};
  table.report("state_hash_ms", n, time_state_hash(writer, h.space, &hash), "ms");
  if (must(reader.state_hash(h.space), "state_hash") != hash) {
    std::fprintf(stderr, "bench: the reader diverged from the writer\n");
    std::exit(1);
  }

  // A removal received: the writer adds a member and removes it, which
  // starts an epoch with a key granted to the reader; the reader applies
  // the addition, then (timed) the removal. Median of 3.
  ms.clear();
  for (int i = 0; i < 3; ++i) {
    const DeviceKey gone = Identity::generate(env).device();
    const VersionVector known = must(reader.version_vector(h.space), "version_vector");
    must(writer.add_member(h.space, gone, Role::Editor), "add member");
    must(writer.remove_member(h.space, gone), "remove member");
    auto changes = must(writer.changes_since(h.space, known), "changes_since");
    if (changes.size() != 2) {
      std::fprintf(stderr, "bench: expected the addition and the removal, got %zu changes\n", changes.size());
      std::exit(1);
    }
    apply_all(reader, changes, 0, 1);
    auto t1 = Clock::now();
    apply_all(reader, changes, 1, 2);
    ms.push_back(seconds_since(t1) * 1e3);
  }
  table.report("removal_apply_ms", n, percentile(ms, 0.5), "ms");
}

}  // namespace

int main() {
  const size_t max = env_size("URBIS_HISTORY_MAX", kDefaultMax);
  const size_t projects = env_size("URBIS_HISTORY_PROJECTS", kDefaultProjects) / 10 * 10;
  const std::vector<size_t> steps = steps_to(max);
#ifdef __EMSCRIPTEN__
  const char* target = "wasm";
#else
  const char* target = "native";
#endif
  std::printf(
      "urbis history-growth benchmark (%s): steps up to %zu one-op changes "
      "(URBIS_HISTORY_MAX; default %zu here), %zu projects, window %zu\n",
      target, max, kDefaultMax, projects, kWindow);
  std::fflush(stdout);

  // One env for both replicas: its clock advances on every read, so the
  // reader's clock is never behind the writer's changes (no ClockAhead).
  auto env = make_deterministic_env(13);
  Identity reader_id = Identity::generate(*env);
  const DeviceKey reader_key = reader_id.device();
  const std::string writer_path = fresh_path("history-writer.db");
  auto writer = open_replica("history-writer.db", *env, Identity::generate(*env));
  auto reader = open_replica("history-reader.db", *env, std::move(reader_id));

  History h;
  h.space = must(writer->create_space("history"), "create space");
  must(writer->add_member(h.space, reader_key, Role::Editor), "add member");
  auto membership = must(writer->changes_since(h.space, {}), "changes_since");
  apply_all(*reader, membership, 0, membership.size());

  // The projects: 100-op transactions (10 projects of 10 values).
  auto start = Clock::now();
  std::vector<Bytes> created;
  while (h.projects.size() < projects) {
    Transaction tx = writer->begin(h.space);
    for (int k = 0; k < 10; ++k) {
      h.projects.push_back(tx.create("project"));
      project_ops(tx, h.projects.back(), h.projects.size() - 1, 0, 10);
    }
    created.push_back(must(writer->commit(tx), "commit").envelope);
  }
  apply_all(*reader, created, 0, created.size());
  created.clear();
  std::printf("%zu projects created and applied in %.1f s\n", projects, seconds_since(start));

  Table table;
  for (size_t n : steps) {
    auto t = Clock::now();
    const size_t from = h.edits;
    auto [commit_s, apply_s] = grow(*writer, *reader, h, n);
    if (h.edits > from) {
      table.report("grow_commit_per_s", n, static_cast<double>(h.edits - from) / commit_s, "changes/s");
      table.report("grow_apply_per_s", n, static_cast<double>(h.edits - from) / apply_s, "changes/s");
    }
    std::printf("grown to %zu one-op changes in %.1f s (commit_group %.1f s, reader apply %.1f s)\n", h.edits,
                seconds_since(t), commit_s, apply_s);
    std::fflush(stdout);
    t = Clock::now();
    measure(*writer, *reader, h, n, table, *env);
    std::printf("measured at %zu in %.1f s%s\n", n, seconds_since(t), load_average().c_str());
    if (!std::getenv("URBIS_HISTORY_NO_CONTROL")) measure_without_history(writer_path, h.space, n, table, *env);
    std::fflush(stdout);
  }

  std::printf("\nHistory growth (%s, max %zu one-op changes; the window of each step starts at it)\n", target, max);
  table.print(steps);
  writer.reset();
  reader.reset();
  if (!std::getenv("URBIS_HISTORY_KEEP")) {
    remove_store("history-writer.db");
    remove_store("history-reader.db");
  }
  return 0;
}
