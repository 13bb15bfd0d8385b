// Replica::Impl, shared by the files that implement the replica:
//   replica.cc      open, spaces and members, local commits, remote apply
//   materialize.cc  ops -> vals -> entity documents, facets, full-text
//   query.cc        get, find, state hash
//   invite.cc       invite codes, create_invite, redeem_invite
// Internal; not installed.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "crypto.h"
#include "db.h"
#include "keyring.h"
#include "membership.h"
#include "schema.h"
#include "urbis/change.pb.h"
#include "urbis/replica.h"

namespace urbis {

// At most this many witness nodes per invite (MemberUpdate.invite_witnesses).
inline constexpr int kMaxInviteWitnesses = 8;

// The highest op kind this build understands (change.proto, OpKind).
inline constexpr int kOpLevel = pb::OP_RESTORE;
// The content rules a store was materialized under (core/README.md); a store
// with another value is rebuilt from its log at open. 2: issue 10 (types by
// claim rank, overwrites of the same register and seen, bounded values).
inline constexpr int kContentRules = 3;  // 3: issue 11 (roles by the resolver's ranges, scopes)
// The membership rules a store was resolved under (docs/membership.md); a
// store with another value is resolved again at open.
inline constexpr int kMembershipRules = 1;

// An envelope that parsed and whose fields have the right shapes.
struct ParsedChange {
  ByteView raw;
  pb::Envelope envelope;
  pb::Header header;
  SpaceId space;
  DeviceKey author;
  Hash hash;  // BLAKE2b-256 of raw
};

// A row of `authors`: a device's chain in one space and its membership.
struct AuthorRow {
  int64_t id = 0;  // 0: no row yet
  int64_t space = 0;
  DeviceKey pk;
  uint64_t head_seq = 0;
  Hash head_hash;
  Role role = Role::None;
  // The highest pin of its chain an admin recorded (Cutoff seq and hash).
  uint64_t cutoff_seq = 0;
  // The admin's hash of this author's change at cutoff_seq (Cutoff.hash;
  // empty: no pin, the rule before pins, or a cutoff at seq 0).
  Bytes cutoff_hash;
  bool pinned() const { return cutoff_seq > 0 && cutoff_hash.size() == Hash::kSize; }
  bool is_pinned_hash(const Hash& h) const {
    return std::equal(h.bytes.begin(), h.bytes.end(), cutoff_hash.begin(), cutoff_hash.end());
  }
  // Non-zero: an invite key (not a device), redeemable until this wall-clock
  // ms. Stays set after the redeem, which lowers the role to None.
  uint64_t invite_expires = 0;
  // An invite key's witnesses: concatenated 32-byte node keys (empty for a
  // legacy invite, or a device).
  Bytes invite_witnesses;
  bool witnessed_by(const DeviceKey& node) const {
    for (size_t i = 0; i + 32 <= invite_witnesses.size(); i += 32)
      if (std::equal(node.bytes.begin(), node.bytes.end(), invite_witnesses.begin() + static_cast<long>(i)))
        return true;
    return false;
  }

  // The role the invite key was created with (0 for a device).
  Role invite_role = Role::None;
  // Its current scope (sorted 16-byte city ids; empty: the whole space), and
  // the seq from which its current `role` holds for its own changes (below
  // it, role_ranges says: Replica::Impl::role_at).
  Bytes scope;
  uint64_t ranges_from = 1;
};

// A role for one change: what the author may do, and where (scope).
struct RoleAt {
  Role role = Role::None;
  Bytes scope;  // empty: the whole space
};

struct SpaceRow {
  int64_t id = 0;
  SpaceId sid;
  std::string name;
  uint32_t epoch = 0;     // the newest epoch a counted membership change started
  Bytes key_id;           // its key's id (empty: an epoch from before key ids)
  bool key_sound = true;  // its key reached members (and pending invites) only
};

// At most this many cities in one role's scope (MemberUpdate.scope).
inline constexpr size_t kMaxScope = 1024;
// At most this many changes of an author that count for nothing (its role
// does not let it write them) past its last pin are stored.
inline constexpr uint64_t kMaxUncounted = 1024;
// An apply_batch of at least this many changes leaves the entities it
// changed stale (stale_entities) for the next read to refresh; a smaller one
// refreshes them before it commits.
inline constexpr size_t kStaleBatch = 32;
// Stale entities refreshed per transaction (each commit keeps the lock short).
inline constexpr size_t kStaleChunk = 256;
// rebuild_space reads the space's log in chunks of this many changes, so
// that its memory does not grow with the log.
inline constexpr size_t kRebuildChunk = 1024;
// At most this many parents per membership change (Membership.parents).
inline constexpr int kMaxParents = 64;
// changes_since: up to this many authors lacking, one cursor per author's
// chain, merged; beyond, one range of the space's log (replica.cc).
inline constexpr size_t kMergeAuthors = 32;
// ... and that range reads at most this many rows for a batch once it holds
// a change (a peer's version vector must not buy a scan of the whole log).
inline constexpr size_t kMaxScanRows = 65536;

// Adds to `m` a grant of `key` (of `epoch`) sealed to `to`, naming its key
// id; false when `to` is not a valid key.
bool add_grant(pb::Membership& m, uint32_t epoch, const DeviceKey& to, const SpaceKey& key);

class Replica::Impl {
 public:
  Impl(std::unique_ptr<Db> db, std::optional<Identity> identity, Env& env, ReplicaOptions options);
  ~Impl();
  Status init();

  // --- replica.cc ---
  Result<SpaceId> create_space(std::string_view name);
  Result<std::vector<SpaceInfo>> spaces();
  Result<SpaceInfo> space_info(const SpaceId& sid);
  Result<std::vector<Member>> members(const SpaceId& sid);
  Result<Role> member_role(const SpaceId& sid, const DeviceKey& device);
  Result<bool> member_of_any(const DeviceKey& device);
  Status set_role(const SpaceId& sid, const DeviceKey& device, Role role, std::vector<EntityId> scope);
  Status revoke_invite(const SpaceId& sid, const DeviceKey& invite);
  Result<bool> heal(const SpaceId& sid);
  Status check_own_change(ByteView envelope);
  // --- invite.cc ---
  Result<Invite> create_invite(const SpaceId& sid, Role role, uint64_t ttl_seconds, std::vector<DeviceKey> witnesses);
  Result<CommitInfo> redeem_invite(const InviteSecret& secret);
  Result<std::optional<Bytes>> witness_redeem(ByteView envelope, const DeviceKey& witness, const Replica::SignFn& sign);
  Status remember_node(const DeviceKey& node, const std::optional<SpaceId>& space);
  Result<std::optional<DeviceKey>> remembered_node(const std::optional<SpaceId>& space);
  // Commits n transactions as n changes in one SQLite transaction: all or none.
  Result<std::vector<CommitInfo>> commit_all(const Transaction* txs, size_t n);
  std::vector<Result<ApplyOutcome>> apply_batch(const std::vector<ByteView>& envelopes);
  Result<VersionVector> version_vector(const SpaceId& sid);
  Result<std::vector<Bytes>> changes_since(const SpaceId& sid, const VersionVector& known, size_t max_bytes);
  Result<size_t> held_count(const SpaceId& sid);
  Status drop_space(const SpaceId& sid);
  Result<bool> member_by_log(const SpaceId& sid, const DeviceKey& device);
  Result<size_t> held_bytes(const SpaceId& sid, const DeviceKey* author);  // nullptr: the space's

  // --- query.cc ---
  Result<Entity> get(const SpaceId& sid, const EntityId& id);
  Result<FindResult> find(const SpaceId& sid, const Query& q);
  Result<Hash> state_hash(const SpaceId& sid);

  DeviceKey device() const { return identity_ ? identity_->device() : DeviceKey{}; }

 private:
  // --- replica.cc ---
  Result<ParsedChange> parse(ByteView raw) const;
  Result<SpaceRow> find_space(const SpaceId& sid);
  Result<SpaceRow> find_space_by_row(int64_t id);
  Result<AuthorRow> find_author(int64_t space, const DeviceKey& pk);  // id 0 if none
  // Creates the row if missing: author_row for materialization (bound by
  // kMaxAuthorRows), member_row for membership changes (bound per space by
  // ReplicaOptions::max_authors_per_space, TooLarge past it).
  Result<AuthorRow> author_row(int64_t space, const DeviceKey& pk);
  Result<AuthorRow> member_row(int64_t space, const DeviceKey& pk);
  Result<DeviceKey> author_key(int64_t author_row);
  Status save_membership(const AuthorRow& a);
  // Verifies everything but the signature and applies `p` in the current
  // SQLite transaction. `plain` is the decrypted body of a content change
  // (nullptr: decrypt here if possible).
  // `known`: the space and author rows, when the caller (a local commit)
  // read them in this transaction.
  // `materialized`: its values are in the store already (a sealed pending
  // change, whose puts wrote them): it is only logged.
  Result<ApplyOutcome> apply_parsed(const ParsedChange& p, const pb::Body* plain,
                                    const std::pair<const SpaceRow*, const AuthorRow*>& known = {},
                                    bool materialized = false);
  Result<ApplyOutcome> apply_one(ByteView raw, bool release);
  // `endorsed`: authentic by a later change of its run (endorsed_by_run);
  // else its own signature is verified.
  Result<ApplyOutcome> apply_verified(const ParsedChange& p, bool endorsed, bool release);
  static bool signature_ok(const ParsedChange& p);
  static std::vector<bool> endorsed_by_run(const std::vector<Result<ParsedChange>>& parsed);
  // `redeem`: `m` is an invite's redeem, already checked by check_redeem.
  Status apply_membership(SpaceRow& space, const ParsedChange& p, const pb::Membership& m, bool redeem,
                          bool* needs_rebuild);
  // Whether a's change at `seq` is stored: when its role lets it (admin for
  // a membership change, a writer for content), or, counting for nothing,
  // when a was ever named a member (an admin, for a membership change) and
  // the change is within kMaxUncounted of its last pin; NotAMember otherwise.
  Status check_author(const AuthorRow& a, uint64_t seq, bool membership);
  // Shapes every replica judges alike (key id, parents, scopes), and that
  // the parents are held here and older.
  Status check_membership_shape(const SpaceRow& space, const ParsedChange& p, const pb::Membership& m, bool genesis,
                                bool redeem);
  // --- membership.cc's resolver, kept per space (docs/membership.md) ---
  // The resolver of `space`, loaded from mlog on first use.
  Result<MembershipResolver*> resolver(const SpaceRow& space);
  // Adds a stored membership change to the resolver and writes what changed
  // (authors, role_ranges, mlog.counted, epochs, spaces.epoch); sets
  // *needs_rebuild when a stored content change is now judged otherwise.
  Status resolve(SpaceRow& space, MemberChange c, bool* needs_rebuild);
  Status write_resolution(SpaceRow& space, const std::vector<std::pair<DeviceKey, Resolution::Member>>& moved,
                          const std::map<uint32_t, Resolution::Epoch>& epochs_before, const Resolution& after,
                          bool* needs_rebuild);
  // Re-resolves every space from its log (a store from before these rules).
  Status resolve_all();
  // The role and scope under which a's change at `seq` counts.
  Result<RoleAt> role_at(const AuthorRow& a, uint64_t seq);
  // The current epoch's key id and whether its key reached only members
  // (and pending invites); the devices with no grant of it.
  struct KeyState {
    uint32_t epoch = 0;
    Bytes key_id;
    int starts = 0;
    bool sound = true;
    std::vector<DeviceKey> lacking;  // members with no grant of the key (with_lacking only)
  };
  // `with_lacking`: also list the members lacking the key (a walk of every
  // member; the resolution after each membership change needs only `sound`).
  Result<KeyState> key_state(const SpaceRow& space, bool with_lacking = true);
  // The key this device writes epoch `epoch` with (its key id), or nullptr.
  const SpaceKey* writing_key(const SpaceRow& space);
  Result<bool> heal_locked(SpaceRow space);
  // Starts a new epoch: into `m` when given (the caller commits it), else as
  // a change of its own; the key is sealed to every member and pending
  // invite (of an admin) but `except`.
  Status rotate(SpaceRow space, const std::set<DeviceKey>& except, pb::Membership* m);
  // The heads of the space's membership graph, for a new change's parents.
  Result<std::vector<Hash>> membership_heads(const SpaceRow& space);
  // The rules for the one change an invite key may author (change.proto,
  // Membership): Forbidden, NotAMember or Expired when `m` breaks them.
  // `p` carries the witness's receipt unless `local` (the redeemer checking
  // its own redeem before sending it, which the witness receipts).
  Status check_redeem(const SpaceRow& space, const AuthorRow& invite, const ParsedChange& p, const pb::Membership& m,
                      bool local);
  Result<CommitInfo> commit_one(const Transaction& tx);  // inside an open transaction
  // Runs `write` in one SQLite transaction of local writes (commit_all,
  // stage, seal): refreshes deferred to the next read, all or nothing.
  Status local_write(const std::function<Status()>& write);
  // The checks of a local transaction (commit_one, stage) and the rows it
  // writes with: Forbidden, InvalidArgument, TooLarge, NotFound as commit().
  // `seal_first`: this device's pending change of the space is sealed once
  // `tx` passed its checks (a commit).
  Result<std::pair<SpaceRow, AuthorRow>> writer_rows(const Transaction& tx, bool seal_first);
  // The body of `tx` as this device's change `seq`, its ops numbered from
  // `first_index`: each names the values it overwrites.
  Result<pb::Body> content_body(const Transaction& tx, const SpaceRow& space, uint64_t seq, uint32_t first_index);
  // The key this device encrypts content of `space` with (NoKey if none).
  Result<const SpaceKey*> content_key(const SpaceRow& space);
  // Staged puts (Replica::stage). seal_staged: the pending change of a space
  // row, sealed and logged in the open transaction (nullopt: none; Forbidden
  // when another identity staged it; moved after the head first when the
  // chain went past its seq). has_staged: of a space row, or of any (0).
  Result<StageInfo> stage(const Transaction& tx);
  Result<std::optional<CommitInfo>> seal(const SpaceId& space);
  // rebuild_space's replay of the staged puts of `space` (materialize.cc).
  Status replay_staged(const SpaceRow& space, bool claims_only);
  Result<std::optional<CommitInfo>> seal_staged(int64_t space);
  // A row of `staged` (schema.cc, v9).
  struct StagedPut {
    uint32_t first;
    uint64_t seq, hlc;
    DeviceKey author;
    uint32_t ops;
    Bytes body;
    int64_t at = 0;
    int64_t bytes = 0;
  };
  // The staged rows of a space, in order; insert_staged writes one.
  Result<std::vector<StagedPut>> read_staged(int64_t space);
  Status insert_staged(int64_t space, const StagedPut& put);
  // The header of this device's next change in `space` (`me` its author
  // row): seq, chain link, dated `hlc`, a fresh nonce for content.
  pb::Header own_header(const SpaceRow& space, const AuthorRow& me, pb::ChangeKind kind, uint64_t hlc, uint32_t epoch);
  // The pending change of a space row sealed, in the open transaction, when
  // this open can (under a savepoint: a failure other than the store's
  // leaves it staged); else, or then, closed to new puts. Before anything of
  // the space is written, applied (settle_staged: the spaces of a batch, in
  // its transaction) or sent.
  Status try_seal(int64_t space);
  Status settle_staged(const std::vector<Result<ParsedChange>>& parsed);
  // The staged puts of a space, removed with their values (the space
  // rebuilt without them).
  Result<std::vector<StagedPut>> set_aside_staged(const SpaceRow& space, bool materialized);
  // Puts set aside, staged again as the change after their author's head
  // (their ids and their references to each other renumbered), closed to
  // new puts: seal_staged, when the chain went past their seq (a change
  // this store could not seal before took it).
  Status restage(const SpaceRow& space, std::vector<StagedPut> puts);
  Result<bool> has_staged(int64_t space);
  Result<size_t> staged_ops(const SpaceId& space);
  // Encrypts (with `key`, content), signs and logs this device's change `h`,
  // applied as any change is (`materialized`: its values are stored).
  Result<CommitInfo> log_own_change(const SpaceRow& space, const AuthorRow& me, pb::Header h, const std::string& plain,
                                    const SpaceKey* key, const pb::Body* body, bool materialized);
  // `me`: this device's author row, when the caller read it in this
  // transaction (a content commit), so that it is not read again.
  Result<CommitInfo> write_change(SpaceRow space, pb::ChangeKind kind, const std::string& plain, const pb::Body* body,
                                  const AuthorRow* me = nullptr);
  Status release_held(int64_t space, const DeviceKey& author, uint64_t next_seq);
  // Forgets the stored changes of `a` (a removed writer whose chain here is
  // not the one its cutoff pins, forked at or below `fork_at_or_below`) and
  // its held ones up to `drop_held_to`: the head goes back, so the pinned
  // chain is fetched again; the caller rebuilds the materialization. Keeps
  // the chain up to a's last membership change (false, nothing done, when
  // that is at or above the fork).
  Result<bool> reset_chain(int64_t space, AuthorRow& a, uint64_t fork_at_or_below, uint64_t drop_held_to);
  // Whether `p` (at or below a's cutoff seq) is on the chain the cutoff
  // pins: the pinned change itself, or proven by a's held changes above it
  // linking up to the pinned one.
  // `p` is the change a removed writer's cutoff pins, and what is held here
  // below it is not its chain: reset_chain, then hold `p` (Held).
  Result<bool> on_pinned_chain(int64_t space, const AuthorRow& a, const ParsedChange& p);
  Result<ApplyOutcome> reset_to_pin(SpaceRow& space, AuthorRow author, const ParsedChange& p);
  // Parks a verified change after a gap in its author's chain (NotAMember
  // unless the author may write it; TooLarge past the held allowances).
  Result<ApplyOutcome> hold(const SpaceRow& space, const AuthorRow& author, const ParsedChange& p);
  // Removes `author`'s held changes with seq in [from_seq, to_seq], keeping
  // held_usage in step; add_held_usage moves the running totals.
  Status drop_held(int64_t space, const DeviceKey& author, uint64_t from_seq, uint64_t to_seq);
  Status add_held_usage(int64_t space, const DeviceKey& author, int64_t rows, int64_t bytes);
  // TooLarge when a serialized Membership has more entries than the options
  // allow, counted on the wire without parsing it.
  Status check_membership_size(const std::string& body) const;
  // Whether a serialized Membership carries grants and nothing else but
  // parents: a key share, which any member may write.
  static bool is_key_share(const std::string& body);
  // ClockAhead when the change's HLC is beyond now + max_clock_skew_ms.
  Status check_clock(const pb::Header& h) const;
  // The highest HLC a change may carry by this replica's clock now.
  uint64_t clock_bound() const;
  // Wipes and drops every cached space key.
  void forget_keys();
  // After a rollback of writes that may have unsealed keys, counted
  // membership or created author rows: what is kept in memory of them is
  // read again from the store (keys wiped, resolvers and the author-key
  // cache dropped: a rolled-back author row's id is given again).
  void reread_after_rollback();
  const std::vector<SpaceKey>* keys_for(int64_t space, uint32_t epoch) const;
  // Unseals a grant addressed to this device into the key cache; true when
  // it brought a key not held before.
  bool remember_grant(int64_t space, uint32_t epoch, const DeviceKey& device, ByteView sealed);
  Status load_keys();
  // The next HLC of a change this device writes: after every change stored
  // here, by any connection, and not before the clock. Its callers hold a
  // writing transaction, so none commits in between; except an invite's
  // redeem, whose change is the invite key's, not stored here, and ordered
  // by nothing against what is.
  uint64_t tick_hlc();
  void observe_hlc(uint64_t hlc) { hlc_ = std::max(hlc_, hlc); }
  // The clock takes in the newest HLC stored here (authors' newest changes,
  // staged puts), bounded by clock_bound(): at open the newest, clamped;
  // later the newest within the bound. clock_version_ becomes the store's
  // data_version.
  Status read_stored_hlc(bool at_open);
  // PRAGMA data_version: it moves only when another connection commits
  // (materialize.cc).
  Result<int64_t> data_version();

  // --- materialize.cc ---
  // Applies the ops of one parsed content change by the content rules
  // (core/README.md): an op that breaks one has no effect, on every replica
  // alike; an error is only ever the store's. `claims_only`: record the
  // change's type claims and nothing else (the first pass of rebuild_space).
  // Sets retyped_ when an entity's type crossed the `comment` boundary, which
  // changes what earlier commenter ops mean: the caller rebuilds the space.
  // `first_index`: the index of the body's first op in its change (a staged
  // put's body is part of its change's).
  Status materialize(const SpaceRow& space, const AuthorRow& author, uint64_t seq, uint64_t hlc, uint32_t epoch,
                     const pb::Body& body, bool claims_only = false, uint32_t first_index = 0);
  struct Claim;
  // The entity row of `eid` after `claim` is counted (id 0 and type "" when
  // no claim of it exists), and its real type.
  Result<std::pair<int64_t, std::string>> claim_entity(int64_t space, const EntityId& eid, const Claim& claim);
  Status refresh_entity(int64_t entity);
  // An entity's home was learnt (moved: it changed from a known one): sets
  // retyped_ when scoped writers' ops on it must be judged again.
  Status home_known(int64_t space, const EntityId& eid, bool moved);
  Status flush_dirty();
  // Records dirty_ in stale_entities instead of refreshing them (a local
  // commit, a large apply_batch: an entity changed by many puts or batches
  // in a row is refreshed once, at the next read).
  Status mark_stale();
  // Refreshes the entities in stale_entities, in transactions of its own of
  // kStaleChunk entities each (none may be open): what is done stays done.
  // Every read of summaries, facets or full text calls it first. It waits
  // for another writer only to show this connection's own puts (own_stale_),
  // as the put itself used to; else (`wait` false) it gets Busy at once and
  // the read goes on with what was last refreshed.
  Status refresh_stale(bool wait = true);
  Status rebuild_space(const SpaceRow& space);
  Status rebuild_all();

  friend class Replica;
  std::unique_ptr<Db> db_;
  std::optional<Identity> identity_;
  Env& env_;
  ReplicaOptions options_;
  int op_level_;
  uint64_t hlc_ = 0;
  Keyring keyring_;                                     // the space keys sealed to this device
  std::unordered_map<int64_t, DeviceKey> author_keys_;  // author row -> device
  std::set<int64_t> dirty_;                             // entities to refresh
  // Non-zero inside apply_batch and commit_all: entities are refreshed once,
  // before the SQLite commit, however many changes of the batch touched
  // them (nothing inside a batch reads what a refresh writes: documents,
  // facets, full text). A refused change leaves its entities in dirty_:
  // refreshing one more entity recomputes it from its live values, so a
  // superset is always right.
  int defer_refresh_ = 0;
  struct DeferRefresh {
    explicit DeferRefresh(Impl& impl) : impl(impl) { ++impl.defer_refresh_; }
    ~DeferRefresh() { --impl.defer_refresh_; }
    DeferRefresh(const DeferRefresh&) = delete;
    DeferRefresh& operator=(const DeferRefresh&) = delete;
    Impl& impl;
  };
  // false only while the store is known to hold no held change: spares the
  // lookups for held changes on every apply (a hint; true is always safe).
  bool held_maybe_ = true;
  // false only while stale_entities is known to be empty (as held_maybe_),
  // as of data_version_: another connection's commit (PRAGMA data_version
  // moves) may have filled it.
  bool stale_maybe_ = true;
  int64_t data_version_ = -1;
  // PRAGMA data_version when hlc_ last took in what the store holds: it
  // moves when another connection commits (which may have stored a change
  // dated after hlc_: tick_hlc reads the store again).
  int64_t clock_version_ = -1;
  // A local commit of this connection left entities stale: its reads wait
  // for the write lock to refresh them (read your own writes).
  bool own_stale_ = false;
  bool retyped_ = false;  // materialize(): a type change that needs rebuild_space
  // Inside apply_batch: the space row, the author row and the epoch the last
  // change read, for the next change of the run (a catch-up brings each
  // author's changes in order, one after the other). Only a content change
  // applied in full keeps it, with its author's new head: anything else
  // apply_parsed does (a membership change, a refusal, a hold, a duplicate,
  // a rebuild) and release_held drop it, since only they write what it
  // holds. Dropped with the batch's transaction.
  // Also the entity row the last claim read or wrote (claim_entity): a
  // catch-up brings a device's edits of one project one after the other.
  // Only claim_entity writes what it holds, and rebuild_space, which drops
  // it, recreates the rows it names.
  struct ApplyRun {
    struct EntityClaim {
      int64_t space = 0;  // 0: nothing kept
      EntityId eid;
      int64_t id = 0;
      std::string type;
      int rank = 0;
      uint64_t hlc = 0;
      int64_t op = 0;
      Bytes home;
    };
    bool active = false;
    SpaceRow space;    // id 0: nothing kept
    AuthorRow author;  // of `space`; id 0: nothing kept
    uint32_t epoch = 0;
    EntityClaim claim;
    void drop() {
      space = SpaceRow{};
      author = AuthorRow{};
      epoch = 0;
      claim = EntityClaim{};
    }
  };
  ApplyRun run_;
  // Non-zero inside apply_batch and commit_all, whose SQLite transaction is
  // rolled back whole when a change fails after it began writing (what fails
  // there is the store itself): a content change takes no savepoint of its
  // own (a savepoint costs each page's first write a copy to its journal).
  // The first such failure is kept in tx_broken_ for the caller.
  int whole_tx_ = 0;
  std::optional<Status> tx_broken_;
  struct WholeTx {
    explicit WholeTx(Impl& impl) : impl(impl) { ++impl.whole_tx_; }
    ~WholeTx() {
      if (--impl.whole_tx_ == 0) impl.tx_broken_.reset();
    }
    WholeTx(const WholeTx&) = delete;
    WholeTx& operator=(const WholeTx&) = delete;
    Impl& impl;
  };
  // Membership resolvers by space row (a cache: dropped on any rollback).
  std::map<int64_t, std::unique_ptr<MembershipResolver>> resolvers_;
};

}  // namespace urbis
