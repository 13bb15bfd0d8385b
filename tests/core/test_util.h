// Helpers shared by the core's tests: replicas on deterministic envs, and
// exchanging changes between them the way sync will.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "urbis/replica.h"

namespace urbis::testing {

// REQUIRE that a Result/Status is ok, printing its error otherwise.
#define URBIS_REQUIRE_OK(expr)                       \
  do {                                               \
    const auto& urbis_t_ = (expr);                   \
    INFO(::urbis::testing::status_string(urbis_t_)); \
    REQUIRE(urbis_t_.is_ok());                       \
  } while (0)

inline std::string status_string(const Status& s) { return s.to_string(); }
template <typename T>
std::string status_string(const Result<T>& r) {
  return r.status().to_string();
}

// Where test clocks start unless told otherwise (make_deterministic_env's default).
inline constexpr uint64_t kTestStartMs = 1'700'000'000'000ull;

// A device: its env, identity key and open replica (in memory unless a path
// is given).
struct Device {
  std::unique_ptr<Env> env;
  std::unique_ptr<Replica> replica;
  DeviceKey key;

  // `start_ms`: where the device's deterministic clock starts (it advances
  // 1 ms per reading).
  explicit Device(uint64_t seed, const std::string& location = ":memory:", ReplicaOptions options = {},
                  uint64_t start_ms = kTestStartMs) {
    env = make_deterministic_env(seed, start_ms);
    Identity id = Identity::generate(*env);
    key = id.device();
    options.synchronous_full = false;
    auto r = Replica::open(location, std::move(id), *env, options);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    replica = std::move(r).value();
  }
  Replica* operator->() { return replica.get(); }
};

// An apply outcome, or the error, by name (for INFO).
inline std::string outcome_name(const Result<ApplyOutcome>& r) {
  if (!r.is_ok()) return r.status().to_string();
  switch (*r) {
    case ApplyOutcome::Applied: return "Applied";
    case ApplyOutcome::Duplicate: return "Duplicate";
    case ApplyOutcome::Held: return "Held";
  }
  return "?";
}

// A key-less replica, as a sync node runs it (materialize = false).
struct NodeReplica {
  std::unique_ptr<Env> env;
  std::unique_ptr<Replica> replica;
  explicit NodeReplica(uint64_t seed, ReplicaOptions options = {}, uint64_t start_ms = kTestStartMs) {
    env = make_deterministic_env(seed, start_ms);
    options.materialize = false;
    options.synchronous_full = false;
    auto r = Replica::open(":memory:", std::nullopt, *env, options);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    replica = std::move(r).value();
  }
  Replica* operator->() { return replica.get(); }
};

// Sends `from` every change of `space` that `to` lacks; returns how many
// were applied (a change that comes back Held is accepted, not counted).
// Refusals fail the test.
inline size_t pull(Replica& to, Replica& from, const SpaceId& space) {
  VersionVector vv;
  if (auto have = to.version_vector(space); have.is_ok()) vv = *have;
  auto changes = from.changes_since(space, vv);
  REQUIRE_MESSAGE(changes.is_ok(), changes.status().to_string());
  size_t applied = 0;
  for (const auto& c : *changes) {
    auto r = to.apply(c);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    applied += *r == ApplyOutcome::Applied;
  }
  return applied;
}

inline Hash hash_of(Replica& r, const SpaceId& space) {
  auto h = r.state_hash(space);
  REQUIRE_MESSAGE(h.is_ok(), h.status().to_string());
  return *h;
}

// Two cities X and Y, and a project of each (PX of X, PY of Y, at stage
// "idea"), written by `admin` in one change: the setting of the scoped-role
// tests.
struct TwoCities {
  EntityId x, y, px, py;
};

inline TwoCities write_two_cities(Replica& admin, const SpaceId& space) {
  TwoCities c;
  Transaction tx = admin.begin(space);
  c.x = tx.create("city");
  tx.set(c.x, "name", "X");
  c.y = tx.create("city");
  tx.set(c.y, "name", "Y");
  c.px = tx.create("project");
  tx.set(c.px, "city", c.x.hex());
  tx.set(c.px, "stage", "idea");
  c.py = tx.create("project");
  tx.set(c.py, "city", c.y.hex());
  tx.set(c.py, "stage", "idea");
  auto made = admin.commit(tx);
  REQUIRE_MESSAGE(made.is_ok(), made.status().to_string());
  return c;
}

}  // namespace urbis::testing
