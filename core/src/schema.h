// The SQLite schema of a replica and its migrations. Each migration is a
// step from version N-1 to N run in one transaction; a store written by a
// newer build (higher version) is refused rather than guessed at.
#pragma once

#include <functional>

#include "db.h"

namespace urbis {

inline constexpr int kSchemaVersion = 9;

// Sets the connection pragmas and brings the schema to kSchemaVersion.
// Storage error, naming what is wrong, when the store is damaged: a table,
// index or column the migrations make is missing (checked at every open,
// against the migrations run on an in-memory database), or PRAGMA
// quick_check finds a damaged page (at open when the file is at most 8 MiB).
// `before_migration` (ReplicaOptions::before_migration), when set, is called
// before the first migration of a store older than kSchemaVersion; its error
// is returned with nothing migrated.
Status prepare_schema(Db& db, bool synchronous_full, const std::function<Status(int, int)>& before_migration = {});
// PRAGMA integrity_check (every page, index and constraint; cost grows with
// the store) and the schema objects: ok or a Storage error naming the first
// problems.
Status check_integrity(Db& db);

// Op keys pack (author row, seq, index in change) into one SQLite integer.
inline constexpr int kOpIndexBits = 15;
inline constexpr int kOpSeqBits = 28;
inline constexpr uint64_t kMaxOpsPerChange = 1ull << kOpIndexBits;
inline constexpr uint64_t kMaxSeq = (1ull << kOpSeqBits) - 1;
// Op keys name author rows below this bound; only materialization builds op
// keys, so only it is bound by it (a node, which never materializes, is not).
inline constexpr int64_t kMaxAuthorRows = 1ll << 20;
inline int64_t op_key(int64_t author_row, uint64_t seq, uint32_t index) {
  return author_row << (kOpSeqBits + kOpIndexBits) | static_cast<int64_t>(seq) << kOpIndexBits | index;
}
inline int64_t op_author_row(int64_t key) { return key >> (kOpSeqBits + kOpIndexBits); }
inline uint64_t op_seq(int64_t key) { return (key >> kOpIndexBits) & kMaxSeq; }
inline uint32_t op_index(int64_t key) { return key & (kMaxOpsPerChange - 1); }

}  // namespace urbis
