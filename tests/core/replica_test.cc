// Replica behaviour on one or two devices: writes and reads, merge rules,
// translations, sets, deletion, Discover queries, persistence, held changes
// and forward compatibility.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#ifndef __EMSCRIPTEN__
#include <thread>
#endif

#include "forge_util.h"
#include "replica_impl.h"
#include "store_util.h"
#include "test_util.h"

namespace urbis::testing {
namespace {

struct Pair {
  Device a{101}, b{202};
  SpaceId space;
  Pair() {
    auto s = a->create_space("Plan");
    REQUIRE(s.is_ok());
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Editor));
    pull(*b.replica, *a.replica, space);
  }
  void sync() {
    pull(*b.replica, *a.replica, space);
    pull(*a.replica, *b.replica, space);
  }
};

}  // namespace

TEST_CASE("a transaction becomes one change and reads back with its values") {
  Device a(1);
  auto space = a->create_space("Catalogue");
  URBIS_REQUIRE_OK(space);
  Transaction tx = a->begin(*space);
  EntityId p = tx.create("project");
  tx.set_text(p, "title", "es", "Movilidad eléctrica");
  tx.set(p, "budget", 125000);
  tx.set(p, "stage", "planning");
  tx.add(p, "sdgs", 11);
  tx.add(p, "sdgs", 7);
  auto info = a->commit(tx);
  URBIS_REQUIRE_OK(info);
  CHECK(info->seq == 2);  // seq 1 created the space
  CHECK(info->ops == 5);
  auto e = a->get(*space, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->type == "project");
  CHECK(e->fields.at("budget").winner.value == 125000);
  CHECK(e->fields.at("stage").winner.value == "planning");
  CHECK(e->sets.at("sdgs") == std::vector<nlohmann::json>{7, 11});
  CHECK(e->texts.at("title").original_locale == "es");
  CHECK(e->fields.at("stage").winner.author == a.key);

  auto vv = a->version_vector(*space);
  URBIS_REQUIRE_OK(vv);
  CHECK(vv->at(a.key) == 2);
}

// A catch-up (an apply_batch of kStaleBatch changes or more) leaves the
// entities it changed in stale_entities, in the same SQLite transaction; the
// next read refreshes them (schema.cc, version 8).
struct CatchUp {
  std::string path;
  Device a{301};
  std::unique_ptr<Device> b;
  SpaceId space;
  std::vector<EntityId> ids;

  explicit CatchUp(const std::string& name, int projects) : path(temp_db(name)) {
    auto s = a->create_space("Catch-up");
    REQUIRE(s.is_ok());
    space = *s;
    b = std::make_unique<Device>(302, path);
    URBIS_REQUIRE_OK(a->add_member(space, b->key, Role::Editor));
    Transaction tx = a->begin(space);
    for (int i = 0; i < projects; ++i) {
      ids.push_back(tx.create("project"));
      tx.set(ids.back(), "stage", "idea");
      tx.set_text(ids.back(), "title", "en", "Solar roof " + std::to_string(i));
    }
    URBIS_REQUIRE_OK(a->commit(tx));
    pull(*b->replica, *a.replica, space);
  }
  // A's one-op edits B lacks, applied by B as one batch; returns how many.
  size_t deliver(Replica& to) {
    auto vv = to.version_vector(space);
    REQUIRE(vv.is_ok());
    auto log = a->changes_since(space, *vv);
    REQUIRE(log.is_ok());
    for (const auto& r : to.apply_batch(*log)) CHECK(outcome_name(r) == "Applied");
    return log->size();
  }
  int64_t stale() { return query_int(path, "SELECT count(*) FROM stale_entities"); }
  size_t count(const Query& q, Replica& r) {
    auto found = r.find(space, q);
    REQUIRE(found.is_ok());
    return found->total;
  }
};

TEST_CASE("a catch-up batch refreshes summaries, facets and text at the next read, after a restart too") {
  CatchUp t("stale-entities.db", 40);
  // 64 one-op changes: 32 stages, 31 titles, one deletion.
  for (int i = 0; i < 64; ++i) {
    Transaction tx = t.a->begin(t.space);
    if (i == 63)
      tx.remove_entity(t.ids[39]);
    else if (i % 2 == 0)
      tx.set(t.ids[i / 2], "stage", "operation");
    else
      tx.set_text(t.ids[i / 2], "title", "en", "Wind farm " + std::to_string(i / 2));
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  REQUIRE(t.deliver(*t.b->replica) == 64);
  static_assert(kStaleBatch <= 64);
  CHECK(t.stale() == 33);
  CHECK(query_int(t.path, "SELECT count(*) FROM entities WHERE deleted") == 0);
  // get() reads values alone: the deletion shows before any refresh.
  CHECK((*t.b)->get(t.space, t.ids[39])->deleted);
  CHECK(t.stale() == 33);

  // Closed before any other read (a crash would do the same: the stale rows
  // were committed with the values), then opened again: the first find
  // refreshes.
  t.b.reset();
  t.b = std::make_unique<Device>(302, t.path);
  CHECK(t.stale() == 33);
  Query by_stage;
  by_stage.type = "project";
  by_stage.where = {{"stage", "operation"}};
  CHECK(t.count(by_stage, *t.b->replica) == 32);
  CHECK(t.stale() == 0);
  Query by_text;
  by_text.text = "wind";
  CHECK(t.count(by_text, *t.b->replica) == 31);
  by_text.text = "solar";
  CHECK(t.count(by_text, *t.b->replica) == 8);  // 9 left, one of them deleted
  CHECK(hash_of(*t.b->replica, t.space) == hash_of(*t.a.replica, t.space));
  // The same reads on the writer, which left its own puts to this read.
  CHECK(t.count(by_stage, *t.a.replica) == 32);

  // A small batch (a live push) refreshes before it commits.
  {
    Transaction tx = t.a->begin(t.space);
    tx.set(t.ids[35], "stage", "operation");
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  REQUIRE(t.deliver(*t.b->replica) == 1);
  CHECK(t.stale() == 0);
  CHECK(query_int(t.path, "SELECT count(*) FROM facets WHERE field='stage' AND value='operation'") == 33);
  URBIS_REQUIRE_OK((*t.b)->refresh());  // nothing stale: nothing to do
}

// A member added after the content gets the content first (its log order),
// unreadable until the grant that follows it; the grant rebuilds the space
// from its log, which rebuild_space reads in chunks (kRebuildChunk): a log of
// more than two chunks, and projects edited in the first and the last.
TEST_CASE("a grant after a long log rebuilds the whole log, chunk by chunk") {
  Device a{311}, b{312};
  auto s = a->create_space("Long log");
  REQUIRE(s.is_ok());
  const SpaceId space = *s;
  std::vector<EntityId> ids;
  for (int i = 0; i < 2500; ++i) {
    Transaction tx = a->begin(space);
    if (i < 3) {
      ids.push_back(tx.create("project"));
      tx.set_text(ids.back(), "title", "en", "Long log " + std::to_string(i));
    }
    tx.set(ids[static_cast<size_t>(i) % 3], "n", i);
    URBIS_REQUIRE_OK(a->commit(tx));
  }
  URBIS_REQUIRE_OK(a->add_member(space, b.key, Role::Viewer));
  auto log = a->changes_since(space, {});
  URBIS_REQUIRE_OK(log);
  REQUIRE(log->size() > 2500);
  for (size_t i = 0; i < log->size(); i += 100) {
    std::vector<Bytes> batch(log->begin() + static_cast<std::ptrdiff_t>(i),
                             log->begin() + static_cast<std::ptrdiff_t>(std::min(log->size(), i + 100)));
    for (const auto& r : b->apply_batch(batch)) CHECK(outcome_name(r) == "Applied");
  }
  CHECK(hash_of(*b.replica, space) == hash_of(*a.replica, space));
  for (size_t k = 0; k < 3; ++k) {
    auto e = b->get(space, ids[k]);
    URBIS_REQUIRE_OK(e);
    int last = static_cast<int>(k);  // the last i with i % 3 == k
    while (last + 3 < 2500) last += 3;
    CHECK(e->fields.at("n").winner.value == last);
  }
  Query q;
  q.text = "long";
  auto found = b->find(space, q);
  URBIS_REQUIRE_OK(found);
  CHECK(found->total == 3);
}

TEST_CASE("stale entities: refreshed in chunks, seen by a second connection, and a read never waits for a writer") {
  const int n = static_cast<int>(kStaleChunk) + 44;
  CatchUp t("stale-entities-chunks.db", n);
  for (int i = 0; i < n; ++i) {
    Transaction tx = t.a->begin(t.space);
    tx.set(t.ids[static_cast<size_t>(i)], "stage", "operation");
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  Query by_stage;
  by_stage.type = "project";
  by_stage.where = {{"stage", "operation"}};

  // A second connection on B's store has read already (nothing was stale).
  Device other{302, t.path};
  CHECK(t.count(by_stage, *other.replica) == 0);
  // B applies the catch-up; the other connection's next read sees it.
  REQUIRE(t.deliver(*t.b->replica) == static_cast<size_t>(n));
  CHECK(t.stale() == n);

  // While another process holds the store's write lock, a read goes on (it
  // does not wait the busy timeout for it: not measured here) and shows what
  // was last refreshed, refreshing nothing.
  {
    sqlite3* lock = nullptr;
    REQUIRE(sqlite3_open(t.path.c_str(), &lock) == SQLITE_OK);
    REQUIRE(sqlite3_exec(lock, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    CHECK(t.count(by_stage, *other.replica) == 0);
    CHECK(t.stale() == n);
    // An explicit refresh is the host's: it reports the lock (after
    // busy_timeout).
    CHECK((*other.replica).refresh().code() == Code::Storage);
    sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(lock);
  }
  // Then the other connection's read refreshes them all, over two chunks.
  CHECK(t.count(by_stage, *other.replica) == static_cast<size_t>(n));
  CHECK(t.stale() == 0);
  CHECK(t.count(by_stage, *t.b->replica) == static_cast<size_t>(n));
  CHECK(hash_of(*t.b->replica, t.space) == hash_of(*t.a.replica, t.space));
}

// A put commits its change and values and leaves its entity stale (schema
// v8's stale_entities, in the same transaction): the next find refreshes
// summary, facets and text once for every put since. It waits for the write
// lock to show its own puts (read your own writes), where a read of another
// connection's catch-up does not wait (the test above).
TEST_CASE("a put is refreshed by the next read, which waits for another writer to show it") {
  const std::string path = temp_db("stale-own-puts.db");
  auto device = std::make_unique<Device>(303, path);
  auto space = (*device)->create_space("Own puts");
  URBIS_REQUIRE_OK(space);
  std::vector<EntityId> ids;
  {
    Transaction tx = (*device)->begin(*space);
    for (int i = 0; i < 3; ++i) {
      ids.push_back(tx.create("project"));
      tx.set(ids.back(), "stage", "idea");
      tx.set_text(ids.back(), "title", "en", "Solar roof " + std::to_string(i));
    }
    URBIS_REQUIRE_OK((*device)->commit(tx));
  }
  auto stale = [&] { return query_int(path, "SELECT count(*) FROM stale_entities"); };
  auto count = [&](const Query& q) {
    auto found = (*device)->find(*space, q);
    REQUIRE(found.is_ok());
    return found->total;
  };
  CHECK(stale() == 3);
  Query by_stage;
  by_stage.where = {{"stage", "operation"}};
  Query by_text;
  by_text.text = "wind";
  CHECK(count(by_stage) == 0);
  CHECK(stale() == 0);

  // Five puts on two projects: two stale rows, refreshed once.
  for (int i = 0; i < 5; ++i) {
    Transaction tx = (*device)->begin(*space);
    if (i % 2 == 0)
      tx.set(ids[0], "stage", i == 4 ? "operation" : "planning");
    else
      tx.set_text(ids[1], "title", "en", "Wind farm " + std::to_string(i));
    URBIS_REQUIRE_OK((*device)->commit(tx));
  }
  CHECK(stale() == 2);
  // get() reads the values: the put shows without a refresh.
  CHECK((*device)->get(*space, ids[0])->fields.at("stage").winner.value == "operation");
  CHECK(stale() == 2);

  // Closed before any read (as a crash would), opened again: nothing lost.
  device.reset();
  device = std::make_unique<Device>(303, path);
  CHECK(stale() == 2);
  CHECK(count(by_stage) == 1);
  CHECK(count(by_text) == 1);
  CHECK(stale() == 0);

  // Another process holds the write lock when the next put's read comes:
  // the read waits for it (up to the busy timeout) and shows the put. A
  // read that did not wait would show the project still in planning. (Not
  // under wasm: no threads there, and the browser's store has one
  // connection.)
#ifndef __EMSCRIPTEN__
  {
    Transaction tx = (*device)->begin(*space);
    tx.set(ids[2], "stage", "operation");
    URBIS_REQUIRE_OK((*device)->commit(tx));
  }
  sqlite3* lock = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &lock) == SQLITE_OK);
  REQUIRE(sqlite3_exec(lock, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  std::thread release([lock] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  });
  CHECK(count(by_stage) == 2);
  release.join();
  sqlite3_close(lock);
  CHECK(stale() == 0);
#endif
}

TEST_CASE("an op on an unknown entity and an empty transaction are refused") {
  Device a(2);
  auto space = a->create_space("S");
  URBIS_REQUIRE_OK(space);
  Transaction empty = a->begin(*space);
  CHECK(a->commit(empty).code() == Code::InvalidArgument);
  Transaction tx = a->begin(*space);
  EntityId ghost;
  ghost.bytes[0] = 7;
  tx.set(ghost, "title", "x");
  CHECK(a->commit(tx).code() == Code::NotFound);
  auto vv = a->version_vector(*space);
  URBIS_REQUIRE_OK(vv);
  CHECK(vv->at(a.key) == 1);  // nothing was appended
  CHECK(a->get(*space, ghost).code() == Code::NotFound);
  SpaceId unknown;
  CHECK(a->get(unknown, ghost).code() == Code::UnknownSpace);
}

TEST_CASE("concurrent writes to one field are kept as a conflict until resolved") {
  Pair t;
  Transaction tx = t.a->begin(t.space);
  EntityId p = tx.create("project");
  tx.set(p, "stage", "idea");
  URBIS_REQUIRE_OK(t.a->commit(tx));
  t.sync();

  Transaction ta = t.a->begin(t.space);
  ta.set(p, "stage", "concept");
  URBIS_REQUIRE_OK(t.a->commit(ta));
  Transaction tb = t.b->begin(t.space);
  tb.set(p, "stage", "feasibility");
  URBIS_REQUIRE_OK(t.b->commit(tb));
  t.sync();

  auto ea = t.a->get(t.space, p), eb = t.b->get(t.space, p);
  URBIS_REQUIRE_OK(ea);
  URBIS_REQUIRE_OK(eb);
  const Register& r = ea->fields.at("stage");
  REQUIRE(r.conflicted());
  CHECK(r.conflicts.size() == 1);
  std::set<std::string> both{r.winner.value.get<std::string>(), r.conflicts[0].value.get<std::string>()};
  CHECK(both == std::set<std::string>{"concept", "feasibility"});
  CHECK(eb->fields.at("stage").winner.value == r.winner.value);
  CHECK(ea->conflicted_fields() == std::vector<std::string>{"stage"});
  CHECK(ea->to_json("en")["conflicts"]["stage"].size() == 2);

  // Resolving: a new value overwrites every value its writer saw.
  Transaction fix = t.b->begin(t.space);
  fix.set(p, "stage", "planning");
  URBIS_REQUIRE_OK(t.b->commit(fix));
  t.sync();
  for (Replica* rep : {t.a.replica.get(), t.b.replica.get()}) {
    auto e = rep->get(t.space, p);
    URBIS_REQUIRE_OK(e);
    CHECK_FALSE(e->fields.at("stage").conflicted());
    CHECK(e->fields.at("stage").winner.value == "planning");
  }
  CHECK(hash_of(*t.a.replica, t.space) == hash_of(*t.b.replica, t.space));
}

TEST_CASE("translatable fields: per-locale values, fallback chain, missing translations") {
  Device a(3);
  auto space = a->create_space("S");
  URBIS_REQUIRE_OK(space);
  Transaction tx = a->begin(*space);
  EntityId p = tx.create("practice");
  tx.set_text(p, "title", "ko", "스마트 가로등");
  tx.set_text(p, "summary", "ko", "에너지 절약");
  URBIS_REQUIRE_OK(a->commit(tx));
  Transaction tr = a->begin(*space);
  tr.set_text(p, "title", "en", "Smart street lights", "ko");
  URBIS_REQUIRE_OK(a->commit(tr));

  auto e = a->get(*space, p);
  URBIS_REQUIRE_OK(e);
  std::string shown;
  REQUIRE(e->text("title", "en", &shown));
  CHECK(shown == "en");
  CHECK(e->text("title", "ar", &shown)->winner.value == "스마트 가로등");  // falls back to the original
  CHECK(shown == "ko");
  CHECK(e->text("summary", "fr", &shown)->winner.value == "에너지 절약");
  CHECK(e->texts.at("title").original_locale == "ko");
  CHECK(e->missing_translations("en") == std::vector<std::string>{"summary"});
  CHECK(e->missing_translations("ar") == std::vector<std::string>{"summary", "title"});
  CHECK(e->missing_translations("ko").empty());
  CHECK(e->text("nothing", "en") == nullptr);
  auto j = e->to_json("ar");
  CHECK(j["values"]["title"] == "스마트 가로등");
  CHECK(j["translations"]["title"]["shown"] == "ko");
}

TEST_CASE("translatable fields: get and the summary agree on the original locale when a locale holds a conflict") {
  // Three editors write the title of one project, none seeing the others:
  // X in "en" first, then Z in "fr", then Y in "en" (their clocks 1 s
  // apart). "en" holds a conflict (Y wins, X stays live); of the locales'
  // winners (Y, Z) the earliest untranslated one is Z: the original is
  // "fr". get() once took the earliest of every live text (X, "en"), while
  // the summary that find shows took the winners'.
  Device owner{1201}, x{1202}, z{1203, ":memory:", {}, kTestStartMs + 1'000},
      y{1204, ":memory:", {}, kTestStartMs + 2'000};
  auto space = owner->create_space("Originals");
  URBIS_REQUIRE_OK(space);
  for (Device* d : {&x, &z, &y}) URBIS_REQUIRE_OK(owner->add_member(*space, d->key, Role::Editor));
  Transaction tx = owner->begin(*space);
  const EntityId p = tx.create("project");
  tx.set(p, "stage", "idea");
  URBIS_REQUIRE_OK(owner->commit(tx));
  for (Device* d : {&x, &z, &y}) pull(*d->replica, *owner.replica, *space);
  const std::pair<Device*, std::pair<const char*, const char*>> writes[] = {
      {&x, {"en", "Xylophone parks"}}, {&z, {"fr", "Zones vertes"}}, {&y, {"en", "Yards of green"}}};
  for (const auto& [d, text] : writes) {
    Transaction t = (*d)->begin(*space);
    t.set_text(p, "title", text.first, text.second);
    URBIS_REQUIRE_OK((*d)->commit(t));
  }
  for (Device* d : {&x, &z, &y}) pull(*owner.replica, *d->replica, *space);

  auto e = owner->get(*space, p);
  URBIS_REQUIRE_OK(e);
  const auto& title = e->texts.at("title");
  REQUIRE(title.locales.at("en").conflicts.size() == 1);  // X, live beside the winner
  CHECK(title.locales.at("en").winner.value == "Yards of green");
  CHECK(title.original_locale == "fr");
  Query q;
  q.type = "project";
  q.lang = "ar";  // untranslated: the hit's title is the original's
  auto found = owner->find(*space, q);
  URBIS_REQUIRE_OK(found);
  REQUIRE(found->hits.size() == 1);
  CHECK(found->hits[0].title == "Zones vertes");  // the summary's original
}

TEST_CASE("sets are add-wins: a concurrent add survives a remove that did not see it") {
  Pair t;
  Transaction tx = t.a->begin(t.space);
  EntityId p = tx.create("project");
  tx.add(p, "tags", "pilot");
  tx.add(p, "tags", "iot");
  URBIS_REQUIRE_OK(t.a->commit(tx));
  t.sync();

  Transaction ta = t.a->begin(t.space);
  ta.remove(p, "tags", "pilot");
  ta.remove(p, "tags", "iot");
  URBIS_REQUIRE_OK(t.a->commit(ta));
  Transaction tb = t.b->begin(t.space);
  tb.add(p, "tags", "pilot");  // concurrent re-add
  URBIS_REQUIRE_OK(t.b->commit(tb));
  t.sync();
  for (Replica* rep : {t.a.replica.get(), t.b.replica.get()}) {
    auto e = rep->get(t.space, p);
    URBIS_REQUIRE_OK(e);
    CHECK(e->sets["tags"] == std::vector<nlohmann::json>{"pilot"});
  }
}

TEST_CASE("re-adding an element already in a set keeps one live value, not one per add") {
  const std::string path = temp_db("readd.db");
  Device a{121, path};
  auto s = a->create_space("Tags");
  URBIS_REQUIRE_OK(s);
  EntityId p;
  for (int i = 0; i < 50; ++i) {
    Transaction tx = a->begin(*s);
    if (i == 0) p = tx.create("project");
    tx.add(p, "tags", "pilot");
    if (i % 10 == 0) tx.add(p, "tags", "iot");
    URBIS_REQUIRE_OK(a->commit(tx));
  }
  auto e = a->get(*s, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->sets["tags"] == std::vector<nlohmann::json>{"iot", "pilot"});
  // A space's cost must not grow with how often its sets were edited.
  CHECK(query_int(path, "SELECT count(*) FROM vals WHERE kind=2") == 2);
}

TEST_CASE(
    "in one transaction an op overwrites the earlier op of its own register, not a text whose locale is the element") {
  // A set element's key is its JSON ("1"), a text's its locale ("1"): two
  // registers of one field. A text between an add and a remove of the
  // element must not hide the add from the remove, nor from a re-add.
  const std::string path = temp_db("registers.db");
  Device a{122, path};
  auto s = a->create_space("Registers");
  URBIS_REQUIRE_OK(s);
  Transaction tx = a->begin(*s);
  const EntityId p = tx.create("project");
  tx.add(p, "tags", 1);
  tx.set_text(p, "tags", "1", "one");
  tx.remove(p, "tags", 1);
  tx.add(p, "sdgs", 7);
  tx.set_text(p, "sdgs", "7", "seven");
  tx.add(p, "sdgs", 7);
  URBIS_REQUIRE_OK(a->commit(tx));
  auto e = a->get(*s, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->sets["tags"].empty());
  CHECK(e->sets["sdgs"] == std::vector<nlohmann::json>{7});
  CHECK(e->texts.at("tags").locales.at("1").winner.value == "one");
  CHECK(query_int(path, "SELECT count(*) FROM vals WHERE kind=2") == 1);  // one live add of 7
}

TEST_CASE("a deleted entity stays deleted under concurrent edits and can be restored") {
  Pair t;
  Transaction tx = t.a->begin(t.space);
  EntityId p = tx.create("need");
  tx.set(p, "sector", "water");
  URBIS_REQUIRE_OK(t.a->commit(tx));
  t.sync();

  Transaction del = t.a->begin(t.space);
  del.remove_entity(p);
  URBIS_REQUIRE_OK(t.a->commit(del));
  Transaction edit = t.b->begin(t.space);
  edit.set(p, "sector", "waste");
  URBIS_REQUIRE_OK(t.b->commit(edit));
  t.sync();

  auto e = t.b->get(t.space, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->deleted);
  CHECK(e->fields.at("sector").winner.value == "waste");  // the edit is kept, recoverable
  Query q;
  q.type = "need";
  CHECK(t.b->find(t.space, q)->total == 0);
  q.include_deleted = true;
  CHECK(t.b->find(t.space, q)->total == 1);

  Transaction back = t.b->begin(t.space);
  back.restore_entity(p);
  URBIS_REQUIRE_OK(t.b->commit(back));
  t.sync();
  auto r = t.a->get(t.space, p);
  URBIS_REQUIRE_OK(r);
  CHECK_FALSE(r->deleted);
  CHECK(r->fields.at("sector").winner.value == "waste");
}

TEST_CASE("Discover: text in any script, facets, type, sort and paging") {
  Device a(4);
  auto space = a->create_space("Catalogue");
  URBIS_REQUIRE_OK(space);
  struct P {
    const char* locale;
    const char* title;
    const char* sector;
    const char* stage;
  };
  const P projects[] = {
      {"ko", "스마트 교통 신호 시스템", "mobility", "implementation"},
      {"zh", "智慧城市水务管理平台", "water", "planning"},
      {"ar", "مدينة ذكية للطاقة الشمسية", "energy", "planning"},
      {"ru", "Умный город: электробусы", "mobility", "planning"},
      {"tr", "Akıllı şehir atık yönetimi", "waste", "idea"},
      {"en", "Open data portal", "e-government", "completed"},
  };
  Transaction tx = a->begin(*space);
  for (const auto& p : projects) {
    EntityId id = tx.create("project");
    tx.set_text(id, "title", p.locale, p.title);
    tx.set(id, "sector", p.sector);
    tx.set(id, "stage", p.stage);
    tx.add(id, "tags", "demo");
  }
  EntityId city = tx.create("city");
  tx.set_text(city, "name", "en", "Seoul traffic city");
  URBIS_REQUIRE_OK(a->commit(tx));

  auto count = [&](Query q) {
    auto r = a->find(*space, q);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    CHECK(r->hits.size() == std::min(r->total, q.limit));
    return r->total;
  };
  Query q;
  q.text = "교통";  // a two-syllable Korean word inside a longer title
  CHECK(count(q) == 1);
  q.text = "水务";
  CHECK(count(q) == 1);
  q.text = "الشمسية";
  CHECK(count(q) == 1);
  q.text = "электро";  // prefix while typing
  CHECK(count(q) == 1);
  q.text = "akilli";  // Turkish dotless i folds to plain ASCII
  CHECK(count(q) <= 1);
  q.text = "";
  q.type = "project";
  CHECK(count(q) == 6);
  q.where = {{"sector", "mobility"}};
  CHECK(count(q) == 2);
  q.where = {{"sector", "mobility"}, {"stage", "planning"}};
  CHECK(count(q) == 1);
  q.where = {{"tags", "demo"}};
  CHECK(count(q) == 6);
  q.where = {};
  q.type = "city";
  CHECK(count(q) == 1);
  q.type = "";
  q.text = "city";
  CHECK(count(q) == 1);  // the city's name; "Open data" is not a match

  Query page;
  page.type = "project";
  page.sort = Query::Sort::Title;
  page.limit = 4;
  auto first = a->find(*space, page);
  page.offset = 4;
  auto second = a->find(*space, page);
  URBIS_REQUIRE_OK(first);
  URBIS_REQUIRE_OK(second);
  CHECK(first->hits.size() == 4);
  CHECK(second->hits.size() == 2);
  CHECK(first->hits[0].title == "Akıllı şehir atık yönetimi");
  std::set<EntityId> ids;
  for (auto* r : {&first.value(), &second.value()})
    for (const auto& h : r->hits) ids.insert(h.id);
  CHECK(ids.size() == 6);
  page.limit = 0;  // a count: the total, no hits
  page.offset = 0;
  auto counted = a->find(*space, page);
  URBIS_REQUIRE_OK(counted);
  CHECK(counted->total == 6);
  CHECK(counted->hits.empty());

  Query titled;
  titled.text = "교통 신호";
  titled.lang = "en";
  auto hit = a->find(*space, titled);
  URBIS_REQUIRE_OK(hit);
  REQUIRE(hit->hits.size() == 1);
  CHECK(hit->hits[0].title == "스마트 교통 신호 시스템");  // no English: falls back to the original
  CHECK(hit->hits[0].summary["sector"] == "mobility");
  Query too_many;
  too_many.limit = 5000;
  CHECK(a->find(*space, too_many).code() == Code::InvalidArgument);
}

TEST_CASE("a store on disk keeps everything across reopen") {
  std::string path = temp_db("reopen.db");
  auto env = make_deterministic_env(5);
  Identity id = Identity::generate(*env);
  auto wrapped = id.wrap("correct horse", *env, PwhashCost::Minimal);
  URBIS_REQUIRE_OK(wrapped);
  SpaceId space;
  EntityId p;
  Hash before;
  {
    auto r = Replica::open(path, std::move(id), *env);
    URBIS_REQUIRE_OK(r);
    auto s = (*r)->create_space("Disk");
    URBIS_REQUIRE_OK(s);
    space = *s;
    Transaction tx = (*r)->begin(space);
    p = tx.create("project");
    tx.set_text(p, "title", "fr", "Vélos partagés");
    URBIS_REQUIRE_OK((*r)->commit(tx));
    before = hash_of(**r, space);
  }
  auto unlocked = Identity::unwrap(*wrapped, "correct horse");
  URBIS_REQUIRE_OK(unlocked);
  auto r = Replica::open(path, std::move(unlocked).value(), *env);
  URBIS_REQUIRE_OK(r);
  CHECK(hash_of(**r, space) == before);
  auto e = (*r)->get(space, p);
  URBIS_REQUIRE_OK(e);
  CHECK(e->texts.at("title").locales.at("fr").winner.value == "Vélos partagés");
  // The device can keep writing its chain after a restart.
  Transaction tx = (*r)->begin(space);
  tx.set(p, "stage", "idea");
  auto info = (*r)->commit(tx);
  URBIS_REQUIRE_OK(info);
  CHECK(info->seq == 3);
  auto spaces = (*r)->spaces();
  URBIS_REQUIRE_OK(spaces);
  REQUIRE(spaces->size() == 1);
  CHECK(spaces->at(0).name == "Disk");
  CHECK(spaces->at(0).my_role == Role::Admin);
}

TEST_CASE("changes_since returns what a version vector lacks, bounded by size") {
  Pair t;
  for (int i = 0; i < 5; ++i) {
    Transaction tx = t.a->begin(t.space);
    EntityId p = tx.create("task");
    tx.set(p, "n", i);
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  auto vv = t.b->version_vector(t.space);
  URBIS_REQUIRE_OK(vv);
  auto all = t.a->changes_since(t.space, *vv);
  URBIS_REQUIRE_OK(all);
  CHECK(all->size() == 5);
  auto some = t.a->changes_since(t.space, *vv, all->front().size() + 1);
  URBIS_REQUIRE_OK(some);
  CHECK(some->size() == 1);  // a byte budget still returns at least one change
  auto none = t.a->changes_since(t.space, *t.a->version_vector(t.space));
  URBIS_REQUIRE_OK(none);
  CHECK(none->empty());
}

// What a peer that knows `known` lacks of `log` (a replica's whole log in
// arrival order), in that order: what changes_since must return.
// "prefix" followed by i (GCC 12 at -O3 warns, falsely, on a literal plus a
// temporary string).
std::string numbered(const char* prefix, int i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

bool known_to(const VersionVector& known, const Bytes& env) {
  const pb::Header h = parse_header(parse_envelope(env));
  auto it = known.find(*DeviceKey::from_string(h.author()));
  return it != known.end() && h.seq() <= it->second;
}
std::vector<Bytes> lacking(const std::vector<Bytes>& log, const VersionVector& known) {
  std::vector<Bytes> out;
  for (const Bytes& env : log)
    if (!known_to(known, env)) out.push_back(env);
  return out;
}

TEST_CASE("changes_since: arrival order for a peer lacking few authors or many, bounded by bytes") {
  // 40 editors write interleaved; the owner holds everything in one arrival order.
  Device owner{111};
  auto s = owner->create_space("Log");
  URBIS_REQUIRE_OK(s);
  const SpaceId space = *s;
  std::vector<std::unique_ptr<Device>> editors;
  for (uint64_t i = 0; i < 40; ++i) {
    editors.push_back(std::make_unique<Device>(1000 + i));
    URBIS_REQUIRE_OK(owner->add_member(space, editors.back()->key, Role::Editor));
  }
  for (auto& e : editors) pull(*e->replica, *owner.replica, space);
  for (int round = 0; round < 3; ++round)
    for (size_t i = 0; i < editors.size(); ++i) {
      Device& e = *editors[(i * 7 + static_cast<size_t>(round)) % editors.size()];
      Transaction tx = e->begin(space);
      tx.set(tx.create("task"), "n", round);
      URBIS_REQUIRE_OK(e->commit(tx));
      pull(*owner.replica, *e.replica, space);
    }
  auto log = owner->changes_since(space, {}, SIZE_MAX);
  URBIS_REQUIRE_OK(log);
  REQUIRE(log->size() == 1 + 40 + 120);
  auto everything = owner->version_vector(space);
  URBIS_REQUIRE_OK(everything);

  // A peer lacking the last changes of 5 authors (one cursor per author,
  // merged), and one lacking something of every author (one range of the log).
  VersionVector few = *everything, many = *everything;
  for (size_t i = 0; i < 5; ++i) few[editors[i * 3]->key] = 1 + i % 2;
  for (auto& e : editors) many[e->key] = 2;
  for (const VersionVector* known : {&few, &many}) {
    const std::vector<Bytes> want = lacking(*log, *known);
    REQUIRE(!want.empty());
    auto got = owner->changes_since(space, *known, SIZE_MAX);
    URBIS_REQUIRE_OK(got);
    CHECK(*got == want);
    // A byte budget returns a prefix of the same order, at least one change.
    size_t budget = 0;
    for (size_t i = 0; i < 4 && i < want.size(); ++i) budget += want[i].size();
    auto some = owner->changes_since(space, *known, budget);
    URBIS_REQUIRE_OK(some);
    CHECK(*some == std::vector<Bytes>(want.begin(), want.begin() + std::min<size_t>(4, want.size())));
    auto one = owner->changes_since(space, *known, 1);
    URBIS_REQUIRE_OK(one);
    CHECK(*one == std::vector<Bytes>(want.begin(), want.begin() + 1));
    // And a fresh replica that takes the batch applies every change of it.
    Device peer{2000};
    for (const Bytes& env : *log)
      if (known_to(*known, env)) URBIS_REQUIRE_OK(peer->apply(env));
    for (const auto& r : peer->apply_batch(*got)) CHECK(outcome_name(r) == "Applied");
  }
}

TEST_CASE(
    "changes_since: a version vector cannot buy a scan of the whole log; the rest comes next batch, or all when "
    "asked") {
  // 40 editors write one change each early; the owner then writes past
  // kMaxScanRows; one more editor writes last. A peer claims to hold all the
  // owner's changes and none of the editors': 41 authors lacking, one range.
  Device owner{131};
  auto s = owner->create_space("Long log");
  URBIS_REQUIRE_OK(s);
  const SpaceId space = *s;
  std::vector<std::unique_ptr<Device>> editors;
  for (uint64_t i = 0; i < 41; ++i) {
    editors.push_back(std::make_unique<Device>(3000 + i));
    URBIS_REQUIRE_OK(owner->add_member(space, editors.back()->key, Role::Editor));
  }
  auto write_one = [&](Device& e) {
    pull(*e.replica, *owner.replica, space);
    Transaction tx = e->begin(space);
    tx.set(tx.create("task"), "n", 1);
    URBIS_REQUIRE_OK(e->commit(tx));
    pull(*owner.replica, *e.replica, space);
  };
  for (size_t i = 0; i < 40; ++i) write_one(*editors[i]);
  EntityId task;
  for (size_t done = 0; done < kMaxScanRows + 1000;) {
    std::vector<Transaction> group;
    for (size_t k = 0; k < 1000; ++k, ++done) {
      Transaction tx = owner->begin(space);
      if (done == 0) task = tx.create("task");
      tx.set(task, "n", static_cast<int64_t>(done));
      group.push_back(std::move(tx));
    }
    URBIS_REQUIRE_OK(owner->commit_group(group));
  }
  write_one(*editors[40]);

  auto vv = owner->version_vector(space);
  URBIS_REQUIRE_OK(vv);
  for (auto& e : editors) vv->erase(e->key);
  // Asked for everything (the browser client's log, a join's copy), it
  // returns everything.
  auto all = owner->changes_since(space, *vv);
  URBIS_REQUIRE_OK(all);
  CHECK(all->size() == 41);
  const size_t budget = size_t{1} << 30;
  auto first = owner->changes_since(space, *vv, budget);
  URBIS_REQUIRE_OK(first);
  CHECK(first->size() == 40);  // the late change is past the rows read for this batch
  for (size_t i = 0; i < 40; ++i) (*vv)[editors[i]->key] = 1;
  auto second = owner->changes_since(space, *vv, budget);
  URBIS_REQUIRE_OK(second);
  REQUIRE(second->size() == 1);
  CHECK(parse_header(parse_envelope(second->front())).author() ==
        std::string(editors[40]->key.bytes.begin(), editors[40]->key.bytes.end()));
}

TEST_CASE("a batch refreshes each entity once, the same as change by change, a refused change among them") {
  Pair t;
  std::vector<EntityId> ids;
  {
    Transaction tx = t.a->begin(t.space);
    for (int i = 0; i < 3; ++i) {
      ids.push_back(tx.create("project"));
      tx.set_text(ids.back(), "title", "en", numbered("Project ", i));
      tx.set(ids.back(), "stage", "idea");
    }
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  t.sync();
  const auto known = t.b->version_vector(t.space);
  URBIS_REQUIRE_OK(known);
  for (int i = 0; i < 30; ++i) {
    Transaction tx = t.a->begin(t.space);
    tx.set_text(ids[static_cast<size_t>(i) % 3], "title", "en", numbered("Renamed ", i));
    tx.add(ids[static_cast<size_t>(i) % 3], "tags", numbered("t", i % 4));
    if (i == 20) tx.remove_entity(ids[2]);
    URBIS_REQUIRE_OK(t.a->commit(tx));
  }
  auto changes = t.a->changes_since(t.space, *known);
  URBIS_REQUIRE_OK(changes);
  REQUIRE(changes->size() == 30);
  // A copy of a later change with a broken signature, in the middle.
  std::vector<Bytes> batch = *changes;
  Bytes forged = batch[25];
  forged[forged.size() - 1] ^= 1;
  batch.insert(batch.begin() + 12, forged);
  auto results = t.b->apply_batch(batch);
  for (size_t i = 0; i < results.size(); ++i)
    CHECK(outcome_name(results[i]).rfind(i == 12 ? "BadSignature" : "Applied", 0) == 0);
  CHECK(hash_of(*t.b.replica, t.space) == hash_of(*t.a.replica, t.space));
  for (const EntityId& id : ids) {
    auto a = t.a->get(t.space, id), b = t.b->get(t.space, id);
    URBIS_REQUIRE_OK(a);
    URBIS_REQUIRE_OK(b);
    CHECK(b->to_json("en") == a->to_json("en"));
  }
  Query q;
  q.text = "Renamed";
  auto found = t.b->find(t.space, q);
  URBIS_REQUIRE_OK(found);
  CHECK(found->total == 2);  // the third is deleted
}

TEST_CASE("a gap is held and filled; applying out of order converges") {
  Pair t;
  std::vector<Bytes> sent;
  for (int i = 0; i < 4; ++i) {
    Transaction tx = t.a->begin(t.space);
    EntityId p = tx.create("task");
    tx.set(p, "n", i);
    auto info = t.a->commit(tx);
    URBIS_REQUIRE_OK(info);
    sent.push_back(info->envelope);
  }
  CHECK(*t.b->apply(sent[3]) == ApplyOutcome::Held);
  CHECK(*t.b->apply(sent[2]) == ApplyOutcome::Held);
  CHECK(*t.b->apply(sent[2]) == ApplyOutcome::Held);  // held twice is still once
  CHECK(*t.b->held_count(t.space) == 2);
  CHECK(*t.b->apply(sent[0]) == ApplyOutcome::Applied);
  CHECK(*t.b->held_count(t.space) == 2);
  CHECK(*t.b->apply(sent[1]) == ApplyOutcome::Applied);  // releases 2 and 3
  CHECK(*t.b->held_count(t.space) == 0);
  CHECK(hash_of(*t.a.replica, t.space) == hash_of(*t.b.replica, t.space));
  auto batch = t.b->apply_batch(sent);
  for (const auto& r : batch) CHECK(*r == ApplyOutcome::Duplicate);
}

TEST_CASE("forward compatibility: ops an older build skips are kept, forwarded, then appear") {
  std::string path = temp_db("forward.db");
  Device writer(6);
  auto space = writer->create_space("S");
  URBIS_REQUIRE_OK(space);
  Transaction tx = writer->begin(*space);
  EntityId p = tx.create("project");
  tx.set(p, "stage", "idea");
  tx.set_text(p, "title", "ko", "새 기능");  // OP_SET_TEXT: unknown to the "old" build
  URBIS_REQUIRE_OK(writer->commit(tx));

  auto env = make_deterministic_env(7);
  Identity id = Identity::generate(*env);
  DeviceKey old_key = id.device();
  auto wrapped = id.wrap("pw", *env, PwhashCost::Minimal);
  URBIS_REQUIRE_OK(wrapped);
  URBIS_REQUIRE_OK(writer->add_member(*space, old_key, Role::Editor));
  std::vector<Bytes> received;
  {
    ReplicaOptions old_build;
    old_build.op_level = 0;  // understands OP_SET only
    auto old = Replica::open(path, std::move(id), *env, old_build);
    URBIS_REQUIRE_OK(old);
    pull(**old, *writer.replica, *space);
    auto e = (*old)->get(*space, p);
    URBIS_REQUIRE_OK(e);
    CHECK(e->fields.at("stage").winner.value == "idea");
    CHECK(e->texts.empty());  // not understood: not shown...
    // ...but stored and forwarded byte for byte.
    auto mine = (*old)->changes_since(*space, {});
    auto theirs = writer->changes_since(*space, {});
    URBIS_REQUIRE_OK(mine);
    URBIS_REQUIRE_OK(theirs);
    CHECK(*mine == *theirs);
    Device third(8);
    pull(*third.replica, **old, *space);
    auto v3 = third->version_vector(*space);
    URBIS_REQUIRE_OK(v3);
    CHECK(*v3 == *writer->version_vector(*space));
  }
  // The "upgraded" build reopens the same file: the skipped ops appear.
  auto again = Identity::unwrap(*wrapped, "pw");
  URBIS_REQUIRE_OK(again);
  auto upgraded = Replica::open(path, std::move(again).value(), *env);
  URBIS_REQUIRE_OK(upgraded);
  auto e = (*upgraded)->get(*space, p);
  URBIS_REQUIRE_OK(e);
  REQUIRE(e->texts.count("title"));
  CHECK(e->texts.at("title").locales.at("ko").winner.value == "새 기능");
  CHECK(hash_of(**upgraded, *space) == hash_of(*writer.replica, *space));
}

}  // namespace urbis::testing

namespace urbis::testing {

TEST_CASE("commit_group: each transaction is a change, all durable together or none") {
  Device a(9);
  auto space = a->create_space("Import");
  URBIS_REQUIRE_OK(space);
  std::vector<Transaction> group;
  std::vector<EntityId> ids;
  for (int i = 0; i < 3; ++i) {
    group.push_back(a->begin(*space));
    ids.push_back(group.back().create("project"));
    group.back().set(ids.back(), "n", i);
  }
  group.back().set(ids[0], "n", 99);  // a later transaction may touch an earlier one's entity
  auto infos = a->commit_group(group);
  URBIS_REQUIRE_OK(infos);
  REQUIRE(infos->size() == 3);
  CHECK(infos->at(0).seq == 2);
  CHECK(infos->at(2).seq == 4);
  CHECK(a->get(*space, ids[1])->fields.at("n").winner.value == 1);
  CHECK(a->get(*space, ids[0])->fields.at("n").winner.value == 99);
  CHECK_FALSE(a->get(*space, ids[0])->fields.at("n").conflicted());

  Device b(10);
  URBIS_REQUIRE_OK(a->add_member(*space, b.key, Role::Viewer));
  pull(*b.replica, *a.replica, *space);  // a reader sees three ordinary changes
  CHECK(hash_of(*b.replica, *space) == hash_of(*a.replica, *space));

  std::vector<Transaction> bad;
  bad.push_back(a->begin(*space));
  EntityId fresh = bad.back().create("project");
  bad.back().set(fresh, "n", 1);
  bad.push_back(a->begin(*space));
  EntityId ghost;
  ghost.bytes[3] = 1;
  bad.back().set(ghost, "n", 2);  // refused: unknown entity
  Hash before = hash_of(*a.replica, *space);
  CHECK(a->commit_group(bad).code() == Code::NotFound);
  CHECK(hash_of(*a.replica, *space) == before);
  CHECK(a->get(*space, fresh).code() == Code::NotFound);
  CHECK(a->version_vector(*space)->at(a.key) == 5);  // 4 + the add_member change
  CHECK(a->commit_group({})->empty());
}

}  // namespace urbis::testing

namespace urbis::testing {

TEST_CASE("drop_space: a space is forgotten entirely, other spaces untouched, and can be learnt again") {
  Device a(11), b(12);
  auto kept = a->create_space("Kept");
  auto lure = a->create_space("Dropped");
  URBIS_REQUIRE_OK(kept);
  URBIS_REQUIRE_OK(lure);
  for (const SpaceId* s : {&*kept, &*lure}) {
    URBIS_REQUIRE_OK(a->add_member(*s, b.key, Role::Viewer));
    Transaction tx = a->begin(*s);
    tx.set_text(tx.create("project"), "title", "en", "findable everywhere");
    URBIS_REQUIRE_OK(a->commit(tx));
    pull(*b.replica, *a.replica, *s);
  }
  const Hash kept_hash = hash_of(*b.replica, *kept);
  // member_by_log: a member, a former member (removed), never a stranger.
  Device stranger(13);
  CHECK(b->member_by_log(*lure, b.key).value());
  CHECK(!b->member_by_log(*lure, stranger.key).value());
  URBIS_REQUIRE_OK(a->remove_member(*kept, b.key));
  CHECK(a->member_by_log(*kept, b.key).value());
  CHECK(a->member_role(*kept, b.key).value() == Role::None);
  CHECK(b->member_by_log(*lure, b.key).value());
  URBIS_REQUIRE_OK(b->drop_space(*lure));
  CHECK(b->version_vector(*lure).code() == Code::UnknownSpace);
  CHECK(b->find(*lure, Query{}).code() == Code::UnknownSpace);
  auto spaces = b->spaces();
  URBIS_REQUIRE_OK(spaces);
  REQUIRE(spaces->size() == 1);
  CHECK(spaces->front().id == *kept);
  CHECK(hash_of(*b.replica, *kept) == kept_hash);
  Query q;
  q.text = "findable";
  CHECK(b->find(*kept, q)->total == 1);  // the other space's index is intact
  CHECK(b->drop_space(*lure).code() == Code::UnknownSpace);
  // Learnt again from its log: the same state as before.
  pull(*b.replica, *a.replica, *lure);
  CHECK(hash_of(*b.replica, *lure) == hash_of(*a.replica, *lure));
  CHECK(b->find(*lure, q)->total == 1);
}

// Review: a node decides whether a device may create spaces by asking
// whether it is a member of any space it holds; that was one look-up per
// space held (seconds of the node's only thread per stranger's session at
// a million spaces). member_of_any is one indexed query.
TEST_CASE("member_of_any: a member of some space, by the rule of member_role, in one indexed lookup") {
  const std::string path = temp_db("member-of-any.db");
  Device a(21, path), b(22), c(23), stranger(24);
  auto s1 = a->create_space("One");
  auto s2 = a->create_space("Two");
  URBIS_REQUIRE_OK(s1);
  URBIS_REQUIRE_OK(s2);
  URBIS_REQUIRE_OK(a->add_member(*s2, b.key, Role::Viewer));
  URBIS_REQUIRE_OK(a->add_member(*s1, c.key, Role::Editor));
  URBIS_REQUIRE_OK(a->remove_member(*s1, c.key));
  CHECK(a->member_of_any(a.key).value());
  CHECK(a->member_of_any(b.key).value());
  CHECK_FALSE(a->member_of_any(c.key).value());  // removed: a member of none
  CHECK_FALSE(a->member_of_any(stranger.key).value());
  const std::string plan = query_plan(path,
                                      "SELECT 1 FROM authors WHERE pk=x'00' AND role>0 AND "
                                      "(invite_expires=0 OR invite_expires>=0) LIMIT 1");
  INFO(plan);
  CHECK(plan.find("USING INDEX authors_by_pk") != std::string::npos);
}

TEST_CASE("checkpoint: the WAL goes into the file; with vacuum, a dropped space's bytes leave the file") {
  const std::string path = temp_db("checkpoint.db");
  Device a{131, path};
  auto kept = a->create_space("Kept");
  auto gone = a->create_space("Gone");
  URBIS_REQUIRE_OK(kept);
  URBIS_REQUIRE_OK(gone);
  const std::string secret = "a-phrase-only-the-dropped-space-holds";
  for (int i = 0; i < 200; ++i) {
    Transaction tx = a->begin(i % 2 ? *kept : *gone);
    tx.set_text(tx.create("project"), "title", "en", (i % 2 ? "kept " : secret + " ") + std::to_string(i));
    URBIS_REQUIRE_OK(a->commit(tx));
  }
  auto file_size = [](const std::string& p) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(p, ec);
    return ec ? uintmax_t{0} : n;
  };
  auto file_holds = [](const std::string& p, const std::string& needle) {
    std::ifstream in(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return bytes.find(needle) != std::string::npos;
  };
  auto done = a->checkpoint();
  URBIS_REQUIRE_OK(done);
  CHECK(done->wal_frames == done->checkpointed);
  CHECK(file_size(path + "-wal") == 0);  // truncated: the file alone is the store
  const uintmax_t before = file_size(path);
  URBIS_REQUIRE_OK(a->drop_space(*gone));
  URBIS_REQUIRE_OK(a->checkpoint(/*vacuum=*/true));
  CHECK(file_size(path + "-wal") == 0);
  CHECK(file_size(path) < before);
  CHECK_FALSE(file_holds(path, secret));  // no free page keeps the dropped rows' bytes
  Query projects;
  projects.type = "project";
  projects.limit = 0;
  auto still = a->find(*kept, projects);
  URBIS_REQUIRE_OK(still);
  CHECK(still->total == 100);
}

}  // namespace urbis::testing
