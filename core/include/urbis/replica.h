// Replica: one device's (or one node's) copy of the spaces it holds, kept in
// one SQLite database (WAL). It is the core's main entry point:
//
//   auto r = Replica::open("city.db", Identity::generate(env), env, {});
//   auto space = r->create_space("Planning");
//   Transaction tx = r->begin(*space);
//   EntityId p = tx.create("project");
//   tx.set_text(p, "title", "ko", "스마트 교통");
//   auto info = r->commit(tx);          // encrypt, sign, append, materialize
//   auto missing = r->changes_since(*space, their_version_vector);
//   other->apply(missing->front());     // verify, decrypt, merge, materialize
//
// The change log is the truth; entities, facets and the full-text index are
// its materialization and can be rebuilt from it. Every write (local commit
// or remote apply) is one SQLite transaction: it happens entirely or not at
// all, and a refused change leaves the store as it was.
//
// A replica opened without an identity's keys to a space (a sync node, or a
// removed member) still verifies signatures, chains, membership and epochs,
// stores and serves the exact envelope bytes, but cannot read content.
//
// Thread-safety: a Replica is not thread-safe; use one per thread or guard it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "urbis/entity.h"
#include "urbis/env.h"
#include "urbis/identity.h"
#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis {

struct ReplicaOptions {
  // false for a sync node: verify and store, never decrypt or materialize.
  bool materialize = true;
  // PRAGMA synchronous=FULL (true: an acknowledged change survives power
  // loss) or NORMAL (survives a process crash; faster).
  bool synchronous_full = true;
  // The highest op kind this replica understands; ops above it are kept and
  // forwarded but not materialized until a replica that knows them reopens
  // the store. Lowered only by tests of forward compatibility.
  int op_level = -1;  // -1: everything this build knows
  // Upper bound on one envelope, in bytes.
  size_t max_change_bytes = 16u << 20;
  // Upper bound on changes held while waiting for a predecessor, per space.
  size_t max_held_changes = 100'000;
};

struct SpaceInfo {
  SpaceId id;
  std::string name;  // local label; empty for spaces learnt from others
  uint32_t epoch = 0;
  Role my_role = Role::None;
};

struct Member {
  DeviceKey device;
  Role role = Role::None;
};

struct CommitInfo {
  uint64_t seq = 0;
  Hash hash;        // BLAKE2b-256 of the envelope
  Bytes envelope;   // the exact bytes stored and to be sent
  size_t ops = 0;
};

enum class ApplyOutcome {
  Applied,    // stored (and materialized when readable)
  Duplicate,  // already stored: nothing changed
  Held,       // predecessor missing: kept aside, applied when the gap fills
};

class Replica;

// The ops of one local transaction; Replica::commit turns them into one
// change. Recording ops does not touch the store.
class Transaction {
 public:
  const SpaceId& space() const { return space_; }
  // A new entity of `type` with a random 128-bit id.
  EntityId create(std::string type);
  void set(const EntityId& id, std::string field, nlohmann::json value);
  void set_text(const EntityId& id, std::string field, std::string locale, std::string text,
                std::string source_locale = "");
  void add(const EntityId& id, std::string field, nlohmann::json element);
  void remove(const EntityId& id, std::string field, nlohmann::json element);
  void remove_entity(const EntityId& id);
  void restore_entity(const EntityId& id);
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }

 private:
  friend class Replica;
  struct PendingOp {
    int kind;
    EntityId entity;
    std::string field, locale, value, source_locale;
  };
  Transaction(SpaceId space, Env* env) : space_(space), env_(env) {}
  SpaceId space_;
  Env* env_;
  std::map<EntityId, std::string> created_;
  std::vector<PendingOp> ops_;
};

class Replica {
 public:
  // Opens (creating if needed) the store at `location`: a file path, or
  // ":memory:". `identity` may be nullopt for a node that holds no keys.
  // Migrates older schemas; rebuilds the materialization when this build
  // understands more op kinds than the one that wrote it.
  static Result<std::unique_ptr<Replica>> open(const std::string& location,
                                               std::optional<Identity> identity, Env& env,
                                               ReplicaOptions options = {});
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The device key of this replica's identity (zero when opened without one).
  DeviceKey device() const;

  // ---- spaces and members ----
  // Creates a space with this device as its admin and key epoch 1.
  Result<SpaceId> create_space(std::string_view name);
  Result<std::vector<SpaceInfo>> spaces();
  Result<SpaceInfo> space(const SpaceId& space);
  Result<std::vector<Member>> members(const SpaceId& space);
  // Adds a member or changes a role (admin only). Removing (Role::None) or
  // lowering a writer's role starts a new key epoch the member never gets.
  Status set_role(const SpaceId& space, const DeviceKey& device, Role role);
  Status add_member(const SpaceId& space, const DeviceKey& device, Role role) {
    return set_role(space, device, role);
  }
  Status remove_member(const SpaceId& space, const DeviceKey& device) {
    return set_role(space, device, Role::None);
  }

  // ---- local writes ----
  Transaction begin(const SpaceId& space);
  // Encrypts, signs, appends and materializes `tx` as one change, atomically.
  // Forbidden unless this device may write; NotFound for an op on an entity
  // that neither exists nor was created in `tx`.
  Result<CommitInfo> commit(const Transaction& tx);
  // Group commit: each transaction becomes its own change (same as commit,
  // in order), but all are made durable by one SQLite commit, all or none.
  // For bulk work (imports, a node's writers) where one acknowledgement for
  // the group is right; an interactive edit uses commit().
  Result<std::vector<CommitInfo>> commit_group(const std::vector<Transaction>& txs);

  // ---- replication ----
  // Verifies and applies one envelope received from elsewhere. Errors:
  // Malformed, TooLarge, BadSignature, BrokenChain (including a different
  // change with an existing seq), UnknownSpace, UnknownEpoch, NotAMember,
  // DecryptFailed. On error nothing is stored.
  Result<ApplyOutcome> apply(ByteView envelope);
  // Applies many envelopes in one SQLite transaction (one fsync); each gets
  // its own result, and one refused change does not affect the others.
  std::vector<Result<ApplyOutcome>> apply_batch(const std::vector<Bytes>& envelopes);
  Result<VersionVector> version_vector(const SpaceId& space);
  // The stored changes `known` lacks, in an order in which they apply
  // (this replica's log order), at most `max_bytes` of envelopes (at least one).
  Result<std::vector<Bytes>> changes_since(const SpaceId& space, const VersionVector& known,
                                           size_t max_bytes = SIZE_MAX);
  // Number of changes held for a missing predecessor.
  Result<size_t> held_count(const SpaceId& space);

  // ---- reads ----
  Result<Entity> get(const SpaceId& space, const EntityId& id);
  Result<FindResult> find(const SpaceId& space, const Query& query);
  // BLAKE2b-256 over the materialized state (members, entities, every live
  // value): equal on replicas that applied the same changes, in any order.
  Result<Hash> state_hash(const SpaceId& space);

  class Impl;

 private:
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace urbis
