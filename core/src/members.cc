// The replica's side of membership (docs/membership.md): the resolver's
// verdicts written to the store, roles for each change, admin actions
// (set_role, revoke_invite) and keys that follow membership (heal).
#include <sodium.h>

#include "envelope_codec.h"
#include "replica_impl.h"

namespace urbis {
namespace {

template <size_t N, typename Tag>
std::string to_str(const FixedId<N, Tag>& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

// The role of a seq by a member's spans (none before the first).
Role role_by_spans(const std::vector<RoleSpan>& spans, uint64_t seq) {
  Role r = Role::None;
  for (const auto& s : spans)
    if (s.from_seq <= seq) r = s.role;
  return r;
}

// Whether two members' spans judge any of the seqs 1..head differently.
bool spans_differ(const std::vector<RoleSpan>& a, const std::vector<RoleSpan>& b, uint64_t head) {
  std::vector<uint64_t> points{1};
  for (const auto& s : a) points.push_back(s.from_seq);
  for (const auto& s : b) points.push_back(s.from_seq);
  for (uint64_t p : points) {
    if (p > head) continue;
    Bytes sa, sb;
    for (const auto& s : a)
      if (s.from_seq <= p) sa = s.scope;
    for (const auto& s : b)
      if (s.from_seq <= p) sb = s.scope;
    if (role_by_spans(a, p) != role_by_spans(b, p) || sa != sb) return true;
  }
  return false;
}

}  // namespace

bool add_grant(pb::Membership& m, uint32_t epoch, const DeviceKey& to, const SpaceKey& key) {
  auto sealed = seal_key(key, to);
  if (!sealed) return false;
  auto* g = m.add_grants();
  g->set_epoch(epoch);
  g->set_device(to_str(to));
  g->set_sealed_key(sealed->data(), sealed->size());
  Bytes id = key_id_of(key);
  g->set_key_id(std::string(id.begin(), id.end()));
  return true;
}

// ---------------------------------------------------------------- resolver

Result<MembershipResolver*> Replica::Impl::resolver(const SpaceRow& space) {
  auto it = resolvers_.find(space.id);
  if (it != resolvers_.end()) return it->second.get();
  // A cache: a node holding many spaces keeps the recent ones.
  if (resolvers_.size() >= 64) resolvers_.clear();
  std::vector<MemberChange> all;
  {
    Stmt s = db_->prepare(
        "SELECT c.envelope, a.invite_expires FROM mlog m JOIN changes c ON c.author=m.author AND c.seq=m.seq "
        "JOIN authors a ON a.id=m.author WHERE m.space=?");
    s.bind(1, space.id);
    while (s.step()) {
      auto c = member_change_from(s.blob(0), s.i64(1) != 0);
      if (!c) return Status(Code::Internal, "a stored membership change does not parse");
      all.push_back(std::move(*c));
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  auto r = std::make_unique<MembershipResolver>();
  r->load(std::move(all));
  auto* out = r.get();
  resolvers_[space.id] = std::move(r);
  return out;
}

Status Replica::Impl::resolve(SpaceRow& space, MemberChange c, bool* needs_rebuild) {
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  {
    Stmt s = db_->prepare(
        "INSERT OR IGNORE INTO mlog(space, hlc, pk, seq, author, counted) "
        "SELECT ?, ?, ?, ?, id, 0 FROM authors WHERE space=? AND pk=?");
    URBIS_RETURN_IF_ERROR(s.bind(1, space.id)
                              .bind(2, c.hlc)
                              .bind(3, c.author.view())
                              .bind(4, c.seq)
                              .bind(5, space.id)
                              .bind(6, c.author.view())
                              .run());
  }
  r->add(std::move(c));
  {
    for (int i : r->touched()) {
      const auto& x = r->changes()[static_cast<size_t>(i)];
      Stmt u = db_->prepare("UPDATE mlog SET counted=? WHERE space=? AND hlc=? AND pk=? AND seq=?");
      URBIS_RETURN_IF_ERROR(u.bind(1, static_cast<int>(r->resolution().counted[static_cast<size_t>(i)]))
                                .bind(2, space.id)
                                .bind(3, x.hlc)
                                .bind(4, x.author.view())
                                .bind(5, x.seq)
                                .run());
    }
  }
  return write_resolution(space, r->member_changes(), r->epochs_before(), r->resolution(), needs_rebuild);
}

Status Replica::Impl::write_resolution(SpaceRow& space,
                                       const std::vector<std::pair<DeviceKey, Resolution::Member>>& moved,
                                       const std::map<uint32_t, Resolution::Epoch>& epochs_before,
                                       const Resolution& after, bool* needs_rebuild) {
  static const Resolution::Member kNone;
  for (const auto& [device, was] : moved) {
    auto it = after.members.find(device);
    const Resolution::Member& now = it == after.members.end() ? kNone : it->second;
    URBIS_ASSIGN_OR_RETURN(AuthorRow row, find_author(space.id, device));
    if (!row.id) continue;  // named by no stored change here
    const uint64_t from = now.spans.empty() ? 1 : now.spans.back().from_seq;
    Stmt u = db_->prepare("UPDATE authors SET role=?, scope=?, ranges_from=? WHERE id=?");
    URBIS_RETURN_IF_ERROR(
        u.bind(1, static_cast<int>(now.role)).bind(2, ByteView(now.scope)).bind(3, from).bind(4, row.id).run());
    Stmt d = db_->prepare("DELETE FROM role_ranges WHERE author=?");
    URBIS_RETURN_IF_ERROR(d.bind(1, row.id).run());
    for (const auto& span : now.spans)
      URBIS_RETURN_IF_ERROR(db_->prepare("INSERT INTO role_ranges(author, from_seq, role, scope) VALUES(?,?,?,?)")
                                .bind(1, row.id)
                                .bind(2, span.from_seq)
                                .bind(3, static_cast<int>(span.role))
                                .bind(4, ByteView(span.scope))
                                .run());
    // Content it wrote that is now judged under another role: the space's
    // materialization is rebuilt (the rare case of concurrent membership).
    if (row.head_seq > 0 && spans_differ(was.spans, now.spans, row.head_seq)) *needs_rebuild = true;
  }
  for (const auto& [n, e] : after.epochs) {
    auto it = epochs_before.find(n);
    if (it != epochs_before.end() && it->second.key_id == e.key_id && it->second.starts == e.starts) continue;
    Stmt u = db_->prepare("UPDATE epochs SET key_id=?, starts=? WHERE space=? AND epoch=?");
    URBIS_RETURN_IF_ERROR(u.bind(1, ByteView(e.key_id)).bind(2, e.starts).bind(3, space.id).bind(4, n).run());
  }
  for (const auto& [n, e] : epochs_before)
    if (!after.epochs.count(n)) {
      Stmt u = db_->prepare("UPDATE epochs SET key_id=x'', starts=0 WHERE space=? AND epoch=?");
      URBIS_RETURN_IF_ERROR(u.bind(1, space.id).bind(2, n).run());
    }
  URBIS_ASSIGN_OR_RETURN(KeyState ks, key_state(space, /*with_lacking=*/false));
  Stmt u = db_->prepare("UPDATE spaces SET epoch=?, key_sound=? WHERE id=?");
  URBIS_RETURN_IF_ERROR(u.bind(1, after.epoch).bind(2, ks.sound && ks.starts <= 1 ? 1 : 0).bind(3, space.id).run());
  space.epoch = after.epoch;
  space.key_id = ks.key_id;
  space.key_sound = ks.sound && ks.starts <= 1;
  return Status::ok();
}

Status Replica::Impl::resolve_all() {
  std::vector<SpaceRow> all;
  {
    Stmt s = db_->prepare("SELECT sid FROM spaces");
    std::vector<SpaceId> ids;
    while (s.step()) ids.push_back(s.id<SpaceId>(0));
    URBIS_RETURN_IF_ERROR(s.status());
    for (const auto& sid : ids) {
      URBIS_ASSIGN_OR_RETURN(SpaceRow row, find_space(sid));
      all.push_back(std::move(row));
    }
  }
  resolvers_.clear();
  for (auto& space : all) {
    static const char* kReset[] = {
        "DELETE FROM role_ranges WHERE author IN (SELECT id FROM authors WHERE space=?1)",
        "UPDATE authors SET role=0, scope=x'', ranges_from=1 WHERE space=?1",
        "UPDATE mlog SET counted=0 WHERE space=?1",
    };
    for (const char* sql : kReset) URBIS_RETURN_IF_ERROR(db_->prepare(sql).bind(1, space.id).run());
    URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
    for (size_t i = 0; i < r->changes().size(); ++i) {
      if (!r->resolution().counted[i]) continue;
      const auto& x = r->changes()[i];
      Stmt u = db_->prepare("UPDATE mlog SET counted=1 WHERE space=? AND hlc=? AND pk=? AND seq=?");
      URBIS_RETURN_IF_ERROR(u.bind(1, space.id).bind(2, x.hlc).bind(3, x.author.view()).bind(4, x.seq).run());
    }
    bool rebuild = false;
    std::vector<std::pair<DeviceKey, Resolution::Member>> all_new;
    for (const auto& [d, m] : r->resolution().members) all_new.emplace_back(d, Resolution::Member{});
    URBIS_RETURN_IF_ERROR(write_resolution(space, all_new, {}, r->resolution(), &rebuild));
  }
  return Status::ok();
}

Result<RoleAt> Replica::Impl::role_at(const AuthorRow& a, uint64_t seq) {
  if (!a.id) return RoleAt{};
  if (seq >= a.ranges_from) return RoleAt{a.role, a.scope};
  Stmt s =
      db_->prepare("SELECT role, scope FROM role_ranges WHERE author=? AND from_seq<=? ORDER BY from_seq DESC LIMIT 1");
  s.bind(1, a.id).bind(2, seq);
  if (s.step()) return RoleAt{static_cast<Role>(s.i64(0)), s.bytes(1)};
  URBIS_RETURN_IF_ERROR(s.status());
  return RoleAt{};
}

Result<std::vector<Hash>> Replica::Impl::membership_heads(const SpaceRow& space) {
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  return r->heads();
}

// ---------------------------------------------------------------- keys

Result<Replica::Impl::KeyState> Replica::Impl::key_state(const SpaceRow& space, bool with_lacking) {
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  const Resolution& res = r->resolution();
  KeyState ks;
  ks.epoch = res.epoch;
  if (auto it = res.epochs.find(res.epoch); it != res.epochs.end()) {
    ks.key_id = it->second.key_id;
    ks.starts = it->second.starts;
  }
  // Who may hold the key: members and pending invites, and used invites
  // whose joiner is a member (whoever holds the code can open its grants).
  auto allowed = [&](const DeviceKey& d) {
    auto m = res.members.find(d);
    if (m != res.members.end() && m->second.role != Role::None) return true;
    auto inv = res.invites.find(d);
    if (inv == res.invites.end() || !inv->second.joiner) return false;
    auto j = res.members.find(*inv->second.joiner);
    return j != res.members.end() && j->second.role != Role::None;
  };
  // Every holder of the epoch's key must still be allowed it. A holder may
  // hold several grants (rows); each is checked, which costs less than
  // collecting the distinct ones first.
  std::set<DeviceKey> holders;
  {
    Stmt s = db_->prepare("SELECT device FROM grants WHERE space=? AND epoch=? AND (key_id=? OR key_id=x'')");
    s.bind(1, space.id).bind(2, ks.epoch).bind(3, ByteView(ks.key_id));
    while (s.step()) {
      const DeviceKey d = s.id<DeviceKey>(0);
      if (ks.sound && !allowed(d)) ks.sound = false;
      if (with_lacking) holders.insert(d);
      if (!ks.sound && !with_lacking) break;
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (!with_lacking) return ks;
  for (const auto& [d, m] : res.members)
    if (m.role != Role::None && !res.invites.count(d) && !holders.count(d)) ks.lacking.push_back(d);
  return ks;
}

const SpaceKey* Replica::Impl::writing_key(const SpaceRow& space) {
  return keyring_.writing(space.id, space.epoch, space.key_id);
}

Result<bool> Replica::Impl::heal(const SpaceId& sid) {
  if (!identity_) return false;
  DbTransaction tx(*db_);
  URBIS_RETURN_IF_ERROR(tx.begin());
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  URBIS_ASSIGN_OR_RETURN(bool wrote, heal_locked(space));
  URBIS_RETURN_IF_ERROR(tx.commit());
  return wrote;
}

Result<bool> Replica::Impl::heal_locked(SpaceRow space) {
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  if (me.role == Role::None) return false;
  URBIS_ASSIGN_OR_RETURN(KeyState ks, key_state(space));
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  const Resolution& res = r->resolution();
  if ((!ks.sound || ks.starts > 1) && me.role == Role::Admin && me.scope.empty()) {
    // One admin settles it: the one whose rotation the epoch's key is, or,
    // when that one is no longer an unscoped admin, the lowest such key.
    auto unscoped_admin = [&](const DeviceKey& d) {
      auto it = res.members.find(d);
      return it != res.members.end() && it->second.role == Role::Admin && it->second.scope.empty();
    };
    DeviceKey healer;
    auto e = res.epochs.find(ks.epoch);
    if (e != res.epochs.end() && unscoped_admin(e->second.starter)) {
      healer = e->second.starter;
    } else {
      bool found = false;
      for (const auto& [d, m] : res.members)
        if (!found && unscoped_admin(d) && !res.invites.count(d)) {
          healer = d;
          found = true;
        }
      if (!found) return false;
    }
    if (healer != identity_->device()) return false;
    URBIS_RETURN_IF_ERROR(rotate(space, {}, nullptr));
    return true;
  }
  // Every member holds every key of the space this member holds (a key
  // share, which any member may write): the current one (a device that
  // joined while two admins rotated) and older ones (content a writer sealed
  // with the key of a rotation that lost, which no admin may hold).
  std::set<std::tuple<uint32_t, DeviceKey, Bytes>> held;
  std::set<std::pair<uint32_t, DeviceKey>> legacy;  // grants naming no key id
  {
    Stmt s = db_->prepare("SELECT epoch, device, key_id FROM grants WHERE space=?");
    s.bind(1, space.id);
    while (s.step()) {
      const auto e = static_cast<uint32_t>(s.i64(0));
      Bytes kid = s.bytes(2);
      if (kid.empty())
        legacy.insert({e, s.id<DeviceKey>(1)});
      else
        held.insert({e, s.id<DeviceKey>(1), std::move(kid)});
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  pb::Membership m;
  for (const auto& [device, member] : res.members) {
    if (member.role == Role::None || res.invites.count(device)) continue;
    const DeviceKey& d = device;  // clang 14 (wasm, fuzz) cannot capture a structured binding
    keyring_.each_epoch(space.id, [&](uint32_t epoch, const std::vector<SpaceKey>& keys) {
      if (legacy.count({epoch, d})) return;
      for (const auto& k : keys)
        if (!held.count({epoch, d, key_id_of(k)})) (void)add_grant(m, epoch, d, k);
    });
  }
  if (m.grants_size() == 0) return false;
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, write_change(space, pb::CHANGE_MEMBERSHIP, m.SerializeAsString(), nullptr));
  (void)info;
  return true;
}

// Starts a new epoch in `m` (a fresh key sealed to every member and pending
// invite but `except`) and commits it; with `m` null, a change of its own.
Status Replica::Impl::rotate(SpaceRow space, const std::set<DeviceKey>& except, pb::Membership* m_in) {
  pb::Membership own;
  pb::Membership& m = m_in ? *m_in : own;
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  const Resolution& res = r->resolution();
  const uint32_t epoch = space.epoch + 1;
  m.set_new_epoch(epoch);
  SpaceKey key;
  env_.random_bytes(key);
  Bytes id = key_id_of(key);
  m.set_key_id(std::string(id.begin(), id.end()));
  const uint64_t now = env_.now_ms();
  Status st;
  for (const auto& [d, member] : res.members) {
    if (member.role == Role::None || except.count(d)) continue;
    auto inv = res.invites.find(d);
    if (inv != res.invites.end()) {
      // A pending invite gets it (its redeemer will need it) while it lasts
      // and its admin is one.
      if (inv->second.expires < now || except.count(inv->second.creator)) continue;
      auto c = res.members.find(inv->second.creator);
      if (c == res.members.end() || c->second.role != Role::Admin) continue;
    }
    if (!add_grant(m, epoch, d, key)) {
      st = Status(Code::InvalidArgument, "not a valid device key: " + d.hex());
      break;
    }
  }
  sodium_memzero(key.data(), key.size());
  URBIS_RETURN_IF_ERROR(st);
  if (m_in) return Status::ok();
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, write_change(space, pb::CHANGE_MEMBERSHIP, m.SerializeAsString(), nullptr));
  (void)info;
  return Status::ok();
}

// ---------------------------------------------------------------- admin actions

Status Replica::Impl::set_role(const SpaceId& sid, const DeviceKey& device, Role role, std::vector<EntityId> scope) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot sign");
  if (static_cast<int>(role) < 0 || role > Role::Admin) return Status(Code::InvalidArgument, "unknown role");
  if (role == Role::None && !scope.empty()) return Status(Code::InvalidArgument, "a removal has no scope");
  std::sort(scope.begin(), scope.end());
  scope.erase(std::unique(scope.begin(), scope.end()), scope.end());
  if (scope.size() > kMaxScope)
    return Status(Code::InvalidArgument, "a role may name at most " + std::to_string(kMaxScope) + " cities");
  Bytes scope_b;
  for (const auto& c : scope) scope_b.insert(scope_b.end(), c.bytes.begin(), c.bytes.end());

  DbTransaction tx(*db_);
  URBIS_RETURN_IF_ERROR(tx.begin());
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  // This device's pending change first: a cutoff of this device read below
  // must count the puts it staged before.
  URBIS_RETURN_IF_ERROR(try_seal(space.id));
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  if (me.role != Role::Admin) return Status(Code::Forbidden, "only an admin can change members");
  URBIS_ASSIGN_OR_RETURN(AuthorRow target, find_author(space.id, device));
  if (!me.scope.empty()) {
    // A scoped admin: roles within its own cities, over members within them.
    auto within = [&](const Bytes& s) {
      if (s.empty()) return false;
      for (size_t i = 0; i < s.size(); i += 16) {
        bool found = false;
        for (size_t j = 0; j < me.scope.size() && !found; j += 16)
          found = std::equal(s.begin() + static_cast<long>(i), s.begin() + static_cast<long>(i + 16),
                             me.scope.begin() + static_cast<long>(j));
        if (!found) return false;
      }
      return true;
    };
    if (role != Role::None && !within(scope_b))
      return Status(Code::Forbidden, "an admin of some cities gives roles scoped within those cities");
    if (target.role != Role::None && !within(target.scope))
      return Status(Code::Forbidden, "an admin of some cities changes only members scoped within those cities");
  }
  if (target.role == role && target.scope == scope_b) return Status::ok();

  pb::Membership m;
  auto* u = m.add_updates();
  u->set_device(to_str(device));
  u->set_role(static_cast<pb::Role>(role));
  for (const auto& c : scope) u->add_scope(std::string(reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size()));
  // Every update says how much of the member's chain its admin had seen: its
  // role holds for what the member wrote after that (docs/membership.md).
  if (target.head_seq || can_write(target.role)) {
    auto* c = m.add_cutoffs();
    c->set_device(to_str(device));
    c->set_seq(target.head_seq);
    if (target.head_seq) c->set_hash(to_str(target.head_hash));
  }
  auto grant = [&](uint32_t epoch, const SpaceKey& key, const DeviceKey& to) -> Status {
    if (!add_grant(m, epoch, to, key)) return Status(Code::InvalidArgument, "not a valid device key: " + to.hex());
    return Status::ok();
  };
  if (role < target.role) {
    // Removal or downgrade: a new epoch whose key a removed member never
    // gets. An admin losing the role takes its pending invites with it.
    std::set<DeviceKey> except;
    if (role == Role::None) except.insert(device);
    if (target.role == Role::Admin) {
      URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
      for (const auto& [k, inv] : r->resolution().invites) {
        if (inv.creator != device || inv.joiner) continue;
        auto mem = r->resolution().members.find(k);
        if (mem == r->resolution().members.end() || mem->second.role == Role::None) continue;
        auto* v = m.add_updates();
        v->set_device(to_str(k));
        v->set_role(pb::ROLE_NONE);
        except.insert(k);
      }
    }
    URBIS_RETURN_IF_ERROR(rotate(space, except, &m));
  } else if (target.role == Role::None) {
    // A new reader gets every epoch's key, so it can read the history.
    for (uint32_t e = 1; e <= space.epoch; ++e)
      if (auto* keys = keys_for(space.id, e))
        for (const auto& k : *keys) URBIS_RETURN_IF_ERROR(grant(e, k, device));
  }
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, write_change(space, pb::CHANGE_MEMBERSHIP, m.SerializeAsString(), nullptr));
  (void)info;
  return tx.commit();
}

Status Replica::Impl::check_own_change(ByteView raw) {
  URBIS_ASSIGN_OR_RETURN(ParsedEnvelope parsed, parse_envelope(raw));
  const pb::Envelope& env = parsed.envelope;
  const pb::Header& h = parsed.header;
  const DeviceKey& author = parsed.author;
  auto space = find_space(parsed.space);
  if (!space.is_ok()) return space.code() == Code::UnknownSpace ? Status::ok() : space.status();  // a genesis
  URBIS_ASSIGN_OR_RETURN(AuthorRow a, find_author(space->id, author));
  if (a.invite_expires != 0) return Status::ok();  // a redeem: apply judges it
  URBIS_ASSIGN_OR_RETURN(RoleAt r, role_at(a, h.seq()));
  const bool membership = h.kind() == pb::CHANGE_MEMBERSHIP;
  if (membership ? r.role == Role::Admin || (r.role != Role::None && is_key_share(env.body())) : can_write(r.role))
    return Status::ok();
  return Status(Code::NotAMember, "author " + author.hex().substr(0, 16) + " may not " +
                                      (membership ? "change membership" : "write") + " (change " +
                                      std::to_string(h.seq()) + ")");
}

Status Replica::Impl::revoke_invite(const SpaceId& sid, const DeviceKey& invite) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  URBIS_ASSIGN_OR_RETURN(AuthorRow k, find_author(space.id, invite));
  if (k.invite_expires == 0 || k.role == Role::None)
    return Status(Code::NotFound, "no pending invite with key " + invite.hex().substr(0, 16) +
                                      " in this space (used, revoked, or never made)");
  return set_role(sid, invite, Role::None, {});
}

}  // namespace urbis
