// Scoped roles (docs/membership.md, rule 7 and the content rule): a role
// limited to some cities counts only on entities of those cities, on every
// replica, in any order; the writer is told before anything is signed.
#include <doctest/doctest.h>

#include "forge_util.h"
#include "test_util.h"

namespace urbis::testing {
namespace {

constexpr uint64_t kA = 901, kB = 902, kS = 903, kLate = 904, kM = 905, kScopedAdmin = 906;

std::string hex_ref(const EntityId& id) { return id.hex(); }

// A admin; B an unscoped editor; S an editor of city X only. Cities X and Y;
// project PX of X (made by A), PY of Y.
struct Cities {
  Device a{kA}, b{kB}, s{kS};
  SpaceId space;
  EntityId x, y, px, py;
  Cities() {
    auto sp = a->create_space("Network");
    URBIS_REQUIRE_OK(sp);
    space = *sp;
    const TwoCities c = write_two_cities(*a.replica, space);
    x = c.x, y = c.y, px = c.px, py = c.py;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    URBIS_REQUIRE_OK(a->set_role(space, s.key, Role::Editor, {x}));
    pull(*b.replica, *a.replica, space);
    pull(*s.replica, *a.replica, space);
  }
  std::string stage(Replica& r, const EntityId& id) {
    auto e = r.get(space, id);
    URBIS_REQUIRE_OK(e);
    return e->fields.at("stage").winner.value.get<std::string>();
  }
};

}  // namespace

TEST_CASE("scope: a scoped editor writes its cities' entities, is told no for others, and forgeries count nowhere") {
  Cities t;
  auto members = t.a->members(t.space);
  URBIS_REQUIRE_OK(members);
  bool listed = false;
  for (const auto& m : *members)
    if (m.device == t.s.key) {
      listed = true;
      CHECK(m.role == Role::Editor);
      REQUIRE(m.scope.size() == 1);
      CHECK(m.scope.front() == t.x);
    }
  CHECK(listed);

  // Its own city: counts everywhere.
  Transaction ok = t.s->begin(t.space);
  ok.set(t.px, "stage", "planning");
  URBIS_REQUIRE_OK(t.s->commit(ok));
  // A new project of its city: counts too.
  Transaction create = t.s->begin(t.space);
  EntityId mine = create.create("project");
  create.set(mine, "city", hex_ref(t.x));
  create.set(mine, "stage", "concept");
  URBIS_REQUIRE_OK(t.s->commit(create));
  // Another city's project: refused at the writer, nothing signed.
  const auto vv = *t.s->version_vector(t.space);
  Transaction other = t.s->begin(t.space);
  other.set(t.py, "stage", "sabotaged");
  auto refused = t.s->commit(other);
  CHECK(refused.code() == Code::Forbidden);
  CHECK(refused.status().message().find("another city") != std::string::npos);
  Transaction elsewhere = t.s->begin(t.space);
  EntityId stray = elsewhere.create("project");
  elsewhere.set(stray, "city", hex_ref(t.y));
  CHECK(t.s->commit(elsewhere).code() == Code::Forbidden);
  CHECK(*t.s->version_vector(t.space) == vv);
  // A comment needs no city.
  Transaction comment = t.s->begin(t.space);
  EntityId c = comment.create("comment");
  comment.set(c, "body", "see the other city's plan");
  URBIS_REQUIRE_OK(t.s->commit(comment));

  pull(*t.a.replica, *t.s.replica, t.space);
  CHECK(t.stage(*t.a.replica, t.px) == "planning");
  CHECK(t.stage(*t.a.replica, mine) == "concept");
  URBIS_REQUIRE_OK(t.a->get(t.space, c));

  // The same edit of PY forged by hand with S's key: kept, without effect.
  Identity s_id = identity_for_seed(kS);
  auto key = space_key(*t.a.replica, t.space, s_id, 1);
  REQUIRE(key.has_value());
  const uint64_t head = head_seq(*t.a.replica, t.space, t.s.key);
  auto log = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(log);
  Hash prev;
  for (const auto& raw : *log)
    if (parse_header(parse_envelope(raw)).author() == id_str(t.s.key)) prev = envelope_hash(raw);
  const Hash before = hash_of(*t.a.replica, t.space);
  Bytes forged =
      forge_content(s_id, t.space, {head + 1, prev}, 1, body_setting(t.py, "project", "stage", "sabotaged"), *key);
  URBIS_REQUIRE_OK(t.a->apply(forged));
  CHECK(hash_of(*t.a.replica, t.space) == before);
  CHECK(t.stage(*t.a.replica, t.py) == "idea");
  // B and a late joiner judge it the same way.
  pull(*t.b.replica, *t.a.replica, t.space);
  CHECK(hash_of(*t.b.replica, t.space) == hash_of(*t.a.replica, t.space));
}

TEST_CASE("scope: an edit that arrives before its entity's creation is judged when the home arrives") {
  Cities t;
  // B makes a project of X; S edits it; a late replica gets S's edit first.
  Transaction tx = t.b->begin(t.space);
  EntityId bx = tx.create("project");
  tx.set(bx, "city", hex_ref(t.x));
  tx.set(bx, "stage", "idea");
  URBIS_REQUIRE_OK(t.b->commit(tx));
  pull(*t.s.replica, *t.b.replica, t.space);
  Transaction edit = t.s->begin(t.space);
  edit.set(bx, "stage", "planning");
  URBIS_REQUIRE_OK(t.s->commit(edit));
  pull(*t.a.replica, *t.b.replica, t.space);
  pull(*t.a.replica, *t.s.replica, t.space);
  CHECK(t.stage(*t.a.replica, bx) == "planning");

  Device late{kLate};
  URBIS_REQUIRE_OK(t.a->add_member(t.space, late.key, Role::Viewer));
  // Everything but B's changes first (A's log, then S's), then B's.
  auto all = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(all);
  std::vector<Bytes> later;
  for (const auto& raw : *all) {
    if (parse_header(parse_envelope(raw)).author() == id_str(t.b.key)) {
      later.push_back(raw);
      continue;
    }
    auto r = late->apply(raw);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  }
  for (const auto& raw : later) URBIS_REQUIRE_OK(late->apply(raw));
  CHECK(t.stage(*late.replica, bx) == "planning");
  CHECK(hash_of(*late.replica, t.space) == hash_of(*t.a.replica, t.space));
}

TEST_CASE("scope: a scoped admin gives roles within its cities only") {
  Cities t;
  Device sa{kScopedAdmin}, m{kM};
  URBIS_REQUIRE_OK(t.a->set_role(t.space, sa.key, Role::Admin, {t.x}));
  pull(*sa.replica, *t.a.replica, t.space);
  // Within its city: fine.
  URBIS_REQUIRE_OK(sa->set_role(t.space, m.key, Role::Editor, {t.x}));
  // The whole space, another city, or an unscoped member: Forbidden.
  CHECK(sa->set_role(t.space, m.key, Role::Editor).code() == Code::Forbidden);
  CHECK(sa->set_role(t.space, m.key, Role::Editor, {t.y}).code() == Code::Forbidden);
  CHECK(sa->set_role(t.space, t.b.key, Role::None).code() == Code::Forbidden);
  pull(*t.a.replica, *sa.replica, t.space);
  CHECK(t.a->member_role(t.space, m.key).value() == Role::Editor);
  CHECK(t.a->member_role(t.space, t.b.key).value() == Role::Editor);
}

}  // namespace urbis::testing
