// Pieces the benchmarks share (core_bench.cc, natively and as wasm, and
// net_bench.cc): workload scaling, exit-on-error unwrapping, timing, and the
// project-shaped workload whose unit is the "op" every figure counts.
//
//   URBIS_BENCH_SCALE=0.1  shrinks every workload (smoke runs).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <iterator>
#include <utility>
#include <vector>

#include "urbis/replica.h"

namespace urbis::bench {

using Clock = std::chrono::steady_clock;

inline double scale() {
  const char* s = std::getenv("URBIS_BENCH_SCALE");
  return s ? std::max(0.001, std::atof(s)) : 1.0;
}
inline size_t scaled(size_t n) { return std::max<size_t>(1, static_cast<size_t>(n * scale())); }

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The value of `r`, or a message on stderr and exit(1).
template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.is_ok()) {
    std::fprintf(stderr, "bench: %s: %s\n", what, r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}
inline void must(const Status& s, const char* what) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "bench: %s: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

// A path for store `name` under URBIS_BENCH_DIR (default: the system temp
// directory), in a folder urbis-bench, with any store (and WAL/SHM files) a
// previous run left there removed.
inline std::string fresh_path(const std::string& name) {
  const char* base = std::getenv("URBIS_BENCH_DIR");
  auto dir = (base ? std::filesystem::path(base) : std::filesystem::temp_directory_path()) / "urbis-bench";
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

// The p-quantile (0..1) of `v` (nearest rank); 0 for an empty `v`.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

inline const char* const kSectors[] = {"mobility", "energy", "water",     "waste",       "e-government",
                                       "safety",   "health", "education", "environment", "housing"};
inline const char* const kStages[] = {"idea",        "concept",        "feasibility", "planning",
                                      "procurement", "implementation", "operation",   "completed"};
inline const char* const kTitles[] = {"스마트 교통 신호 시스템 %zu",    "智慧城市水务管理 %zu",
                                      "مدينة ذكية للطاقة %zu",          "Умный город: электробусы %zu",
                                      "Akıllı şehir atık yönetimi %zu", "Smart solar sensor grid %zu",
                                      "Open data portal %zu",           "Gestión de agua %zu"};
inline const char* const kLocales[] = {"ko", "zh", "ar", "ru", "tr", "en", "en", "es"};

// Ops number `first` .. `first + count - 1` (each < 10) of the ten describing
// project number `n` (the shape of a real project record): one op per field
// value — title and summary as translatable text, sector, stage, budget,
// currency, a tag, an SDG, lat, lon.
inline void project_ops(Transaction& tx, const EntityId& id, size_t n, size_t first, size_t count) {
  char title[128];
  size_t v = n % std::size(kTitles);
  std::snprintf(title, sizeof title, kTitles[v], n);
  for (size_t k = first; k < first + count; ++k) {
    switch (k % 10) {
      case 0: tx.set_text(id, "title", kLocales[v], title); break;
      case 1: tx.set_text(id, "summary", "en", "A demo project about smart city services"); break;
      case 2: tx.set(id, "sector", kSectors[n % std::size(kSectors)]); break;
      case 3: tx.set(id, "stage", kStages[(n / 3) % std::size(kStages)]); break;
      case 4: tx.set(id, "budget", static_cast<int64_t>(10000 + n * 37 % 900000)); break;
      case 5: tx.set(id, "currency", "EUR"); break;
      case 6: tx.add(id, "tags", "pilot"); break;
      case 7: tx.add(id, "sdgs", static_cast<int>(1 + n % 17)); break;
      case 8: tx.set(id, "lat", 37.5 + (n % 100) * 0.01); break;
      case 9: tx.set(id, "lon", 127.0 + (n % 100) * 0.01); break;
    }
  }
}

}  // namespace urbis::bench
