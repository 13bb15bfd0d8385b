// One signature verification per run of an author's changes in a batch
// (replica.cc, endorsed_by_run): what a forger, a relay and a member who
// signs badly can and cannot get through it.

#include <string>
#include <vector>

#include "forge_util.h"
#include "test_util.h"

namespace urbis {
namespace {

using namespace urbis::testing;

// An owner who wrote ten changes, and a member who has applied none of them.
struct Run {
  Device owner{501}, reader{502};
  SpaceId space;
  std::vector<Bytes> changes;  // the owner's ten changes, in order
  Run() {
    auto s = owner->create_space("Runs");
    REQUIRE(s.is_ok());
    space = *s;
    URBIS_REQUIRE_OK(owner->add_member(space, reader.key, Role::Editor));
    pull(*reader.replica, *owner.replica, space);
    for (int i = 0; i < 10; ++i) {
      Transaction tx = owner->begin(space);
      tx.set(tx.create("task"), "n", i);
      auto info = owner->commit(tx);
      URBIS_REQUIRE_OK(info);
      changes.push_back(info->envelope);
    }
  }
};

std::vector<std::string> outcomes(const std::vector<Result<ApplyOutcome>>& results) {
  std::vector<std::string> out;
  for (const auto& r : results) {
    std::string o = outcome_name(r);
    out.push_back(o.substr(0, o.find(':')));
  }
  return out;
}

// The state of a reader (another replica of the same identity) given the
// owner's membership changes and exactly the first `prefix` content changes.
Hash hash_after(const Run& run, size_t prefix) {
  Device other{502};
  auto log = run.owner.replica->changes_since(run.space, {});
  URBIS_REQUIRE_OK(log);
  for (const Bytes& c : *log)
    if (parse_header(parse_envelope(c)).seq() <= 2) URBIS_REQUIRE_OK(other->apply(c));
  // The owner's log starts with genesis and the reader's addition (seq 1, 2).
  for (size_t i = 0; i < prefix; ++i) URBIS_REQUIRE_OK(other->apply(run.changes[i]));
  return hash_of(*other.replica, run.space);
}

TEST_CASE("batch: a tampered change anywhere in a run is refused, what follows waits, nothing else changes") {
  for (size_t k : {size_t{0}, size_t{4}, size_t{9}}) {
    CAPTURE(k);
    Run run;
    std::vector<Bytes> batch = run.changes;
    // A relay flips a bit of the ciphertext: the change's hash changes, so
    // the next change no longer names it and the run is cut there.
    pb::Envelope e = parse_envelope(batch[k]);
    std::string body = e.body();
    body[body.size() / 2] ^= 1;
    e.set_body(body);
    batch[k] = serialize(e);
    auto got = outcomes(run.reader->apply_batch(batch));
    std::vector<std::string> want(10, "Applied");
    want[k] = "BadSignature";
    for (size_t i = k + 1; i < 10; ++i) want[i] = "Held";
    CHECK(got == want);
    CHECK(hash_of(*run.reader.replica, run.space) == hash_after(run, k));
    // The real change fills the gap.
    URBIS_REQUIRE_OK(run.reader->apply(run.changes[k]));
    CHECK(hash_of(*run.reader.replica, run.space) == hash_of(*run.owner.replica, run.space));
  }
}

TEST_CASE("batch: a bad signature on the last change of a run: each change is verified on its own") {
  Run run;
  std::vector<Bytes> batch = run.changes;
  pb::Envelope e = parse_envelope(batch.back());
  std::string sig = e.signature();
  sig[0] ^= 1;
  e.set_signature(sig);
  batch.back() = serialize(e);
  std::vector<std::string> want(10, "Applied");
  want.back() = "BadSignature";
  CHECK(outcomes(run.reader->apply_batch(batch)) == want);
  CHECK(hash_of(*run.reader.replica, run.space) == hash_after(run, 9));
  // Another author's change in between cuts the run: each part is judged by
  // its own last signature.
  Run again;
  std::vector<Bytes> mixed = again.changes;
  mixed.back() = batch.back();
  CHECK(outcomes(again.reader->apply_batch(mixed)) == want);
}

TEST_CASE("batch: a change its own author signed badly counts only with the next change, which names it") {
  Run run;
  // The reader, an editor, signs its change 1 with garbage and its change 2
  // properly, naming change 1 by hash.
  const Identity author = identity_for_seed(502);
  auto key = space_key(*run.owner.replica, run.space, author, 1);
  REQUIRE(key.has_value());
  const EntityId id = EntityId::from_string(std::string(16, 'e')).value();
  pb::Envelope first =
      parse_envelope(forge_content(author, run.space, {1, {}}, 1, body_setting(id, "task", "n", 1), *key));
  first.set_signature(std::string(64, 'x'));
  const Bytes bad = serialize(first);
  const Bytes next = forge_content(author, run.space, {2, envelope_hash(bad)}, 1, body_setting(id, "task", "n", 2),
                                   *key, (kTestStartMs + 5 * 60 * 1000 + 1) << 16);
  const Hash before = hash_of(*run.owner.replica, run.space);
  // Alone, it is refused; its successor alone waits for it.
  CHECK(outcomes(run.owner->apply_batch({bad})) == std::vector<std::string>{"BadSignature"});
  CHECK(outcomes(run.owner->apply_batch({next})) == std::vector<std::string>{"Held"});
  CHECK(hash_of(*run.owner.replica, run.space) == before);
  // Together (as a catch-up sends them, from the first change lacking), the
  // successor's signature vouches for both: the same on every replica.
  CHECK(outcomes(run.owner->apply_batch({bad, next})) == std::vector<std::string>{"Applied", "Duplicate"});
  Device third{504};
  URBIS_REQUIRE_OK(run.owner->add_member(run.space, third.key, Role::Viewer));
  auto log = run.owner->changes_since(run.space, {});
  URBIS_REQUIRE_OK(log);
  for (const std::string& o : outcomes(third->apply_batch(*log))) CHECK(o == "Applied");
  CHECK(hash_of(*third.replica, run.space) == hash_of(*run.owner.replica, run.space));
  auto e = third->get(run.space, id);
  URBIS_REQUIRE_OK(e);
  CHECK(e->fields.at("n").winner.value == 2);
  // A relay cannot do the same: a change signed by someone else in the run's
  // place does not carry the hash the author's next change names.
}

}  // namespace
}  // namespace urbis
