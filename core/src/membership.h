// Membership as a deterministic function of the set of a space's membership
// changes (docs/membership.md). Internal; not installed.
//
// The resolver replays the membership changes in one total order, (HLC,
// author key, seq), which is a topological order of the membership graph
// (Membership.parents: a change's HLC exceeds its parents'). A member's role
// is a register of role events: the live events are those no other counted
// event on the same member follows (names as an ancestor), and the role is the
// least of them (a removal beats a concurrent role change). Each event carries
// the cutoff of the member's own chain that its admin had seen, so a role
// holds for the member's changes after that cutoff: the same rule judges
// membership and content changes. An admin who loses the role loses the
// membership changes that the change taking it away had not seen.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "urbis/change.pb.h"
#include "urbis/types.h"

namespace urbis {

// Who counts as a member now, for a row of `authors` (the materialized
// membership): a role, and for an invite key, not yet expired by this
// replica's clock, which the query binds as the numbered parameter `now`
// ("?2"). The one rule for members(), member_role() and member_of_any();
// the resolver above decides the rows.
#define URBIS_LIVE_MEMBER_SQL(now) "(role>0 AND (invite_expires=0 OR invite_expires>=" now "))"

// BLAKE2b-128("urbis/key-id" | key): names a space key without revealing it
// (Membership.key_id).
Bytes key_id_of(const std::array<uint8_t, 32>& key);

// One membership change as the resolver needs it (grants left out).
struct MemberChange {
  DeviceKey author;
  uint64_t seq = 0;
  uint64_t hlc = 0;
  Hash hash;
  bool genesis = false;
  bool redeem = false;  // authored by an invite key
  bool legacy = false;  // made before parents existed: follows every change before it
  std::vector<Hash> parents;
  struct Update {
    DeviceKey device;
    Role role = Role::None;
    Bytes scope;  // sorted, concatenated 16-byte city ids; empty: the whole space
    uint64_t invite_expires = 0;
    uint64_t cutoff = 0;  // the device's chain as the author had seen it
  };
  std::vector<Update> updates;
  uint32_t new_epoch = 0;
  Bytes key_id;

  // The order of replay.
  bool before(const MemberChange& o) const {
    if (hlc != o.hlc) return hlc < o.hlc;
    if (author != o.author) return author < o.author;
    return seq < o.seq;
  }
};

// Parses what the resolver needs from a stored membership change; nullopt
// when it does not parse (never the case for a stored one).
std::optional<MemberChange> member_change_from(ByteView envelope, bool redeem);
std::optional<MemberChange> member_change_of(const DeviceKey& author, const pb::Header& h, const pb::Membership& m,
                                             const Hash& hash, bool redeem);
// A scope as stored: the ids sorted, without repeats, concatenated.
Bytes scope_bytes(const google::protobuf::RepeatedPtrField<std::string>& ids);

// A member's role and scope for a range of its own chain.
struct RoleSpan {
  uint64_t from_seq = 1;
  Role role = Role::None;
  Bytes scope;
  bool operator==(const RoleSpan&) const = default;
};

// What the replay decides for one space.
struct Resolution {
  std::vector<char> counted;  // per change, in order: counted (1) or without effect (0)
  // Per device named by a counted change: its current role and scope, and
  // its role by ranges of its chain (spans ascending; a seq before the first
  // span has no role).
  struct Member {
    Role role = Role::None;
    Bytes scope;
    std::vector<RoleSpan> spans;
    bool operator==(const Member&) const = default;
  };
  std::map<DeviceKey, Member> members;
  struct Invite {
    int created_by = -1;  // change index
    DeviceKey creator;
    Role role = Role::None;
    Bytes scope;
    uint64_t expires = 0;
    std::optional<DeviceKey> joiner;  // set once a counted redeem used it
  };
  std::map<DeviceKey, Invite> invites;
  struct Epoch {
    DeviceKey starter;  // author of the first counted change that started it
    Bytes key_id;       // that change's key id (empty before key ids)
    int starts = 0;     // counted changes that started it (> 1: two admins rotated at once)
  };
  std::map<uint32_t, Epoch> epochs;
  uint32_t epoch = 0;  // the newest epoch a counted change started
};

// The resolver of one space: the changes in replay order, their ancestry,
// and the outcome of the replay. Changes are added one by one; one that
// sorts last is replayed on top of what was (exactly what a replay of all
// would give, unless it takes the admin role from someone: then all is
// replayed), any other replays all.
class MembershipResolver {
 public:
  // Adds a change (not already held) and replays. NotFound-free: a parent not
  // known here is ignored (apply refuses such changes before they get here).
  void add(MemberChange c);
  // Replaces everything with `all` (any order) and replays.
  void load(std::vector<MemberChange> all);
  const Resolution& resolution() const { return state_.res; }
  // What the last add() moved: each member whose role, scope or spans
  // changed, with what it was (a default Member: none), and the epochs as
  // they were.
  const std::vector<std::pair<DeviceKey, Resolution::Member>>& member_changes() const { return was_; }
  const std::map<uint32_t, Resolution::Epoch>& epochs_before() const { return epochs_before_; }
  // The changes (indices into changes()) whose verdict the last add() set or
  // moved.
  const std::vector<int>& touched() const { return touched_; }
  const std::vector<MemberChange>& changes() const { return changes_; }
  // The heads of the graph: changes no other change names as a parent.
  std::vector<Hash> heads() const;
  bool knows(const Hash& h) const { return index_.count(h) != 0; }
  std::optional<uint64_t> hlc_of(const Hash& h) const;
  // The HLC of the counted change that made invite `key`, if any.
  std::optional<uint64_t> invite_made_at(const DeviceKey& key) const {
    auto it = state_.res.invites.find(key);
    if (it == state_.res.invites.end() || it->second.created_by < 0) return std::nullopt;
    return changes_[static_cast<size_t>(it->second.created_by)].hlc;
  }

  // The role and scope of `device` for its change at `seq`, by the counted
  // events so far (seq = UINT64_MAX: its current role).
  std::pair<Role, Bytes> role_at(const DeviceKey& device, uint64_t seq) const;
  // Whether any change held here, counted or not, names `device` with `role`
  // or a higher one: monotone in the set of changes, so every replica that
  // holds the same changes answers alike (apply uses it to decide what to
  // keep; check_author in replica.cc).
  bool ever_named(const DeviceKey& device, Role role) const {
    auto it = named_role_.find(device);
    return it != named_role_.end() && it->second >= role;
  }

 private:
  struct Event {
    int change;
    Role role;
    Bytes scope;
    uint64_t cutoff;
  };
  struct State {
    std::map<DeviceKey, std::vector<Event>> events;
    Resolution res;
  };
  bool ancestor(int a, int of) const;  // a is an ancestor of `of`
  void compute_ancestry(int i);
  std::pair<Role, Bytes> role_in(const State& st, const DeviceKey& device, uint64_t seq) const;
  // Replays change i on `st`; returns the changes to exclude (non-empty: the
  // replay must start again without them).
  std::vector<int> step(State& st, int i) const;
  void replay_all();
  void replay_noting(const std::map<Hash, char>& before);  // replay_all, noting what moved
  void reindex();                                          // index_, named_ and anc_ from changes_
  // Members (role, scope, spans) from the events: all of them, or `only`.
  void finish(State& st, const std::vector<DeviceKey>* only = nullptr);

  std::vector<MemberChange> changes_;
  std::map<Hash, int> index_;
  std::vector<std::vector<uint64_t>> anc_;  // ancestry bitsets, by change index
  std::vector<char> excluded_;
  std::vector<char> named_;  // named as a parent by some change
  std::vector<int> touched_;
  std::map<DeviceKey, Role> named_role_;  // the highest role any change names
  void note_named(const MemberChange& c);
  std::vector<Hash> before_order_;  // the order res_ was computed for (add())
  std::map<Hash, char> verdicts() const;
  void note_moved(const std::map<Hash, char>& before);
  State state_;
  std::vector<std::pair<DeviceKey, Resolution::Member>> was_;
  std::map<uint32_t, Resolution::Epoch> epochs_before_;
};

}  // namespace urbis
