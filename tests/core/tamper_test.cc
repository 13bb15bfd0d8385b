// The security properties of apply: every forged, tampered, replayed,
// oversized or misplaced change is refused with its specific code and leaves
// the replica exactly as it was; a node stores and serves what it cannot read
// and never writes plaintext to disk.
#include <sodium.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "forge_util.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

constexpr uint64_t kSeedA = 101, kSeedB = 102, kSeedC = 103, kSeedStranger = 999;
constexpr size_t kMaxBytes = 4096;

// What must not change when a change is refused.
struct Snapshot {
  Hash hash;
  VersionVector vv;
  size_t held = 0;
  size_t spaces = 0;
  size_t log = 0;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(Replica& r, const SpaceId& space) {
  Snapshot s;
  s.hash = hash_of(r, space);
  auto vv = r.version_vector(space);
  URBIS_REQUIRE_OK(vv);
  s.vv = *vv;
  auto held = r.held_count(space);
  URBIS_REQUIRE_OK(held);
  s.held = *held;
  auto spaces = r.spaces();
  URBIS_REQUIRE_OK(spaces);
  s.spaces = spaces->size();
  auto log = r.changes_since(space, {});
  URBIS_REQUIRE_OK(log);
  s.log = log->size();
  return s;
}

// Applies `raw` to `r`, expects refusal with `code`, and that nothing changed.
void expect_refused(Replica& r, const SpaceId& space, ByteView raw, Code code, const std::string& what) {
  INFO(what);
  Snapshot before = snapshot(r, space);
  auto res = r.apply(raw);
  INFO("got: ", outcome_name(res));
  CHECK_FALSE(res.is_ok());
  CHECK(code_name(res.code()) == code_name(code));
  CHECK(snapshot(r, space) == before);
}

// A space with admin A, editor B and viewer C. B has written one change
// (b1), which C holds with all the membership; A has then written a content
// change (x) that C has not received yet.
struct World {
  Device a{kSeedA};
  Device b{kSeedB};
  Device c{kSeedC, ":memory:", ReplicaOptions{.max_change_bytes = kMaxBytes}};
  Identity a_id = identity_for_seed(kSeedA);
  Identity b_id = identity_for_seed(kSeedB);
  Identity c_id = identity_for_seed(kSeedC);
  Identity stranger = identity_for_seed(kSeedStranger);
  SpaceId space;
  SpaceKey key1{};
  CommitInfo b1, x;
  EntityId b_entity, x_entity;

  World() {
    REQUIRE(a_id.device() == a.key);
    REQUIRE(b_id.device() == b.key);
    REQUIRE(c_id.device() == c.key);
    auto s = a->create_space("Tamper");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    URBIS_REQUIRE_OK(a->add_member(space, c.key, Role::Viewer));
    pull(*b.replica, *a.replica, space);

    Transaction tb = b->begin(space);
    b_entity = tb.create("project");
    tb.set_text(b_entity, "title", "en", "Written by B");
    auto rb = b->commit(tb);
    URBIS_REQUIRE_OK(rb);
    b1 = *rb;
    REQUIRE(b1.seq == 1);
    pull(*a.replica, *b.replica, space);
    pull(*c.replica, *a.replica, space);

    Transaction ta = a->begin(space);
    x_entity = ta.create("project");
    ta.set_text(x_entity, "title", "en", "Smart buses");
    ta.set(x_entity, "budget", 1000);
    auto rx = a->commit(ta);
    URBIS_REQUIRE_OK(rx);
    x = *rx;

    auto k = space_key(*a.replica, space, b_id, 1);
    REQUIRE(k.has_value());
    key1 = *k;
    REQUIRE(head_seq(*c.replica, space, a.key) == x.seq - 1);
    REQUIRE(c->get(space, b_entity).is_ok());
    REQUIRE(c->get(space, x_entity).code() == Code::NotFound);
  }

  // The genuine change still applies after the refused ones, and C then
  // agrees with A.
  void genuine_still_applies() {
    auto r = c->apply(x.envelope);
    INFO(outcome_name(r));
    REQUIRE(r.is_ok());
    CHECK(*r == ApplyOutcome::Applied);
    auto e = c->get(space, x_entity);
    URBIS_REQUIRE_OK(e);
    CHECK(e->fields.at("budget").winner.value == 1000);
    CHECK(hash_of(*c.replica, space) == hash_of(*a.replica, space));
    CHECK(*c->version_vector(space) == *a->version_vector(space));
  }
};

// The hash of `author`'s change `seq` in `r`'s log.
Hash change_hash(Replica& r, const SpaceId& space, const DeviceKey& author, uint64_t seq) {
  auto log = r.changes_since(space, {});
  URBIS_REQUIRE_OK(log);
  for (const auto& raw : *log) {
    pb::Header h = parse_header(parse_envelope(raw));
    if (h.author() == id_str(author) && h.seq() == seq) return envelope_hash(raw);
  }
  FAIL("no such change");
  return {};
}

// Whether parse() would accept the shapes of `header` (it fails otherwise
// with Malformed before the signature is checked).
bool well_shaped_header(const std::string& header) {
  pb::Header h;
  if (!h.ParseFromString(header)) return false;
  const bool content = h.kind() == pb::CHANGE_CONTENT;
  return h.space().size() == 16 && h.author().size() == 32 && h.seq() >= 1 && h.seq() < (uint64_t{1} << 28) &&
         (h.seq() == 1 ? h.prev_hash().empty() : h.prev_hash().size() == 32) &&
         (content || h.kind() == pb::CHANGE_MEMBERSHIP) && (!content || (h.nonce().size() == 24 && h.epoch() >= 1));
}

TEST_CASE("tamper: a flipped bit in the header is BadSignature") {
  World w;
  const pb::Envelope genuine = parse_envelope(w.x.envelope);
  const Snapshot before = snapshot(*w.c.replica, w.space);
  size_t bad_signature = 0;
  for (size_t i = 0; i < genuine.header().size() * 8; ++i) {
    pb::Envelope e = genuine;
    std::string header = e.header();
    header[i / 8] = static_cast<char>(header[i / 8] ^ (1 << (i % 8)));
    e.set_header(header);
    auto r = w.c->apply(serialize(e));
    CAPTURE(i);
    INFO(outcome_name(r));
    REQUIRE_FALSE(r.is_ok());
    if (well_shaped_header(header)) {
      CHECK(r.code() == Code::BadSignature);
      ++bad_signature;
    } else {
      CHECK(r.code() == Code::Malformed);
    }
  }
  // Most flips (every one in the ids, the nonce, the hlc...) leave a header
  // that parses: those are caught by the signature.
  CHECK(bad_signature > genuine.header().size() * 4);
  CHECK(snapshot(*w.c.replica, w.space) == before);

  // The last byte of the header is inside the nonce: a single, explicit case.
  pb::Envelope e = genuine;
  std::string header = e.header();
  header.back() = static_cast<char>(header.back() ^ 0x01);
  e.set_header(header);
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "nonce bit");

  // Re-encoding the header with another author or another seq keeps the old
  // signature: BadSignature too.
  pb::Header h = parse_header(genuine);
  h.set_author(id_str(w.b.key));
  e = genuine;
  e.set_header(h.SerializeAsString());
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "author swapped");
  h = parse_header(genuine);
  h.set_hlc(h.hlc() + 1);
  e = genuine;
  e.set_header(h.SerializeAsString());
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "hlc changed");

  w.genuine_still_applies();
}

TEST_CASE("tamper: a flipped bit in the ciphertext is BadSignature") {
  World w;
  const pb::Envelope genuine = parse_envelope(w.x.envelope);
  const Snapshot before = snapshot(*w.c.replica, w.space);
  REQUIRE(genuine.body().size() > 16);
  for (size_t i = 0; i < genuine.body().size(); ++i) {
    pb::Envelope e = genuine;
    std::string body = e.body();
    body[i] = static_cast<char>(body[i] ^ (1 << (i % 8)));
    e.set_body(body);
    auto r = w.c->apply(serialize(e));
    CAPTURE(i);
    INFO(outcome_name(r));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Code::BadSignature);
  }
  CHECK(snapshot(*w.c.replica, w.space) == before);

  // A truncated or extended body, and the body of another change.
  pb::Envelope e = genuine;
  e.set_body(genuine.body().substr(0, genuine.body().size() - 1));
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "body cut by one byte");
  e.set_body(genuine.body() + "x");
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "body extended");
  e.set_body(parse_envelope(w.b1.envelope).body());
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "body of b1");

  w.genuine_still_applies();
}

TEST_CASE("tamper: a flipped bit in the signature is BadSignature") {
  World w;
  const pb::Envelope genuine = parse_envelope(w.x.envelope);
  const Snapshot before = snapshot(*w.c.replica, w.space);
  REQUIRE(genuine.signature().size() == 64);
  for (size_t i = 0; i < genuine.signature().size() * 8; ++i) {
    pb::Envelope e = genuine;
    std::string sig = e.signature();
    sig[i / 8] = static_cast<char>(sig[i / 8] ^ (1 << (i % 8)));
    e.set_signature(sig);
    auto r = w.c->apply(serialize(e));
    CAPTURE(i);
    INFO(outcome_name(r));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Code::BadSignature);
  }
  CHECK(snapshot(*w.c.replica, w.space) == before);

  pb::Envelope e = genuine;
  e.set_signature(parse_envelope(w.b1.envelope).signature());
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "signature of b1");
  e.set_signature(std::string(64, '\0'));
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "zero signature");
  // A signature by the right key over the wrong message.
  auto other = w.a_id.sign(view_of(genuine.header()));
  e.set_signature(std::string(other.begin(), other.end()));
  expect_refused(*w.c.replica, w.space, serialize(e), Code::BadSignature, "signs the header only");
  // Of the wrong length: the envelope is malformed.
  e.set_signature(genuine.signature().substr(0, 63));
  expect_refused(*w.c.replica, w.space, serialize(e), Code::Malformed, "63-byte signature");
  e.clear_signature();
  expect_refused(*w.c.replica, w.space, serialize(e), Code::Malformed, "no signature");

  w.genuine_still_applies();
}

TEST_CASE("tamper: changes by non-members and by the wrong role are NotAMember") {
  World w;

  // Content by a device that is no member, correctly signed and encrypted.
  Bytes stranger_content =
      forge_content(w.stranger, w.space, {1, {}}, 1, body_setting(w.x_entity, "project", "title", "hijacked"), w.key1);
  expect_refused(*w.c.replica, w.space, stranger_content, Code::NotAMember, "stranger content");

  // A stranger making itself admin.
  pb::Membership m;
  auto* u = m.add_updates();
  u->set_device(id_str(w.stranger.device()));
  u->set_role(pb::ROLE_ADMIN);
  expect_refused(*w.c.replica, w.space, forge_membership(w.stranger, w.space, {1, {}}, 1, m), Code::NotAMember,
                 "stranger membership");

  // An editor, never an admin, may not change membership: refused unparsed.
  expect_refused(*w.c.replica, w.space, forge_membership(w.b_id, w.space, {2, w.b1.hash}, 1, m), Code::NotAMember,
                 "editor membership");

  w.genuine_still_applies();
}

// A member's change its role does not allow is kept, so that every replica
// holds the same log whatever the order (docs/membership.md), and has no
// effect: the state hash does not move.
TEST_CASE("tamper: changes by the wrong role are kept without effect") {
  World w;
  auto expect_no_effect = [&](Replica& r, const Bytes& raw, const char* what) {
    INFO(what);
    const Hash before = hash_of(r, w.space);
    auto res = r.apply(raw);
    INFO("got: ", outcome_name(res));
    CHECK(res.is_ok());
    CHECK(hash_of(r, w.space) == before);
  };
  // A viewer may not write content, on its own replica or on A's.
  Bytes viewer_content =
      forge_content(w.c_id, w.space, {1, {}}, 1, body_setting(w.b_entity, "project", "title", "by a viewer"), w.key1);
  expect_no_effect(*w.c.replica, viewer_content, "viewer content");
  expect_no_effect(*w.a.replica, viewer_content, "viewer content on A");
}

TEST_CASE("tamper: a change claiming an epoch that does not exist is UnknownEpoch") {
  World w;
  for (uint32_t epoch : {2u, 99u}) {
    CAPTURE(epoch);
    Bytes forged = forge_content(w.b_id, w.space, {2, w.b1.hash}, epoch,
                                 body_setting(w.b_entity, "project", "stage", "idea"), w.key1);
    expect_refused(*w.c.replica, w.space, forged, Code::UnknownEpoch, "content in a future epoch");
    expect_refused(*w.a.replica, w.space, forged, Code::UnknownEpoch, "same, on A");
  }
  // A membership change by the admin that claims epoch 99 in its header.
  const Hash a3 = change_hash(*w.a.replica, w.space, w.a.key, 3);
  pb::Membership m;
  auto* u = m.add_updates();
  u->set_device(id_str(w.stranger.device()));
  u->set_role(pb::ROLE_VIEWER);
  expect_refused(*w.c.replica, w.space, forge_membership(w.a_id, w.space, {4, a3}, 99, m), Code::UnknownEpoch,
                 "membership in epoch 99");
  w.genuine_still_applies();
}

TEST_CASE("tamper: a member's change members cannot read is stored without effect") {
  // Finding 8 of issue 10: a body that no key of its epoch opens, or that
  // opens but is not a Body, cannot be judged by the key-less node. Members
  // store it without effect rather than refuse it (which would stop its
  // author's chain on every member); the next change applies.
  World w;
  Bytes wrong_key = forge_content(w.b_id, w.space, {2, w.b1.hash}, 1,
                                  body_setting(w.b_entity, "project", "stage", "idea"), random_space_key());
  Bytes junk_body;
  {
    pb::Header h = make_header(w.space, w.b.key, {3, envelope_hash(wrong_key)}, 1, pb::CHANGE_CONTENT);
    uint8_t nonce[24];
    randombytes_buf(nonce, sizeof nonce);
    h.set_nonce(nonce, sizeof nonce);
    std::string header = h.SerializeAsString();
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    Bytes c = aead_encrypt({junk, sizeof junk}, view_of(header), {nonce, sizeof nonce}, w.key1);
    junk_body = sign_envelope(w.b_id, header, std::string(c.begin(), c.end()));
  }
  Bytes good = forge_content(w.b_id, w.space, {4, envelope_hash(junk_body)}, 1,
                             body_setting(w.b_entity, "project", "stage", "idea"), w.key1);
  for (Replica* r : {w.c.replica.get(), w.a.replica.get()}) {
    const Hash before = hash_of(*r, w.space);
    for (const Bytes* unusable : {&wrong_key, &junk_body}) {
      auto applied = r->apply(*unusable);
      INFO(outcome_name(applied));
      REQUIRE(applied.is_ok());
      CHECK(*applied == ApplyOutcome::Applied);
      CHECK(hash_of(*r, w.space) == before);
    }
    CHECK(head_seq(*r, w.space, w.b.key) == 3);
    auto applied = r->apply(good);
    INFO(outcome_name(applied));
    REQUIRE(applied.is_ok());
    CHECK(*applied == ApplyOutcome::Applied);
    CHECK(r->get(w.space, w.b_entity)->fields.at("stage").winner.value == "idea");
  }
  w.genuine_still_applies();
}

TEST_CASE("tamper: broken chains and forks are BrokenChain") {
  World w;
  const pb::Body body = body_setting(w.b_entity, "project", "stage", "concept");

  // seq 2 whose prev_hash is not the hash of seq 1.
  Hash wrong;
  randombytes_buf(wrong.bytes.data(), wrong.bytes.size());
  expect_refused(*w.c.replica, w.space, forge_content(w.b_id, w.space, {2, wrong}, 1, body, w.key1), Code::BrokenChain,
                 "wrong prev_hash");
  // Pointing at another author's change is no better.
  expect_refused(*w.c.replica, w.space,
                 forge_content(w.b_id, w.space, {2, change_hash(*w.a.replica, w.space, w.a.key, 1)}, 1, body, w.key1),
                 Code::BrokenChain, "prev_hash of A's change");

  // Equivocation: a different change with B's existing seq 1.
  expect_refused(*w.c.replica, w.space, forge_content(w.b_id, w.space, {1, {}}, 1, body, w.key1), Code::BrokenChain,
                 "fork of B's seq 1");
  // ...and a different genesis for the existing space by its creator: it
  // derives the same space id (same salt) but adds a member.
  {
    auto log = w.a->changes_since(w.space, {});
    URBIS_REQUIRE_OK(log);
    pb::Envelope g = parse_envelope(log->front());
    REQUIRE(parse_header(g).seq() == 1);
    REQUIRE(parse_header(g).author() == id_str(w.a.key));
    pb::Membership m;
    REQUIRE(m.ParseFromString(g.body()));
    auto* u = m.add_updates();
    u->set_device(id_str(w.stranger.device()));
    u->set_role(pb::ROLE_ADMIN);
    expect_refused(*w.c.replica, w.space, sign_envelope(w.a_id, g.header(), m.SerializeAsString()), Code::BrokenChain,
                   "fork of the genesis");
  }
  // And a fork of seq 2 after seq 2 exists.
  Bytes good2 = forge_content(w.b_id, w.space, {2, w.b1.hash}, 1, body, w.key1);
  auto r = w.c->apply(good2);
  INFO(outcome_name(r));
  REQUIRE(r.is_ok());
  REQUIRE(*r == ApplyOutcome::Applied);
  expect_refused(
      *w.c.replica, w.space,
      forge_content(w.b_id, w.space, {2, w.b1.hash}, 1, body_setting(w.b_entity, "project", "stage", "idea"), w.key1),
      Code::BrokenChain, "fork of B's seq 2");
  CHECK(w.c->get(w.space, w.b_entity)->fields.at("stage").winner.value == "concept");
  // The genuine b1 is still a duplicate, not a fork.
  auto d = w.c->apply(w.b1.envelope);
  REQUIRE(d.is_ok());
  CHECK(*d == ApplyOutcome::Duplicate);

  auto applied = w.c->apply(w.x.envelope);
  REQUIRE(applied.is_ok());
  CHECK(*applied == ApplyOutcome::Applied);
}

TEST_CASE("tamper: a replayed change is a Duplicate and changes nothing") {
  World w;
  const Snapshot before = snapshot(*w.c.replica, w.space);
  auto log = w.c->changes_since(w.space, {});
  URBIS_REQUIRE_OK(log);
  REQUIRE(log->size() == 4);  // genesis, add B, add C, b1
  for (const auto& raw : *log) {
    auto r = w.c->apply(raw);
    INFO(outcome_name(r));
    REQUIRE(r.is_ok());
    CHECK(*r == ApplyOutcome::Duplicate);
  }
  auto batch = w.c->apply_batch({w.b1.envelope, w.b1.envelope});
  REQUIRE(batch.size() == 2);
  for (const auto& r : batch) {
    REQUIRE(r.is_ok());
    CHECK(*r == ApplyOutcome::Duplicate);
  }
  CHECK(snapshot(*w.c.replica, w.space) == before);

  w.genuine_still_applies();
  const Snapshot after = snapshot(*w.c.replica, w.space);
  auto again = w.c->apply(w.x.envelope);
  REQUIRE(again.is_ok());
  CHECK(*again == ApplyOutcome::Duplicate);
  CHECK(snapshot(*w.c.replica, w.space) == after);
}

TEST_CASE("tamper: random bytes and truncated envelopes are Malformed") {
  World w;
  const Snapshot before = snapshot(*w.c.replica, w.space);
  auto env = make_deterministic_env(4242);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{200}, size_t{1000}, kMaxBytes}) {
    for (int round = 0; round < 8; ++round) {
      Bytes junk(n);
      env->random_bytes(junk);
      auto r = w.c->apply(junk);
      CAPTURE(n);
      INFO(outcome_name(r));
      REQUIRE_FALSE(r.is_ok());
      CHECK(r.code() == Code::Malformed);
    }
  }
  for (size_t n = 0; n < w.x.envelope.size(); ++n) {
    Bytes cut(w.x.envelope.begin(), w.x.envelope.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = w.c->apply(cut);
    CAPTURE(n);
    INFO(outcome_name(r));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Code::Malformed);
  }
  CHECK(snapshot(*w.c.replica, w.space) == before);

  // Signed, but with fields of the wrong shape.
  auto shaped = [&](auto&& edit, const char* what) {
    pb::Header h = make_header(w.space, w.b.key, {2, w.b1.hash}, 1, pb::CHANGE_CONTENT);
    h.set_nonce(std::string(24, '\x01'));
    edit(h);
    expect_refused(*w.c.replica, w.space, sign_envelope(w.b_id, h.SerializeAsString(), "body"), Code::Malformed, what);
  };
  shaped([](pb::Header& h) { h.set_seq(0); }, "seq 0");
  shaped([](pb::Header& h) { h.set_prev_hash(""); }, "seq 2 without prev_hash");
  shaped([](pb::Header& h) { h.set_prev_hash(std::string(31, 'p')); }, "short prev_hash");
  shaped([&](pb::Header& h) { h.set_space(id_str(w.space).substr(1)); }, "15-byte space");
  shaped([&](pb::Header& h) { h.set_author(id_str(w.b.key) + "x"); }, "33-byte author");
  shaped([](pb::Header& h) { h.set_nonce(std::string(23, 'n')); }, "short nonce");
  shaped([](pb::Header& h) { h.set_epoch(0); }, "content in epoch 0");
  shaped([](pb::Header& h) { h.set_kind(static_cast<pb::ChangeKind>(7)); }, "unknown kind");
  shaped([](pb::Header& h) { h.set_seq(uint64_t{1} << 40); }, "huge seq");

  // Signed and encrypted with the right key, but ops that break the content
  // rules: stored, each such op without effect (content_rules_test.cc).

  CHECK(w.c->get(w.space, w.x_entity).code() == Code::NotFound);

  w.genuine_still_applies();
}

TEST_CASE("tamper: an oversized change is TooLarge") {
  World w;
  Bytes big(kMaxBytes + 1, 0x0a);
  expect_refused(*w.c.replica, w.space, big, Code::TooLarge, "garbage over the limit");
  // At the limit the size is fine (and the garbage is then Malformed).
  Bytes at_limit(kMaxBytes, 0x0a);
  expect_refused(*w.c.replica, w.space, at_limit, Code::Malformed, "garbage at the limit");

  // A genuine change over the limit is refused too, even though it verifies.
  w.genuine_still_applies();
  Transaction tx = w.a->begin(w.space);
  tx.set(w.x_entity, "description", std::string(kMaxBytes, 'd'));
  auto big_change = w.a->commit(tx);
  URBIS_REQUIRE_OK(big_change);
  REQUIRE(big_change->envelope.size() > kMaxBytes);
  expect_refused(*w.c.replica, w.space, big_change->envelope, Code::TooLarge, "genuine but big");
  // A's next change waits for it (held), never applies without it.
  Transaction tx2 = w.a->begin(w.space);
  tx2.set(w.x_entity, "stage", "idea");
  auto next = w.a->commit(tx2);
  URBIS_REQUIRE_OK(next);
  auto r = w.c->apply(next->envelope);
  REQUIRE(r.is_ok());
  CHECK(*r == ApplyOutcome::Held);
  CHECK(w.c->get(w.space, w.x_entity)->fields.count("stage") == 0);
}

TEST_CASE("tamper: a change for an unknown space is UnknownSpace") {
  World w;
  auto other = w.a->create_space("Elsewhere");
  URBIS_REQUIRE_OK(other);
  URBIS_REQUIRE_OK(w.a->add_member(*other, w.c.key, Role::Editor));
  Transaction tx = w.a->begin(*other);
  EntityId e = tx.create("project");
  tx.set(e, "name", "elsewhere");
  auto content = w.a->commit(tx);
  URBIS_REQUIRE_OK(content);
  auto log = w.a->changes_since(*other, {});
  URBIS_REQUIRE_OK(log);
  REQUIRE(log->size() == 3);

  // Everything but the genesis: C has not heard of that space.
  expect_refused(*w.c.replica, w.space, (*log)[1], Code::UnknownSpace, "membership, seq 2");
  expect_refused(*w.c.replica, w.space, (*log)[2], Code::UnknownSpace, "content, seq 3");
  CHECK(w.c->space(*other).code() == Code::UnknownSpace);
  CHECK(w.c->held_count(*other).code() == Code::UnknownSpace);

  // A first content change in a space nobody created.
  SpaceId nowhere;
  randombytes_buf(nowhere.bytes.data(), nowhere.bytes.size());
  expect_refused(*w.c.replica, w.space,
                 forge_content(w.b_id, nowhere, {1, {}}, 1, body_setting(e, "project", "name", "x"), w.key1),
                 Code::UnknownSpace, "content seq 1 of an unknown space");

  // With the genesis first, the same changes apply.
  pull(*w.c.replica, *w.a.replica, *other);
  CHECK(hash_of(*w.c.replica, *other) == hash_of(*w.a.replica, *other));
  w.genuine_still_applies();
}

TEST_CASE("tamper: a forged genesis is refused") {
  World w;
  const Snapshot before = snapshot(*w.c.replica, w.space);
  auto genesis_of = [&](const Identity& creator, uint32_t new_epoch, pb::Role role) {
    pb::Membership m;
    m.set_genesis_salt(std::string(16, 's'));
    m.set_new_epoch(new_epoch);
    auto* u = m.add_updates();
    u->set_device(id_str(creator.device()));
    u->set_role(role);
    return m;
  };
  const std::string salt(16, 's');
  const SpaceId derived = derive_space_id(w.stranger.device(), view_of(salt));

  // The space id is not derived from its creator and salt.
  SpaceId not_derived = derived;
  not_derived.bytes[0] ^= 1;
  pb::Membership m = genesis_of(w.stranger, 1, pb::ROLE_ADMIN);
  expect_refused(*w.c.replica, w.space, forge_membership(w.stranger, not_derived, {1, {}}, 1, m), Code::Malformed,
                 "space id not derived from the creator");
  // Derived from someone else (A) with the same salt.
  expect_refused(*w.c.replica, w.space,
                 forge_membership(w.stranger, derive_space_id(w.a.key, view_of(salt)), {1, {}}, 1, m), Code::Malformed,
                 "space id derived from another device");
  // Right id, but the creator is not made admin, or the epoch is not 1.
  expect_refused(*w.c.replica, w.space,
                 forge_membership(w.stranger, derived, {1, {}}, 1, genesis_of(w.stranger, 1, pb::ROLE_EDITOR)),
                 Code::Malformed, "creator not admin");
  expect_refused(*w.c.replica, w.space,
                 forge_membership(w.stranger, derived, {1, {}}, 1, genesis_of(w.stranger, 2, pb::ROLE_ADMIN)),
                 Code::Malformed, "genesis in epoch 2");
  expect_refused(*w.c.replica, w.space,
                 forge_membership(w.stranger, derived, {1, {}}, 1, genesis_of(w.b_id, 1, pb::ROLE_ADMIN)),
                 Code::Malformed, "genesis making someone else admin");
  // A "genesis" for the existing space by a stranger: not its admin.
  expect_refused(*w.c.replica, w.space, forge_membership(w.stranger, w.space, {1, {}}, 1, m), Code::NotAMember,
                 "genesis for an existing space");
  CHECK(w.c->space(derived).code() == Code::UnknownSpace);
  CHECK(w.c->space(not_derived).code() == Code::UnknownSpace);
  CHECK(snapshot(*w.c.replica, w.space) == before);

  // The control: the well-formed genesis creates the stranger's space.
  auto r = w.c->apply(forge_membership(w.stranger, derived, {1, {}}, 1, m));
  INFO(outcome_name(r));
  REQUIRE(r.is_ok());
  CHECK(*r == ApplyOutcome::Applied);
  auto info = w.c->space(derived);
  URBIS_REQUIRE_OK(info);
  CHECK(info->epoch == 1);
  auto members = w.c->members(derived);
  URBIS_REQUIRE_OK(members);
  REQUIRE(members->size() == 1);
  CHECK(members->front().device == w.stranger.device());
  CHECK(members->front().role == Role::Admin);
  w.genuine_still_applies();
}

TEST_CASE("tamper: a gap is held until it fills") {
  World w;
  Transaction t2 = w.b->begin(w.space);
  t2.set(w.b_entity, "stage", "concept");
  auto b2 = w.b->commit(t2);
  URBIS_REQUIRE_OK(b2);
  Transaction t3 = w.b->begin(w.space);
  EntityId e3 = t3.create("need");
  t3.set_text(e3, "title", "en", "Clean water");
  auto b3 = w.b->commit(t3);
  URBIS_REQUIRE_OK(b3);
  REQUIRE(b3->seq == 3);

  const Snapshot before = snapshot(*w.c.replica, w.space);
  auto r3 = w.c->apply(b3->envelope);
  INFO(outcome_name(r3));
  REQUIRE(r3.is_ok());
  CHECK(*r3 == ApplyOutcome::Held);
  CHECK(*w.c->held_count(w.space) == 1);
  CHECK(hash_of(*w.c.replica, w.space) == before.hash);
  CHECK(*w.c->version_vector(w.space) == before.vv);
  CHECK(w.c->get(w.space, e3).code() == Code::NotFound);
  // Held twice is still held once.
  auto again = w.c->apply(b3->envelope);
  REQUIRE(again.is_ok());
  CHECK(*again == ApplyOutcome::Held);
  CHECK(*w.c->held_count(w.space) == 1);

  auto r2 = w.c->apply(b2->envelope);
  INFO(outcome_name(r2));
  REQUIRE(r2.is_ok());
  CHECK(*r2 == ApplyOutcome::Applied);
  CHECK(*w.c->held_count(w.space) == 0);
  CHECK(head_seq(*w.c.replica, w.space, w.b.key) == 3);
  CHECK(w.c->get(w.space, e3).is_ok());
  CHECK(hash_of(*w.c.replica, w.space) == hash_of(*w.b.replica, w.space));
  CHECK(*w.c->version_vector(w.space) == *w.b->version_vector(w.space));
  // The released change is now a duplicate.
  auto dup = w.c->apply(b3->envelope);
  REQUIRE(dup.is_ok());
  CHECK(*dup == ApplyOutcome::Duplicate);
  pull(*w.a.replica, *w.b.replica, w.space);
  w.genuine_still_applies();
}

TEST_CASE("tamper: a forged change held for a gap is dropped when the gap fills") {
  World w;
  Transaction t2 = w.b->begin(w.space);
  t2.set(w.b_entity, "stage", "concept");
  auto b2 = w.b->commit(t2);
  URBIS_REQUIRE_OK(b2);
  Transaction t3 = w.b->begin(w.space);
  t3.set(w.b_entity, "stage", "planning");
  auto b3 = w.b->commit(t3);
  URBIS_REQUIRE_OK(b3);

  // A correctly signed seq 3 that does not follow the real seq 2.
  Hash wrong;
  randombytes_buf(wrong.bytes.data(), wrong.bytes.size());
  Bytes forged3 =
      forge_content(w.b_id, w.space, {3, wrong}, 1, body_setting(w.b_entity, "project", "stage", "forged"), w.key1);
  auto held = w.c->apply(forged3);
  REQUIRE(held.is_ok());
  CHECK(*held == ApplyOutcome::Held);
  CHECK(*w.c->held_count(w.space) == 1);

  auto r2 = w.c->apply(b2->envelope);
  REQUIRE(r2.is_ok());
  CHECK(*r2 == ApplyOutcome::Applied);
  CHECK(*w.c->held_count(w.space) == 0);
  CHECK(head_seq(*w.c.replica, w.space, w.b.key) == 2);
  CHECK(w.c->get(w.space, w.b_entity)->fields.at("stage").winner.value == "concept");

  auto r3 = w.c->apply(b3->envelope);
  REQUIRE(r3.is_ok());
  CHECK(*r3 == ApplyOutcome::Applied);
  CHECK(hash_of(*w.c.replica, w.space) == hash_of(*w.b.replica, w.space));
}

// ---------------------------------------------------------------- node mode

Bytes read_file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool file_contains(const std::filesystem::path& p, std::string_view needle) {
  Bytes b = read_file_bytes(p);
  return std::search(b.begin(), b.end(), needle.begin(), needle.end()) != b.end();
}

// The .db file and its WAL.
bool store_contains(const std::filesystem::path& db, std::string_view needle) {
  return file_contains(db, needle) || file_contains(db.string() + "-wal", needle);
}

void remove_store(const std::filesystem::path& db) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(db.string() + suffix, ec);
}

std::filesystem::path temp_store(const char* name) {
  char suffix[17];
  uint8_t r[8];
  randombytes_buf(r, sizeof r);
  sodium_bin2hex(suffix, sizeof suffix, r, sizeof r);
  auto p = std::filesystem::temp_directory_path() / (std::string("urbis_tamper_") + name + "_" + suffix + ".db");
  remove_store(p);
  return p;
}

constexpr const char* kMarkers[] = {"URBIS-MARKER-alpha-title", "URBIS-MARKER-bravo-notes", "URBIS-MARKER-charlie-tag",
                                    "URBIS-MARKER-delta-field-name"};

TEST_CASE("tamper: a node stores and serves everything but writes no plaintext") {
  World w;
  Device d{104};  // a member that will catch up from the node only
  URBIS_REQUIRE_OK(w.a->add_member(w.space, d.key, Role::Viewer));
  Transaction ta = w.a->begin(w.space);
  ta.set_text(w.x_entity, "title", "ko", kMarkers[0]);
  ta.set(w.x_entity, kMarkers[3], 1);
  URBIS_REQUIRE_OK(w.a->commit(ta));
  pull(*w.b.replica, *w.a.replica, w.space);
  Transaction tb = w.b->begin(w.space);
  tb.set(w.b_entity, "notes", kMarkers[1]);
  tb.add(w.b_entity, "tags", kMarkers[2]);
  URBIS_REQUIRE_OK(w.b->commit(tb));
  pull(*w.a.replica, *w.b.replica, w.space);

  const auto node_path = temp_store("node");
  const auto member_path = temp_store("member");
  auto node_env = make_deterministic_env(7777);
  {
    auto opened = Replica::open(node_path.string(), std::nullopt, *node_env,
                                ReplicaOptions{.materialize = false, .synchronous_full = false});
    URBIS_REQUIRE_OK(opened);
    Replica& node = **opened;
    CHECK(node.device().is_zero());
    CHECK(pull(node, *w.a.replica, w.space) > 0);

    // It serves exactly the bytes it received, in an order that applies.
    auto from_a = w.a->changes_since(w.space, {});
    auto from_node = node.changes_since(w.space, {});
    URBIS_REQUIRE_OK(from_a);
    URBIS_REQUIRE_OK(from_node);
    CHECK(*from_node == *from_a);
    CHECK(*node.version_vector(w.space) == *w.a->version_vector(w.space));
    // Incremental serving too: what B lacks.
    auto for_b = node.changes_since(w.space, *w.b->version_vector(w.space));
    auto for_b_from_a = w.a->changes_since(w.space, *w.b->version_vector(w.space));
    URBIS_REQUIRE_OK(for_b);
    URBIS_REQUIRE_OK(for_b_from_a);
    CHECK(*for_b == *for_b_from_a);

    // It knows the members and the epoch, not the content.
    auto info = node.space(w.space);
    URBIS_REQUIRE_OK(info);
    CHECK(info->epoch == 1);
    CHECK(info->my_role == Role::None);
    CHECK(node.members(w.space)->size() == 4);
    CHECK(node.get(w.space, w.x_entity).code() == Code::NotFound);
    CHECK(node.get(w.space, w.b_entity).code() == Code::NotFound);

    // It still checks signatures, membership and epochs.
    Transaction tx = w.a->begin(w.space);
    tx.set(w.x_entity, "stage", "idea");
    auto fresh = w.a->commit(tx);
    URBIS_REQUIRE_OK(fresh);
    pb::Envelope fe = parse_envelope(fresh->envelope);
    std::string fsig = fe.signature();
    fsig[5] = static_cast<char>(fsig[5] ^ 0x10);
    fe.set_signature(fsig);
    expect_refused(node, w.space, serialize(fe), Code::BadSignature, "node: bad signature");
    expect_refused(
        node, w.space,
        forge_content(w.stranger, w.space, {1, {}}, 1, body_setting(w.x_entity, "project", "title", "x"), w.key1),
        Code::NotAMember, "node: stranger");
    const uint64_t b_head = head_seq(node, w.space, w.b.key);
    expect_refused(node, w.space,
                   forge_content(w.b_id, w.space, {b_head + 1, change_hash(node, w.space, w.b.key, b_head)}, 99,
                                 body_setting(w.x_entity, "project", "title", "x"), w.key1),
                   Code::UnknownEpoch, "node: unknown epoch");
    CHECK(pull(node, *w.a.replica, w.space) == 1);

    // A member catching up from the node alone reaches the same state as A.
    pull(*d.replica, node, w.space);
    CHECK(hash_of(*d.replica, w.space) == hash_of(*w.a.replica, w.space));
    auto seen = d->get(w.space, w.b_entity);
    URBIS_REQUIRE_OK(seen);
    CHECK(seen->fields.at("notes").winner.value == kMarkers[1]);

    // No plaintext on disk, neither in the database nor in its WAL.
    for (const char* m : kMarkers) {
      CAPTURE(m);
      CHECK_FALSE(store_contains(node_path, m));
    }
  }
  // After closing (checkpointed into the main file) still none.
  for (const char* m : kMarkers) {
    CAPTURE(m);
    CHECK_FALSE(store_contains(node_path, m));
  }
  CHECK(read_file_bytes(node_path).size() > 0);
  {
    // Reopened, the node still serves the same bytes.
    auto reopened = Replica::open(node_path.string(), std::nullopt, *node_env,
                                  ReplicaOptions{.materialize = false, .synchronous_full = false});
    URBIS_REQUIRE_OK(reopened);
    CHECK(*(*reopened)->changes_since(w.space, {}) == *w.a->changes_since(w.space, {}));
  }

  // The control: a member's store on disk does hold the plaintext, so the
  // search above would have found it.
  {
    auto member_env = make_deterministic_env(kSeedC);
    Identity c_again = identity_for_seed(kSeedC);
    auto opened =
        Replica::open(member_path.string(), std::move(c_again), *member_env, ReplicaOptions{.synchronous_full = false});
    URBIS_REQUIRE_OK(opened);
    pull(**opened, *w.a.replica, w.space);
    CHECK(hash_of(**opened, w.space) == hash_of(*w.a.replica, w.space));
    CHECK(store_contains(member_path, kMarkers[1]));
  }
  remove_store(node_path);
  remove_store(member_path);
}

}  // namespace
}  // namespace urbis
