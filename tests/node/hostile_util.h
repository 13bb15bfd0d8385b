// Helpers shared by the node tests that play hostile devices against a real
// `urbis node` (node_security_test.cc, node_chain_test.cc): reading the
// node's SQLite store next to the running process, describing the frames a
// connection got, and the devices the test plays (a Player with an in-memory
// replica, a Space created by an admin CLI home).
#pragma once

#include "raw_client.h"  // first: Boost before the rest

#include <sqlite3.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "forge_util.h"
#include "node_util.h"

namespace urbis::testing {

// ---------------------------------------------------------------- the node's store

// One integer from `sql` on the store at `db`, opened read-only next to the
// running node (WAL); -1 when it cannot be read.
inline int64_t sql_int(const fs::path& db, const char* sql) {
  sqlite3* h = nullptr;
  int64_t out = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return out;
}

// What the node stores: spaces, changes in the log, changes held for a gap.
struct StoreCounts {
  int64_t spaces = -1, changes = -1, held = -1;
  bool operator==(const StoreCounts&) const = default;
};
inline std::ostream& operator<<(std::ostream& o, const StoreCounts& c) {
  return o << "{spaces " << c.spaces << ", changes " << c.changes << ", held " << c.held << "}";
}
inline StoreCounts counts(const fs::path& store) {
  return {sql_int(store, "SELECT count(*) FROM spaces"), sql_int(store, "SELECT count(*) FROM changes"),
          sql_int(store, "SELECT count(*) FROM held")};
}
inline StoreCounts counts(const Node& node) { return counts(node.store()); }

// ---------------------------------------------------------------- frames

// The head the node acknowledged for `author`'s chain; 0 when no Ack names it.
inline uint64_t ack_head(const std::vector<pb::Frame>& frames, const DeviceKey& author) {
  for (const auto& f : frames)
    if (f.has_ack())
      for (const auto& h : f.ack().heads())
        if (h.author() == wire_id(author)) return h.seq();
  return 0;
}

// The frames, one word each (errors with their code and message), for INFO.
inline std::string describe(const std::vector<pb::Frame>& frames) {
  std::string out;
  for (const auto& f : frames) {
    if (f.has_error())
      out += "Error(" + std::to_string(f.error().code()) + ", " + f.error().message() + ") ";
    else
      out += std::to_string(static_cast<int>(f.msg_case())) + " ";
  }
  return out;
}

// ---------------------------------------------------------------- devices the test plays

// A device played by the test: an in-memory replica, and a second handle on
// its identity to sign frames and forgeries.
struct Player {
  Device dev;
  Identity id;
  // Its clock starts at the real time: the node's and the CLI's changes are
  // dated by it, and a replica refuses changes dated beyond its own clock
  // and skew window (ClockAhead).
  explicit Player(uint64_t seed) : dev(seed, ":memory:", {}, wall_clock_ms()), id(identity_for_seed(seed)) {}
  Replica& replica() { return *dev.replica; }
  std::string hex() const { return id.device().hex(); }
  // A connection past the handshake.
  std::unique_ptr<RawClient> connect(const Node& node) {
    auto c = std::make_unique<RawClient>(node.port());
    REQUIRE_MESSAGE(c->ok(), c->error());
    REQUIRE_MESSAGE(c->authenticate(id), c->error());
    return c;
  }
  // A change of its own on `space`: a new task with n = `n` (committed locally).
  CommitInfo commit(const SpaceId& space, int n) {
    Transaction tx = replica().begin(space);
    EntityId e = tx.create("task");
    tx.set(e, "n", n);
    auto info = replica().commit(tx);
    REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
    return *info;
  }
};

// An admin device (a CLI home) and the space it created on the node.
struct Space {
  Home admin;
  std::string hex;
  SpaceId id;
  explicit Space(const std::string& name) {
    admin.init();
    hex = admin.ok({"space", "create", name})["space"].get<std::string>();
    id = *SpaceId::from_hex(hex);
  }
  void add(const std::string& device, const char* role) {
    admin.ok({"space", "add-member", hex, device, "--role", role});
  }
  json sync(const Node& node) { return admin.ok({"sync", node.url()}); }
};

}  // namespace urbis::testing
