// The membership resolver (membership.h, docs/membership.md).
#include "membership.h"

#include <sodium.h>

#include "crypto.h"
#include "envelope_codec.h"

#include <algorithm>
#include <limits>

namespace urbis {
namespace {

constexpr uint64_t kCurrent = std::numeric_limits<uint64_t>::max();

// Scopes are sorted, concatenated 16-byte ids.
bool scope_within(const Bytes& inner, const Bytes& outer) {
  for (size_t i = 0; i + 16 <= inner.size(); i += 16) {
    bool found = false;
    for (size_t j = 0; j + 16 <= outer.size() && !found; j += 16)
      found = std::equal(inner.begin() + static_cast<long>(i), inner.begin() + static_cast<long>(i + 16),
                         outer.begin() + static_cast<long>(j));
    if (!found) return false;
  }
  return true;
}

Bytes scope_intersection(const Bytes& a, const Bytes& b) {
  Bytes out;
  for (size_t i = 0; i + 16 <= a.size(); i += 16) {
    for (size_t j = 0; j + 16 <= b.size(); j += 16)
      if (std::equal(a.begin() + static_cast<long>(i), a.begin() + static_cast<long>(i + 16),
                     b.begin() + static_cast<long>(j))) {
        out.insert(out.end(), a.begin() + static_cast<long>(i), a.begin() + static_cast<long>(i + 16));
        break;
      }
  }
  return out;
}

}  // namespace

Bytes key_id_of(const std::array<uint8_t, 32>& key) {
  static constexpr char kDomain[] = "urbis/key-id";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kDomain), sizeof kDomain - 1);
  crypto_generichash_update(&st, key.data(), key.size());
  Bytes out(16);
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

std::optional<MemberChange> member_change_from(ByteView raw, bool redeem) {
  // Stored bytes: judged when applied (and may predate the canonical rule).
  auto parsed = parse_envelope(raw, EnvelopeEncoding::Any);
  pb::Membership m;
  if (!parsed.is_ok() || !m.ParseFromString(parsed->envelope.body())) return std::nullopt;
  return member_change_of(parsed->author, parsed->header, m, blake2b_256(raw), redeem);
}

std::optional<MemberChange> member_change_of(const DeviceKey& author, const pb::Header& h, const pb::Membership& m,
                                             const Hash& hash, bool redeem) {
  MemberChange c;
  c.author = author;
  c.seq = h.seq();
  c.hlc = h.hlc();
  c.hash = hash;
  c.genesis = !m.genesis_salt().empty();
  c.redeem = redeem;
  for (const auto& p : m.parents())
    if (auto ph = Hash::from_string(p)) c.parents.push_back(*ph);
  c.legacy = c.parents.empty() && !c.genesis && !redeem;
  for (const auto& u : m.updates()) {
    auto d = DeviceKey::from_string(u.device());
    if (!d) return std::nullopt;
    MemberChange::Update up;
    up.device = *d;
    up.role = static_cast<Role>(std::clamp<int>(u.role(), 0, static_cast<int>(Role::Admin)));
    up.scope = scope_bytes(u.scope());
    up.invite_expires = u.invite_expires_ms();
    for (const auto& cut : m.cutoffs())
      if (cut.device() == u.device()) up.cutoff = cut.seq();
    c.updates.push_back(std::move(up));
  }
  c.new_epoch = m.new_epoch();
  c.key_id.assign(m.key_id().begin(), m.key_id().end());
  return c;
}

Bytes scope_bytes(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<std::string> sorted(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  Bytes out;
  for (const auto& id : sorted) out.insert(out.end(), id.begin(), id.end());
  return out;
}

// ---------------------------------------------------------------- ancestry

bool MembershipResolver::ancestor(int a, int of) const {
  if (a < 0 || of < 0 || a >= of) return false;
  const auto& bits = anc_[static_cast<size_t>(of)];
  const size_t w = static_cast<size_t>(a) / 64;
  return w < bits.size() && (bits[w] >> (static_cast<size_t>(a) % 64) & 1);
}

void MembershipResolver::compute_ancestry(int i) {
  const auto& c = changes_[static_cast<size_t>(i)];
  std::vector<uint64_t> bits((static_cast<size_t>(i) + 63) / 64, 0);
  auto add = [&](int p) {
    if (p < 0 || p >= i) return;  // a parent sorts before its child (apply checks the HLCs)
    bits[static_cast<size_t>(p) / 64] |= uint64_t{1} << (static_cast<size_t>(p) % 64);
    const auto& pb = anc_[static_cast<size_t>(p)];
    for (size_t w = 0; w < pb.size(); ++w) bits[w] |= pb[w];
  };
  if (c.legacy) {
    for (int p = 0; p < i; ++p) bits[static_cast<size_t>(p) / 64] |= uint64_t{1} << (static_cast<size_t>(p) % 64);
  } else {
    for (const auto& h : c.parents) {
      auto it = index_.find(h);
      if (it != index_.end()) add(it->second);
    }
    if (c.redeem) {
      // A redeem follows the change that made its invite (the joiner saw no
      // more of the space than that).
      for (int p = 0; p < i; ++p) {
        bool creates = false;
        for (const auto& u : changes_[static_cast<size_t>(p)].updates)
          creates |= u.invite_expires != 0 && u.device == c.author;
        if (creates) {
          add(p);
          break;
        }
      }
    }
  }
  if (anc_.size() <= static_cast<size_t>(i)) anc_.resize(static_cast<size_t>(i) + 1);
  anc_[static_cast<size_t>(i)] = std::move(bits);
}

std::vector<Hash> MembershipResolver::heads() const {
  std::vector<Hash> out;
  for (size_t i = 0; i < changes_.size(); ++i)
    if (!named_[i]) out.push_back(changes_[i].hash);
  return out;
}

std::optional<uint64_t> MembershipResolver::hlc_of(const Hash& h) const {
  auto it = index_.find(h);
  if (it == index_.end()) return std::nullopt;
  return changes_[static_cast<size_t>(it->second)].hlc;
}

// ---------------------------------------------------------------- roles

std::pair<Role, Bytes> MembershipResolver::role_in(const State& st, const DeviceKey& device, uint64_t seq) const {
  auto it = st.events.find(device);
  if (it == st.events.end()) return {Role::None, {}};
  const auto& evs = it->second;
  // In force for `seq`: the events whose admin had not seen it (cutoff < seq).
  // Live: those no other event in force follows.
  std::optional<Role> least;
  Bytes scope;
  bool whole = true;  // every least-role live event is unscoped so far
  for (size_t a = 0; a < evs.size(); ++a) {
    if (evs[a].cutoff >= seq) continue;
    bool superseded = false;
    for (size_t b = 0; b < evs.size() && !superseded; ++b)
      superseded = b != a && evs[b].cutoff < seq && ancestor(evs[a].change, evs[b].change);
    if (superseded) continue;
    const Event& e = evs[a];
    if (!least || e.role < *least) {
      least = e.role;
      scope = e.scope;
      whole = e.scope.empty();
    } else if (e.role == *least && !e.scope.empty()) {
      // Concurrent scopes of one role: what both allow.
      scope = whole ? e.scope : scope_intersection(scope, e.scope);
      whole = false;
      if (scope.empty()) return {Role::None, {}};
    }
  }
  if (!least || *least == Role::None) return {Role::None, {}};
  return {*least, scope};
}

std::pair<Role, Bytes> MembershipResolver::role_at(const DeviceKey& device, uint64_t seq) const {
  return role_in(state_, device, seq);
}

// ---------------------------------------------------------------- replay

std::vector<int> MembershipResolver::step(State& st, int i) const {
  const MemberChange& c = changes_[static_cast<size_t>(i)];
  Resolution& res = st.res;
  auto start_epoch = [&]() {
    const uint32_t n = c.new_epoch;
    if (n == 0) return;
    if (n == res.epoch + 1) {
      res.epochs[n] = {c.author, c.key_id, 1};
      res.epoch = n;
    } else if (n == res.epoch) {
      ++res.epochs[n].starts;  // a concurrent rotation: the first one's key is the epoch's
    }
  };
  if (c.genesis) {
    if (!st.events.empty()) return {};  // a second genesis of one space cannot be
    res.counted[static_cast<size_t>(i)] = 1;
    st.events[c.author].push_back({i, Role::Admin, {}, 0});
    start_epoch();
    return {};
  }
  if (c.redeem) {
    auto inv = res.invites.find(c.author);
    if (c.seq != 1 || inv == res.invites.end() || inv->second.created_by >= i || inv->second.joiner) return {};
    // Revoked (a revocation the redeem had not seen beats it), or its
    // creator is no longer an admin.
    if (role_in(st, c.author, 1).first == Role::None) return {};
    if (role_in(st, inv->second.creator, kCurrent).first != Role::Admin) return {};
    res.counted[static_cast<size_t>(i)] = 1;
    st.events[c.author].push_back({i, Role::None, {}, 0});  // used
    for (const auto& u : c.updates) {
      if (u.device == c.author || u.role == Role::None) continue;
      inv->second.joiner = u.device;
      // One who is already a member keeps the role it has.
      if (role_in(st, u.device, kCurrent).first != Role::None) break;
      st.events[u.device].push_back({i, std::min(u.role, inv->second.role), inv->second.scope, 0});
      break;
    }
    return {};
  }
  const auto [role, own_scope] = role_in(st, c.author, c.seq);
  if (role != Role::Admin) return {};
  res.counted[static_cast<size_t>(i)] = 1;
  std::vector<int> exclude;
  for (const auto& u : c.updates) {
    if (u.invite_expires != 0) {
      if (st.events.count(u.device) || res.invites.count(u.device) || u.role == Role::None) continue;
      if (!own_scope.empty() && (u.scope.empty() || !scope_within(u.scope, own_scope))) continue;
      res.invites[u.device] = {i, c.author, u.role, u.scope, u.invite_expires, std::nullopt};
      st.events[u.device].push_back({i, u.role, u.scope, 0});
      continue;
    }
    const auto [was, was_scope] = role_in(st, u.device, kCurrent);
    if (!own_scope.empty()) {
      // A scoped admin acts within its scope only.
      if (u.role != Role::None && (u.scope.empty() || !scope_within(u.scope, own_scope))) continue;
      if (was != Role::None && (was_scope.empty() || !scope_within(was_scope, own_scope))) continue;
    }
    st.events[u.device].push_back({i, u.role, u.role == Role::None ? Bytes{} : u.scope, u.cutoff});
    if (was == Role::Admin && role_in(st, u.device, kCurrent).first != Role::Admin) {
      // It loses the admin role: its membership changes this one had not
      // seen lose their effect.
      for (int j = 0; j < i; ++j)
        if (res.counted[static_cast<size_t>(j)] && changes_[static_cast<size_t>(j)].author == u.device &&
            !ancestor(j, i))
          exclude.push_back(j);
    }
  }
  start_epoch();
  return exclude;
}

void MembershipResolver::finish(State& st, const std::vector<DeviceKey>* only) {
  Resolution& res = st.res;
  auto one = [&](const DeviceKey& device, const std::vector<Event>& evs) {
    std::vector<uint64_t> cuts;
    for (const auto& e : evs) cuts.push_back(e.cutoff);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    Resolution::Member m;
    for (uint64_t c : cuts) {
      auto [r, s] = role_in(st, device, c + 1);
      RoleSpan span{c + 1, r, r == Role::None ? Bytes{} : s};
      if (!m.spans.empty() && m.spans.back().role == span.role && m.spans.back().scope == span.scope) continue;
      m.spans.push_back(std::move(span));
    }
    auto [r, s] = role_in(st, device, kCurrent);
    m.role = r;
    m.scope = s;
    res.members[device] = std::move(m);
  };
  if (only) {
    for (const auto& d : *only)
      if (auto it = st.events.find(d); it != st.events.end()) one(d, it->second);
    return;
  }
  res.members.clear();
  for (const auto& [device, evs] : st.events) one(device, evs);
}

void MembershipResolver::replay_all() {
  const size_t n = changes_.size();
  excluded_.assign(n, 0);
  for (;;) {
    State st;
    st.res.counted.assign(n, 0);
    bool again = false;
    for (size_t i = 0; i < n && !again; ++i) {
      if (excluded_[i]) continue;
      for (int j : step(st, static_cast<int>(i))) {
        excluded_[static_cast<size_t>(j)] = 1;
        again = true;
      }
    }
    if (again) continue;  // each pass excludes a change the last one counted: it ends
    finish(st);
    state_ = std::move(st);
    return;
  }
}

std::map<Hash, char> MembershipResolver::verdicts() const {
  // res_ is the outcome before the change being added: its verdicts are by
  // the indices of the changes before it.
  std::map<Hash, char> out;
  for (size_t k = 0; k < state_.res.counted.size() && k < before_order_.size(); ++k)
    out[before_order_[k]] = state_.res.counted[k];
  return out;
}

void MembershipResolver::note_moved(const std::map<Hash, char>& before) {
  for (size_t k = 0; k < changes_.size(); ++k) {
    auto it = before.find(changes_[k].hash);
    if (it == before.end() || it->second != state_.res.counted[k]) touched_.push_back(static_cast<int>(k));
  }
}

void MembershipResolver::note_named(const MemberChange& c) {
  if (c.genesis) named_role_[c.author] = Role::Admin;
  for (const auto& u : c.updates) {
    if (u.invite_expires != 0 || u.device == c.author) continue;
    Role& r = named_role_[u.device];
    r = std::max(r, u.role);
  }
}

void MembershipResolver::replay_noting(const std::map<Hash, char>& before) {
  // Everything replayed: every member compared with what it was.
  auto old = std::move(state_.res.members);
  replay_all();
  note_moved(before);
  for (const auto& [d, m] : state_.res.members) {
    auto it = old.find(d);
    if (it == old.end() || !(it->second == m))
      was_.emplace_back(d, it == old.end() ? Resolution::Member{} : it->second);
  }
  for (auto& [d, m] : old)
    if (!state_.res.members.count(d)) was_.emplace_back(d, std::move(m));
}

void MembershipResolver::add(MemberChange c) {
  touched_.clear();
  was_.clear();
  epochs_before_ = state_.res.epochs;
  if (index_.count(c.hash)) return;
  note_named(c);
  auto pos = std::upper_bound(changes_.begin(), changes_.end(), c,
                              [](const MemberChange& a, const MemberChange& b) { return a.before(b); });
  if (pos != changes_.end()) {
    // It sorts before others: indices move, the graph is indexed again and
    // everything replayed.
    before_order_.clear();
    for (const auto& x : changes_) before_order_.push_back(x.hash);
    const auto before = verdicts();
    changes_.insert(pos, std::move(c));
    reindex();
    replay_noting(before);
    return;
  }
  const int i = static_cast<int>(changes_.size());
  changes_.push_back(std::move(c));
  const MemberChange& added = changes_.back();
  index_[added.hash] = i;
  named_.push_back(0);
  for (const auto& h : added.parents)
    if (auto it = index_.find(h); it != index_.end()) named_[static_cast<size_t>(it->second)] = 1;
  if (added.legacy) std::fill(named_.begin(), named_.end() - 1, 1);
  compute_ancestry(i);
  excluded_.push_back(0);
  state_.res.counted.push_back(0);
  // The members this change can move, as they were.
  std::vector<DeviceKey> devices{added.author};
  for (const auto& u : added.updates) devices.push_back(u.device);
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  std::vector<std::pair<DeviceKey, std::optional<Resolution::Member>>> prior;
  for (const auto& d : devices) {
    auto it = state_.res.members.find(d);
    prior.emplace_back(d,
                       it == state_.res.members.end() ? std::nullopt : std::optional<Resolution::Member>(it->second));
  }
  // Replayed on top of the replay so far: what a replay of all would give,
  // unless it takes an admin role away from one whose earlier changes it had
  // not seen (they lose their effect: everything is replayed).
  if (!step(state_, i).empty()) {
    before_order_.clear();
    for (size_t k = 0; k + 1 < changes_.size(); ++k) before_order_.push_back(changes_[k].hash);
    const auto before = verdicts();
    // The members as they were before this change: those it touched go back.
    for (auto& [d, m] : prior) {
      if (m)
        state_.res.members[d] = *m;
      else
        state_.res.members.erase(d);
    }
    replay_noting(before);
    return;
  }
  finish(state_, &devices);
  for (auto& [d, m] : prior) {
    auto it = state_.res.members.find(d);
    if (it == state_.res.members.end()) continue;
    if (!m || !(*m == it->second)) was_.emplace_back(d, m ? std::move(*m) : Resolution::Member{});
  }
  touched_.push_back(i);
}

void MembershipResolver::load(std::vector<MemberChange> all) {
  std::sort(all.begin(), all.end(), [](const MemberChange& a, const MemberChange& b) { return a.before(b); });
  changes_ = std::move(all);
  named_role_.clear();
  for (const auto& c : changes_) note_named(c);
  reindex();
  replay_all();
}

void MembershipResolver::reindex() {
  index_.clear();
  for (size_t k = 0; k < changes_.size(); ++k) index_[changes_[k].hash] = static_cast<int>(k);
  named_.assign(changes_.size(), 0);
  anc_.clear();
  size_t last_legacy = 0;
  for (size_t k = 0; k < changes_.size(); ++k) {
    compute_ancestry(static_cast<int>(k));
    for (const auto& h : changes_[k].parents)
      if (auto it = index_.find(h); it != index_.end()) named_[static_cast<size_t>(it->second)] = 1;
    if (changes_[k].legacy) last_legacy = k;
  }
  // A legacy change names no parents but follows everything before it.
  for (size_t p = 0; p < last_legacy; ++p) named_[p] = 1;
}

}  // namespace urbis
