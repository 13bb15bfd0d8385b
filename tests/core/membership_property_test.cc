// Membership property test (issue 11, requirement 5; docs/membership.md).
//
// Five devices, each with its own identity and in-memory store, share one
// space: device 0 creates it and makes 1 and 2 admins and 3 an editor; 4
// joins through an invite code (create_invite, redeem_invite, and the
// redeemer's own replica standing in for the witness node with a test
// witness key). Three `city` entities, two projects homed in cities (their
// `city` field names one) and a note with no city are shared by everyone.
//
// Then each step either has a device act on what ITS replica knows, or
// delivers part of one replica's inbox:
//   - writers put a few fields (unique values) on a shared or created entity,
//     create entities (some homed in a city), or re-home a project;
//   - admins set roles (adds, removes, changes, of admins too; some scoped to
//     random cities, a scoped admin's within its own scope), create invites,
//     revoke pending invites, and heal;
//   - a device that is not a member redeems an invite code it was given;
//   - every change a replica makes goes to every other replica's inbox
//     (sometimes twice); a delivery applies a random part of one inbox in a
//     random order (the rest waits; some delivered copies stay to come
//     again); after a delivery the replica heals, as clients do after a sync.
// At the end every inbox is delivered, shuffled, and every replica pulls from
// every other (healing after each round) until a round changes nothing.
//
// Checked for each seed:
//   1. every replica lists the same members() (devices, roles, scopes,
//      pending invites), the same current epoch and the same version vector
//      (every replica holds every change);
//   2. the members' replicas have the same state_hash;
//   3. (removed writers) a device D that ends a member nowhere, was removed at
//      least once, and was never given a role again (by an admin that had
//      seen a removal of D, or by redeeming a code): none of D's puts that no
//      remover of D had seen when removing it shows on any replica. This is
//      the cutoff rule (a removal pins the removed writer's chain at what the
//      remover held); it does not depend on how concurrent admin actions are
//      resolved, because D's end state says some removal of D won;
//   4. (removed readers) a device D as in 3 reads nothing another writer
//      wrote after a "sure" removal of D had reached that writer's replica:
//      D's replica finds no entity created then, and shows none of the values
//      put then. A sure removal is one by an admin of the setup whose role
//      nobody touched during the run, so no rule can undo it, whatever keys
//      were rotated concurrently (issue 11, requirement 2).
// Rules chosen beyond these (which of two concurrent role changes wins, how
// scopes apply, which redeem counts) are checked only through 1 and 2:
// replicas must agree, whatever the rule.
//
// Three cases share the harness. "in order" delivers every change to every
// replica, in order, right after each step (no concurrency) and requires
// every apply to succeed; "content only" delivers at random but makes no
// membership change after the setup, and requires every apply to succeed.
// Both check the harness itself and pass on a core that resolves membership
// by arrival order; they run a fifth of the seeds. "random" is the property.
//
// URBIS_PROP_SEEDS=N runs N seeds (default 500); URBIS_PROP_SEED=S replays
// seed S alone in each case and prints its trace (what each device did, what
// each replica refused); URBIS_PROP_DETAILS=N describes the first N failing
// seeds (default 5). A seed replays the same run with the same standard
// library (std::shuffle and the distributions differ between libstdc++ and
// libc++).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "test_util.h"
#include "urbis/invite.h"

namespace urbis::testing {
namespace {

constexpr size_t kDevices = 5;
constexpr size_t kCities = 3;
constexpr uint64_t kInviteTtlSeconds = 3600;
constexpr uint64_t kWitnessSeed = 0x77697431;  // the test witness node's key

// Random: the property. InOrder: every change reaches every replica, in
// order, right after each step. ContentOnly: random delivery, but only puts
// and creations after the setup (no membership change at all).
enum class Mode { Random, InOrder, ContentOnly };

// The witness node the invites name; the redeemer's replica signs receipts
// with its key (it holds the invite, which is all witness_redeem needs).
const Identity& witness_identity() {
  static const Identity w = [] {
    auto env = make_deterministic_env(kWitnessSeed);
    return Identity::generate(*env);
  }();
  return w;
}

struct Stats {
  std::map<std::string, size_t> done, refused;  // local ops by kind; refusals by kind:code
  std::map<std::string, size_t> apply_errors;   // apply() refusals by code
  size_t held = 0, duplicates = 0, removed_edits_checked = 0, sealed_reads_checked = 0;
  void add(const Stats& o) {
    for (const auto& [k, v] : o.done) done[k] += v;
    for (const auto& [k, v] : o.refused) refused[k] += v;
    for (const auto& [k, v] : o.apply_errors) apply_errors[k] += v;
    held += o.held;
    duplicates += o.duplicates;
    removed_edits_checked += o.removed_edits_checked;
    sealed_reads_checked += o.sealed_reads_checked;
  }
};

// A removal as committed: who removed whom, at which seq of the remover's
// chain, and the highest seq of the removed device's chain the remover held.
struct Removal {
  size_t target, remover;
  uint64_t remover_seq, target_seen;
};

// A put (or a creation) of unique string values by `author` (its change
// `seq`), with the removals its author's replica had applied when it wrote.
struct Edit {
  size_t author;
  uint64_t seq;
  std::vector<std::string> values;
  std::optional<EntityId> created;
  std::vector<size_t> removals_seen;  // indexes into Sim::removals
};

struct PendingCode {
  InviteSecret secret;
  size_t creator;
  uint64_t creator_seq;
  bool used = false;
};

struct Sim {
  Mode mode;
  uint64_t seed;
  bool verbose;
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<Device>> dev;
  SpaceId space;
  std::vector<EntityId> cities, entities;  // entities: every non-city entity made
  std::map<EntityId, bool> homed;          // entity -> has a `city` field
  std::vector<std::vector<Bytes>> inbox;
  std::vector<Removal> removals;
  std::vector<Edit> edits;
  std::vector<PendingCode> codes;
  std::set<size_t> regranted;  // given a role again after a removal it had seen / redeemed
  std::set<size_t> targeted;   // named by a committed set_role during the run
  uint64_t counter = 0;
  bool settling = false;  // inside settle(), which pulls what heal() commits
  std::vector<std::string> trace;
  Stats stats;

  Sim(Mode m, uint64_t s, bool v) : mode(m), seed(s), verbose(v), rng(s), inbox(kDevices) {
    for (size_t i = 0; i < kDevices; ++i) dev.push_back(std::make_unique<Device>(seed * 16 + i + 1));
    Replica& a = r(0);
    auto sp = a.create_space("property");
    URBIS_REQUIRE_OK(sp);
    space = *sp;
    Transaction tx = a.begin(space);
    for (size_t c = 0; c < kCities; ++c) {
      cities.push_back(tx.create("city"));
      tx.set_text(cities.back(), "name", "en", "City " + std::to_string(c));
    }
    for (size_t p = 0; p < 2; ++p) {
      EntityId id = tx.create("project");
      tx.set_text(id, "title", "en", "Project " + std::to_string(p));
      tx.set(id, "city", cities[p].hex());
      entities.push_back(id);
      homed[id] = true;
    }
    EntityId note = tx.create("note");
    tx.set(note, "stage", "draft");
    entities.push_back(note);
    homed[note] = false;
    URBIS_REQUIRE_OK(a.commit(tx));
    URBIS_REQUIRE_OK(a.set_role(space, key(1), Role::Admin));
    URBIS_REQUIRE_OK(a.set_role(space, key(2), Role::Admin));
    URBIS_REQUIRE_OK(a.set_role(space, key(3), Role::Editor));
    auto inv = a.create_invite(space, Role::Editor, kInviteTtlSeconds, {witness_identity().device()});
    URBIS_REQUIRE_OK(inv);
    REQUIRE(settle(true));
    auto code = decode_invite_code(inv->code);
    URBIS_REQUIRE_OK(code);
    REQUIRE_MESSAGE(redeem(4, *code), "the setup's invite is not redeemed");
    REQUIRE(settle(true));
    for (size_t i = 0; i < kDevices; ++i) REQUIRE(my_role(i) == (i < 3 ? Role::Admin : Role::Editor));
    stats = {};
    for (auto& box : inbox) box.clear();
  }

  Replica& r(size_t i) { return *dev[i]->replica; }
  const DeviceKey& key(size_t i) { return dev[i]->key; }
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
  // (Streams, not `"v" + std::to_string(…)`: GCC 12 at -O3 warns a false
  // -Wrestrict on a literal prepended to a temporary string.)
  std::string next_value() {
    std::ostringstream out;
    out << 'v' << seed << '.' << ++counter;
    return out.str();
  }
  void log(const std::string& line) {
    if (verbose) trace.push_back(line);
  }

  VersionVector vv(size_t i) {
    auto v = r(i).version_vector(space);
    if (v.code() == Code::UnknownSpace) return {};  // before its first change of the space
    URBIS_REQUIRE_OK(v);
    return *v;
  }
  static uint64_t at(const VersionVector& v, const DeviceKey& k) {
    auto it = v.find(k);
    return it == v.end() ? 0 : it->second;
  }
  Role my_role(size_t i) {
    auto info = r(i).space(space);
    URBIS_REQUIRE_OK(info);
    return info->my_role;
  }
  std::vector<Member> members(size_t i) {
    auto m = r(i).members(space);
    URBIS_REQUIRE_OK(m);
    return *m;
  }
  std::vector<EntityId> my_scope(size_t i) {
    for (const auto& m : members(i))
      if (m.device == key(i)) return m.scope;
    return {};
  }
  bool has_seen(size_t i, const Removal& rm) { return at(vv(i), key(rm.remover)) >= rm.remover_seq; }

  // Sends what replica `i` committed since `before` to every other inbox
  // (in order mode: to every replica at once, then heals until quiet).
  size_t publish(size_t i, const VersionVector& before) {
    auto news = r(i).changes_since(space, before);
    URBIS_REQUIRE_OK(news);
    if (mode == Mode::InOrder) {
      // settle() pulls it next round when settle() itself healed
      if (!settling && !news->empty()) REQUIRE_MESSAGE(settle(true), "in-order delivery did not settle");
      return news->size();
    }
    for (const auto& c : *news)
      for (size_t j = 0; j < kDevices; ++j) {
        if (j == i) continue;
        inbox[j].push_back(c);
        if (chance(0.1)) inbox[j].push_back(c);
      }
    return news->size();
  }

  void refused(const std::string& op, const Status& s) {
    stats.refused[op + ":" + std::string(code_name(s.code()))]++;
    log("  refused " + s.to_string());
  }

  Result<ApplyOutcome> apply(size_t j, const Bytes& c, bool strict) {
    auto res = r(j).apply(c);
    if (strict) REQUIRE_MESSAGE(res.is_ok(), "apply at d" << j << ": " << res.status().to_string());
    if (!res.is_ok()) {
      stats.apply_errors[std::string(code_name(res.code()))]++;
      log("  d" + std::to_string(j) + " refuses a change: " + res.status().to_string());
    } else {
      stats.held += *res == ApplyOutcome::Held;
      stats.duplicates += *res == ApplyOutcome::Duplicate;
    }
    return res;
  }

  // heal() on `i`, as a client after a sync; true when it committed.
  bool heal(size_t i) {
    VersionVector before = vv(i);
    auto h = r(i).heal(space);
    if (h.code() == Code::UnknownSpace) return false;  // setup: nothing here yet
    if (!h.is_ok()) {
      refused("heal", h.status());
      return false;
    }
    if (!*h) return false;
    stats.done["heal"]++;
    log("d" + std::to_string(i) + " heal committed");
    publish(i, before);
    return true;
  }

  // Every replica pulls from every other, then heals, until a round applies
  // and commits nothing (at most 12 rounds). `strict`: every apply must succeed.
  bool settle(bool strict) {
    for (int round = 0; round < 12; ++round) {
      bool progress = false;
      for (size_t a = 0; a < kDevices; ++a)
        for (size_t b = 0; b < kDevices; ++b) {
          if (a == b) continue;
          auto changes = r(b).changes_since(space, vv(a));
          if (changes.code() == Code::UnknownSpace) continue;  // setup: b holds nothing yet
          URBIS_REQUIRE_OK(changes);
          for (const auto& c : *changes) {
            auto res = apply(a, c, strict);
            progress |= res.is_ok() && *res == ApplyOutcome::Applied;
          }
        }
      settling = true;
      for (size_t a = 0; a < kDevices; ++a) progress |= heal(a);
      settling = false;
      if (!progress) return true;
    }
    return false;
  }

  // A random part of inbox `j`, shuffled; then `j` heals.
  void deliver_some(size_t j) {
    std::vector<Bytes> now, later;
    for (auto& c : inbox[j]) (chance(0.6) ? now : later).push_back(std::move(c));
    for (const auto& c : now)
      if (chance(0.1)) later.push_back(c);  // comes again
    inbox[j] = std::move(later);
    std::shuffle(now.begin(), now.end(), rng);
    log("deliver " + std::to_string(now.size()) + " to d" + std::to_string(j));
    for (const auto& c : now) (void)apply(j, c, mode == Mode::ContentOnly);
    heal(j);
  }

  // ---- the operations, each by a device on its own replica's view ----

  void edit(size_t i) {
    Replica& me = r(i);
    VersionVector before = vv(i);
    Transaction tx = me.begin(space);
    EntityId id;
    std::vector<std::string> values;
    bool fresh = entities.empty() || chance(0.2), city = false;
    if (!fresh) {
      id = entities[pick(entities.size())];
      if (!me.get(space, id).is_ok()) fresh = true;  // not readable here (yet)
    }
    if (fresh) {
      city = chance(0.7);
      id = tx.create(city ? "project" : "note");
      if (city) tx.set(id, "city", cities[pick(kCities)].hex());
      values.push_back(next_value());
      tx.set_text(id, "title", "en", values.back());
    } else {
      const char* const fields[] = {"stage", "budget", "owner"};
      for (size_t k = 0, n = 1 + pick(2); k < n; ++k) {
        values.push_back(next_value());
        tx.set(id, fields[(k + pick(3)) % 3], values.back());
      }
      if (homed[id] && chance(0.1)) tx.set(id, "city", cities[pick(kCities)].hex());  // re-home
    }
    auto info = me.commit(tx);
    log("d" + std::to_string(i) + (fresh ? " creates " : " puts on ") + id.hex().substr(0, 6) + " " + values.front());
    if (!info.is_ok()) return refused("edit", info.status());
    stats.done[fresh ? "create" : "put"]++;
    Edit e{i, info->seq, values, std::nullopt, {}};
    for (size_t k = 0; k < removals.size(); ++k)
      if (at(before, key(removals[k].remover)) >= removals[k].remover_seq) e.removals_seen.push_back(k);
    if (fresh) {
      e.created = id;
      entities.push_back(id);
      homed[id] = city;
    }
    edits.push_back(std::move(e));
    publish(i, before);
  }

  void set_role(size_t i) {
    size_t t = pick(kDevices - 1);
    t += t >= i;
    const Role roles[] = {Role::None,   Role::None,   Role::Viewer, Role::Commenter,
                          Role::Editor, Role::Editor, Role::Admin};
    const Role role = roles[pick(std::size(roles))];
    std::vector<EntityId> scope;
    const std::vector<EntityId> mine = my_scope(i);
    if (role != Role::None && (!mine.empty() || chance(0.3))) {
      const std::vector<EntityId>& from = mine.empty() ? cities : mine;
      for (const auto& c : from)
        if (chance(0.5)) scope.push_back(c);
      if (scope.empty()) scope.push_back(from[pick(from.size())]);
    }
    VersionVector before = vv(i);
    bool seen_removal = false;
    for (const auto& rm : removals) seen_removal |= rm.target == t && has_seen(i, rm);
    Status s = r(i).set_role(space, key(t), role, scope);
    log("d" + std::to_string(i) + " sets d" + std::to_string(t) + " to " + std::string(role_name(role)) +
        (scope.empty() ? "" : " scoped " + std::to_string(scope.size())));
    if (!s.is_ok()) return refused("set_role", s);
    VersionVector after = vv(i);
    if (at(after, key(i)) == at(before, key(i))) return;  // no change: the role it had
    stats.done[role == Role::None ? "remove" : "set_role"]++;
    targeted.insert(t);
    if (role == Role::None)
      removals.push_back({t, i, at(after, key(i)), at(before, key(t))});
    else if (seen_removal)
      regranted.insert(t);
    publish(i, before);
  }

  void create_invite(size_t i) {
    const Role roles[] = {Role::Viewer, Role::Commenter, Role::Editor, Role::Editor, Role::Admin};
    const Role role = roles[pick(std::size(roles))];
    VersionVector before = vv(i);
    auto inv = r(i).create_invite(space, role, kInviteTtlSeconds, {witness_identity().device()});
    log("d" + std::to_string(i) + " invites as " + std::string(role_name(role)));
    if (!inv.is_ok()) return refused("create_invite", inv.status());
    stats.done["create_invite"]++;
    codes.push_back({inv->secret, i, inv->change.seq});
    publish(i, before);
  }

  void revoke_invite(size_t i) {
    std::vector<DeviceKey> pending;
    for (const auto& m : members(i))
      if (m.invite_expires_ms != 0) pending.push_back(m.device);
    if (pending.empty()) return;
    VersionVector before = vv(i);
    const DeviceKey k = pending[pick(pending.size())];
    Status s = r(i).revoke_invite(space, k);
    log("d" + std::to_string(i) + " revokes invite " + k.hex().substr(0, 6));
    if (!s.is_ok()) return refused("revoke_invite", s);
    stats.done["revoke_invite"]++;
    publish(i, before);
  }

  // Device `i` redeems `code`, its replica witnessing; true when applied.
  bool redeem(size_t i, const InviteSecret& code) {
    log("d" + std::to_string(i) + " redeems invite " + invite_identity(code).device().hex().substr(0, 6));
    VersionVector before = vv(i);
    auto built = r(i).redeem_invite(code);
    if (!built.is_ok()) {
      refused("redeem", built.status());
      return false;
    }
    auto w = r(i).witness_redeem(built->envelope, witness_identity().device(),
                                 [](ByteView m) { return witness_identity().sign(m); });
    if (!w.is_ok() || !w->has_value()) {
      refused("witness", w.is_ok() ? Status(Code::Internal, "no receipt") : w.status());
      return false;
    }
    auto res = r(i).apply(**w);
    if (!res.is_ok()) {
      refused("redeem_apply", res.status());
      return false;
    }
    stats.done["redeem"]++;
    regranted.insert(i);
    publish(i, before);
    return true;
  }

  // One step by device `i`, chosen among what its own view allows.
  void act(size_t i) {
    const Role role = my_role(i);
    std::vector<std::pair<double, int>> ops;  // weight, op
    if (can_write(role)) ops.push_back({4, 0});
    if (role == Role::Admin && mode != Mode::ContentOnly) {
      ops.push_back({3, 1});
      ops.push_back({1, 2});
      ops.push_back({1, 3});
      ops.push_back({0.5, 4});
    }
    std::vector<size_t> usable;
    if (role == Role::None && mode != Mode::ContentOnly) {
      VersionVector v = vv(i);
      for (size_t k = 0; k < codes.size(); ++k)
        if (!codes[k].used && at(v, key(codes[k].creator)) >= codes[k].creator_seq) usable.push_back(k);
      if (!usable.empty()) ops.push_back({4, 5});
    }
    if (ops.empty()) return;
    double total = 0;
    for (const auto& o : ops) total += o.first;
    double x = std::uniform_real_distribution<double>(0, total)(rng);
    int op = ops.back().second;
    for (const auto& o : ops) {
      if (x < o.first) {
        op = o.second;
        break;
      }
      x -= o.first;
    }
    switch (op) {
      case 0: return edit(i);
      case 1: return set_role(i);
      case 2: return create_invite(i);
      case 3: return revoke_invite(i);
      case 4: (void)heal(i); return;
      default: {
        PendingCode& c = codes[usable[pick(usable.size())]];
        c.used = true;  // one code, one person
        (void)redeem(i, c.secret);
      }
    }
  }

  // ---- the checks ----

  std::string name(const DeviceKey& k) {
    for (size_t i = 0; i < kDevices; ++i)
      if (key(i) == k) {
        std::ostringstream out;
        out << 'd' << i;
        return out.str();
      }
    std::ostringstream out;
    out << "invite:" << k.hex().substr(0, 8);
    return out.str();
  }
  std::string describe(std::vector<Member> ms) {
    std::sort(ms.begin(), ms.end(), [](const Member& x, const Member& y) { return x.device < y.device; });
    std::ostringstream out;
    for (auto& m : ms) {
      std::sort(m.scope.begin(), m.scope.end());
      out << name(m.device) << "=" << role_name(m.role);
      if (!m.scope.empty()) {
        out << "[";
        for (const auto& c : m.scope) {
          auto it = std::find(cities.begin(), cities.end(), c);
          if (it == cities.end())
            out << c.hex().substr(0, 6) << ' ';
          else
            out << 'c' << (it - cities.begin()) << ' ';
        }
        out << "]";
      }
      if (m.invite_expires_ms) out << "(pending)";
      out << " ";
    }
    return out.str();
  }
  std::string describe(const VersionVector& v) {
    std::ostringstream out;
    for (const auto& [k, s] : v) out << name(k) << ":" << s << " ";
    return out.str();
  }

  // Which of `values` replica `i` shows, live (a register's winner or a
  // conflict, plain or translatable) on any entity of the run.
  std::vector<std::pair<std::string, const Edit*>> shown(size_t i, const std::map<std::string, const Edit*>& values) {
    std::vector<std::pair<std::string, const Edit*>> out;
    auto scan = [&](const Register& reg) {
      std::vector<const Version*> vs{&reg.winner};
      for (const auto& c : reg.conflicts) vs.push_back(&c);
      for (const Version* v : vs) {
        if (!v->value.is_string()) continue;
        auto it = values.find(v->value.get<std::string>());
        if (it != values.end()) out.emplace_back(it->first, it->second);
      }
    };
    for (const auto& id : entities) {
      auto ent = r(i).get(space, id);
      if (!ent.is_ok()) continue;
      for (const auto& [f, reg] : ent->fields) scan(reg);
      for (const auto& [f, text] : ent->texts)
        for (const auto& [loc, reg] : text.locales) scan(reg);
    }
    return out;
  }

  // Runs the checks; returns what failed ("" when all held).
  std::string check() {
    std::ostringstream fail;
    const std::string m0 = describe(members(0));
    const uint32_t e0 = r(0).space(space)->epoch;
    const VersionVector v0 = vv(0);
    for (size_t i = 1; i < kDevices; ++i) {
      const std::string mi = describe(members(i));
      if (mi != m0) fail << "members differ: d0 {" << m0 << "} d" << i << " {" << mi << "}\n";
      const uint32_t ei = r(i).space(space)->epoch;
      if (ei != e0) fail << "epochs differ: d0 " << e0 << ", d" << i << " " << ei << "\n";
      const VersionVector vi = vv(i);
      if (vi != v0)
        fail << "version vectors differ: d0 {" << describe(v0) << "} d" << i << " {" << describe(vi) << "}\n";
    }
    // Members by every replica's list (they are equal when 1 held).
    std::set<size_t> member_somewhere;
    for (size_t i = 0; i < kDevices; ++i)
      for (const auto& m : members(i))
        for (size_t d = 0; d < kDevices; ++d)
          if (m.device == key(d) && m.role != Role::None) member_somewhere.insert(d);
    std::optional<std::pair<size_t, Hash>> first;
    for (size_t i : member_somewhere) {
      const Hash h = hash_of(r(i), space);
      if (!first)
        first = {i, h};
      else if (h != first->second)
        fail << "state hashes differ: d" << first->first << " " << first->second.hex().substr(0, 12) << ", d" << i
             << " " << h.hex().substr(0, 12) << "\n";
    }

    // 3: puts of removed writers that no remover had seen.
    auto settled_out = [&](size_t d) {
      if (member_somewhere.count(d) || regranted.count(d)) return false;
      return std::any_of(removals.begin(), removals.end(), [&](const Removal& rm) { return rm.target == d; });
    };
    std::map<std::string, const Edit*> forbidden;
    for (const auto& e : edits) {
      if (!settled_out(e.author)) continue;
      bool unseen = true;
      for (const auto& rm : removals) unseen &= rm.target != e.author || e.seq > rm.target_seen;
      if (!unseen) continue;
      for (const auto& v : e.values) forbidden[v] = &e;
    }
    stats.removed_edits_checked += forbidden.size();
    if (!forbidden.empty())
      for (size_t i = 0; i < kDevices; ++i)
        for (const auto& [v, e] : shown(i, forbidden))
          fail << "d" << i << " shows " << v << ", put by d" << e->author << " (its seq " << e->seq
               << "), which no remover of d" << e->author << " had seen\n";

    // 4: what a writer wrote after a sure removal of D had reached it.
    auto sure = [&](const Removal& rm) { return rm.remover < 3 && !targeted.count(rm.remover); };
    std::map<size_t, std::map<std::string, const Edit*>> sealed;  // per removed reader
    for (const auto& e : edits) {
      std::set<size_t> readers;  // removed for sure where e was written
      for (size_t k : e.removals_seen)
        if (sure(removals[k]) && settled_out(removals[k].target) && removals[k].target != e.author)
          readers.insert(removals[k].target);
      for (size_t d : readers) {
        for (const auto& v : e.values) sealed[d][v] = &e;
        if (!e.created) continue;
        ++stats.sealed_reads_checked;
        if (r(d).get(space, *e.created).is_ok())
          fail << "d" << d << " reads " << e.created->hex().substr(0, 6) << ", created by d" << e.author << " after d"
               << d << "'s removal reached it\n";
      }
    }
    for (const auto& [d, values] : sealed) {
      stats.sealed_reads_checked += values.size();
      for (const auto& [v, e] : shown(d, values))
        fail << "d" << d << " reads " << v << ", put by d" << e->author << " after d" << d << "'s removal reached it\n";
    }
    return fail.str();
  }

  // The run of one seed; "" when every check held.
  std::string run(size_t steps) {
    for (size_t step = 0; step < steps; ++step) {
      if (mode == Mode::InOrder || chance(0.55))
        act(pick(kDevices));
      else
        deliver_some(pick(kDevices));
    }
    // Everything still in the inboxes, shuffled, then pulls until quiet.
    for (size_t j = 0; j < kDevices; ++j) {
      std::shuffle(inbox[j].begin(), inbox[j].end(), rng);
      for (const auto& c : inbox[j]) (void)apply(j, c, mode != Mode::Random);
      inbox[j].clear();
    }
    if (!settle(mode != Mode::Random)) return "did not settle in 12 rounds of full exchange and heal\n";
    return check();
  }
};

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t seed_count() { return env_number("URBIS_PROP_SEEDS", 500); }

// Runs seeds 1..seed_count()/share (at least 1) of one mode, or the one
// URBIS_PROP_SEED names; fails listing the failing seeds.
Stats run_seeds(Mode mode, size_t steps, uint64_t share = 1) {
  Stats total;
  std::vector<std::pair<uint64_t, std::string>> failed;
  const char* one = std::getenv("URBIS_PROP_SEED");
  const uint64_t first = one ? std::strtoull(one, nullptr, 10) : 1;
  const uint64_t last = one ? first : std::max<uint64_t>(1, seed_count() / share);
  for (uint64_t seed = first; seed <= last; ++seed) {
    INFO("replay with URBIS_PROP_SEED=" << seed);
    Sim sim(mode, seed, one != nullptr);
    std::string fail = sim.run(steps);
    if (one) {
      std::string trace;
      for (const auto& line : sim.trace) trace += line + "\n";
      MESSAGE("seed " << seed << " trace:\n" << trace);
    }
    if (!fail.empty()) failed.emplace_back(seed, fail);
    total.add(sim.stats);
  }
  std::ostringstream summary;
  summary << (last - first + 1) << " seeds, " << failed.size() << " failed\n  ops:";
  for (const auto& [k, v] : total.done) summary << " " << k << "=" << v;
  summary << "\n  refused locally:";
  for (const auto& [k, v] : total.refused) summary << " " << k << "=" << v;
  summary << "\n  apply refusals:";
  for (const auto& [k, v] : total.apply_errors) summary << " " << k << "=" << v;
  summary << "\n  held=" << total.held << " duplicates=" << total.duplicates
          << " removed-writer values checked=" << total.removed_edits_checked
          << " sealed reads checked=" << total.sealed_reads_checked;
  MESSAGE(summary.str());
  std::ostringstream report;
  const size_t detailed = env_number("URBIS_PROP_DETAILS", 5);  // failing seeds described in full
  for (size_t k = 0; k < failed.size() && k < detailed; ++k)
    report << "seed " << failed[k].first << " (replay with URBIS_PROP_SEED=" << failed[k].first << "):\n"
           << failed[k].second;
  if (failed.size() > detailed) {
    report << "further failing seeds:";
    for (size_t k = detailed; k < failed.size(); ++k) report << " " << failed[k].first;
  }
  CHECK_MESSAGE(failed.empty(), report.str());
  return total;
}

}  // namespace

// The harness checked on what a core resolving membership by arrival order
// already handles: no concurrency at all.
TEST_CASE("membership property: every op, delivered in order, converges") {
  Stats s = run_seeds(Mode::InOrder, 30, 5);
  if (!std::getenv("URBIS_PROP_SEED") && seed_count() >= 100) {
    // The run is only worth something if it did each kind of thing.
    for (const char* op : {"put", "create", "remove", "set_role", "create_invite", "revoke_invite", "redeem"}) {
      CAPTURE(op);
      CHECK(s.done[op] > 0);
    }
    CHECK(s.sealed_reads_checked > 0);
  }
}

// The harness's delivery (partial, shuffled, duplicated) checked on content
// alone, which the core merges in any order.
TEST_CASE("membership property: content edits only, any delivery order, converge") {
  Stats s = run_seeds(Mode::ContentOnly, 40, 5);
  if (!std::getenv("URBIS_PROP_SEED") && seed_count() >= 100) {
    CHECK(s.done["put"] > 0);
    CHECK(s.done["create"] > 0);
    CHECK(s.held > 0);
    CHECK(s.duplicates > 0);
  }
}

// The property (issue 11, requirement 5).
TEST_CASE("membership property: random concurrent membership and edits, any delivery order") {
  Stats s = run_seeds(Mode::Random, 40);
  if (!std::getenv("URBIS_PROP_SEED") && seed_count() >= 50) {
    for (const char* op : {"put", "create", "remove", "set_role", "create_invite", "revoke_invite", "redeem"}) {
      CAPTURE(op);
      CHECK(s.done[op] > 0);
    }
    CHECK(s.held > 0);
    CHECK(s.duplicates > 0);
    CHECK(s.removed_edits_checked > 0);
    CHECK(s.sealed_reads_checked > 0);
  }
}

}  // namespace urbis::testing
