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

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "urbis/entity.h"
#include "urbis/env.h"
#include "urbis/identity.h"
#include "urbis/invite.h"
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
  // Changes held while waiting for a predecessor (a gap in their author's
  // chain), per space: at most this many, and at most these many envelope
  // bytes per author and per space. A change over either allowance is
  // refused TooLarge (its sender keeps it and may resend it once the gap is
  // filled); other authors can still park theirs until the space's total is
  // reached. The per-author allowance should hold at least one change of
  // max_change_bytes.
  size_t max_held_changes = 100'000;
  size_t max_held_bytes_per_author = 32u << 20;
  size_t max_held_bytes_per_space = 128u << 20;
  // Author rows a space's membership changes may name (members, removed
  // members, invites), far above any real network's devices. The admin's
  // change that would name one more is refused TooLarge; other spaces are
  // not affected.
  size_t max_authors_per_space = 65'536;
  // Entries in one membership change, counted on the wire before it is
  // parsed: role updates (and cutoffs), and key grants (a removal grants the
  // new epoch's key to every remaining reader). Over either: TooLarge.
  size_t max_member_updates = 1'024;
  size_t max_key_grants = 131'072;
  // Clock skew allowed to a remote change: one whose HLC wall-clock part is
  // more than this ahead of Env::now_ms() is refused ClockAhead (not stored,
  // not held, not observed into this replica's HLC); resent once the
  // receiver's clock has caught up, it applies.
  uint64_t max_clock_skew_ms = 10 * 60 * 1000;
  // Called at open when the store's schema is older than this build's (a
  // store written by an earlier release), once, before the first migration
  // step: no transaction is open on the store and nothing of it has been
  // changed, so another connection may copy it. `stored_version` is the
  // store's schema version (>= 1), `current_version` this build's. An error
  // fails the open with that status and nothing is migrated. Not called for
  // a new store or one already current. The native `urbis` copies the store
  // here (node/cli/home.h, replica.db.pre-vN); empty: migrate straight away.
  std::function<Status(int stored_version, int current_version)> before_migration = nullptr;
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
  // Non-zero for a pending invite (`device` is an invite's key, not a
  // device's): the wall-clock ms until which it may be redeemed.
  uint64_t invite_expires_ms = 0;
  // The `city` entities the role is limited to (docs/membership.md, scoped
  // roles); empty: the whole space.
  std::vector<EntityId> scope;
};

struct CommitInfo {
  uint64_t seq = 0;
  Hash hash;       // BLAKE2b-256 of the envelope
  Bytes envelope;  // the exact bytes stored and to be sent
  size_t ops = 0;
};

// What stage() made durable: its ops are ops [first_index, first_index + ops)
// of this device's change `seq` once sealed; `staged_ops` in that change so
// far.
struct StageInfo {
  uint64_t seq = 0;
  uint32_t first_index = 0;
  size_t ops = 0;
  size_t staged_ops = 0;
};

// Bounds of a pending change (Replica::stage): it is sealed before a put
// that would pass them.
inline constexpr size_t kMaxStagedOps = 4096;
inline constexpr size_t kMaxStagedBytes = 1u << 20;
inline constexpr uint64_t kMaxStagedAgeMs = 1000;

enum class ApplyOutcome {
  Applied,    // stored (and materialized when readable)
  Duplicate,  // already stored: nothing changed
  Held,       // predecessor missing: kept aside, applied when the gap fills
};

// What Replica::create_invite made.
struct Invite {
  InviteSecret secret;
  std::string code;  // encode_invite_code(secret): what the person joining types
  DeviceKey key;     // the invite's public key, a member until redeemed or expired
  Role role = Role::None;
  uint64_t expires_ms = 0;
  CommitInfo change;  // the admin's membership change that adds the invite
};

class Replica;

// The ops of one local transaction; Replica::commit turns them into one
// change. Recording ops does not touch the store. An op that breaks the
// content rules (core/README.md: a type of 1..64 bytes, a field of 1..256,
// a locale of 1..35, a value at most 32 arrays/objects deep and 1 MiB as
// JSON text) makes commit() fail with InvalidArgument, naming it.
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
  std::string invalid_;  // why commit() refuses this transaction ("" if it may not)
};

class Replica {
 public:
  // Opens (creating if needed) the store at `location`: a file path, or
  // ":memory:". `identity` may be nullopt for a node that holds no keys.
  // Migrates older schemas (after options.before_migration, when set, has
  // agreed); rebuilds the materialization when this build understands more
  // op kinds than the one that wrote it.
  static Result<std::unique_ptr<Replica>> open(const std::string& location, std::optional<Identity> identity, Env& env,
                                               ReplicaOptions options = {});
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The device key of this replica's identity (zero when opened without one).
  DeviceKey device() const;
  // The identity the replica signs its changes with, borrowed (nullptr when
  // opened without one): a sync session of this replica signs with it too
  // (sync::Signer::of), so the secret key is held once. The session must not
  // outlive the replica.
  const Identity* identity() const;

  // ---- spaces and members ----
  // Creates a space with this device as its admin and key epoch 1.
  Result<SpaceId> create_space(std::string_view name);
  Result<std::vector<SpaceInfo>> spaces();
  Result<SpaceInfo> space(const SpaceId& space);
  // Current members, and pending invites (invite_expires_ms set) that have
  // not expired by this replica's clock; redeemed, revoked and expired
  // invites are not listed. A node serves a space to the keys listed here, so
  // an expired invite key is served nothing. (The state hash does not depend
  // on the clock: it covers every stored role and invite.)
  Result<std::vector<Member>> members(const SpaceId& space);
  // One device's entry of members(): its role, Role::None when members()
  // would not list it. One indexed lookup (a node checks it per batch).
  Result<Role> member_role(const SpaceId& space, const DeviceKey& device);
  // Whether `device` is a member (the rule of member_role) of any space held
  // here: one indexed lookup (authors_by_pk), whatever the number of spaces
  // (a node asks it for every device that would create a space).
  Result<bool> member_of_any(const DeviceKey& device);
  // Adds a member or changes a role (admin only). Removing (Role::None) or
  // lowering a writer's role starts a new key epoch the member never gets,
  // with a cutoff pinning the writer's chain: its head seq and that change's
  // hash as held here (core/README.md, "Rules of the apply path").
  //
  // `scope` limits the role to those `city` entities (docs/membership.md):
  // a scoped writer's ops count only on entities whose home city is in it.
  // A scoped admin may only give roles scoped within its own scope.
  // Removing an admin also revokes the invites it made that are still
  // pending.
  Status set_role(const SpaceId& space, const DeviceKey& device, Role role, std::vector<EntityId> scope = {});
  Status add_member(const SpaceId& space, const DeviceKey& device, Role role) { return set_role(space, device, role); }
  // Revokes a pending invite (its key, Invite::key or Member::device with
  // invite_expires_ms set): a redeem the revoking admin had not seen has no
  // effect on any replica, and a new key epoch starts. NotFound when `invite`
  // is not a pending invite here.
  Status revoke_invite(const SpaceId& space, const DeviceKey& invite);
  // Settles the space's keys after concurrent membership changes
  // (docs/membership.md, "Keys follow membership"), when this device is an
  // admin that should: grants the current epoch's key to members that lack
  // it, or starts a new epoch when the current key reached someone who is
  // no longer a member (two admins rotating at once). True when it
  // committed a change (send it like any other). Clients call it after
  // applying what a sync brought.
  Result<bool> heal(const SpaceId& space);
  // NotAMember unless the change's author may make it now (content: a
  // writer; membership: an admin, or any member for a key share) by the
  // membership held here. A node asks it of the changes a device sends of
  // its own: a change that would count for nothing is kept only when relayed
  // (docs/membership.md, "What is kept"). Other errors: the change does not
  // parse, or its space is not held here.
  Status check_own_change(ByteView envelope);
  Status remove_member(const SpaceId& space, const DeviceKey& device) { return set_role(space, device, Role::None); }

  // ---- invites (invite.h) ----
  // Adds a fresh invite key as a member with `role` and an expiry
  // `ttl_seconds` from now (whole seconds, 1 s to 366 days), granted every
  // epoch key this device holds, exactly as add_member would grant them; one
  // admin-signed membership change, committed here. The code works once that
  // change has reached a witness node.
  //
  // `witnesses` (1 to 8 node keys; empty: the node remember_node() last
  // recorded) are the nodes trusted to timestamp the redeem: the joiner must
  // redeem through one of them, which adds its receipt (witness_redeem), and
  // every replica judges the expiry on the receipt's time, never on a clock
  // the redeemer chooses. Forbidden unless this device is an admin;
  // InvalidArgument for Role::None, a ttl out of range or a bad witness list;
  // NotFound when no witness is given and no node was remembered.
  //
  // Whoever holds the code can read the space's history (the keys granted to
  // the invite) until the invite is redeemed or expires, and, with a copy of
  // the log, for ever after; an admin who fears a code leaked removes the
  // invite key (a new epoch, as for any removal).
  Result<Invite> create_invite(const SpaceId& space, Role role, uint64_t ttl_seconds,
                               std::vector<DeviceKey> witnesses = {});
  // The node that serves `space` to this replica (a client session records
  // the server's key when the server has sent it the whole space, its Live),
  // or, without a space, one node for every space: create_invite's default
  // witness, the node remembered for the invite's space, else the one for
  // every space. A node that merely authenticated (one that refused the
  // space, a mistyped URL) is not remembered: it would date the redeems of
  // every invite made next. Stored in the replica; the latest call wins.
  Status remember_node(const DeviceKey& node, const std::optional<SpaceId>& space = std::nullopt);
  Result<std::optional<DeviceKey>> remembered_node(const std::optional<SpaceId>& space = std::nullopt);
  // How a witness signs: Ed25519 over the message, with the witness's key.
  using SignFn = std::function<std::array<uint8_t, 64>(ByteView)>;
  // A witness node's side of a redeem, called on every envelope a node
  // receives from a client before applying it. When `envelope` is the redeem
  // of an invite stored here that names `witness` and carries no receipt yet,
  // returns it with a receipt signed by `sign` and dated by this replica's
  // clock; returns nullopt for any other envelope (apply() judges those).
  // Expired when the invite has expired by this replica's clock: the redeem
  // gets no receipt, and no replica will accept it without one.
  Result<std::optional<Bytes>> witness_redeem(ByteView envelope, const DeviceKey& witness, const SignFn& sign);
  // The redeem of `invite` for this device: the invite key's one change (its
  // seq 1, signed by the invite key) giving this device the invite's role and
  // every epoch key granted to the invite, re-sealed to this device, and
  // setting the invite's own role to None. The space's log, with the change
  // that created the invite, must be stored here (e.g. fetched by syncing
  // with the invite's key as the signer).
  //
  // The change is built and checked here by the rules apply() enforces
  // (all but the witness's receipt, which the witness node adds), but NOT
  // stored: two devices redeeming one code both write the invite's seq 1,
  // and only the first a node accepts counts (the other gets BrokenChain).
  // Send the envelope through a witness node, which adds its receipt and
  // sends the receipted envelope back: that one is what every replica stores.
  // Errors: UnknownSpace (the space's log is not here); NotFound (no such
  // invite in the log here); NotAMember (already redeemed, or revoked);
  // Expired (past its expiry by this replica's clock); InvalidArgument (this
  // device is already a member); Forbidden (a replica without an identity).
  Result<CommitInfo> redeem_invite(const InviteSecret& invite);

  // ---- local writes ----
  Transaction begin(const SpaceId& space);
  // Encrypts, signs, appends and materializes `tx` as one change, atomically.
  // Forbidden unless this device may write; NotFound for an op on an entity
  // that neither exists nor was created in `tx`; InvalidArgument for an op
  // that breaks the content rules (see Transaction).
  Result<CommitInfo> commit(const Transaction& tx);
  // Group commit: each transaction becomes its own change (same as commit,
  // in order), but all are made durable by one SQLite commit, all or none.
  // For bulk work (imports, a node's writers) where one acknowledgement for
  // the group is right; an interactive edit uses commit().
  Result<std::vector<CommitInfo>> commit_group(const std::vector<Transaction>& txs);
  // Staged write: `tx` is checked as commit() checks it and made durable and
  // visible at once (its values, in one small SQLite commit), but not yet
  // encrypted, signed or logged: it joins this device's pending change of
  // the space, which seal() turns into one signed change holding every put
  // staged since, in order (one signature for many puts). The ops keep the
  // ids they get here (the pending change's seq, the next op indexes in the
  // body's order), so a later put overwrites or removes them by the ids
  // every replica will see.
  //
  // The pending change of a space is sealed before anything else of that
  // space is written or sent by any connection to this store (commit,
  // commit_group, a membership change, changes_since) and before a batch
  // that carries changes of the space is applied; before a put that would
  // take it past kMaxStagedOps ops or kMaxStagedBytes body bytes; and before
  // a put made more than kMaxStagedAgeMs after its first by this replica's
  // clock, or after the clock went back (its puts carry the first one's
  // HLC). A change sealed by one of these is in the log like any other:
  // hosts send what changes_since gives, not only what seal() returns. A
  // host calls seal() when it sends; a pending change left at exit stays in
  // the store and is sealed at the next of these after the next open.
  //
  // A copy of this store used again forks this device's chain as a commit
  // would (both copies write the same seq). Errors as commit();
  // InvalidArgument on a store opened without materializing content.
  Result<StageInfo> stage(const Transaction& tx);
  // Seals this device's pending change of `space` (see stage): the change
  // to send, or nullopt when nothing was staged. Forbidden when the puts
  // were staged by another identity than this replica's (or it has none).
  Result<std::optional<CommitInfo>> seal(const SpaceId& space);
  // The ops staged in `space` and not yet sealed.
  Result<size_t> staged_ops(const SpaceId& space);

  // ---- replication ----
  // Verifies and applies one envelope received from elsewhere. Errors:
  // Malformed (including an HLC >= 2^63), TooLarge (the envelope, the held
  // allowances, a membership change's entries, a space's author rows),
  // BadSignature, BrokenChain (including a different change with an existing
  // seq, and a removed writer's change at its cutoff seq that is not the one
  // the cutoff pins), UnknownSpace, UnknownEpoch, NotAMember, ClockAhead (dated beyond
  // now + max_clock_skew_ms; applies once the clock has caught up). A content
  // change whose body this replica holds keys for but cannot open or parse is
  // stored without effect (core/README.md). An invite key's only valid
  // change is its redeem (the rules are in change.proto, Membership): its
  // content or second change is NotAMember, a redeem breaking the rules (or
  // without a valid receipt of a witness the invite names) Forbidden, one
  // received by its witness after the invite's expiry Expired. On error
  // nothing is stored. A content change that decrypts and parses is stored
  // even when some of its ops break the content rules (core/README.md):
  // those ops have no effect.
  Result<ApplyOutcome> apply(ByteView envelope);
  // Applies many envelopes in one SQLite transaction (one fsync); each gets
  // its own result, and one refused change does not affect the others. When
  // the store itself fails (a full disk, an I/O error) while a change is
  // written, nothing of the batch is kept and every change reports that
  // error: send the batch again once the store works.
  std::vector<Result<ApplyOutcome>> apply_batch(const std::vector<Bytes>& envelopes);
  Result<VersionVector> version_vector(const SpaceId& space);
  // The stored changes `known` lacks, in an order in which they apply
  // (this replica's log order). With a byte budget, one batch: at most
  // `max_bytes` of envelopes (at least one), possibly fewer (a bounded read
  // per batch; ask again with the grown version vector); without one, all.
  Result<std::vector<Bytes>> changes_since(const SpaceId& space, const VersionVector& known,
                                           size_t max_bytes = SIZE_MAX);
  // Number of changes held for a missing predecessor, and their envelope
  // bytes (the space's, or one author's): running totals, no counting.
  Result<size_t> held_count(const SpaceId& space);
  // Forgets `space` entirely: its log, held changes, keys and materialized
  // state, atomically (all or nothing). For a space this replica should never
  // have stored (a sync client drops a space a node pushed to it unasked in
  // which this device is no member, sync/session.h). UnknownSpace if absent.
  Status drop_space(const SpaceId& space);
  // Whether the space's log has ever made `device` a member: it holds a role,
  // held one and lost it, or wrote a change (an invite key never counts). A
  // device for which this is false never belonged in the space. One indexed
  // lookup. UnknownSpace if the space is not held.
  Result<bool> member_by_log(const SpaceId& space, const DeviceKey& device);
  Result<size_t> held_bytes(const SpaceId& space);
  Result<size_t> held_bytes(const SpaceId& space, const DeviceKey& author);

  // ---- reads ----
  Result<Entity> get(const SpaceId& space, const EntityId& id);
  Result<FindResult> find(const SpaceId& space, const Query& query);
  // Brings what reads show (summary documents, facets, full text) up to date
  // with every change applied. A large apply_batch (a catch-up) leaves that
  // to the next read, so that an entity changed by many batches in a row is
  // refreshed once; get() and find() do it first themselves (when it cannot
  // be written, say on a full disk, they read what was last refreshed and
  // the next read tries again). A host may call it when idle, so that the
  // next read does not wait for it; an error here is the storage's.
  Status refresh();
  // BLAKE2b-256 over the materialized state (members, entities, every live
  // value): equal on replicas that applied the same changes, in any order.
  Result<Hash> state_hash(const SpaceId& space);

  // ---- upkeep ----
  // Reads every page of the store (SQLite's integrity_check) and checks its
  // schema: ok, or Storage naming the first problems. open() already refuses
  // a store with a missing table or column, and runs the cheaper quick_check
  // on a store of at most 8 MiB; this is the full check for any size.
  Status check_integrity();
  // Copies the write-ahead log into the database file and truncates it, so
  // the file alone holds the store (what the browser snapshots); with
  // `vacuum`, first rebuilds the file without its free pages (which keep
  // the bytes of deleted rows, e.g. after drop_space). Storage when SQLite
  // cannot (another connection reading); call between operations.
  struct Checkpoint {
    int wal_frames = 0;    // frames the log held
    int checkpointed = 0;  // of those, copied into the file
  };
  Result<Checkpoint> checkpoint(bool vacuum = false);

  class Impl;

 private:
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace urbis
