// Convergence property test (DESIGN.md, "Merge semantics").
//
// Four replicas make random concurrent edits (same-field writes, translatable
// text in several scripts, set adds and removes, deletes and restores, new
// entities) and exchange changes in random partial batches, shuffled, with
// duplicates and gaps. After a full exchange:
//   1. every replica has the same state hash;
//   2. every register holds exactly the values an independent model says are
//      live (written and not overwritten by an op that had seen them): each
//      concurrently written value is the winner or a visible conflict, and
//      the winner is the highest (hlc, author);
//   3. set elements and the deleted flag match the model.
// The model knows only what each replica had applied when it wrote (its
// version vector), never the implementation's internals.
//
// URBIS_SEEDS=N runs N seeds (default 200); URBIS_SEED=S replays one seed.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "test_util.h"

namespace urbis::testing {
namespace {

const char* const kTexts[][2] = {
    {"ko", "스마트 교통 시스템"},  {"zh", "智慧城市水务管理"},        {"ar", "مدينة ذكية للطاقة"},
    {"ru", "умный город Казань"},  {"en", "Smart bus lanes 🚌🌍"},      {"tr", "akıllı şehir İzmir"},
    {"es", "gestión de residuos"}, {"fr", "énergie solaire ☀️"},
};
const char* const kSectors[] = {"mobility", "energy", "water", "waste", "health"};
const char* const kTags[] = {"pilot", "sdg11", "iot", "open-data"};

struct ChangeRef {
  DeviceKey author;
  uint64_t seq;
};

// One op as the model sees it.
struct Write {
  OpId op;
  bool adds_value;    // false for set removes
  std::string value;  // JSON text of the value written
  std::set<OpId> overwrites;
};

// A register or set element: (entity, kind, field, key).
using Slot = std::tuple<EntityId, int, std::string, std::string>;
enum { kPlain, kText, kElem };

struct Model {
  std::map<Slot, std::vector<Write>> writes;
  std::vector<std::pair<EntityId, ChangeRef>> entities;  // entity and the change that created it

  static bool seen(const OpId& op, const VersionVector& vv) {
    auto it = vv.find(op.author);
    return it != vv.end() && op.seq <= it->second;
  }
  // Live ops of `slot` among those a replica with `vv` has applied.
  std::set<OpId> live(const Slot& slot, const VersionVector* vv) const {
    std::set<OpId> written, gone;
    auto it = writes.find(slot);
    if (it == writes.end()) return {};
    for (const auto& w : it->second) {
      if (vv && !seen(w.op, *vv)) continue;
      if (w.adds_value) written.insert(w.op);
      gone.insert(w.overwrites.begin(), w.overwrites.end());
    }
    std::set<OpId> out;
    for (const auto& op : written)
      if (!gone.count(op)) out.insert(op);
    return out;
  }
  std::string value_of(const Slot& slot, const OpId& op) const {
    for (const auto& w : writes.at(slot))
      if (w.op == op) return w.value;
    return {};
  }
};

struct Stats {
  size_t conflicts = 0, held = 0, duplicates = 0;
};

struct Sim {
  Stats stats;
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<Device>> devices;
  SpaceId space;
  Model model;

  explicit Sim(uint64_t seed) : rng(seed) {
    for (int i = 0; i < 4; ++i) devices.push_back(std::make_unique<Device>(seed * 16 + i + 1));
    auto s = (*devices[0])->create_space("convergence");
    REQUIRE(s.is_ok());
    space = *s;
    for (int i = 1; i < 4; ++i) URBIS_REQUIRE_OK((*devices[0])->add_member(space, devices[i]->key, Role::Editor));
    for (int i = 1; i < 4; ++i) pull(*devices[i]->replica, *devices[0]->replica, space);
  }

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

  // One random transaction on one entity by device `d`.
  void edit(size_t d) {
    Replica& r = *devices[d]->replica;
    auto vv_r = r.version_vector(space);
    REQUIRE(vv_r.is_ok());
    VersionVector vv = *vv_r;
    Transaction tx = r.begin(space);
    EntityId id;
    std::vector<std::pair<Slot, Write>> ops;
    std::vector<EntityId> known;
    for (const auto& [e, made] : model.entities)
      if (Model::seen(OpId{made.author, made.seq, 0}, vv)) known.push_back(e);
    if (known.empty() || chance(0.15)) {
      id = tx.create("project");
      known.clear();
    } else {
      id = known[pick(known.size())];
    }
    const bool fresh = known.empty();
    size_t n = 1 + pick(3);
    std::set<Slot> touched;
    for (size_t k = 0; k < n; ++k) {
      int what = static_cast<int>(pick(6));
      Slot slot;
      Write w{};
      w.adds_value = true;
      if (what == 0) {
        w.value = nlohmann::json(kSectors[pick(std::size(kSectors))]).dump();
        slot = {id, kPlain, "sector", ""};
        tx.set(id, "sector", nlohmann::json::parse(w.value));
      } else if (what == 1 || what == 2) {
        const auto& t = kTexts[pick(std::size(kTexts))];
        std::string text = std::string(t[1]) + " #" + std::to_string(pick(1000));
        w.value = nlohmann::json(text).dump();
        slot = {id, kText, "title", t[0]};
        tx.set_text(id, "title", t[0], text);
      } else if (what == 3) {
        std::string tag = kTags[pick(std::size(kTags))];
        w.value = nlohmann::json(tag).dump();
        slot = {id, kElem, "tags", w.value};
        tx.add(id, "tags", tag);
      } else if (what == 4) {
        std::string tag = kTags[pick(std::size(kTags))];
        w.value = nlohmann::json(tag).dump();
        w.adds_value = false;
        slot = {id, kElem, "tags", w.value};
        tx.remove(id, "tags", tag);
      } else {
        bool del = chance(0.6);
        w.value = del ? "true" : "false";
        slot = {id, kPlain, "_deleted", ""};
        if (del)
          tx.remove_entity(id);
        else
          tx.restore_entity(id);
      }
      if (!touched.insert(slot).second) {  // one op per slot per transaction keeps the model simple
        tx = r.begin(space);
        return;
      }
      ops.emplace_back(slot, w);
    }
    auto info = r.commit(tx);
    REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
    for (uint32_t i = 0; i < ops.size(); ++i) {
      auto& [slot, w] = ops[i];
      w.op = OpId{devices[d]->key, info->seq, i};
      w.overwrites = model.live(slot, &vv);
      model.writes[slot].push_back(w);
    }
    if (fresh) model.entities.emplace_back(id, ChangeRef{devices[d]->key, info->seq});
  }

  // A random part of what `from` has that `to` lacks, shuffled, some twice.
  void deliver_some(size_t to, size_t from) {
    auto vv = (*devices[to])->version_vector(space);
    REQUIRE(vv.is_ok());
    auto changes = (*devices[from])->changes_since(space, *vv);
    REQUIRE(changes.is_ok());
    std::vector<Bytes> batch;
    for (auto& c : *changes) {
      if (chance(0.6)) batch.push_back(c);
      if (chance(0.1)) batch.push_back(c);
    }
    std::shuffle(batch.begin(), batch.end(), rng);
    for (const auto& c : batch) {
      auto r = (*devices[to])->apply(c);
      REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
      stats.held += *r == ApplyOutcome::Held;
      stats.duplicates += *r == ApplyOutcome::Duplicate;
    }
  }

  void exchange_all() {
    for (int round = 0; round < 2; ++round)
      for (size_t a = 0; a < devices.size(); ++a)
        for (size_t b = 0; b < devices.size(); ++b)
          if (a != b) pull(*devices[a]->replica, *devices[b]->replica, space);
  }

  void check() {
    Hash h0 = hash_of(*devices[0]->replica, space);
    for (auto& d : devices) {
      CHECK(hash_of(*d->replica, space) == h0);
      auto held = (*d)->held_count(space);
      CHECK(held.is_ok());
      CHECK(*held == 0);
    }
    for (auto& d : devices) check_against_model(*d->replica);
  }

  void check_against_model(Replica& r) {
    for (const auto& [id, made] : model.entities) {
      auto e = r.get(space, id);
      REQUIRE_MESSAGE(e.is_ok(), e.status().to_string());
      std::map<std::string, std::set<std::string>> elements;
      for (const auto& [slot, ws] : model.writes) {
        // (clang 14 cannot capture structured bindings in doctest's lambdas)
        const EntityId& eid = std::get<0>(slot);
        const int kind = std::get<1>(slot);
        const std::string& field = std::get<2>(slot);
        const std::string& key = std::get<3>(slot);
        if (eid != id) continue;
        std::set<OpId> live = model.live(slot, nullptr);
        if (kind == kElem) {
          if (!live.empty()) elements[field].insert(key);
          continue;
        }
        if (field == "_deleted") {
          std::set<std::string> values;
          for (const auto& op : live) values.insert(model.value_of(slot, op));
          if (values.size() == 1) CHECK(e->deleted == (*values.begin() == "true"));
          continue;
        }
        const Register* reg = nullptr;
        if (kind == kPlain && e->fields.count(field)) reg = &e->fields.at(field);
        if (kind == kText && e->texts.count(field) && e->texts.at(field).locales.count(key))
          reg = &e->texts.at(field).locales.at(key);
        if (live.empty()) {
          CHECK(reg == nullptr);
          continue;
        }
        REQUIRE_MESSAGE(reg != nullptr, "register " << field << "@" << key << " lost every value");
        stats.conflicts += reg->conflicted();
        std::set<OpId> shown{reg->winner.op};
        for (const auto& c : reg->conflicts) {
          shown.insert(c.op);
          CHECK(std::tie(reg->winner.hlc, reg->winner.author) > std::tie(c.hlc, c.author));
        }
        CHECK(shown == live);
        CHECK(reg->winner.value.dump() == model.value_of(slot, reg->winner.op));
      }
      for (const auto& [field, elems] : elements) {
        std::set<std::string> got;
        if (e->sets.count(field))
          for (const auto& v : e->sets.at(field)) got.insert(v.dump());
        CHECK(got == elems);
      }
    }
  }
};

Stats run_seed(uint64_t seed) {
  INFO("replay with URBIS_SEED=" << seed);
  Sim sim(seed);
  for (int round = 0; round < 6; ++round) {
    for (size_t d = 0; d < sim.devices.size(); ++d)
      for (size_t k = sim.pick(3); k > 0; --k) sim.edit(d);
    for (int k = 0; k < 3; ++k) {
      size_t a = sim.pick(4), b = sim.pick(4);
      if (a != b) sim.deliver_some(a, b);
    }
  }
  sim.exchange_all();
  sim.check();
  return sim.stats;
}

}  // namespace

TEST_CASE("replicas converge under random concurrent edits and delivery orders") {
  if (const char* one = std::getenv("URBIS_SEED")) {
    (void)run_seed(std::strtoull(one, nullptr, 10));
    return;
  }
  uint64_t seeds = 200;
  if (const char* n = std::getenv("URBIS_SEEDS")) seeds = std::strtoull(n, nullptr, 10);
  Stats total;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    Stats s = run_seed(seed);
    total.conflicts += s.conflicts;
    total.held += s.held;
    total.duplicates += s.duplicates;
  }
  MESSAGE(seeds << " seeds: " << total.conflicts << " conflicted registers, " << total.held
                << " changes held for a gap, " << total.duplicates << " duplicates");
  // The property is only worth something if the runs were concurrent enough.
  if (seeds >= 20) {
    CHECK(total.conflicts > 0);
    CHECK(total.held > 0);
    CHECK(total.duplicates > 0);
  }
}

}  // namespace urbis::testing
