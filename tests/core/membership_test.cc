// Members and roles: who may read and write a space, enforced the same way
// on every replica; removal starts a key epoch the removed member never gets.
#include <algorithm>
#include <string>

#include "forge_util.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

constexpr uint64_t kAdmin = 301, kEditor = 302, kEditor2 = 303, kViewer = 304, kCommenter = 305, kLate = 306;

std::string outcome(const Result<ApplyOutcome>& r) {
  if (!r.is_ok()) return r.status().to_string();
  return *r == ApplyOutcome::Applied ? "Applied" : *r == ApplyOutcome::Duplicate ? "Duplicate" : "Held";
}

Role role_in(Replica& r, const SpaceId& space, const DeviceKey& device) {
  auto members = r.members(space);
  REQUIRE_MESSAGE(members.is_ok(), members.status().to_string());
  for (const auto& m : *members)
    if (m.device == device) return m.role;
  return Role::None;
}

uint32_t epoch_of(Replica& r, const SpaceId& space) {
  auto info = r.space(space);
  REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
  return info->epoch;
}

// A space with admin A, editors B and C, viewer V and commenter K; everyone
// holds all of the membership, and A's project P.
struct Team {
  Device a{kAdmin}, b{kEditor}, c{kEditor2}, v{kViewer}, k{kCommenter};
  SpaceId space;
  EntityId project;

  Team() {
    auto s = a->create_space("Plan");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    URBIS_REQUIRE_OK(a->add_member(space, c.key, Role::Editor));
    URBIS_REQUIRE_OK(a->add_member(space, v.key, Role::Viewer));
    URBIS_REQUIRE_OK(a->add_member(space, k.key, Role::Commenter));
    Transaction tx = a->begin(space);
    project = tx.create("project");
    tx.set_text(project, "title", "en", "Smart street lights");
    tx.set(project, "stage", "planning");
    URBIS_REQUIRE_OK(a->commit(tx));
    for (Device* d : others()) pull(*d->replica, *a.replica, space);
  }
  std::vector<Device*> others() { return {&b, &c, &v, &k}; }
  std::vector<Device*> all() { return {&a, &b, &c, &v, &k}; }
  // Everyone exchanges with A until all hold the same log.
  void sync() {
    for (Device* d : others()) pull(*a.replica, *d->replica, space);
    for (Device* d : others()) pull(*d->replica, *a.replica, space);
  }
};

TEST_CASE("membership: an added member reads the admin's entities after pulling") {
  Device a{kAdmin}, b{kEditor};
  auto s = a->create_space("Catalogue");
  URBIS_REQUIRE_OK(s);
  const SpaceId space = *s;
  Transaction tx = a->begin(space);
  EntityId p = tx.create("project");
  tx.set_text(p, "title", "en", "Bike sharing");
  tx.set(p, "budget", 50000);
  tx.add(p, "sdgs", 11);
  URBIS_REQUIRE_OK(a->commit(tx));

  CHECK(b->space(space).code() == Code::UnknownSpace);
  CHECK(b->get(space, p).code() == Code::UnknownSpace);
  URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
  CHECK(pull(*b.replica, *a.replica, space) == 3);

  auto e = b->get(space, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->type == "project");
  CHECK(e->text("title", "en")->winner.value == "Bike sharing");
  CHECK(e->fields.at("budget").winner.value == 50000);
  CHECK(e->sets.at("sdgs") == std::vector<nlohmann::json>{11});
  auto info = b->space(space);
  URBIS_REQUIRE_OK(info);
  CHECK(info->my_role == Role::Editor);
  CHECK(info->epoch == 1);
  CHECK(info->name.empty());  // a space learnt from others has no local label
  CHECK(a->space(space)->my_role == Role::Admin);
  CHECK(hash_of(*b.replica, space) == hash_of(*a.replica, space));

  // And the editor's writes reach the admin.
  Transaction tb = b->begin(space);
  tb.set(p, "stage", "procurement");
  URBIS_REQUIRE_OK(b->commit(tb));
  CHECK(pull(*a.replica, *b.replica, space) == 1);
  CHECK(a->get(space, p)->fields.at("stage").winner.value == "procurement");
  CHECK(hash_of(*b.replica, space) == hash_of(*a.replica, space));
}

TEST_CASE("membership: a viewer reads but cannot write") {
  Team t;
  auto seen = t.v->get(t.space, t.project);
  URBIS_REQUIRE_OK(seen);
  CHECK(seen->fields.at("stage").winner.value == "planning");
  CHECK(t.v->space(t.space)->my_role == Role::Viewer);

  const auto vv_before = *t.v->version_vector(t.space);
  const Hash hash_before = hash_of(*t.v.replica, t.space);
  Transaction tx = t.v->begin(t.space);
  tx.set(t.project, "stage", "idea");
  auto r = t.v->commit(tx);
  CHECK(r.code() == Code::Forbidden);
  Transaction create = t.v->begin(t.space);
  create.set(create.create("comment"), "body", "hello");
  CHECK(t.v->commit(create).code() == Code::Forbidden);
  CHECK(*t.v->version_vector(t.space) == vv_before);
  CHECK(hash_of(*t.v.replica, t.space) == hash_before);

  // A content change the viewer forges by hand (correctly signed, with the
  // space key it legitimately holds) has no effect on the admin's replica:
  // kept, like every change of a named member (docs/membership.md), so every
  // replica holds the same log, but nothing of it counts.
  Identity v_id = identity_for_seed(kViewer);
  auto key = space_key(*t.a.replica, t.space, v_id, 1);
  REQUIRE(key.has_value());
  Bytes forged = forge_content(v_id, t.space, {1, {}}, 1, body_setting(t.project, "project", "stage", "idea"), *key);
  const Hash a_before = hash_of(*t.a.replica, t.space);
  const auto a_vv = *t.a->version_vector(t.space);
  auto applied = t.a->apply(forged);
  INFO(outcome(applied));
  URBIS_REQUIRE_OK(applied);
  CHECK(hash_of(*t.a.replica, t.space) == a_before);
  CHECK(t.a->version_vector(t.space)->size() == a_vv.size() + 1);
  CHECK(t.a->get(t.space, t.project)->fields.at("stage").winner.value == "planning");
  // The same bytes by an editor's key would have been fine: the control.
  Identity b_id = identity_for_seed(kEditor);
  auto b_key = space_key(*t.a.replica, t.space, b_id, 1);
  REQUIRE(b_key.has_value());
  CHECK(*b_key == *key);
  auto ok =
      t.a->apply(forge_content(b_id, t.space, {1, {}}, 1, body_setting(t.project, "project", "stage", "idea"), *b_key));
  INFO(outcome(ok));
  REQUIRE(ok.is_ok());
  CHECK(*ok == ApplyOutcome::Applied);
  CHECK(t.a->get(t.space, t.project)->fields.at("stage").winner.value == "idea");
}

TEST_CASE("membership: a commenter's comments count, its other ops are kept without effect") {
  Team t;
  const Hash before = hash_of(*t.a.replica, t.space);

  // A comment: materializes everywhere.
  Transaction c1 = t.k->begin(t.space);
  EntityId comment = c1.create("comment");
  c1.set_text(comment, "body", "en", "Have you considered LED retrofits?");
  c1.set(comment, "on", t.project.hex());
  URBIS_REQUIRE_OK(t.k->commit(c1));

  // Edits to a project, a new project and a deletion: committed (and kept in
  // the log) but without effect on any replica.
  Transaction c2 = t.k->begin(t.space);
  c2.set_text(t.project, "title", "en", "Hijacked title");
  c2.set(t.project, "stage", "completed");
  c2.add(t.project, "tags", "spam");
  EntityId rogue = c2.create("project");
  c2.set(rogue, "name", "Rogue project");
  auto k2 = t.k->commit(c2);
  URBIS_REQUIRE_OK(k2);
  Transaction c3 = t.k->begin(t.space);
  c3.remove_entity(t.project);
  URBIS_REQUIRE_OK(t.k->commit(c3));

  // One change mixing both: the comment part counts, the project part not.
  Transaction c4 = t.k->begin(t.space);
  EntityId reply = c4.create("comment");
  c4.set(reply, "body", "A reply");
  c4.set(t.project, "budget", 1);
  URBIS_REQUIRE_OK(t.k->commit(c4));

  t.sync();
  for (Device* d : t.all()) {
    Replica& r = *d->replica;
    CAPTURE(d->key.hex());
    auto p = r.get(t.space, t.project);
    URBIS_REQUIRE_OK(p);
    CHECK(p->text("title", "en")->winner.value == "Smart street lights");
    CHECK(p->text("title", "en")->conflicts.empty());
    CHECK(p->fields.at("stage").winner.value == "planning");
    CHECK(p->fields.count("budget") == 0);
    CHECK(p->sets.count("tags") == 0);
    CHECK_FALSE(p->deleted);
    CHECK(r.get(t.space, rogue).code() == Code::NotFound);
    auto cm = r.get(t.space, comment);
    URBIS_REQUIRE_OK(cm);
    CHECK(cm->type == "comment");
    CHECK(cm->text("body", "en")->winner.value == "Have you considered LED retrofits?");
    CHECK(cm->fields.at("on").winner.value == t.project.hex());
    CHECK(cm->fields.at("on").winner.author == t.k.key);
    auto rp = r.get(t.space, reply);
    URBIS_REQUIRE_OK(rp);
    CHECK(rp->fields.at("body").winner.value == "A reply");
    // Every change is kept in the log.
    CHECK(head_seq(r, t.space, t.k.key) == 4);
    // The same state everywhere.
    CHECK(hash_of(r, t.space) == hash_of(*t.a.replica, t.space));
  }
  CHECK(hash_of(*t.a.replica, t.space) != before);  // the comments did count
  // The kept changes are served to others like any change.
  VersionVector without_k = *t.a->version_vector(t.space);
  without_k.erase(t.k.key);
  auto served = t.a->changes_since(t.space, without_k);
  URBIS_REQUIRE_OK(served);
  CHECK(served->size() == 4);
  CHECK(std::find(served->begin(), served->end(), k2->envelope) != served->end());

  // Discover does not find the commenter's project either.
  Query q;
  q.text = "Rogue";
  auto found = t.a->find(t.space, q);
  URBIS_REQUIRE_OK(found);
  CHECK(found->total == 0);
  q.text = "retrofits";
  found = t.a->find(t.space, q);
  URBIS_REQUIRE_OK(found);
  CHECK(found->total == 1);
}

TEST_CASE("membership: members() lists roles, the same on every replica") {
  Team t;
  std::vector<Member> expected = {{t.a.key, Role::Admin, 0, {}},
                                  {t.b.key, Role::Editor, 0, {}},
                                  {t.c.key, Role::Editor, 0, {}},
                                  {t.v.key, Role::Viewer, 0, {}},
                                  {t.k.key, Role::Commenter, 0, {}}};
  std::sort(expected.begin(), expected.end(), [](const Member& x, const Member& y) { return x.device < y.device; });
  auto same = [](const std::vector<Member>& x, const std::vector<Member>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](auto& m, auto& n) {
             return m.device == n.device && m.role == n.role;
           });
  };
  for (Device* d : t.all()) {
    auto m = d->replica->members(t.space);
    URBIS_REQUIRE_OK(m);
    CHECK(same(*m, expected));
    CHECK(d->replica->space(t.space)->my_role == role_in(*d->replica, t.space, d->key));
  }

  // Role changes show up everywhere once pulled.
  URBIS_REQUIRE_OK(t.a->set_role(t.space, t.v.key, Role::Commenter));
  URBIS_REQUIRE_OK(t.a->set_role(t.space, t.c.key, Role::Viewer));
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.k.key));
  t.sync();
  for (auto& m : expected) {
    if (m.device == t.v.key) m.role = Role::Commenter;
    if (m.device == t.c.key) m.role = Role::Viewer;
  }
  expected.erase(std::remove_if(expected.begin(), expected.end(), [&](const Member& m) { return m.device == t.k.key; }),
                 expected.end());
  for (Device* d : t.all()) {
    auto m = d->replica->members(t.space);
    URBIS_REQUIRE_OK(m);
    CHECK(same(*m, expected));
    // member_role() is the one-device form of members(), removed included.
    for (const Device* who : t.all()) {
      Role listed = Role::None;
      for (const Member& x : *m)
        if (x.device == who->key) listed = x.role;
      auto role = d->replica->member_role(t.space, who->key);
      URBIS_REQUIRE_OK(role);
      CHECK(*role == listed);
    }
  }
  CHECK(t.a->member_role(t.space, t.k.key).value() == Role::None);
  CHECK(t.a->member_role(SpaceId{}, t.a.key).code() == Code::UnknownSpace);
  CHECK(t.k->space(t.space)->my_role == Role::None);
  CHECK(t.c->space(t.space)->my_role == Role::Viewer);
  CHECK(t.v->space(t.space)->my_role == Role::Commenter);
  CHECK(t.a->members(SpaceId{}).code() == Code::UnknownSpace);
}

TEST_CASE("membership: only an admin can set roles") {
  Team t;
  Device outsider{kLate};
  for (Device* d : t.others()) {
    CAPTURE(d->key.hex());
    const auto vv = *d->replica->version_vector(t.space);
    CHECK(d->replica->set_role(t.space, outsider.key, Role::Viewer).code() == Code::Forbidden);
    CHECK(d->replica->set_role(t.space, d->key, Role::Admin).code() == Code::Forbidden);
    CHECK(d->replica->remove_member(t.space, t.a.key).code() == Code::Forbidden);
    CHECK(*d->replica->version_vector(t.space) == vv);
  }
  // A replica without an identity cannot either.
  auto env = make_deterministic_env(77);
  auto node = Replica::open(":memory:", std::nullopt, *env, {.materialize = false});
  URBIS_REQUIRE_OK(node);
  pull(**node, *t.a.replica, t.space);
  CHECK((*node)->set_role(t.space, outsider.key, Role::Viewer).code() == Code::Forbidden);
  // Bad arguments.
  CHECK(t.a->set_role(t.space, outsider.key, static_cast<Role>(9)).code() == Code::InvalidArgument);
  SpaceId nowhere;
  nowhere.bytes[0] = 1;
  CHECK(t.a->set_role(nowhere, outsider.key, Role::Viewer).code() == Code::UnknownSpace);
  // Setting the role a member already has writes nothing.
  const auto a_vv = *t.a->version_vector(t.space);
  URBIS_REQUIRE_OK(t.a->set_role(t.space, t.b.key, Role::Editor));
  CHECK(*t.a->version_vector(t.space) == a_vv);

  // Once made admin, B can change members, and the others accept it.
  URBIS_REQUIRE_OK(t.a->set_role(t.space, t.b.key, Role::Admin));
  pull(*t.b.replica, *t.a.replica, t.space);
  CHECK(t.b->space(t.space)->my_role == Role::Admin);
  URBIS_REQUIRE_OK(t.b->add_member(t.space, outsider.key, Role::Editor));
  t.sync();
  CHECK(role_in(*t.a.replica, t.space, outsider.key) == Role::Editor);
  CHECK(role_in(*t.v.replica, t.space, outsider.key) == Role::Editor);
  pull(*outsider.replica, *t.a.replica, t.space);
  CHECK(outsider->get(t.space, t.project).is_ok());
  CHECK(hash_of(*outsider.replica, t.space) == hash_of(*t.a.replica, t.space));
}

TEST_CASE("membership: a removed member cannot read what is written after, nor write") {
  Team t;
  // B writes before the removal (counts) and once more offline, not yet sent.
  Transaction early = t.b->begin(t.space);
  early.set(t.project, "budget", 70000);
  auto b_early = t.b->commit(early);
  URBIS_REQUIRE_OK(b_early);
  pull(*t.a.replica, *t.b.replica, t.space);
  Transaction late = t.b->begin(t.space);
  late.set(t.project, "stage", "sabotaged");
  auto b_late = t.b->commit(late);
  URBIS_REQUIRE_OK(b_late);

  const uint32_t epoch_before = epoch_of(*t.a.replica, t.space);
  CHECK(epoch_before == 1);
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
  CHECK(epoch_of(*t.a.replica, t.space) == epoch_before + 1);
  CHECK(role_in(*t.a.replica, t.space, t.b.key) == Role::None);

  // Written after the removal: a new entity and a new field on an old one.
  Transaction after = t.a->begin(t.space);
  EntityId secret = after.create("plan_item");
  after.set_text(secret, "title", "en", "Negotiation strategy");
  after.set_text(t.project, "summary", "en", "Written in epoch two");
  URBIS_REQUIRE_OK(t.a->commit(after));

  // The remaining editor C reads all of it.
  pull(*t.c.replica, *t.a.replica, t.space);
  CHECK(epoch_of(*t.c.replica, t.space) == 2);
  auto c_secret = t.c->get(t.space, secret);
  URBIS_REQUIRE_OK(c_secret);
  CHECK(c_secret->text("title", "en")->winner.value == "Negotiation strategy");
  CHECK(t.c->get(t.space, t.project)->text("summary", "en")->winner.value == "Written in epoch two");
  CHECK(t.c->get(t.space, t.project)->fields.at("budget").winner.value == 70000);

  // B pulls everything (it stores what it cannot read) but cannot read it.
  pull(*t.b.replica, *t.a.replica, t.space);
  CHECK(epoch_of(*t.b.replica, t.space) == 2);
  CHECK(t.b->space(t.space)->my_role == Role::None);
  CHECK(head_seq(*t.b.replica, t.space, t.a.key) == head_seq(*t.a.replica, t.space, t.a.key));
  CHECK(t.b->get(t.space, secret).code() == Code::NotFound);
  auto b_project = t.b->get(t.space, t.project);
  URBIS_REQUIRE_OK(b_project);
  CHECK(b_project->texts.count("summary") == 0);
  // Its own late change no longer counts there either: the removal's cutoff
  // revokes it on every replica, B's included.
  CHECK(b_project->fields.at("stage").winner.value == "planning");
  CHECK(b_project->fields.at("budget").winner.value == 70000);
  // Nor does it hold the new epoch's key.
  Identity b_id = identity_for_seed(kEditor);
  CHECK_FALSE(space_key(*t.a.replica, t.space, b_id, 2).has_value());
  CHECK(space_key(*t.a.replica, t.space, identity_for_seed(kEditor2), 2).has_value());

  // B, knowing it was removed, cannot commit.
  Transaction refused = t.b->begin(t.space);
  refused.set(t.project, "stage", "again");
  CHECK(t.b->commit(refused).code() == Code::Forbidden);

  // B's change written before it learnt of the removal counts for nothing on
  // A (kept: its seq is past the removal's cutoff), and forgeries at its
  // place, in either epoch, are a fork of it.
  const Hash a_hash = hash_of(*t.a.replica, t.space);
  auto r = t.a->apply(b_late->envelope);
  INFO(outcome(r));
  URBIS_REQUIRE_OK(r);
  const auto a_vv = *t.a->version_vector(t.space);
  auto key1 = space_key(*t.a.replica, t.space, b_id, 1);
  REQUIRE(key1.has_value());
  for (uint32_t epoch : {1u, 2u}) {
    CAPTURE(epoch);
    // At the place right after what A holds of B (its seq 1, `early`).
    Bytes forged =
        forge_content(b_id, t.space, {2, b_early->hash}, epoch, body_setting(t.project, "project", "stage", "forged"),
                      epoch == 1 ? *key1 : random_space_key());
    auto fr = t.a->apply(forged);
    INFO(outcome(fr));
    CHECK(fr.code() == Code::BrokenChain);
  }
  CHECK(hash_of(*t.a.replica, t.space) == a_hash);
  CHECK(*t.a->version_vector(t.space) == a_vv);
  CHECK(t.a->get(t.space, t.project)->fields.at("stage").winner.value == "planning");
  CHECK(t.a->get(t.space, t.project)->fields.at("budget").winner.value == 70000);

  // A member added after the removal reads both epochs.
  Device late_member{kLate};
  URBIS_REQUIRE_OK(t.a->add_member(t.space, late_member.key, Role::Viewer));
  pull(*late_member.replica, *t.a.replica, t.space);
  CHECK(late_member->get(t.space, secret).is_ok());
  auto lp = late_member->get(t.space, t.project);
  URBIS_REQUIRE_OK(lp);
  CHECK(lp->fields.at("budget").winner.value == 70000);
  CHECK(lp->text("summary", "en")->winner.value == "Written in epoch two");
  pull(*t.c.replica, *t.a.replica, t.space);
  CHECK(hash_of(*late_member.replica, t.space) == hash_of(*t.a.replica, t.space));
  CHECK(hash_of(*t.c.replica, t.space) == hash_of(*t.a.replica, t.space));
}

TEST_CASE("membership: a removed writer's late change that a peer applied first is revoked") {
  Team t;
  Transaction late = t.b->begin(t.space);
  late.set(t.project, "stage", "sabotaged");
  auto b_late = t.b->commit(late);
  URBIS_REQUIRE_OK(b_late);
  // C receives it while B is still an editor as far as C knows.
  auto r = t.c->apply(b_late->envelope);
  INFO(outcome(r));
  REQUIRE(r.is_ok());
  REQUIRE(*r == ApplyOutcome::Applied);
  CHECK(t.c->get(t.space, t.project)->fields.at("stage").winner.value == "sabotaged");

  // A, who never saw it, removes B.
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
  pull(*t.c.replica, *t.a.replica, t.space);
  CHECK(t.c->get(t.space, t.project)->fields.at("stage").winner.value == "planning");
  CHECK(hash_of(*t.c.replica, t.space) == hash_of(*t.a.replica, t.space));
  // A takes it too, from C: kept, without effect, like on C.
  const Hash a_before_late = hash_of(*t.a.replica, t.space);
  CHECK(t.a->apply(b_late->envelope).value() == ApplyOutcome::Applied);
  CHECK(hash_of(*t.a.replica, t.space) == a_before_late);
  // A replica that gets C's log in C's order reaches the same state.
  Device d{kLate};
  URBIS_REQUIRE_OK(t.a->add_member(t.space, d.key, Role::Viewer));
  pull(*t.c.replica, *t.a.replica, t.space);
  pull(*d.replica, *t.c.replica, t.space);
  CHECK(d->get(t.space, t.project)->fields.at("stage").winner.value == "planning");
  CHECK(hash_of(*d.replica, t.space) == hash_of(*t.a.replica, t.space));
}

TEST_CASE("membership: a downgraded editor keeps reading but can no longer write") {
  Team t;
  Transaction offline = t.b->begin(t.space);
  offline.set(t.project, "stage", "offline edit");
  auto b_offline = t.b->commit(offline);
  URBIS_REQUIRE_OK(b_offline);

  URBIS_REQUIRE_OK(t.a->set_role(t.space, t.b.key, Role::Viewer));
  CHECK(epoch_of(*t.a.replica, t.space) == 2);
  Transaction tx = t.a->begin(t.space);
  EntityId news = tx.create("event");
  tx.set(news, "name", "Kick-off");
  URBIS_REQUIRE_OK(t.a->commit(tx));

  // Made after what A had seen of B: kept, without effect.
  const Hash without = hash_of(*t.a.replica, t.space);
  URBIS_REQUIRE_OK(t.a->apply(b_offline->envelope));
  CHECK(hash_of(*t.a.replica, t.space) == without);
  pull(*t.b.replica, *t.a.replica, t.space);
  CHECK(t.b->space(t.space)->my_role == Role::Viewer);
  auto e = t.b->get(t.space, news);
  URBIS_REQUIRE_OK(e);  // it got the new epoch's key
  CHECK(e->fields.at("name").winner.value == "Kick-off");
  Transaction again = t.b->begin(t.space);
  again.set(t.project, "stage", "again");
  CHECK(t.b->commit(again).code() == Code::Forbidden);
}

}  // namespace
}  // namespace urbis
