// What a batch keeps of the entity row its last claim read
// (Replica::Impl::ApplyRun::EntityClaim, materialize.cc claim_entity): it is
// always the row of the entity it names. A batch and the same changes one by
// one end in one state, whatever ids a writer picks (the all-zero id is one
// any writer may send), and a scoped writer's ops never reach an entity
// outside its scope through it. Found by an attacker's review of the cache's
// first version, which kept a row read for one entity under the zero id.

#include <string>

#include "forge_util.h"
#include "test_util.h"

namespace urbis::testing {
namespace {

constexpr uint64_t kA = 951, kB = 952, kS = 953, kR1 = 954, kR2 = 955;

// A admin; B unscoped editor; S editor of city X only; R1 and R2 viewers
// (R1 takes batches, R2 one change at a time). Cities X and Y; projects PX
// (of X) and PY (of Y), made by A.
struct World {
  Device a{kA}, b{kB}, s{kS}, r1{kR1}, r2{kR2};
  Identity b_id = identity_for_seed(kB), s_id = identity_for_seed(kS);
  SpaceId space;
  EntityId x, y, px, py, zero{};  // zero: the all-zero id
  SpaceKey key{};

  World() {
    auto made = a->create_space("Net");
    URBIS_REQUIRE_OK(made);
    space = *made;
    const TwoCities c = write_two_cities(*a.replica, space);
    x = c.x, y = c.y, px = c.px, py = c.py;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    URBIS_REQUIRE_OK(a->set_role(space, s.key, Role::Editor, {x}));
    URBIS_REQUIRE_OK(a->add_member(space, r1.key, Role::Viewer));
    URBIS_REQUIRE_OK(a->add_member(space, r2.key, Role::Viewer));
    pull(*r1.replica, *a.replica, space);
    pull(*r2.replica, *a.replica, space);
    auto k = space_key(*a.replica, space, b_id, 1);
    REQUIRE(k.has_value());
    key = *k;
  }

  std::string stage(Replica& r, const EntityId& id) {
    auto e = r.get(space, id);
    URBIS_REQUIRE_OK(e);
    REQUIRE(e->fields.count("stage") == 1);
    return e->fields.at("stage").winner.value.get<std::string>();
  }

  // R1 takes `changes` as one batch, R2 one by one; both end alike.
  void give_both(const std::vector<Bytes>& changes) {
    for (auto& r : r1->apply_batch(changes)) URBIS_REQUIRE_OK(r);
    for (const auto& c : changes) URBIS_REQUIRE_OK(r2->apply(c));
    CHECK(hash_of(*r1.replica, space) == hash_of(*r2.replica, space));
  }
};

const uint64_t kHlc = (kTestStartMs + 5 * 60 * 1000) << 16;

TEST_CASE("apply run: an edit of one entity, then a change creating the all-zero id, in one batch") {
  World t;
  // B: c1 edits PX (a later claim, not better: the row is read and kept),
  // c2 creates the all-zero id.
  const Bytes c1 =
      forge_content(t.b_id, t.space, {1, {}}, 1, body_setting(t.px, "project", "stage", "b-edit"), t.key, kHlc);
  const Bytes c2 = forge_content(t.b_id, t.space, {2, envelope_hash(c1)}, 1,
                                 body_setting(t.zero, "project", "stage", "zero"), t.key, kHlc + 1);
  t.give_both({c1, c2});
  for (Device* d : {&t.r1, &t.r2}) {
    CAPTURE(d == &t.r1 ? "batch" : "one by one");
    CHECK(t.stage(*d->replica, t.px) == "b-edit");
    CHECK(t.stage(*d->replica, t.zero) == "zero");
  }
}

TEST_CASE("apply run: one change with two groups, an existing entity then the all-zero id") {
  World t;
  pb::Body body = body_setting(t.px, "project", "stage", "b-edit");
  body.MergeFrom(body_setting(t.zero, "project", "stage", "zero"));  // appends the second group
  REQUIRE(body.entities_size() == 2);
  t.give_both({forge_content(t.b_id, t.space, {1, {}}, 1, body, t.key, kHlc)});
  for (Device* d : {&t.r1, &t.r2}) {
    CAPTURE(d == &t.r1 ? "batch" : "one by one");
    CHECK(t.stage(*d->replica, t.px) == "b-edit");
    CHECK(t.stage(*d->replica, t.zero) == "zero");
  }
}

TEST_CASE("apply run: a scoped writer's new entity after another city's project in the batch stays its own") {
  World t;
  // B (unscoped) edits PY of city Y; then S (scope X) creates the all-zero
  // id with home X and a stage: it may, in its own city, and only there.
  const Bytes b_edit =
      forge_content(t.b_id, t.space, {1, {}}, 1, body_setting(t.py, "project", "stage", "b-edit"), t.key, kHlc);
  pb::Body body = body_setting(t.zero, "project", "city", t.x.hex());
  auto* op = body.mutable_entities(0)->add_ops();
  op->set_kind(pb::OP_SET);
  op->set_field("stage");
  op->set_value("\"s-own\"");
  const Bytes s_change = forge_content(t.s_id, t.space, {1, {}}, 1, body, t.key, kHlc + 1);
  t.give_both({b_edit, s_change});
  for (Device* d : {&t.r1, &t.r2}) {
    CAPTURE(d == &t.r1 ? "batch" : "one by one");
    CHECK(t.stage(*d->replica, t.py) == "b-edit");
    CHECK(t.stage(*d->replica, t.zero) == "s-own");
  }
}

}  // namespace
}  // namespace urbis::testing
