// device rekey / device republish: the way out for a device whose chain
// forked (node/README.md, "A forked device").
//
// A device numbers its changes 1, 2, 3... per space. A home restored from a
// backup, or copied to a second machine, writes again at numbers the node
// already holds from the other copy; the node (and every member) refuses
// those changes as BrokenChain, and every later one, for ever: a chain has
// one change per number. The device key cannot be repaired, so it is
// replaced:
//   1. `urbis device rekey`: the old key and store move to HOME/forked/<time>/,
//      a new key (same passphrase) gets an empty store. Prints the new key.
//   2. An admin adds the new key to each space (`urbis space add-member`),
//      and may remove the old one.
//   3. `urbis sync URL`: the new store fetches the spaces.
//   4. `urbis device republish`: every value the old store holds that the
//      old key wrote from the first seq where its chain there differs from
//      the chain the node holds (so: the work that never reached the node,
//      found by comparing the signed envelopes) is written again under the new key,
//      as ordinary new edits (they overwrite what they find, as a put does);
//      entities created by that work are created again (with new ids).
//   5. `urbis sync URL` again.
// What republish cannot carry over, because the read model does not say who
// did it: removals from sets, and deletions, made in the unsynced work. The
// forked store stays in HOME/forked/ for a person to look at (`urbis --home
// HOME/forked/<time> get ...` opens it with the same passphrase).
#include <algorithm>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "home.h"

namespace urbis::cli {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRepublishedMarker = "republished.json";

std::vector<EntityId> entity_ids(Replica& replica, const SpaceId& space) {
  std::vector<EntityId> ids;
  Query q;
  q.sort = Query::Sort::Title;
  q.limit = 1000;
  q.include_deleted = true;
  for (;;) {
    FindResult page = check(replica.find(space, q));
    for (const Hit& h : page.hits) ids.push_back(h.id);
    q.offset += page.hits.size();
    if (page.hits.empty() || q.offset >= page.total) break;
  }
  return ids;
}

// The newest HOME/forked/<time>/ not yet republished, or --from.
fs::path pick_forked_dir(const Context& ctx, const Args& args) {
  if (auto from = args.value("--from")) return *from;
  const fs::path root = resolve_home(ctx) / "forked";
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_directory() && !fs::exists(entry.path() / kRepublishedMarker)) dirs.push_back(entry.path());
  if (dirs.empty())
    fail(Code::NotFound, "nothing to republish: no forked store in " + root.string() +
                             " that was not republished yet (run 'urbis device rekey' first, or pass --from DIR)");
  std::sort(dirs.begin(), dirs.end());
  return dirs.back();
}

// Every stored change of `author` in `space`, in seq order (a store holds a
// chain from seq 1 without gaps, and serves it in an order in which it applies).
std::vector<Bytes> chain_of(Replica& replica, const SpaceId& space, const DeviceKey& author) {
  VersionVector known = check(replica.version_vector(space));
  known.erase(author);
  return check(replica.changes_since(space, known));
}

// The first seq at which `author`'s chain in the two stores differs (or one
// of them ends): both copies of a restored home number from the same head,
// so seq alone cannot tell; the envelopes (signed, hash-chained) can.
uint64_t fork_point(Replica& forked, Replica& current, const SpaceId& space, const DeviceKey& author) {
  const std::vector<Bytes> mine = chain_of(forked, space, author), node = chain_of(current, space, author);
  size_t same = 0;
  while (same < mine.size() && same < node.size() && mine[same] == node[same]) ++same;
  return same + 1;
}

struct SpaceCounts {
  size_t values = 0, created = 0, updated = 0;
};

// The old key's unsynced work in `space`: values whose winning op is the
// old key's, at a seq from `fork` on (where its chain in the forked store
// leaves the chain the current, synced store holds from the node).
SpaceCounts republish_space(Replica& forked, Replica& current, const SpaceId& space, const DeviceKey& old,
                            uint64_t fork, std::vector<Transaction>& out) {
  SpaceCounts counts;
  auto unsynced = [&](const Version& v) { return v.author == old && v.op.seq >= fork; };
  for (const EntityId& id : entity_ids(forked, space)) {
    const Entity was = check(forked.get(space, id));
    auto now = current.get(space, id);
    if (!now.is_ok() && now.code() != Code::NotFound) check(now.status());
    Transaction tx = current.begin(space);
    size_t values = 0;
    EntityId target = id;
    if (!now.is_ok()) {
      // Never reached the node: created by the unsynced work (or by work of
      // the old key that the node holds no trace of). Created again, whole.
      bool mine = false;
      for (const auto& [name, r] : was.fields) mine = mine || unsynced(r.winner);
      for (const auto& [name, t] : was.texts)
        for (const auto& [loc, r] : t.locales) mine = mine || unsynced(r.winner);
      if (!mine || was.deleted) continue;
      target = tx.create(was.type);
      for (const auto& [name, r] : was.fields) tx.set(target, name, r.winner.value), ++values;
      for (const auto& [name, t] : was.texts)
        for (const auto& [loc, r] : t.locales)
          if (r.winner.value.is_string())
            tx.set_text(target, name, loc, r.winner.value.get<std::string>(), r.winner.source_locale), ++values;
      for (const auto& [name, elems] : was.sets)
        for (const auto& e : elems) tx.add(target, name, e), ++values;
      counts.created += 1;
    } else {
      for (const auto& [name, r] : was.fields) {
        if (!unsynced(r.winner)) continue;
        auto it = now->fields.find(name);
        if (it != now->fields.end() && it->second.winner.value == r.winner.value) continue;
        tx.set(target, name, r.winner.value), ++values;
      }
      for (const auto& [name, t] : was.texts)
        for (const auto& [loc, r] : t.locales) {
          if (!unsynced(r.winner)) continue;
          const Register* have = nullptr;
          if (auto it = now->texts.find(name); it != now->texts.end())
            if (auto l = it->second.locales.find(loc); l != it->second.locales.end()) have = &l->second;
          if ((have && have->winner.value == r.winner.value) || !r.winner.value.is_string()) continue;
          tx.set_text(target, name, loc, r.winner.value.get<std::string>(), r.winner.source_locale), ++values;
        }
      if (values > 0) counts.updated += 1;
    }
    if (values == 0) continue;
    counts.values += values;
    out.push_back(std::move(tx));
  }
  return counts;
}

}  // namespace

void run_device_rekey(const Context& ctx, const Args& args) {
  args.expect_positional(0, "device rekey");
  RekeyResult r = rekey_home(ctx);
  nlohmann::json spaces = nlohmann::json::array();
  for (const SpaceInfo& s : r.spaces)
    spaces.push_back({{"space", s.id.hex()}, {"name", s.name}, {"old_role", role_name(s.my_role)}});
  std::fprintf(stderr,
               "urbis: this device has a new key. Nothing was deleted: the old key and store are in %s.\n"
               "Next: 1) an admin of each space runs: urbis space add-member SPACE %s --role ROLE\n"
               "          (and may remove the old key %s)\n"
               "      2) urbis sync URL\n"
               "      3) urbis device republish   (re-writes the work that never reached a node)\n"
               "      4) urbis sync URL\n",
               r.forked_dir.c_str(), r.new_device.hex().c_str(), r.old_device.hex().c_str());
  emit(ctx, {{"device", r.new_device.hex()},
             {"old_device", r.old_device.hex()},
             {"forked", r.forked_dir.string()},
             {"spaces", std::move(spaces)}});
}

void run_device_republish(const Context& ctx, const Args& args) {
  args.expect_positional(0, "device republish [--from DIR]");
  const fs::path dir = pick_forked_dir(ctx, args);
  ForkedHome h = open_forked_home(ctx, dir);
  nlohmann::json report = nlohmann::json::array();
  std::vector<std::string> waiting;
  for (const SpaceInfo& s : check(h.forked->spaces())) {
    // A space already done by an earlier run (that stopped at a space not
    // ready yet) is not written twice.
    const fs::path done = dir / ("republished-" + s.id.hex());
    if (fs::exists(done)) continue;
    auto here = h.current->space(s.id);
    if (!here.is_ok() || here->my_role == Role::None || here->my_role == Role::Viewer) {
      // Not synced yet, or the new key is not a writer yet: republishing now
      // would re-create what the node already holds.
      waiting.push_back(s.id.hex());
      continue;
    }
    const uint64_t fork = fork_point(*h.forked, *h.current, s.id, h.old_device);
    std::vector<Transaction> txs;
    SpaceCounts counts = republish_space(*h.forked, *h.current, s.id, h.old_device, fork, txs);
    if (!txs.empty()) {
      check(h.current->commit_group(txs));  // all of a space or none
      refresh_for_reads(*h.current);
    }
    report.push_back({{"space", s.id.hex()},
                      {"forked_at_seq", fork},
                      {"values", counts.values},
                      {"entities_created", counts.created},
                      {"entities_updated", counts.updated}});
    std::ofstream(done) << dump_json(report.back()) << "\n";
  }
  if (!waiting.empty()) {
    std::string list;
    for (const auto& w : waiting) list += (list.empty() ? "" : ", ") + w;
    fail(Code::NotAMember,
         "the new key is not yet a writer of space(s) " + list + " here: have an admin add " +
             h.current->device().hex() + ", run 'urbis sync URL', then 'urbis device republish' again" +
             (report.empty() ? std::string() : " (the other spaces were republished: " + report.dump() + ")"));
  }
  std::ofstream(dir / kRepublishedMarker) << dump_json(report) << "\n";
  emit(ctx, {{"from", dir.string()}, {"spaces", std::move(report)}});
}

}  // namespace urbis::cli
