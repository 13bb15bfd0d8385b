// A removed writer forking its chain at or below its cutoff (issue 10; issue
// 11: "a removal cutoff records a sequence number but no hash"). The admin's
// removal pins the writer's chain (Cutoff.hash = the hash of the change at
// the cutoff seq as the admin holds it). Each case performs the attack: the
// editor E writes seq 1..3, the admin removes it (cutoff 3, pinned), and E
// signs a different seq 3 (and a seq 4 under the old epoch) and feeds them
// to a lagging member L and a key-less node replica N that hold only 1..2,
// before and after the removal reaches them. At the end every replica holds
// the admin's chain, has the admin's state hash, and E's fork has no effect.
#include <algorithm>
#include <set>
#include <string>

#include "forge_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

// Every envelope a replica stores (and would serve), by its hash (a set of
// hashes rather than of byte vectors: GCC 12's -O2 warns, wrongly, inside
// std::vector's <=>).
std::set<Hash> log_of(Replica& r, const SpaceId& space) {
  auto log = r.changes_since(space, {});
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  std::set<Hash> out;
  for (const Bytes& e : *log) out.insert(blake2b_256(e));
  return out;
}

std::string title_of(Replica& r, const SpaceId& space, const EntityId& id) {
  auto e = r.get(space, id);
  REQUIRE_MESSAGE(e.is_ok(), e.status().to_string());
  auto it = e->fields.find("title");
  REQUIRE(it != e->fields.end());
  return it->second.winner.value.get<std::string>();
}

// The scenario: admin A, editor E, lagging editor L and node N that got
// only E's seq 1..2; E's seq 3 reached A alone; A removed E.
struct Attack {
  Device a{1};
  Device e{2};
  Device l{3};
  NodeReplica n{4};
  SpaceId space;
  EntityId project;
  CommitInfo e1, e2, e3;
  Bytes removal;
  Bytes fork3, fork4;  // E's forged seq 3 (prev = e2) and seq 4 (prev = fork3), epoch 1

  Attack() {
    space = *a->create_space("city");
    URBIS_REQUIRE_OK(a->add_member(space, e.key, Role::Editor));
    URBIS_REQUIRE_OK(a->add_member(space, l.key, Role::Editor));
    pull(*e.replica, *a.replica, space);
    auto tx = e->begin(space);
    project = tx.create("project");
    tx.set(project, "title", "one");
    e1 = *e->commit(tx);
    auto tx2 = e->begin(space);
    tx2.set(project, "budget", 100);
    e2 = *e->commit(tx2);
    pull(*a.replica, *e.replica, space);
    pull(*l.replica, *a.replica, space);
    pull(*n.replica, *a.replica, space);
    auto tx3 = e->begin(space);
    tx3.set(project, "title", "three");
    e3 = *e->commit(tx3);
    pull(*a.replica, *e.replica, space);
    URBIS_REQUIRE_OK(a->remove_member(space, e.key));
    // The removal pins E's chain at the change A holds at seq 3.
    auto after = a->changes_since(space, *l->version_vector(space));
    REQUIRE(after.is_ok());
    REQUIRE(after->size() == 2);  // E's seq 3, then the removal
    removal = after->back();
    pb::Membership m;
    REQUIRE(m.ParseFromString(parse_envelope(removal).body()));
    REQUIRE(m.cutoffs_size() == 1);
    CHECK(m.cutoffs(0).seq() == 3);
    CHECK(m.cutoffs(0).hash() == id_str(e3.hash));

    // E's fork, signed with E's key and encrypted with the epoch 1 key E holds.
    Identity eid = identity_for_seed(2);
    REQUIRE(eid.device() == e.key);
    auto key = space_key(*a.replica, space, eid, 1);
    REQUIRE(key);
    fork3 = forge_content(eid, space, {3, e2.hash}, 1, body_setting(project, "project", "title", "forked"), *key);
    fork4 =
        forge_content(eid, space, {4, envelope_hash(fork3)}, 1, body_setting(project, "project", "budget", 666), *key);
  }

  // Every replica ends where A is: the same log (the node too), the same
  // state, E's fork nowhere; and a later honest change of another author
  // applies everywhere.
  void check_converged() {
    const std::set<Hash> admin_log = log_of(*a.replica, space);
    CHECK(log_of(*l.replica, space) == admin_log);
    CHECK(log_of(*n.replica, space) == admin_log);
    CHECK_FALSE(admin_log.count(blake2b_256(fork3)));
    CHECK_FALSE(admin_log.count(blake2b_256(fork4)));
    CHECK(hash_of(*l.replica, space) == hash_of(*a.replica, space));
    CHECK(title_of(*a.replica, space, project) == "three");
    CHECK(title_of(*l.replica, space, project) == "three");
    CHECK(*l->held_count(space) == 0);
    CHECK(*n->held_count(space) == 0);
    // Nobody is stuck: L writes, and A and N take it.
    auto tx = l->begin(space);
    tx.set(project, "title", "after");
    URBIS_REQUIRE_OK(l->commit(tx));
    CHECK(pull(*a.replica, *l.replica, space) == 1);
    CHECK(pull(*n.replica, *l.replica, space) == 1);
    CHECK(hash_of(*l.replica, space) == hash_of(*a.replica, space));
    CHECK(title_of(*a.replica, space, project) == "after");
    CHECK(log_of(*n.replica, space) == log_of(*a.replica, space));
  }
};

// E's fork at seq 2 (a different seq 2 on top of its seq 1), signed with
// E's key and encrypted with the epoch 1 key E holds.
Bytes fork_at_seq2(Attack& t) {
  Identity eid = identity_for_seed(2);
  auto key = space_key(*t.a.replica, t.space, eid, 1);
  REQUIRE(key);
  return forge_content(eid, t.space, {2, t.e1.hash}, 1, body_setting(t.project, "project", "budget", 7), *key);
}

TEST_CASE("cutoff: the removal pins the writer's chain by the hash of its change at the cutoff") {
  Attack t;
  // A holds E's seq 3; its fork is refused there like any fork.
  auto r = t.a->apply(t.fork3);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.code() == Code::BrokenChain);
  // A writer who never wrote gets a cutoff at seq 0, with no hash.
  Device v(5);
  URBIS_REQUIRE_OK(t.a->add_member(t.space, v.key, Role::Editor));
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, v.key));
  auto log = t.a->changes_since(t.space, {});
  pb::Membership m;
  REQUIRE(m.ParseFromString(parse_envelope(log->back()).body()));
  REQUIRE(m.cutoffs_size() == 1);
  CHECK(m.cutoffs(0).seq() == 0);
  CHECK(m.cutoffs(0).hash().empty());
}

TEST_CASE("cutoff: a fork fed after the removal is refused by a lagging member and by the node") {
  Attack t;
  // The removal reaches L and N alone (without E's seq 3).
  for (Replica* r : {t.l.replica.get(), t.n.replica.get()}) {
    auto applied = r->apply(t.removal);
    URBIS_REQUIRE_OK(applied);
    CHECK(*applied == ApplyOutcome::Applied);
    CHECK(head_seq(*r, t.space, t.e.key) == 2);
    const std::set<Hash> before = log_of(*r, t.space);
    // E's different seq 3: not the pinned change.
    auto f3 = r->apply(t.fork3);
    REQUIRE_FALSE(f3.is_ok());
    CHECK(f3.code() == Code::BrokenChain);
    // E's seq 4 under the old epoch: past the cutoff, E may not write it.
    auto f4 = r->apply(t.fork4);
    REQUIRE_FALSE(f4.is_ok());
    CHECK(f4.code() == Code::NotAMember);
    CHECK(log_of(*r, t.space) == before);
    CHECK(*r->held_count(t.space) == 0);
  }
  // The pinned seq 3 still applies from A.
  CHECK(pull(*t.l.replica, *t.a.replica, t.space) == 1);
  CHECK(pull(*t.n.replica, *t.a.replica, t.space) == 1);
  t.check_converged();
}

TEST_CASE("cutoff: a fork taken before the removal is dropped when the removal arrives") {
  Attack t;
  for (Replica* r : {t.l.replica.get(), t.n.replica.get()}) {
    // Still an editor here: both forged changes count, for now.
    CHECK(*r->apply(t.fork3) == ApplyOutcome::Applied);
    CHECK(*r->apply(t.fork4) == ApplyOutcome::Applied);
  }
  CHECK(title_of(*t.l.replica, t.space, t.project) == "forked");
  // A sends what L lacks by its version vector (E:4): only the removal. It
  // pins a seq 3 that L does not hold: L drops its copy of E's chain.
  for (Replica* r : {t.l.replica.get(), t.n.replica.get()}) {
    CHECK(pull(*r, *t.a.replica, t.space) == 1);
    CHECK(head_seq(*r, t.space, t.e.key) == 0);
    CHECK_FALSE(log_of(*r, t.space).count(blake2b_256(t.fork3)));
  }
  // E created the project: with E's chain gone, so is the project, until
  // E's pinned chain is back.
  CHECK(t.l->get(t.space, t.project).code() == Code::NotFound);
  // The fork sent again is refused now.
  for (Replica* r : {t.l.replica.get(), t.n.replica.get()}) {
    auto again = r->apply(t.fork3);
    CHECK_FALSE(again.is_ok());
  }
  // The next sync fetches E's pinned chain again.
  CHECK(pull(*t.l.replica, *t.a.replica, t.space) == 3);
  CHECK(pull(*t.n.replica, *t.a.replica, t.space) == 3);
  t.check_converged();
}

TEST_CASE("cutoff: the node relays the dropped chain back to a member in either order") {
  Attack t;
  // N takes the fork before the removal, L only after: L refuses it, N
  // drops it when the removal comes, and L then syncs only with N.
  CHECK(*t.n->apply(t.fork3) == ApplyOutcome::Applied);
  CHECK(pull(*t.n.replica, *t.a.replica, t.space) == 1);  // the removal
  CHECK(t.l->apply(t.removal).is_ok());
  CHECK_FALSE(t.l->apply(t.fork3).is_ok());
  // N lacks E now; A gives it back E's pinned chain; L gets seq 3 from N.
  CHECK(pull(*t.n.replica, *t.a.replica, t.space) == 3);
  CHECK(pull(*t.l.replica, *t.n.replica, t.space) == 1);
  t.check_converged();
}

TEST_CASE("cutoff: a fork below the cutoff is dropped when the pinned change arrives") {
  Attack t;
  // E forks at seq 2, which L and N take before the removal; the removal
  // pins seq 3, which they cannot judge yet (they hold nothing at seq 3).
  Bytes fork2 = fork_at_seq2(t);
  Device l2(6);
  NodeReplica n2(7);
  URBIS_REQUIRE_OK(t.a->add_member(t.space, l2.key, Role::Editor));
  // l2 and n2 get A's log without E's seq 2 and 3, then the fork.
  for (Replica* r : {l2.replica.get(), n2.replica.get()}) {
    auto log = t.a->changes_since(t.space, {});
    REQUIRE(log.is_ok());
    for (const auto& c : *log) {
      auto h = parse_header(parse_envelope(c));
      if (DeviceKey::from_string(h.author()) == t.e.key && h.seq() >= 2) continue;
      auto res = r->apply(c);
      REQUIRE_MESSAGE(res.is_ok(), res.status().to_string());
    }
    // After the removal, seq 2 is below the pin: taken until the chain
    // reaches the pin (nothing here can tell it is a fork yet).
    CHECK(*r->apply(fork2) == ApplyOutcome::Applied);
    CHECK(head_seq(*r, t.space, t.e.key) == 2);
  }
  CHECK(l2->get(t.space, t.project).is_ok());
  // Syncing with A: A sends E's seq 3 (l2 says E:2). It is the pinned
  // change and does not follow l2's seq 2: l2 drops E's chain and holds it.
  for (Replica* r : {l2.replica.get(), n2.replica.get()}) {
    CHECK(pull(*r, *t.a.replica, t.space) == 0);
    CHECK(head_seq(*r, t.space, t.e.key) == 0);
    CHECK(*r->held_count(t.space) == 1);
    CHECK_FALSE(log_of(*r, t.space).count(blake2b_256(fork2)));
  }
  // The next sync brings seq 1 and 2; the held seq 3 follows them.
  CHECK(pull(*l2.replica, *t.a.replica, t.space) >= 2);
  CHECK(pull(*n2.replica, *t.a.replica, t.space) >= 2);
  CHECK(head_seq(*l2.replica, t.space, t.e.key) == 3);
  CHECK(head_seq(*n2.replica, t.space, t.e.key) == 3);
  CHECK(hash_of(*l2.replica, t.space) == hash_of(*t.a.replica, t.space));
  CHECK(log_of(*l2.replica, t.space) == log_of(*t.a.replica, t.space));
  CHECK(log_of(*n2.replica, t.space) == log_of(*t.a.replica, t.space));
  CHECK(*l2->held_count(t.space) == 0);
}

TEST_CASE("cutoff: a change proven on the pinned chain by held successors replaces a fork below it") {
  Attack t;
  Identity eid = identity_for_seed(2);
  auto key = space_key(*t.a.replica, t.space, eid, 1);
  REQUIRE(key);
  // E forks at seq 1. A replica that took the fork, then the removal, then
  // the pinned seq 3 (held: a gap), then the honest seq 2: seq 2 does not
  // follow the fork, but the held seq 3 names it as its predecessor, so the
  // fork goes and seq 2 waits for seq 1.
  Bytes fork1 =
      forge_content(eid, t.space, {1, std::nullopt}, 1, body_setting(t.project, "project", "title", "fork one"), *key);
  NodeReplica n2(7);
  auto log = t.a->changes_since(t.space, {});
  REQUIRE(log.is_ok());
  std::vector<Bytes> e_chain;
  for (const auto& c : *log) {
    auto h = parse_header(parse_envelope(c));
    if (DeviceKey::from_string(h.author()) == t.e.key) {
      e_chain.push_back(c);
      continue;
    }
    if (h.kind() == pb::CHANGE_MEMBERSHIP && c == t.removal) {
      CHECK(*n2->apply(fork1) == ApplyOutcome::Applied);
    }
    URBIS_REQUIRE_OK(n2->apply(c));
  }
  REQUIRE(e_chain.size() == 3);
  CHECK(head_seq(*n2.replica, t.space, t.e.key) == 1);
  CHECK(*n2->apply(e_chain[2]) == ApplyOutcome::Held);  // the pinned seq 3
  CHECK(*n2->apply(e_chain[1]) == ApplyOutcome::Held);  // proven by it: the fork goes
  CHECK(head_seq(*n2.replica, t.space, t.e.key) == 0);
  CHECK_FALSE(log_of(*n2.replica, t.space).count(blake2b_256(fork1)));
  CHECK(*n2->apply(e_chain[0]) == ApplyOutcome::Applied);  // 1, then 2 and 3 from the held
  CHECK(head_seq(*n2.replica, t.space, t.e.key) == 3);
  CHECK(*n2->held_count(t.space) == 0);
  CHECK(log_of(*n2.replica, t.space) == log_of(*t.a.replica, t.space));
  // The fork sent again is a fork of a verified chain now.
  CHECK(n2->apply(fork1).code() == Code::BrokenChain);
}

TEST_CASE("cutoff: a cutoff's hash is empty at seq 0 and 32 bytes after, else Malformed") {
  Attack t;
  // A forges (with its own key) removals of L carrying bad pins; applied to N.
  Identity aid = identity_for_seed(1);
  auto vv = *t.a->version_vector(t.space);
  auto log = t.a->changes_since(t.space, {});
  Hash a_head;
  for (const auto& c : *log)
    if (DeviceKey::from_string(parse_header(parse_envelope(c)).author()) == t.a.key) a_head = envelope_hash(c);
  pull(*t.n.replica, *t.a.replica, t.space);
  const std::set<Hash> before = log_of(*t.n.replica, t.space);
  for (auto [seq, hash] : {std::pair<uint64_t, std::string>{0, std::string(32, 'x')},
                           std::pair<uint64_t, std::string>{1, std::string(7, 'x')}}) {
    pb::Membership m;
    m.set_new_epoch(3);
    auto* u = m.add_updates();
    u->set_device(id_str(t.l.key));
    u->set_role(pb::ROLE_NONE);
    auto* c = m.add_cutoffs();
    c->set_device(id_str(t.l.key));
    c->set_seq(seq);
    c->set_hash(hash);
    Bytes raw = forge_membership(aid, t.space, {vv[t.a.key] + 1, a_head}, 2, m);
    auto r = t.n->apply(raw);
    CHECK(r.code() == Code::Malformed);
  }
  CHECK(log_of(*t.n.replica, t.space) == before);
}

}  // namespace
}  // namespace urbis

namespace urbis {
namespace {

using namespace urbis::testing;

TEST_CASE("cutoff: a downgraded admin's fork is dropped back to its last membership change") {
  // Dropping a membership change from the log would not undo it, and
  // fetching it again would apply it twice: the chain is kept up to it.
  Device a(1), b(2), l(3), x(4);
  SpaceId space = *a->create_space("city");
  URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Admin));
  URBIS_REQUIRE_OK(a->add_member(space, l.key, Role::Editor));
  pull(*b.replica, *a.replica, space);
  URBIS_REQUIRE_OK(b->add_member(space, x.key, Role::Viewer));  // b's seq 1
  auto tx = b->begin(space);
  EntityId project = tx.create("project");
  tx.set(project, "title", "one");
  CommitInfo b2 = *b->commit(tx);  // seq 2
  pull(*a.replica, *b.replica, space);
  pull(*l.replica, *a.replica, space);
  auto tx3 = b->begin(space);
  tx3.set(project, "title", "three");
  URBIS_REQUIRE_OK(b->commit(tx3));  // seq 3
  pull(*a.replica, *b.replica, space);
  URBIS_REQUIRE_OK(a->set_role(space, b.key, Role::Viewer));  // cutoff 3, pinned

  Identity bid = identity_for_seed(2);
  auto key = space_key(*a.replica, space, bid, 1);
  REQUIRE(key);
  Bytes fork3 = forge_content(bid, space, {3, b2.hash}, 1, body_setting(project, "project", "title", "forked"), *key);
  CHECK(*l->apply(fork3) == ApplyOutcome::Applied);
  CHECK(pull(*l.replica, *a.replica, space) == 1);  // the downgrade: back to seq 1
  CHECK(head_seq(*l.replica, space, b.key) == 1);
  CHECK(pull(*l.replica, *a.replica, space) == 2);
  CHECK(hash_of(*l.replica, space) == hash_of(*a.replica, space));
  CHECK(*l->member_role(space, x.key) == Role::Viewer);
  CHECK(log_of(*l.replica, space) == log_of(*a.replica, space));
}

}  // namespace
}  // namespace urbis

namespace urbis {
namespace {

using namespace urbis::testing;

TEST_CASE("cutoff: a fork held below the pin gives its slot to the change the pinned chain proves") {
  Attack t;
  Bytes fork2 = fork_at_seq2(t);
  // A node that has everything but E's chain, the removal included: E's
  // fork at seq 2 is held first (a gap: no seq 1 here), then the pinned
  // seq 3, then the real seq 2, which the held seq 3 names: it takes the
  // slot. Seq 1 then brings the whole pinned chain.
  NodeReplica n2(7);
  std::vector<Bytes> e_chain;
  auto log = t.a->changes_since(t.space, {});
  REQUIRE(log.is_ok());
  for (const auto& c : *log) {
    if (DeviceKey::from_string(parse_header(parse_envelope(c)).author()) == t.e.key) {
      e_chain.push_back(c);
      continue;
    }
    URBIS_REQUIRE_OK(n2->apply(c));
  }
  REQUIRE(e_chain.size() == 3);
  CHECK(*n2->apply(fork2) == ApplyOutcome::Held);
  CHECK(*n2->apply(e_chain[2]) == ApplyOutcome::Held);
  CHECK(*n2->apply(e_chain[1]) == ApplyOutcome::Held);
  CHECK(*n2->held_count(t.space) == 2);
  CHECK(*n2->apply(e_chain[0]) == ApplyOutcome::Applied);
  CHECK(head_seq(*n2.replica, t.space, t.e.key) == 3);
  CHECK(*n2->held_count(t.space) == 0);
  CHECK(log_of(*n2.replica, t.space) == log_of(*t.a.replica, t.space));
}

}  // namespace
}  // namespace urbis
