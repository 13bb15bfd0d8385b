// urbis-demo: the core end to end, on real SQLite files.
//
// A secretariat device creates a planning space and invites a field officer.
// Both edit offline -- the same field of the same project included -- then
// exchange their change logs the way sync will. The demo prints what each
// side sees: equal state hashes, the conflict kept for a person to resolve,
// a search in Korean, and what a node without keys can (and cannot) see.
//
// Usage: urbis-demo [DIR]   (default: ./urbis-demo-data; recreated each run)
#include <cstdio>
#include <filesystem>
#include <string>

#include "urbis/replica.h"

using namespace urbis;

namespace {

template <typename T>
T check(Result<T> r, const char* what) {
  if (!r.is_ok()) {
    std::fprintf(stderr, "urbis-demo: %s failed: %s\n", what, r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}
void check(const Status& s, const char* what) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "urbis-demo: %s failed: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

size_t exchange(Replica& to, Replica& from, const SpaceId& space) {
  VersionVector have;
  if (auto vv = to.version_vector(space); vv.is_ok()) have = *vv;
  auto changes = check(from.changes_since(space, have), "changes_since");
  for (auto& r : to.apply_batch(changes)) check(std::move(r), "apply");
  return changes.size();
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  fs::path dir = argc > 1 ? argv[1] : "urbis-demo-data";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Env& env = system_env();

  auto secretariat = check(Replica::open((dir / "secretariat.db").string(), Identity::generate(env), env), "open");
  auto field = check(Replica::open((dir / "field-officer.db").string(), Identity::generate(env), env), "open");
  auto node = check(Replica::open((dir / "node.db").string(), std::nullopt, env, ReplicaOptions{.materialize = false}),
                    "open node");
  std::printf("secretariat device  %s\nfield officer device %s\n\n", secretariat->device().hex().c_str(),
              field->device().hex().c_str());

  SpaceId space = check(secretariat->create_space("Busan smart mobility plan"), "create space");
  check(secretariat->add_member(space, field->device(), Role::Editor), "add member");
  Transaction tx = secretariat->begin(space);
  EntityId project = tx.create("project");
  tx.set_text(project, "title", "ko", "부산 스마트 교통 신호 시스템");
  tx.set_text(project, "title", "en", "Busan smart traffic signals", "ko");
  tx.set(project, "sector", "mobility");
  tx.set(project, "stage", "planning");
  tx.set(project, "budget", 2400000);
  tx.add(project, "sdgs", 11);
  check(secretariat->commit(tx), "commit");
  // The node stores and forwards; the field officer syncs through it.
  exchange(*node, *secretariat, space);
  exchange(*field, *node, space);
  std::printf("space %s created and shared through the node\n", space.hex().c_str());

  // Offline, both change the stage; the officer also adds a task and a translation.
  Transaction a = secretariat->begin(space);
  a.set(project, "stage", "procurement");
  check(secretariat->commit(a), "commit");
  Transaction b = field->begin(space);
  b.set(project, "stage", "implementation");
  b.set_text(project, "title", "ar", "إشارات المرور الذكية في بوسان", "en");
  EntityId task = b.create("plan_item");
  b.set(task, "kind", "task");
  b.set_text(task, "title", "en", "Survey 40 intersections");
  b.set(task, "project", project.hex());
  check(field->commit(b), "commit");
  std::printf("both edited offline (same field: stage)\n");

  size_t up = exchange(*node, *secretariat, space) + exchange(*node, *field, space);
  size_t down = exchange(*secretariat, *node, space) + exchange(*field, *node, space);
  std::printf("back online: %zu changes up to the node, %zu down\n\n", up, down);

  Hash h1 = check(secretariat->state_hash(space), "hash"), h2 = check(field->state_hash(space), "hash");
  std::printf("state hash, secretariat:  %s\nstate hash, field officer: %s  (%s)\n\n", h1.hex().c_str(),
              h2.hex().c_str(), h1 == h2 ? "converged" : "DIVERGED");
  Entity e = check(field->get(space, project), "get");
  std::printf("the project as the field officer sees it (Arabic reader):\n%s\n\n", e.to_json("ar").dump(2).c_str());

  Query q;
  q.text = "교통";
  FindResult found = check(secretariat->find(space, q), "find");
  std::printf("search \"교통\": %zu hit(s): %s\n", found.total, found.hits.empty() ? "-" : found.hits[0].title.c_str());
  auto node_read = node->get(space, project);
  std::printf("the node holds %zu changes of the space and can read: %s\n",
              check(node->changes_since(space, {}), "log").size(),
              node_read.is_ok() ? "content (BUG)" : "nothing (as designed)");
  std::printf("\nstores written under %s\n", fs::absolute(dir).string().c_str());
  return h1 == h2 && !node_read.is_ok() ? 0 : 1;
}
