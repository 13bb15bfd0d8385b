// Invites (invite.h, Replica::create_invite / redeem_invite): the code
// format, a device joining by code, and the rules every replica applies to
// the one change an invite key may author, tried against real replicas with
// hand-built (correctly signed) changes.
#include <algorithm>
#include <cctype>
#include <random>
#include <string>

#include "forge_util.h"
#include "store_util.h"
#include "test_util.h"
#include "urbis/invite.h"

namespace urbis {
namespace {

using namespace urbis::testing;

constexpr uint64_t kAdmin = 401, kEditor = 402, kJoiner = 403, kOther = 404, kThird = 405, kViewer = 406,
                   kWitness = 407;
constexpr uint64_t kHour = 3600;

std::string outcome(const Result<ApplyOutcome>& r) {
  if (!r.is_ok()) return r.status().to_string();
  return *r == ApplyOutcome::Applied ? "Applied" : *r == ApplyOutcome::Duplicate ? "Duplicate" : "Held";
}

std::optional<Member> member_in(Replica& r, const SpaceId& space, const DeviceKey& key) {
  auto members = r.members(space);
  REQUIRE_MESSAGE(members.is_ok(), members.status().to_string());
  for (const auto& m : *members)
    if (m.device == key) return m;
  return std::nullopt;
}

// The node the invites name as their witness (change.proto, Receipt).
const Identity& witness_identity() {
  static const Identity w = identity_for_seed(kWitness);
  return w;
}
Replica::SignFn witness_sign() {
  return [](ByteView m) { return witness_identity().sign(m); };
}

// `redeem` as the witness node stores it: with its receipt, dated by the
// clock of `node` (a replica holding the invite, acting as the witness).
Bytes witnessed(Replica& node, const Bytes& redeem) {
  auto w = node.witness_redeem(redeem, witness_identity().device(), witness_sign());
  REQUIRE_MESSAGE(w.is_ok(), w.status().to_string());
  REQUIRE(w->has_value());
  return **w;
}

// Admin A's space with a project, an editor B, and an invite.
struct Invited {
  Device a{kAdmin}, b{kEditor};
  SpaceId space;
  EntityId project;
  Invite invite;

  explicit Invited(Role role = Role::Editor, uint64_t ttl = kHour) {
    auto s = a->create_space("Plan");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    Transaction tx = a->begin(space);
    project = tx.create("project");
    tx.set_text(project, "title", "en", "Harbour wifi");
    tx.set(project, "stage", "planning");
    URBIS_REQUIRE_OK(a->commit(tx));
    auto inv = a->create_invite(space, role, ttl, {witness_identity().device()});
    URBIS_REQUIRE_OK(inv);
    invite = std::move(inv).value();
    pull(*b.replica, *a.replica, space);
  }
};

// A redeem body by hand: the invite to none, `device` to `role`, and
// `grants` (epoch key, sealed to whom).
pb::Membership redeem_body(const DeviceKey& invite, const DeviceKey& device, Role role) {
  pb::Membership m;
  auto* self = m.add_updates();
  self->set_device(id_str(invite));
  self->set_role(pb::ROLE_NONE);
  auto* u = m.add_updates();
  u->set_device(id_str(device));
  u->set_role(static_cast<pb::Role>(role));
  return m;
}

void add_grant(pb::Membership& m, uint32_t epoch, const SpaceKey& key, const DeviceKey& to) {
  auto sealed = seal_key(key, to);
  REQUIRE(sealed.has_value());
  auto* g = m.add_grants();
  g->set_epoch(epoch);
  g->set_device(id_str(to));
  g->set_sealed_key(sealed->data(), sealed->size());
}

// A redeem signed by the invite key, at `hlc_ms` (its header's wall clock).
Bytes forge_redeem(const Identity& invite, const SpaceId& space, const pb::Membership& m, uint64_t hlc_ms,
                   ChainPos pos = {}) {
  pb::Header h = make_header(space, invite.device(), pos, 1, pb::CHANGE_MEMBERSHIP);
  h.set_hlc(hlc_ms << 16);
  return sign_envelope(invite, h.SerializeAsString(), m.SerializeAsString());
}

TEST_CASE("invite: codes round-trip; typos, truncation and foreign text are clear errors") {
  InviteSecret s;
  for (size_t i = 0; i < s.space.bytes.size(); ++i) s.space.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < s.seed.size(); ++i) s.seed[i] = static_cast<uint8_t>(200 - i);
  s.expires_ms = 1'800'000'000'000ull;
  const std::string code = encode_invite_code(s);
  CHECK(code.rfind("urbis1-", 0) == 0);
  CHECK(code.size() == 7 + 64);
  auto back = decode_invite_code(code);
  URBIS_REQUIRE_OK(back);
  CHECK(back->space == s.space);
  CHECK(back->seed == s.seed);
  CHECK(back->expires_ms == s.expires_ms);
  CHECK(invite_identity(*back).device() == invite_identity(s).device());

  // Read aloud and typed back: upper case, dashes, spaces around.
  std::string typed = "  URBIS1-";
  for (size_t i = 7; i < code.size(); ++i) {
    if (i > 7 && (i - 7) % 8 == 0) typed += '-';
    typed += static_cast<char>(std::toupper(static_cast<unsigned char>(code[i])));
  }
  typed += "\n";
  auto again = decode_invite_code(typed);
  URBIS_REQUIRE_OK(again);
  CHECK(again->seed == s.seed);

  // Every single-character typo is caught by the check.
  size_t caught = 0;
  for (size_t i = 7; i < code.size(); ++i) {
    std::string t = code;
    t[i] = t[i] == 'a' ? 'b' : 'a';
    auto r = decode_invite_code(t);
    caught += !r.is_ok() && r.status().message().find("mistyped") != std::string::npos;
  }
  CHECK(caught == 64);
  auto short_code = decode_invite_code(code.substr(0, code.size() - 3));
  CHECK(short_code.code() == Code::InvalidArgument);
  CHECK(short_code.status().message().find("61 characters") != std::string::npos);
  auto zero = decode_invite_code(code.substr(0, 10) + "0" + code.substr(11));
  CHECK(zero.code() == Code::InvalidArgument);
  CHECK(zero.status().message().find("'0'") != std::string::npos);
  auto foreign = decode_invite_code("https://example.org/join");
  CHECK(foreign.code() == Code::InvalidArgument);
  CHECK(foreign.status().message().find("urbis1-") != std::string::npos);
  CHECK(decode_invite_code("").code() == Code::InvalidArgument);

  // Different seeds or spaces give different invite keys.
  InviteSecret t = s;
  t.seed[0] ^= 1;
  CHECK(invite_identity(t).device() != invite_identity(s).device());
  t = s;
  t.space.bytes[0] ^= 1;
  CHECK(invite_identity(t).device() != invite_identity(s).device());
  CHECK(utc_time_text(1'800'000'000'000ull) == "2027-01-15T08:00:00Z");
  CHECK(utc_time_text(0) == "1970-01-01T00:00:00Z");
}

TEST_CASE("invite: a device joins by code, reads the history and writes with the invited role") {
  Invited t;
  // The admin sees a pending invite, distinct from members.
  auto pending = member_in(*t.a.replica, t.space, t.invite.key);
  REQUIRE(pending.has_value());
  CHECK(pending->role == Role::Editor);
  CHECK(pending->invite_expires_ms == t.invite.expires_ms);
  CHECK(t.invite.expires_ms % 1000 == 0);
  CHECK(t.invite.expires_ms >= kTestStartMs + kHour * 1000);
  CHECK(t.invite.expires_ms <= kTestStartMs + kHour * 1000 + 1000);
  CHECK(member_in(*t.a.replica, t.space, t.a.key)->invite_expires_ms == 0);

  // The joiner holds the log (fetched as the invite) but reads nothing yet.
  Device j{kJoiner};
  pull(*j.replica, *t.a.replica, t.space);
  CHECK(j->get(t.space, t.project).code() == Code::NotFound);
  CHECK(j->space(t.space)->my_role == Role::None);

  auto secret = decode_invite_code(t.invite.code);
  URBIS_REQUIRE_OK(secret);
  const auto vv_before = *j->version_vector(t.space);
  auto redeem = j->redeem_invite(*secret);
  URBIS_REQUIRE_OK(redeem);
  CHECK(redeem->seq == 1);
  // Built, not stored: the joiner is still outside until it applies it.
  CHECK(*j->version_vector(t.space) == vv_before);
  CHECK(j->get(t.space, t.project).code() == Code::NotFound);
  pb::Header h = parse_header(parse_envelope(redeem->envelope));
  CHECK(h.author() == id_str(t.invite.key));

  // Without the witness's receipt no replica takes it.
  CHECK(j->apply(redeem->envelope).code() == Code::Forbidden);
  auto applied = j->apply(witnessed(*t.a.replica, redeem->envelope));
  INFO(outcome(applied));
  REQUIRE(applied.is_ok());
  CHECK(*applied == ApplyOutcome::Applied);
  auto p = j->get(t.space, t.project);
  URBIS_REQUIRE_OK(p);
  CHECK(p->text("title", "en")->winner.value == "Harbour wifi");
  CHECK(j->space(t.space)->my_role == Role::Editor);

  // It writes as an editor, and the admin and the editor accept it.
  Transaction tx = j->begin(t.space);
  tx.set(t.project, "stage", "procurement");
  EntityId task = tx.create("plan_item");
  tx.set_text(task, "title", "en", "Survey the quay");
  URBIS_REQUIRE_OK(j->commit(tx));
  CHECK(pull(*t.a.replica, *j.replica, t.space) == 2);  // the redeem and the edit
  CHECK(pull(*t.b.replica, *t.a.replica, t.space) == 2);
  CHECK(t.a->get(t.space, t.project)->fields.at("stage").winner.value == "procurement");
  CHECK(t.b->get(t.space, task)->text("title", "en")->winner.value == "Survey the quay");
  CHECK(hash_of(*t.a.replica, t.space) == hash_of(*j.replica, t.space));
  CHECK(hash_of(*t.b.replica, t.space) == hash_of(*j.replica, t.space));

  // The invite is gone from the members, the joiner is one.
  for (Replica* r : {t.a.replica.get(), t.b.replica.get(), j.replica.get()}) {
    CHECK_FALSE(member_in(*r, t.space, t.invite.key).has_value());
    auto joined = member_in(*r, t.space, j.key);
    REQUIRE(joined.has_value());
    CHECK(joined->role == Role::Editor);
    CHECK(joined->invite_expires_ms == 0);
  }

  // A key-less node verifies and stores the same.
  auto env = make_deterministic_env(99);
  auto node = Replica::open(":memory:", std::nullopt, *env, {.materialize = false});
  URBIS_REQUIRE_OK(node);
  auto log = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(log);
  CHECK(pull(**node, *t.a.replica, t.space) == log->size());
  CHECK(*(*node)->version_vector(t.space) == *t.a->version_vector(t.space));
}

TEST_CASE("invite: a viewer invite makes a viewer; create_invite is for admins with a role and a ttl") {
  Invited t(Role::Viewer);
  Device j{kJoiner};
  pull(*j.replica, *t.a.replica, t.space);
  auto redeem = j->redeem_invite(t.invite.secret);
  URBIS_REQUIRE_OK(redeem);
  URBIS_REQUIRE_OK(j->apply(witnessed(*t.a.replica, redeem->envelope)));
  CHECK(j->space(t.space)->my_role == Role::Viewer);
  CHECK(j->get(t.space, t.project).is_ok());
  Transaction tx = j->begin(t.space);
  tx.set(t.project, "stage", "idea");
  CHECK(j->commit(tx).code() == Code::Forbidden);

  CHECK(t.b->create_invite(t.space, Role::Viewer, kHour, {witness_identity().device()}).code() == Code::Forbidden);
  CHECK(t.a->create_invite(t.space, Role::None, kHour).code() == Code::InvalidArgument);
  CHECK(t.a->create_invite(t.space, Role::Editor, 0).code() == Code::InvalidArgument);
  CHECK(t.a->create_invite(t.space, Role::Editor, 367 * 24 * kHour).code() == Code::InvalidArgument);
  // Redeeming needs the space's log, and an invite in it.
  Device outsider{kOther};
  CHECK(outsider->redeem_invite(t.invite.secret).code() == Code::UnknownSpace);
  InviteSecret unknown = t.invite.secret;
  unknown.seed[3] ^= 0x40;
  Device k{kThird};
  pull(*k.replica, *t.a.replica, t.space);
  CHECK(k->redeem_invite(unknown).code() == Code::NotFound);
  // An invite names a witness: the node this device last synced with, unless
  // given; with neither, a clear error.
  auto no_witness = t.a->create_invite(t.space, Role::Editor, kHour);
  CHECK(no_witness.code() == Code::NotFound);
  CHECK(no_witness.status().message().find("sync with the node") != std::string::npos);
  URBIS_REQUIRE_OK(t.a->remember_node(witness_identity().device()));
  CHECK(*t.a->remembered_node() == witness_identity().device());
  // A member cannot redeem for itself.
  auto second = t.a->create_invite(t.space, Role::Editor, kHour);
  URBIS_REQUIRE_OK(second);
  pull(*t.b.replica, *t.a.replica, t.space);
  CHECK(t.b->redeem_invite(second->secret).code() == Code::InvalidArgument);
}

TEST_CASE("invite: a redeem passes on the key of every epoch the invite was granted") {
  Invited t;
  // A removal after the invite starts epoch 2; the pending invite gets its key.
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
  Transaction tx = t.a->begin(t.space);
  EntityId secret = tx.create("plan_item");
  tx.set_text(secret, "title", "en", "Written in epoch two");
  URBIS_REQUIRE_OK(t.a->commit(tx));
  const std::string store = temp_db("invite-dark-epochs.db");
  Device j{kJoiner, store};
  pull(*j.replica, *t.a.replica, t.space);
  // Before its keys the joiner stored the content of both epochs unread.
  CHECK(query_int(store, "SELECT count(*) FROM dark_epochs") == 2);
  auto redeem = j->redeem_invite(t.invite.secret);
  URBIS_REQUIRE_OK(redeem);
  pb::Membership m;
  REQUIRE(m.ParseFromString(parse_envelope(redeem->envelope).body()));
  std::vector<uint32_t> epochs;
  for (const auto& g : m.grants()) epochs.push_back(g.epoch());
  CHECK(epochs == std::vector<uint32_t>{1, 2});
  URBIS_REQUIRE_OK(j->apply(witnessed(*t.a.replica, redeem->envelope)));
  // The keys rebuilt the space: nothing is left unread, nothing dark.
  CHECK(query_int(store, "SELECT count(*) FROM dark_epochs") == 0);
  CHECK(j->get(t.space, t.project).is_ok());
  CHECK(j->get(t.space, secret)->text("title", "en")->winner.value == "Written in epoch two");
  Transaction jt = j->begin(t.space);
  jt.set(secret, "stage", "planning");
  auto written = j->commit(jt);
  URBIS_REQUIRE_OK(written);
  CHECK(parse_header(parse_envelope(written->envelope)).epoch() == 2);
  CHECK(pull(*t.a.replica, *j.replica, t.space) == 2);
  CHECK(hash_of(*t.a.replica, t.space) == hash_of(*j.replica, t.space));
}

TEST_CASE("invite: a used code is refused, a second redeem (a fork) and any later change") {
  Invited t;
  Device j{kJoiner}, k{kOther}, late{kThird};
  pull(*j.replica, *t.a.replica, t.space);
  pull(*k.replica, *t.a.replica, t.space);  // K fetched the log before J redeemed
  auto j_redeem = j->redeem_invite(t.invite.secret);
  auto k_redeem = k->redeem_invite(t.invite.secret);
  URBIS_REQUIRE_OK(j_redeem);
  URBIS_REQUIRE_OK(k_redeem);  // each alone would be valid
  CHECK(j_redeem->envelope != k_redeem->envelope);

  // The admin (or a node) accepts the first it gets; the other is a fork.
  auto first = t.a->apply(witnessed(*t.a.replica, j_redeem->envelope));
  INFO(outcome(first));
  REQUIRE(first.is_ok());
  const Hash hash = hash_of(*t.a.replica, t.space);
  const auto vv = *t.a->version_vector(t.space);
  auto fork = t.a->apply(witnessed(*t.b.replica, k_redeem->envelope));
  INFO(outcome(fork));
  CHECK(fork.code() == Code::BrokenChain);
  CHECK(hash_of(*t.a.replica, t.space) == hash);
  CHECK(*t.a->version_vector(t.space) == vv);
  CHECK_FALSE(member_in(*t.a.replica, t.space, k.key).has_value());

  // A device that fetched the log after the redeem is told at once.
  pull(*late.replica, *t.a.replica, t.space);
  auto used = late->redeem_invite(t.invite.secret);
  CHECK(used.code() == Code::NotAMember);
  CHECK(used.status().message().find("already been used") != std::string::npos);

  // The invite key's second change, however well formed, is refused.
  Identity invite = invite_identity(t.invite.secret);
  pb::Membership again = redeem_body(invite.device(), k.key, Role::Viewer);
  const Bytes j_stored = *t.a->changes_since(t.space, *t.b->version_vector(t.space))->begin();
  REQUIRE(parse_header(parse_envelope(j_stored)).author() == id_str(invite.device()));
  Bytes second = forge_redeem(invite, t.space, again, kTestStartMs + 10'000, {2, envelope_hash(j_stored)});
  auto r2 = t.a->apply(second);
  INFO(outcome(r2));
  CHECK(r2.code() == Code::NotAMember);
  // Nor may it write content with the key it was granted.
  auto key = space_key(*t.a.replica, t.space, invite, 1);
  REQUIRE(key.has_value());
  Bytes content = forge_content(invite, t.space, {2, envelope_hash(j_stored)}, 1,
                                body_setting(t.project, "project", "stage", "stolen"), *key);
  auto r3 = t.a->apply(content);
  INFO(outcome(r3));
  CHECK(r3.code() == Code::NotAMember);
  CHECK(hash_of(*t.a.replica, t.space) == hash);
  CHECK(*t.a->version_vector(t.space) == vv);
}

TEST_CASE("invite: an invite key may not write content, even unredeemed") {
  Invited t;
  Identity invite = invite_identity(t.invite.secret);
  auto key = space_key(*t.a.replica, t.space, invite, 1);
  REQUIRE(key.has_value());  // it holds the key: it could read
  const Hash hash = hash_of(*t.a.replica, t.space);
  Bytes content =
      forge_content(invite, t.space, {1, {}}, 1, body_setting(t.project, "project", "stage", "vandalised"), *key);
  auto r = t.a->apply(content);
  INFO(outcome(r));
  CHECK(r.code() == Code::NotAMember);
  CHECK(hash_of(*t.a.replica, t.space) == hash);
  CHECK(t.a->get(t.space, t.project)->fields.at("stage").winner.value == "planning");
  // And it is still redeemable afterwards.
  Device j{kJoiner};
  pull(*j.replica, *t.a.replica, t.space);
  auto redeem = j->redeem_invite(t.invite.secret);
  URBIS_REQUIRE_OK(redeem);
  URBIS_REQUIRE_OK(t.a->apply(witnessed(*t.a.replica, redeem->envelope)));
}

TEST_CASE("invite: expiry is judged on the witness's receipt, never on the redeem's own clock") {
  Invited t(Role::Admin, 60);  // an admin invite: the prize of issue 10's takeover
  Identity invite = invite_identity(t.invite.secret);
  const uint64_t expires = t.invite.expires_ms;

  // A joiner whose clock is past the expiry is told so before anything is sent.
  Device j{kJoiner, ":memory:", {}, expires + 1000};
  pull(*j.replica, *t.a.replica, t.space);
  auto r = j->redeem_invite(t.invite.secret);
  CHECK(r.code() == Code::Expired);
  CHECK(r.status().message().find(utc_time_text(expires)) != std::string::npos);

  auto key = space_key(*t.a.replica, t.space, invite, 1);
  REQUIRE(key.has_value());
  Device k{kOther};
  pb::Membership m = redeem_body(invite.device(), k.key, Role::Admin);
  add_grant(m, 1, *key, k.key);
  const Hash hash = hash_of(*t.a.replica, t.space);
  const auto vv = *t.a->version_vector(t.space);
  auto unchanged = [&] {
    CHECK(hash_of(*t.a.replica, t.space) == hash);
    CHECK(*t.a->version_vector(t.space) == vv);
    CHECK_FALSE(member_in(*t.a.replica, t.space, k.key).has_value());
  };
  // The attack: a redeem back-dated to 1970, made after the expiry. Without
  // a receipt it counts nowhere, whatever its HLC says.
  const Bytes back_dated = forge_redeem(invite, t.space, m, 1);
  auto bare = t.a->apply(back_dated);
  INFO(outcome(bare));
  CHECK(bare.code() == Code::Forbidden);
  CHECK(bare.status().message().find("receipt") != std::string::npos);
  unchanged();
  // The witness, whose clock is past the expiry, refuses to receipt it.
  Device node_later{kThird, ":memory:", {}, expires + 1};
  pull(*node_later.replica, *t.a.replica, t.space);
  auto refused = node_later->witness_redeem(back_dated, witness_identity().device(), witness_sign());
  CHECK(refused.code() == Code::Expired);
  // A receipt by a key the invite does not name (a node the redeemer runs).
  {
    Identity rogue = identity_for_seed(9001);
    auto rogue_receipt = t.a->witness_redeem(back_dated, rogue.device(), [&](ByteView msg) { return rogue.sign(msg); });
    URBIS_REQUIRE_OK(rogue_receipt);
    CHECK_FALSE(rogue_receipt->has_value());  // not this invite's witness: nothing signed
    pb::Envelope e = parse_envelope(back_dated);
    auto* rc = e.mutable_receipt();
    rc->set_witness(id_str(rogue.device()));
    rc->set_time_ms(expires - 1000);
    auto sig =
        rogue.sign(receipt_message(view_of(e.header()), view_of(e.body()), view_of(e.signature()), expires - 1000));
    rc->set_signature(sig.data(), sig.size());
    auto forged = t.a->apply(serialize(e));
    INFO(outcome(forged));
    CHECK(forged.code() == Code::Forbidden);
    unchanged();
  }
  // The witness's receipt, its time edited to before the expiry.
  {
    pb::Envelope e = parse_envelope(witnessed(*t.a.replica, forge_redeem(invite, t.space, m, 2)));
    e.mutable_receipt()->set_time_ms(expires - 1000);
    // (t.a's clock is before the expiry, so this receipt was genuine; only
    // its time is edited.)
    auto edited = t.a->apply(serialize(e));
    INFO(outcome(edited));
    CHECK(edited.code() == Code::BadSignature);
    unchanged();
  }
  // A genuine receipt dated after the expiry (a witness that signs late).
  {
    pb::Envelope e = parse_envelope(back_dated);
    auto* rc = e.mutable_receipt();
    rc->set_witness(id_str(witness_identity().device()));
    rc->set_time_ms(expires + 1);
    auto sig = witness_identity().sign(
        receipt_message(view_of(e.header()), view_of(e.body()), view_of(e.signature()), expires + 1));
    rc->set_signature(sig.data(), sig.size());
    auto late = t.a->apply(serialize(e));
    INFO(outcome(late));
    CHECK(late.code() == Code::Expired);
    unchanged();
  }
  // A receipt on anything but a redeem is malformed.
  {
    Transaction tx = t.a->begin(t.space);
    tx.set(t.project, "stage", "operation");
    auto own = t.a->commit(tx);
    URBIS_REQUIRE_OK(own);
    pb::Envelope e = parse_envelope(own->envelope);
    e.mutable_receipt()->set_witness(id_str(witness_identity().device()));
    Device other{kViewer};
    pull(*other.replica, *t.a.replica, t.space);
    CHECK(other->apply(serialize(e)).code() == Code::Malformed);
  }
  // A redeem dated before the change that made its invite is malformed: the
  // membership replay order (HLC) must follow the graph (docs/membership.md).
  {
    auto too_old = t.a->apply(witnessed(*t.a.replica, back_dated));
    INFO(outcome(too_old));
    CHECK(too_old.code() == Code::Malformed);
    CHECK_FALSE(member_in(*t.a.replica, t.space, k.key).has_value());
  }
  // The control: received by the witness before the expiry (its clock), the
  // redeem counts everywhere, whatever HLC it carries after its invite's
  // (here the lowest such, which no clock would give).
  const uint64_t made_at = parse_header(parse_envelope(t.invite.change.envelope)).hlc();
  const Bytes late_dated = forge_redeem(invite, t.space, m, (made_at >> 16) + 1);
  const Hash before = hash_of(*t.a.replica, t.space);
  auto on_time = t.a->apply(witnessed(*t.a.replica, late_dated));
  INFO(outcome(on_time));
  REQUIRE(on_time.is_ok());
  CHECK(member_in(*t.a.replica, t.space, k.key)->role == Role::Admin);
  CHECK(hash_of(*t.a.replica, t.space) != before);
}

TEST_CASE("invite: an envelope is canonical: a relay cannot re-encode it and fork its author's chain") {
  Invited t;
  Transaction tx = t.a->begin(t.space);
  tx.set(t.project, "stage", "operation");
  auto own = t.a->commit(tx);
  URBIS_REQUIRE_OK(own);
  Device b2{kViewer};
  pull(*b2.replica, *t.b.replica, t.space);
  const Hash hash = hash_of(*b2.replica, t.space);
  // An unknown field appended (the signature covers header and body only).
  Bytes padded = own->envelope;
  padded.push_back(0x7a);  // field 15, length-delimited
  padded.push_back(0x01);
  padded.push_back(0x00);
  CHECK(b2->apply(padded).code() == Code::Malformed);
  // The header field repeated (parsers keep the last one).
  pb::Envelope e = parse_envelope(own->envelope);
  std::string twice = e.SerializeAsString();
  pb::Envelope only_header;
  only_header.set_header(e.header());
  twice = only_header.SerializeAsString() + twice;
  CHECK(b2->apply(Bytes(twice.begin(), twice.end())).code() == Code::Malformed);
  CHECK(hash_of(*b2.replica, t.space) == hash);
  // The original applies.
  CHECK(b2->apply(own->envelope).is_ok());
}

TEST_CASE("invite: a node stops listing (and so serving) an invite once it expires") {
  Invited t(Role::Editor, 60);
  auto now_env = make_deterministic_env(98, kTestStartMs + 1000);
  auto later_env = make_deterministic_env(97, t.invite.expires_ms + 1);
  auto now_node = Replica::open(":memory:", std::nullopt, *now_env, {.materialize = false});
  auto later_node = Replica::open(":memory:", std::nullopt, *later_env, {.materialize = false});
  URBIS_REQUIRE_OK(now_node);
  URBIS_REQUIRE_OK(later_node);
  pull(**now_node, *t.a.replica, t.space);
  pull(**later_node, *t.a.replica, t.space);
  CHECK(member_in(**now_node, t.space, t.invite.key).has_value());
  CHECK_FALSE(member_in(**later_node, t.space, t.invite.key).has_value());
  CHECK(member_in(**later_node, t.space, t.b.key).has_value());
  // The state (and its hash) does not depend on the clock.
  CHECK(hash_of(**now_node, t.space) == hash_of(**later_node, t.space));
  // A new epoch started after the expiry is not granted to the invite (A's
  // identity with a later clock: the same key, since only the clock differs).
  Device admin_later{kAdmin, ":memory:", {}, t.invite.expires_ms + 5000};
  REQUIRE(admin_later.key == t.a.key);
  pull(*admin_later.replica, *t.a.replica, t.space);
  URBIS_REQUIRE_OK(admin_later->remove_member(t.space, t.b.key));
  Identity invite = invite_identity(t.invite.secret);
  CHECK(space_key(*admin_later.replica, t.space, invite, 1).has_value());
  CHECK_FALSE(space_key(*admin_later.replica, t.space, invite, 2).has_value());
  CHECK(space_key(*admin_later.replica, t.space, identity_for_seed(kAdmin), 2).has_value());
  // Before the expiry it is (its redeemer will need the key).
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
  CHECK(space_key(*t.a.replica, t.space, invite, 2).has_value());
}

TEST_CASE("invite: a redeem may not give more than the invite") {
  Invited t;  // an editor invite
  Identity invite = invite_identity(t.invite.secret);
  auto key = space_key(*t.a.replica, t.space, invite, 1);
  REQUIRE(key.has_value());
  Device j{kJoiner}, third{kThird};
  const uint64_t at = kTestStartMs + 5000;
  const Hash hash = hash_of(*t.a.replica, t.space);
  const auto vv = *t.a->version_vector(t.space);

  struct Case {
    std::string what;
    pb::Membership m;
    Code code;
  };
  std::vector<Case> cases;
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Admin);
    add_grant(m, 1, *key, j.key);
    cases.push_back({"a higher role", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    auto* u = m.add_updates();
    u->set_device(id_str(third.key));
    u->set_role(pb::ROLE_VIEWER);
    add_grant(m, 1, *key, j.key);
    cases.push_back({"two devices", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    add_grant(m, 1, *key, j.key);
    add_grant(m, 1, *key, third.key);
    cases.push_back({"a grant to a third device", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    m.mutable_updates(0)->set_role(pb::ROLE_VIEWER);
    cases.push_back({"the invite keeping a role", m, Code::Forbidden});
  }
  {
    pb::Membership m;
    auto* u = m.add_updates();
    u->set_device(id_str(j.key));
    u->set_role(pb::ROLE_EDITOR);
    cases.push_back({"the invite not giving up its role", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), t.b.key, Role::Editor);
    cases.push_back({"an existing member", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    m.set_new_epoch(2);
    cases.push_back({"a new epoch", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    auto* c = m.add_cutoffs();
    c->set_device(id_str(t.b.key));
    c->set_seq(1);
    cases.push_back({"a cutoff", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    m.mutable_updates(1)->set_invite_expires_ms(at + 100'000);
    cases.push_back({"a new invite", m, Code::Forbidden});
  }
  {
    pb::Membership m = redeem_body(invite.device(), j.key, Role::Editor);
    m.mutable_updates(1)->set_role(pb::ROLE_NONE);
    cases.push_back({"no role for the device", m, Code::Forbidden});
  }
  for (const Case& c : cases) {
    CAPTURE(c.what);
    auto r = t.a->apply(forge_redeem(invite, t.space, c.m, at));
    INFO(outcome(r));
    CHECK(r.code() == c.code);
    CHECK(hash_of(*t.a.replica, t.space) == hash);
    CHECK(*t.a->version_vector(t.space) == vv);
  }
  // An invite cannot be made from a key in use (here an existing member's).
  pb::Membership reuse;
  auto* u = reuse.add_updates();
  u->set_device(id_str(t.b.key));
  u->set_role(pb::ROLE_VIEWER);
  u->set_invite_expires_ms(at + 100'000);
  auto log = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(log);
  Hash a_last;
  for (const auto& raw : *log)
    if (parse_header(parse_envelope(raw)).author() == id_str(t.a.key)) a_last = envelope_hash(raw);
  Identity a_id = identity_for_seed(kAdmin);
  auto bad_invite =
      t.a->apply(forge_membership(a_id, t.space, {head_seq(*t.a.replica, t.space, t.a.key) + 1, a_last}, 1, reuse));
  INFO(outcome(bad_invite));
  CHECK(bad_invite.code() == Code::Malformed);

  // The control: the same shape, within the invite's rights, is accepted.
  pb::Membership ok = redeem_body(invite.device(), j.key, Role::Commenter);
  add_grant(ok, 1, *key, j.key);
  auto r = t.a->apply(witnessed(*t.a.replica, forge_redeem(invite, t.space, ok, at)));
  INFO(outcome(r));
  REQUIRE(r.is_ok());
  CHECK(member_in(*t.a.replica, t.space, j.key)->role == Role::Commenter);
}

TEST_CASE("invite: replicas that receive the changes in different orders converge") {
  // A admin, B editor; A invites I1 (editor) and I2 (viewer); J redeems I1
  // and writes; L redeems I2; B writes concurrently; A adds viewer V, then
  // removes B (a new epoch, granted to J and L, whom A knows by then); J
  // writes in the new epoch.
  Invited t;
  Device j{kJoiner}, l{kOther}, v{kViewer};
  auto second = t.a->create_invite(t.space, Role::Viewer, kHour, {witness_identity().device()});
  URBIS_REQUIRE_OK(second);
  pull(*j.replica, *t.a.replica, t.space);
  pull(*l.replica, *t.a.replica, t.space);
  auto j_redeem = j->redeem_invite(t.invite.secret);
  auto l_redeem = l->redeem_invite(second->secret);
  URBIS_REQUIRE_OK(j_redeem);
  URBIS_REQUIRE_OK(l_redeem);
  URBIS_REQUIRE_OK(j->apply(witnessed(*t.a.replica, j_redeem->envelope)));
  URBIS_REQUIRE_OK(l->apply(witnessed(*t.a.replica, l_redeem->envelope)));
  Transaction jt = j->begin(t.space);
  jt.set(t.project, "stage", "from J");
  URBIS_REQUIRE_OK(j->commit(jt));
  Transaction bt = t.b->begin(t.space);
  bt.set(t.project, "budget", 1200);
  URBIS_REQUIRE_OK(t.b->commit(bt));
  URBIS_REQUIRE_OK(t.a->add_member(t.space, v.key, Role::Viewer));
  pull(*t.a.replica, *j.replica, t.space);
  pull(*t.a.replica, *l.replica, t.space);
  pull(*t.a.replica, *t.b.replica, t.space);
  URBIS_REQUIRE_OK(t.a->remove_member(t.space, t.b.key));
  pull(*j.replica, *t.a.replica, t.space);
  CHECK(j->space(t.space)->epoch == 2);
  Transaction jt2 = j->begin(t.space);
  jt2.set_text(t.project, "summary", "en", "Written in epoch two by J");
  URBIS_REQUIRE_OK(j->commit(jt2));
  pull(*t.a.replica, *j.replica, t.space);

  auto all = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(all);
  const Hash reference = hash_of(*t.a.replica, t.space);
  CHECK(t.a->get(t.space, t.project)->text("summary", "en")->winner.value == "Written in epoch two by J");

  Identity v_id = identity_for_seed(kViewer);
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    std::vector<Bytes> order = *all;
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    auto env = make_deterministic_env(1000 + seed);
    auto wrapped = v_id.wrap("pw", *env, PwhashCost::Minimal);
    URBIS_REQUIRE_OK(wrapped);
    auto reader_id = Identity::unwrap(*wrapped, "pw");
    URBIS_REQUIRE_OK(reader_id);
    auto reader = Replica::open(":memory:", std::move(reader_id).value(), *env);
    URBIS_REQUIRE_OK(reader);
    // Gossip: everything is offered again (what was refused for want of a
    // predecessor or a membership change goes in later) until a round
    // applies nothing.
    for (int round = 0; round < 64; ++round) {
      bool progress = false;
      for (const Bytes& e : order) {
        auto r = (*reader)->apply(e);
        progress |= r.is_ok() && *r == ApplyOutcome::Applied;
      }
      if (!progress) break;
    }
    CHECK(*(*reader)->version_vector(t.space) == *t.a->version_vector(t.space));
    CHECK(*(*reader)->held_count(t.space) == 0);
    CHECK(hash_of(**reader, t.space) == reference);
    auto p = (*reader)->get(t.space, t.project);
    URBIS_REQUIRE_OK(p);
    CHECK(p->fields.at("stage").winner.value == "from J");
    CHECK(p->text("summary", "en")->winner.value == "Written in epoch two by J");
    CHECK(member_in(**reader, t.space, j.key)->role == Role::Editor);
    CHECK(member_in(**reader, t.space, l.key)->role == Role::Viewer);
    CHECK_FALSE(member_in(**reader, t.space, t.invite.key).has_value());
  }
}

// Attack (review): a relay adds a receipt to the redeem of a legacy invite
// (one naming no witness, as stores from before witnesses hold, or as an
// admin may still write). The receipt was not checked there, so the relay
// gave replicas two encodings of the invite's one change: a fork of its
// chain (each copy refuses the other, BrokenChain), and a receipt of any
// junk the relay likes stored in every log.
TEST_CASE("invite: a legacy invite's redeem carries no receipt: a relay cannot re-encode it") {
  Invited t;
  Identity admin = identity_for_seed(kAdmin);
  REQUIRE(admin.device() == t.a.key);
  auto log = t.a->changes_since(t.space, {});
  URBIS_REQUIRE_OK(log);
  // The admin's invite, as a legacy invite: the same change without witnesses.
  std::vector<Bytes> legacy_log;
  for (const Bytes& raw : *log) {
    pb::Envelope e = parse_envelope(raw);
    pb::Header h = parse_header(e);
    pb::Membership m;
    if (h.kind() == pb::CHANGE_MEMBERSHIP && m.ParseFromString(e.body()) && m.updates_size() == 1 &&
        m.updates(0).invite_expires_ms() != 0) {
      m.mutable_updates(0)->clear_invite_witnesses();
      legacy_log.push_back(sign_envelope(admin, e.header(), m.SerializeAsString()));
    } else {
      legacy_log.push_back(raw);
    }
  }
  Device x{kViewer}, y{kThird}, j{kJoiner};
  for (Device* d : {&x, &y, &j})
    for (const Bytes& raw : legacy_log) URBIS_REQUIRE_OK(d->replica->apply(raw));
  auto redeem = j->redeem_invite(t.invite.secret);
  URBIS_REQUIRE_OK(redeem);
  // The honest copy applies (legacy rule: judged on its HLC).
  auto bare = x->apply(redeem->envelope);
  INFO(outcome(bare));
  REQUIRE(bare.is_ok());
  // The relay's copy: the same change with a junk receipt.
  pb::Envelope e = parse_envelope(redeem->envelope);
  auto* rc = e.mutable_receipt();
  rc->set_witness(std::string(32, 'w'));
  rc->set_time_ms(1);
  rc->set_signature(std::string(64, 's'));
  const Hash before = hash_of(*y.replica, t.space);
  auto relayed = y->apply(serialize(e));
  INFO(outcome(relayed));
  CHECK(relayed.code() == Code::Malformed);
  CHECK(hash_of(*y.replica, t.space) == before);
  // The honest copy still applies there: one encoding of the change.
  auto honest = y->apply(redeem->envelope);
  INFO(outcome(honest));
  CHECK(honest.is_ok());
  CHECK(hash_of(*y.replica, t.space) == hash_of(*x.replica, t.space));
}

}  // namespace
}  // namespace urbis
