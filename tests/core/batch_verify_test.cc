// One signature verification per run of an author's changes in a batch
// (replica.cc, endorsed_by_run): what a forger, a relay and a member who
// signs badly can and cannot get through it. And what a batch keeps from one
// change to the next (Replica::Impl::ApplyRun, WholeTx): a membership change
// in between is seen by the changes after it, and a change that fails while
// it is written fails the whole batch.

#include <optional>
#include <string>
#include <vector>

#include "forge_util.h"
#include "store_util.h"
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

// Tx 1 of `who` sets "n" of a new task to `n`; later ones set it on the same
// task. Returns the envelope.
Bytes set_n(Device& who, const SpaceId& space, std::optional<EntityId>& task, int n) {
  Transaction tx = who->begin(space);
  if (!task) task = tx.create("task");
  tx.set(*task, "n", n);
  auto info = who->commit(tx);
  URBIS_REQUIRE_OK(info);
  return info->envelope;
}

int n_of(Device& who, const SpaceId& space, const EntityId& task) {
  auto e = who->get(space, task);
  URBIS_REQUIRE_OK(e);
  return e->fields.at("n").winner.value.get<int>();
}

TEST_CASE("batch: a removal between an author's changes counts for the changes after it, as one by one") {
  Device owner{521}, writer{522}, reader{523};
  auto s = owner->create_space("Removal in a batch");
  REQUIRE(s.is_ok());
  const SpaceId space = *s;
  URBIS_REQUIRE_OK(owner->add_member(space, writer.key, Role::Editor));
  URBIS_REQUIRE_OK(owner->add_member(space, reader.key, Role::Viewer));
  pull(*writer.replica, *owner.replica, space);
  // The writer sets n = 1 then n = 2; the owner has seen only the first when
  // it removes the writer: its chain is cut after change 1.
  std::optional<EntityId> task;
  const Bytes first = set_n(writer, space, task, 1);
  const Bytes second = set_n(writer, space, task, 2);
  URBIS_REQUIRE_OK(owner->apply(first));
  URBIS_REQUIRE_OK(owner->remove_member(space, writer.key));
  // A catch-up brings the owner's log (the writer's first change, then the
  // removal) and the writer's second change after it, in one batch.
  auto log = owner->changes_since(space, {});
  URBIS_REQUIRE_OK(log);
  std::vector<Bytes> batch = *log;
  batch.push_back(second);
  const auto got = reader->apply_batch(batch);
  REQUIRE(got.size() == batch.size());
  for (size_t i = 0; i + 1 < got.size(); ++i) CHECK(outcome_name(got[i]) == "Applied");
  CHECK(n_of(reader, space, *task) == 1);  // the second change does not count
  // The same changes one by one: the same state.
  Device one_by_one{523};
  for (const Bytes& c : batch) (void)one_by_one->apply(c);
  CHECK(n_of(one_by_one, space, *task) == 1);
  CHECK(hash_of(*reader.replica, space) == hash_of(*one_by_one.replica, space));
  CHECK(hash_of(*reader.replica, space) == hash_of(*owner.replica, space));
}

TEST_CASE("batch: a change that fails while it is written fails its whole batch, and nothing of it is kept") {
  const std::string path = temp_db("batch-broken.db");
  Run run;
  Device reader{502, path};
  {
    auto log = run.owner->changes_since(run.space, {});
    URBIS_REQUIRE_OK(log);
    for (const Bytes& c : *log)
      if (parse_header(parse_envelope(c)).seq() <= 2) URBIS_REQUIRE_OK(reader->apply(c));
  }
  const Hash before = hash_of(*reader.replica, run.space);
  const auto vv_before = reader->version_vector(run.space);
  URBIS_REQUIRE_OK(vv_before);
  // The store fails the sixth change's value (as a full disk would, mid-batch).
  exec_sql(path,
           "CREATE TRIGGER fail_five BEFORE INSERT ON vals WHEN NEW.value = '5' "
           "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;");
  const auto got = reader->apply_batch(run.changes);
  REQUIRE(got.size() == run.changes.size());
  for (const auto& r : got) {
    CHECK(!r.is_ok());
    INFO(outcome_name(r));
    CHECK(outcome_name(r).find("the disk is full") != std::string::npos);
  }
  CHECK(hash_of(*reader.replica, run.space) == before);
  CHECK(*reader->version_vector(run.space) == *vv_before);
  CHECK(query_int(path, "SELECT count(*) FROM vals") == 0);
  // A local commit that fails the same way leaves nothing either, and the
  // next one takes the same seq.
  {
    Transaction tx = reader->begin(run.space);
    tx.set(tx.create("task"), "n", 5);
    CHECK(reader->commit(tx).code() == Code::Storage);
  }
  CHECK(hash_of(*reader.replica, run.space) == before);
  CHECK(*reader->version_vector(run.space) == *vv_before);
  // Once the store works again, the same batch applies whole.
  exec_sql(path, "DROP TRIGGER fail_five");
  for (const auto& r : reader->apply_batch(run.changes)) CHECK(outcome_name(r) == "Applied");
  CHECK(hash_of(*reader.replica, run.space) == hash_of(*run.owner.replica, run.space));
  std::optional<EntityId> task;
  const Bytes own = set_n(reader, run.space, task, 5);
  CHECK(parse_header(parse_envelope(own)).seq() == 1);
  URBIS_REQUIRE_OK(run.owner->apply(own));
  CHECK(hash_of(*reader.replica, run.space) == hash_of(*run.owner.replica, run.space));
}

// The changes of `from` that `to` lacks, by author: {author's, others'}.
std::pair<std::vector<Bytes>, std::vector<Bytes>> lacking_by(Replica& to, Replica& from, const SpaceId& space,
                                                             const DeviceKey& author) {
  VersionVector vv;
  if (auto have = to.version_vector(space); have.is_ok()) vv = *have;
  auto log = from.changes_since(space, vv);
  URBIS_REQUIRE_OK(log);
  std::pair<std::vector<Bytes>, std::vector<Bytes>> out;
  for (const Bytes& c : *log)
    (parse_header(parse_envelope(c)).author() == id_str(author) ? out.first : out.second).push_back(c);
  return out;
}

// An owner, an editor (writer) and a viewer (reader) whose store is a file
// (`path`), so that a test can make that store fail (a trigger) as another
// program would; the writer and reader hold the owner's log.
struct OnFile {
  std::string path;
  Device owner, writer, reader;
  SpaceId space;
  OnFile(const std::string& name, uint64_t seed)
      : path(temp_db(name)), owner(seed), writer(seed + 1), reader(seed + 2, path) {
    auto s = owner->create_space(name);
    REQUIRE(s.is_ok());
    space = *s;
    URBIS_REQUIRE_OK(owner->add_member(space, writer.key, Role::Editor));
    URBIS_REQUIRE_OK(owner->add_member(space, reader.key, Role::Viewer));
    pull(*writer.replica, *owner.replica, space);
    pull(*reader.replica, *owner.replica, space);
  }
};

// SQLite rolls a whole transaction back itself on some failures (a full
// disk, an I/O error, out of memory); a trigger's RAISE(ROLLBACK) does the
// same. The batch [owner adds a member, writer's content] meets that in the
// membership change, then a second failure in the content change (`second`):
// nothing of the batch may be kept, and once the store works the same batch
// applies whole (a change half kept would be a Duplicate without values, or
// would fail every later batch on its own chain row).
TEST_CASE("batch: when the store ends the batch's transaction, nothing of the batch is kept") {
  // 0: the transaction ends, and nothing else fails; 1: the content
  // change's value fails too; 2: its chain head fails too.
  for (const int variant : {0, 1, 2}) {
    CAPTURE(variant);
    OnFile t("batch-lost-tx.db", 601);
    auto& [path, owner, writer, reader, space] = t;
    std::optional<EntityId> task;
    const Bytes content = set_n(writer, space, task, 5);
    URBIS_REQUIRE_OK(owner->apply(content));
    Device newcomer{604};
    URBIS_REQUIRE_OK(owner->add_member(space, newcomer.key, Role::Viewer));
    auto [mine, others] = lacking_by(*reader.replica, *owner.replica, space, owner.key);
    REQUIRE(mine.size() == 1);
    REQUIRE(others.size() == 1);
    const std::vector<Bytes> batch{mine[0], others[0]};
    const Hash before = hash_of(*reader.replica, space);
    const int64_t stored_before = query_int(path, "SELECT count(*) FROM changes");
    const std::string second =
        variant == 2 ? "CREATE TRIGGER fail_second BEFORE UPDATE OF head_seq ON authors WHEN NEW.pk = x'" +
                           writer.key.hex() + "' BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;"
        : variant == 1 ? "CREATE TRIGGER fail_second BEFORE INSERT ON vals WHEN NEW.value = '5' "
                         "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;"
                       : "CREATE TRIGGER fail_second BEFORE INSERT ON vals WHEN 0 BEGIN SELECT 1; END;";
    exec_sql(path,
             "CREATE TRIGGER lose_tx BEFORE INSERT ON authors BEGIN SELECT RAISE(ROLLBACK, 'disk I/O error'); END;" +
                 second);
    for (const auto& r : reader->apply_batch(batch)) {
      INFO(outcome_name(r));
      CHECK(!r.is_ok());
    }
    CHECK(head_seq(*reader.replica, space, writer.key) == 0);
    CHECK(query_int(path, "SELECT count(*) FROM changes") == stored_before);
    CHECK(hash_of(*reader.replica, space) == before);
    exec_sql(path, "DROP TRIGGER lose_tx; DROP TRIGGER fail_second;");
    for (const auto& r : reader->apply_batch(batch)) CHECK(outcome_name(r) == "Applied");
    CHECK(hash_of(*reader.replica, space) == hash_of(*owner.replica, space));
    CHECK(n_of(reader, space, *task) == 5);
  }
}

// Parking a change after a gap writes two rows (the change, the allowances'
// running totals): a failure between them keeps neither, and the rest of the
// batch applies.
TEST_CASE("batch: a change that cannot be held keeps nothing of it; the others apply") {
  OnFile t("batch-hold-fails.db", 611);
  auto& [path, owner, writer, reader, space] = t;
  std::optional<EntityId> task, other;
  const Bytes first = set_n(writer, space, task, 1);
  const Bytes second = set_n(writer, space, task, 2);
  const Bytes owners = set_n(owner, space, other, 3);
  exec_sql(path, "CREATE TRIGGER fail_usage BEFORE INSERT ON held_usage BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
  const auto got = reader->apply_batch({second, owners});
  REQUIRE(got.size() == 2);
  CHECK(got[0].code() == Code::Storage);
  CHECK(outcome_name(got[1]) == "Applied");
  CHECK(query_int(path, "SELECT count(*) FROM held") == 0);
  CHECK(query_int(path, "SELECT count(*) FROM held_usage") == 0);
  exec_sql(path, "DROP TRIGGER fail_usage;");
  CHECK(outcome_name(reader->apply(second)) == "Held");
  CHECK(outcome_name(reader->apply(first)) == "Applied");
  URBIS_REQUIRE_OK(owner->apply(first));
  URBIS_REQUIRE_OK(owner->apply(second));
  CHECK(hash_of(*reader.replica, space) == hash_of(*owner.replica, space));
  CHECK(n_of(reader, space, *task) == 2);
}

// Two admins (o, a) who rotated the key at once, each removing an editor:
// the space's key is unsound until one of them heals (the next content
// commit of either does so first; the other one has no key to write with).
struct TwoRotations {
  Device o, a, v1, v2;
  SpaceId space;
  explicit TwoRotations(uint64_t seed) : o(seed), a(seed + 1), v1(seed + 2), v2(seed + 3) {
    auto s = o->create_space("Two rotations");
    REQUIRE(s.is_ok());
    space = *s;
    URBIS_REQUIRE_OK(o->add_member(space, a.key, Role::Admin));
    URBIS_REQUIRE_OK(o->add_member(space, v1.key, Role::Editor));
    URBIS_REQUIRE_OK(o->add_member(space, v2.key, Role::Editor));
    pull(*a.replica, *o.replica, space);
    URBIS_REQUIRE_OK(o->remove_member(space, v1.key));
    URBIS_REQUIRE_OK(a->remove_member(space, v2.key));
    pull(*a.replica, *o.replica, space);
    pull(*o.replica, *a.replica, space);
  }
};

// The healer's content commit heals first (a membership change inside the
// commit's transaction). When the commit fails and rolls back, the heal goes
// with it, and so must what the replica keeps in memory of it (its resolver,
// its keys): its next membership change must not name the heal as a parent,
// nor its next commit use the heal's key.
TEST_CASE("commit_group: a group rolled back after a heal leaves no trace of the heal") {
  TwoRotations t(631);
  Device newcomer{635};
  int healers = 0;
  for (Device* d : {&t.o, &t.a}) {
    Device& other = d == &t.o ? t.a : t.o;
    std::vector<Transaction> group;
    group.push_back((*d)->begin(t.space));
    group.back().set(group.back().create("task"), "n", 1);
    group.push_back((*d)->begin(t.space));  // empty: refused, the group rolls back
    auto r = (*d)->commit_group(group);
    REQUIRE(!r.is_ok());
    if (r.code() == Code::NoKey) continue;  // not the healer: nothing written
    ++healers;
    URBIS_REQUIRE_OK((*d)->add_member(t.space, newcomer.key, Role::Viewer));
    auto [mine, rest] = lacking_by(*other.replica, *d->replica, t.space, d->key);
    for (const Bytes& c : rest) (void)other->apply(c);
    for (const Bytes& c : mine) {
      auto got = other->apply(c);
      INFO(outcome_name(got));
      CHECK(got.is_ok());
    }
    Transaction tx = (*d)->begin(t.space);
    tx.set(tx.create("task"), "n", 2);
    URBIS_REQUIRE_OK((*d)->commit(tx));
  }
  CHECK(healers == 1);
}

// The healer's commit heals first (its change takes the next seq), and an op
// of the commit that overwrites an earlier op of the same transaction names
// that op by the seq the content change has, not the heal's: the field holds
// the last value, with no conflict.
TEST_CASE("commit: a commit that heals first names its own ops by its own seq") {
  TwoRotations t(641);
  int healers = 0;
  for (Device* d : {&t.o, &t.a}) {
    Transaction tx = (*d)->begin(t.space);
    const EntityId task = tx.create("task");
    tx.set(task, "n", 1);
    tx.set(task, "n", 2);
    auto info = (*d)->commit(tx);
    if (info.code() == Code::NoKey) continue;  // not the healer
    URBIS_REQUIRE_OK(info);
    ++healers;
    auto e = (*d)->get(t.space, task);
    URBIS_REQUIRE_OK(e);
    CHECK(e->fields.at("n").winner.value == 2);
    CHECK(!e->fields.at("n").conflicted());
  }
  CHECK(healers == 1);
}

}  // namespace
}  // namespace urbis
