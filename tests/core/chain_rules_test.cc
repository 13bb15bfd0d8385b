// The rules of the apply path that keep one author, or one admin, from
// stopping or filling other people's replicas (issue 10, findings 4-8):
// the clock bound on HLCs, the held-change allowances and their cleaning,
// bodies members cannot use, the per-space bound on author rows, and the
// membership body counted and role-checked before it is parsed. Each case
// forges the hostile changes by hand (forge_util.h) and applies them to real
// replicas: a member's, and a key-less node's (materialize = false).

#include <string>

#include "forge_util.h"
#include "store_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

constexpr uint64_t kYear2046Ms = 2'398'377'600'000ull;  // 2046-01-01T00:00:00Z
constexpr uint64_t kMiB = 1u << 20;

// What must not change when a change is refused.
struct Snapshot {
  Hash hash;
  VersionVector vv;
  size_t held = 0;
  size_t log = 0;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(Replica& r, const SpaceId& space) {
  Snapshot s;
  s.hash = hash_of(r, space);
  s.vv = *r.version_vector(space);
  s.held = *r.held_count(space);
  s.log = r.changes_since(space, {})->size();
  return s;
}

void expect_refused(Replica& r, const SpaceId& space, ByteView raw, Code code, const std::string& what) {
  INFO(what);
  const Snapshot before = snapshot(r, space);
  auto res = r.apply(raw);
  INFO("got: " << outcome_name(res));
  CHECK(code_name(res.code()) == code_name(code));
  CHECK(snapshot(r, space) == before);
}

void expect_outcome(Replica& r, ByteView raw, ApplyOutcome want, const std::string& what) {
  INFO(what);
  auto res = r.apply(raw);
  INFO("got: " << outcome_name(res));
  REQUIRE(res.is_ok());
  CHECK(*res == want);
}

pb::Body new_project(const std::string& field, const nlohmann::json& value) {
  EntityId e;
  randombytes_buf(e.bytes.data(), e.bytes.size());
  return body_setting(e, "project", field, value);
}

// The hash of `author`'s newest change in `r`'s log of `space`.
Hash last_hash(Replica& r, const SpaceId& space, const DeviceKey& author) {
  auto log = r.changes_since(space, {});
  REQUIRE(log.is_ok());
  std::optional<Hash> out;
  for (const auto& raw : *log)
    if (parse_header(parse_envelope(raw)).author() == id_str(author)) out = envelope_hash(raw);
  REQUIRE(out.has_value());
  return *out;
}

DeviceKey random_device() {
  DeviceKey k;
  randombytes_buf(k.bytes.data(), k.bytes.size());
  return k;
}

// A membership change adding `n` random keys as viewers.
pb::Membership adding_strangers(size_t n) {
  pb::Membership m;
  for (size_t i = 0; i < n; ++i) {
    auto* u = m.add_updates();
    u->set_device(id_str(random_device()));
    u->set_role(pb::ROLE_VIEWER);
  }
  return m;
}

// An admin `a`, editors `b` (and `e`), in one space; the space key of epoch 1.
struct Team {
  Device a, b, e;
  Identity a_id, b_id, e_id;
  SpaceId space;
  SpaceKey key{};
  Team(uint64_t seed, const std::string& a_location = ":memory:", ReplicaOptions a_options = {})
      : a(seed, a_location, a_options),
        b(seed + 1),
        e(seed + 2),
        a_id(identity_for_seed(seed)),
        b_id(identity_for_seed(seed + 1)),
        e_id(identity_for_seed(seed + 2)) {
    auto s = a->create_space("Chain rules");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    URBIS_REQUIRE_OK(a->add_member(space, e.key, Role::Editor));
    pull(*b.replica, *a.replica, space);
    auto k = space_key(*a.replica, space, b_id, 1);
    REQUIRE(k.has_value());
    key = *k;
  }
};

}  // namespace

// ---------------------------------------------------------------- finding 6: the clock

TEST_CASE("chain: a change dated 2046 is refused ClockAhead by a member and by a node, and not observed") {
  Team t(301);
  NodeReplica node(311);
  pull(*node.replica, *t.a.replica, t.space);
  Device joiner(312);
  pull(*joiner.replica, *t.a.replica, t.space);

  // The editor's seq 1, dated 2046, correctly signed and encrypted.
  Bytes future = forge_content(t.b_id, t.space, {1, {}}, 1, new_project("stage", "idea"), t.key, kYear2046Ms << 16);
  for (Replica* r : {t.a.replica.get(), node.replica.get(), joiner.replica.get()})
    expect_refused(*r, t.space, future, Code::ClockAhead, "dated 2046");
  {
    auto r = t.a->apply(future);
    CHECK(r.status().message().find("2046-01-01T00:00:00Z") != std::string::npos);
  }
  // An HLC from 2^63 on is Malformed, whatever the clock.
  Bytes negative = forge_content(t.b_id, t.space, {1, {}}, 1, new_project("stage", "idea"), t.key, uint64_t{1} << 63);
  for (Replica* r : {t.a.replica.get(), node.replica.get()})
    expect_refused(*r, t.space, negative, Code::Malformed, "hlc 2^63");

  // Not observed: the joiner's redeem of a fresh invite is dated by its own
  // clock (before the rule it carried 2046 and was refused Expired), and the
  // admin's next change too.
  const Identity witness = identity_for_seed(314);
  auto invite = t.a->create_invite(t.space, Role::Viewer, 3600, {witness.device()});
  URBIS_REQUIRE_OK(invite);
  pull(*joiner.replica, *t.a.replica, t.space);
  auto redeem = joiner->redeem_invite(invite->secret);
  URBIS_REQUIRE_OK(redeem);
  // Receipted by the witness (here the admin's replica plays the node).
  auto receipted = t.a->witness_redeem(redeem->envelope, witness.device(), [&](ByteView m) { return witness.sign(m); });
  URBIS_REQUIRE_OK(receipted);
  REQUIRE(receipted->has_value());
  const Bytes stored_redeem = **receipted;
  expect_outcome(*t.a.replica, stored_redeem, ApplyOutcome::Applied, "redeem after the refusal");
  expect_outcome(*node.replica, invite->change.envelope, ApplyOutcome::Applied, "invite on the node");
  expect_outcome(*node.replica, stored_redeem, ApplyOutcome::Applied, "redeem on the node");
  Transaction tx = t.a->begin(t.space);
  const EntityId newest = tx.create("project");
  tx.set(newest, "stage", "idea");
  auto own = t.a->commit(tx);
  URBIS_REQUIRE_OK(own);
  CHECK((parse_header(parse_envelope(own->envelope)).hlc() >> 16) < kTestStartMs + 3'600'000);

  // The author's later change (dated now) waits, held, behind the refused
  // one, within the author's held allowance; a receiver whose clock has
  // reached 2046 takes the same bytes, and the held successor with them.
  Bytes later = forge_content(t.b_id, t.space, {2, envelope_hash(future)}, 1, new_project("stage", "plan"), t.key);
  expect_outcome(*t.a.replica, later, ApplyOutcome::Held, "successor of the refused change");
  expect_outcome(*node.replica, later, ApplyOutcome::Held, "successor, on the node");
  CHECK(*t.a->held_count(t.space) == 1);
  NodeReplica in_2046(313, {}, kYear2046Ms);
  pull(*in_2046.replica, *t.a.replica, t.space);
  expect_outcome(*in_2046.replica, later, ApplyOutcome::Held, "successor, in 2046");
  expect_outcome(*in_2046.replica, future, ApplyOutcome::Applied, "the same change, in 2046");
  CHECK(head_seq(*in_2046.replica, t.space, t.b.key) == 2);
  CHECK(*in_2046->held_count(t.space) == 0);

  // What is stored everywhere else stays within the window of its clock.
  for (Replica* r : {t.a.replica.get(), node.replica.get(), joiner.replica.get()}) {
    auto log = r->changes_since(t.space, {});
    URBIS_REQUIRE_OK(log);
    uint64_t newest = 0;
    for (const auto& raw : *log) newest = std::max(newest, parse_header(parse_envelope(raw)).hlc() >> 16);
    CHECK(newest < kTestStartMs + 3'600'000);
  }
  // Newest first is the order of writing: the admin's last entity, not one
  // from the future.
  Query q;
  q.sort = Query::Sort::Updated;
  auto found = t.a->find(t.space, q);
  URBIS_REQUIRE_OK(found);
  REQUIRE(!found->hits.empty());
  CHECK(found->hits.front().id == newest);
}

// ---------------------------------------------------------------- finding 7: held changes

TEST_CASE("chain: an editor's parked megabytes go when it is removed, also after reopening") {
  const std::string path = temp_db("chain-held.db");
  const Hash before_removal = [&] {
    Team t(321, path);
    const std::string big(kMiB, 'x');
    // Eight changes of 1 MiB after a gap (seq 1 never sent), and one of the
    // other editor's.
    for (uint64_t seq = 2; seq <= 9; ++seq) {
      Hash prev;
      randombytes_buf(prev.bytes.data(), prev.bytes.size());
      expect_outcome(*t.a.replica, forge_content(t.b_id, t.space, {seq, prev}, 1, new_project("notes", big), t.key),
                     ApplyOutcome::Held, "parked");
    }
    Hash prev;
    randombytes_buf(prev.bytes.data(), prev.bytes.size());
    Bytes e_held = forge_content(t.e_id, t.space, {2, prev}, 1, new_project("notes", "kept"), t.key);
    expect_outcome(*t.a.replica, e_held, ApplyOutcome::Held, "the other editor's");
    CHECK(*t.a->held_count(t.space) == 9);
    CHECK(*t.a->held_bytes(t.space, t.b.key) > 8 * kMiB);
    CHECK(*t.a->held_bytes(t.space) == *t.a->held_bytes(t.space, t.b.key) + e_held.size());

    URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
    CHECK(*t.a->held_count(t.space) == 1);
    CHECK(*t.a->held_bytes(t.space, t.b.key) == 0);
    CHECK(*t.a->held_bytes(t.space) == e_held.size());
    // Sent again, they are judged under the new role: refused.
    Hash p2;
    randombytes_buf(p2.bytes.data(), p2.bytes.size());
    expect_refused(*t.a.replica, t.space, forge_content(t.b_id, t.space, {2, p2}, 1, new_project("notes", big), t.key),
                   Code::NotAMember, "parked again after the removal");
    return hash_of(*t.a.replica, t.space);
  }();
  CHECK(query_int(path, "SELECT count(*) FROM held") == 1);
  CHECK(query_int(path, "SELECT held_bytes FROM held_usage WHERE author=x''") ==
        query_int(path, "SELECT sum(length(envelope)) FROM held"));
  Device reopened(321, path);
  auto spaces = reopened->spaces();
  URBIS_REQUIRE_OK(spaces);
  REQUIRE(spaces->size() == 1);
  CHECK(*reopened->held_count(spaces->front().id) == 1);
  CHECK(hash_of(*reopened.replica, spaces->front().id) == before_removal);
}

TEST_CASE("chain: an author over its held allowance is refused TooLarge while others still park theirs") {
  ReplicaOptions small;
  small.max_held_bytes_per_author = 3 * kMiB;
  small.max_held_bytes_per_space = 3 * kMiB + kMiB / 2;
  Team t(331, ":memory:", small);
  NodeReplica node(332, small);
  pull(*node.replica, *t.a.replica, t.space);
  const std::string big(kMiB, 'y');
  // The editor's genuine chain 1..4; 2..4 arrive first.
  std::vector<Bytes> chain;
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    ChainPos pos{seq, seq == 1 ? std::nullopt : std::optional<Hash>(envelope_hash(chain.back()))};
    chain.push_back(forge_content(t.b_id, t.space, pos, 1, new_project("notes", big), t.key));
  }
  for (Replica* r : {t.a.replica.get(), node.replica.get()}) {
    expect_outcome(*r, chain[1], ApplyOutcome::Held, "2 of 4");
    expect_outcome(*r, chain[2], ApplyOutcome::Held, "3 of 4");
    expect_refused(*r, t.space, chain[3], Code::TooLarge, "4 of 4: over the author's 3 MiB");
    // Another editor still parks its change (the space's total allows it)...
    Hash prev;
    randombytes_buf(prev.bytes.data(), prev.bytes.size());
    expect_outcome(*r, forge_content(t.e_id, t.space, {2, prev}, 1, new_project("notes", big), t.key),
                   ApplyOutcome::Held, "another editor's");
    // ... up to the space's total.
    randombytes_buf(prev.bytes.data(), prev.bytes.size());
    expect_refused(*r, t.space, forge_content(t.e_id, t.space, {3, prev}, 1, new_project("notes", big), t.key),
                   Code::TooLarge, "over the space's 3.5 MiB");
    // The gap fills: the held ones apply, the refused one is sent again.
    expect_outcome(*r, chain[0], ApplyOutcome::Applied, "1 of 4");
    CHECK(head_seq(*r, t.space, t.b.key) == 3);
    CHECK(*r->held_bytes(t.space, t.b.key) == 0);
    expect_outcome(*r, chain[3], ApplyOutcome::Applied, "4 of 4, again");
    CHECK(*r->held_count(t.space) == 1);
  }
}

TEST_CASE("chain: held changes that can never apply are dropped by the version 4 migration") {
  const std::string path = temp_db("chain-held-v3.db");
  {
    Team t(341, path);
    Transaction tx = t.b->begin(t.space);
    tx.set(tx.create("project"), "stage", "idea");
    URBIS_REQUIRE_OK(t.b->commit(tx));
    pull(*t.a.replica, *t.b.replica, t.space);
    Hash prev;
    randombytes_buf(prev.bytes.data(), prev.bytes.size());
    expect_outcome(*t.a.replica, forge_content(t.e_id, t.space, {3, prev}, 1, new_project("n", 1), t.key),
                   ApplyOutcome::Held, "a live held change");
  }
  // A store of version 3 with what it used to keep: a held change at the
  // author's head, and one of a key that is no member.
  exec_sql(path, kUndoV5);
  exec_sql(path,
           "INSERT INTO held SELECT a.space, a.pk, a.head_seq, zeroblob(1000) FROM authors a WHERE a.head_seq > 0;"
           "INSERT INTO held SELECT space, randomblob(32), 5, zeroblob(1000) FROM authors LIMIT 1;"
           "DROP TABLE held_usage; ALTER TABLE spaces DROP COLUMN author_rows;"
           "ALTER TABLE authors DROP COLUMN invite_witnesses;"
           "ALTER TABLE entities DROP COLUMN claim_rank; ALTER TABLE entities DROP COLUMN claim_hlc;"
           "ALTER TABLE entities DROP COLUMN claim_op;"
           "DROP TABLE superseded; CREATE TABLE superseded(op INTEGER PRIMARY KEY);"
           "ALTER TABLE authors DROP COLUMN cutoff_hash;"
           "UPDATE meta SET value=3 WHERE key='schema_version';");
  REQUIRE(query_int(path, "SELECT count(*) FROM held") > 2);

  Device reopened(341, path);
  CHECK(query_int(path, "SELECT count(*) FROM held") == 1);
  CHECK(query_int(path, "SELECT held_rows FROM held_usage WHERE author=x''") == 1);
  CHECK(query_int(path, "SELECT author_rows FROM spaces") == 3);
}

// ---------------------------------------------------------------- finding 8: unusable bodies

TEST_CASE("chain: a body members cannot use does not stop its author's chain on members or the node") {
  Team t(351);
  NodeReplica node(352);
  pull(*node.replica, *t.a.replica, t.space);
  Device viewer(353);
  URBIS_REQUIRE_OK(t.a->add_member(t.space, viewer.key, Role::Viewer));
  pull(*node.replica, *t.a.replica, t.space);

  // Seq 1 sealed with a key no member holds; seq 2 opens but is no Body;
  // seq 3 is good.
  Bytes wrong_key = forge_content(t.b_id, t.space, {1, {}}, 1, new_project("stage", "idea"), random_space_key());
  Bytes junk;
  {
    pb::Header h = make_header(t.space, t.b.key, {2, envelope_hash(wrong_key)}, 1, pb::CHANGE_CONTENT);
    uint8_t nonce[24];
    randombytes_buf(nonce, sizeof nonce);
    h.set_nonce(nonce, sizeof nonce);
    const std::string header = h.SerializeAsString();
    const uint8_t bytes[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};  // a field longer than the body
    Bytes c = aead_encrypt({bytes, sizeof bytes}, view_of(header), {nonce, sizeof nonce}, t.key);
    junk = sign_envelope(t.b_id, header, std::string(c.begin(), c.end()));
  }
  const EntityId good_entity = [] {
    EntityId e;
    randombytes_buf(e.bytes.data(), e.bytes.size());
    return e;
  }();
  Bytes good = forge_content(t.b_id, t.space, {3, envelope_hash(junk)}, 1,
                             body_setting(good_entity, "project", "stage", "done"), t.key);
  const Hash before = hash_of(*t.a.replica, t.space);
  for (const Bytes* c : {&wrong_key, &junk}) {
    expect_outcome(*t.a.replica, *c, ApplyOutcome::Applied, "unusable, on a member");
    expect_outcome(*node.replica, *c, ApplyOutcome::Applied, "unusable, on the node");
  }
  CHECK(hash_of(*t.a.replica, t.space) == before);
  expect_outcome(*t.a.replica, good, ApplyOutcome::Applied, "the next change, on a member");
  expect_outcome(*node.replica, good, ApplyOutcome::Applied, "the next change, on the node");
  CHECK(t.a->get(t.space, good_entity)->fields.at("stage").winner.value == "done");
  // Another member fetches the chain from the node: the same state.
  pull(*viewer.replica, *node.replica, t.space);
  CHECK(head_seq(*viewer.replica, t.space, t.b.key) == 3);
  CHECK(hash_of(*viewer.replica, t.space) == hash_of(*t.a.replica, t.space));
  // A rebuild (a key granted later, here a new epoch) judges them the same.
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.e.key));
  pull(*viewer.replica, *t.a.replica, t.space);
  CHECK(hash_of(*viewer.replica, t.space) == hash_of(*t.a.replica, t.space));
  CHECK(viewer->get(t.space, good_entity)->fields.at("stage").winner.value == "done");
}

// ---------------------------------------------------------------- findings 4, 5: author rows, membership bodies

TEST_CASE("chain: author rows are bounded per space and charged to the admin who names them") {
  ReplicaOptions opts;
  opts.max_authors_per_space = 40;
  opts.max_member_updates = 16;
  NodeReplica node(361, opts);
  Device a1(362), a2(363), v(364);
  Identity a1_id = identity_for_seed(362);
  auto s1 = a1->create_space("Full");
  auto s2 = a2->create_space("Other");
  URBIS_REQUIRE_OK(s1);
  URBIS_REQUIRE_OK(s2);
  URBIS_REQUIRE_OK(a1->add_member(*s1, v.key, Role::Viewer));
  pull(*node.replica, *a1.replica, *s1);
  pull(*node.replica, *a2.replica, *s2);

  // The admin's forged changes, each naming 16 random keys: 2 + 16 + 16 = 34
  // rows fit, the next 16 do not.
  uint64_t seq = head_seq(*node.replica, *s1, a1.key);
  Hash prev = last_hash(*node.replica, *s1, a1.key);
  for (int i = 0; i < 2; ++i) {
    Bytes c = forge_membership(a1_id, *s1, {++seq, prev}, 1, adding_strangers(16));
    expect_outcome(*node.replica, c, ApplyOutcome::Applied, "16 more keys");
    prev = envelope_hash(c);
  }
  Bytes over = forge_membership(a1_id, *s1, {seq + 1, prev}, 1, adding_strangers(16));
  expect_refused(*node.replica, *s1, over, Code::TooLarge, "past the space's 40 author rows");
  {
    auto r = node->apply(over);
    CHECK(r.status().message().find("max_authors_per_space") != std::string::npos);
  }
  // 17 updates in one change: counted on the wire, refused before parsing.
  expect_refused(*node.replica, *s1, forge_membership(a1_id, *s1, {seq + 1, prev}, 1, adding_strangers(17)),
                 Code::TooLarge, "17 updates");
  // 16 MiB-ish of empty update entries: the same, without allocating them.
  {
    pb::Header h = make_header(*s1, a1_id.device(), {seq + 1, prev}, 1, pb::CHANGE_MEMBERSHIP);
    std::string body;
    for (int i = 0; i < 4'000'000; ++i) body += std::string("\x1a\x00", 2);
    expect_refused(*node.replica, *s1, sign_envelope(a1_id, h.SerializeAsString(), body), Code::TooLarge,
                   "4 million empty updates");
  }
  // The admin may still name the keys that fit.
  Bytes fits = forge_membership(a1_id, *s1, {seq + 1, prev}, 1, adding_strangers(6));
  expect_outcome(*node.replica, fits, ApplyOutcome::Applied, "6 keys: 40 rows");
  expect_refused(*node.replica, *s1,
                 forge_membership(a1_id, *s1, {seq + 2, envelope_hash(fits)}, 1, adding_strangers(1)), Code::TooLarge,
                 "the 41st row");
  // Another space's admin is not affected.
  for (uint64_t i = 0; i < 5; ++i)
    URBIS_REQUIRE_OK(a2->add_member(*s2, identity_for_seed(9000 + i).device(), Role::Viewer));
  CHECK(pull(*node.replica, *a2.replica, *s2) == 5);
}

TEST_CASE("chain: a membership body is parsed only after its author's role is checked") {
  Team t(371);
  NodeReplica node(372);
  pull(*node.replica, *t.a.replica, t.space);
  // An editor's "membership change" whose body is not even a protobuf: the
  // role decides (NotAMember), the body is never looked at.
  pb::Header h = make_header(t.space, t.b.key, {1, {}}, 1, pb::CHANGE_MEMBERSHIP);
  const std::string garbage(100'000, '\xff');
  Bytes c = sign_envelope(t.b_id, h.SerializeAsString(), garbage);
  for (Replica* r : {t.a.replica.get(), node.replica.get()})
    expect_refused(*r, t.space, c, Code::NotAMember, "an editor's membership change");
  // The admin's garbage body is Malformed (the control).
  uint64_t seq = head_seq(*node.replica, t.space, t.a.key);
  pb::Header ha =
      make_header(t.space, t.a.key, {seq + 1, last_hash(*node.replica, t.space, t.a.key)}, 1, pb::CHANGE_MEMBERSHIP);
  expect_refused(*node.replica, t.space, sign_envelope(t.a_id, ha.SerializeAsString(), garbage), Code::Malformed,
                 "an admin's garbage body");
}

}  // namespace urbis
