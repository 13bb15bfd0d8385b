// A device whose chain forked (issue 10, finding 10c): a home copied before
// a sync, then both copies write. The node refuses the copy's changes as a
// broken chain, for ever; `urbis sync` says so and what to do, and
// `urbis device rekey` + an admin adding the new key + `urbis device
// republish` bring the copy's unsynced work to every member. And a node
// whose store lost a table refuses to start, naming it. Real `urbis`
// processes on 127.0.0.1.
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "node_util.h"

using namespace urbis::testing;

namespace {

std::vector<std::string> titles(const Home& h, const std::string& space) {
  const json found = h.ok({"find", space, "--limit", "100"});
  std::vector<std::string> out;
  for (const auto& hit : found["hits"]) out.push_back(hit["title"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("forked_device_rekey") {
  Node node;
  Home a, copy;
  a.init();
  const std::string space = a.ok({"space", "create", "Field office"})["space"].get<std::string>();
  const std::string before =
      a.ok({"put", space, "project", "new", "title@en=Before the copy", "stage=idea"})["id"].get<std::string>();
  a.ok({"sync", node.url()});

  // The home is copied (a backup restored on another laptop), then both write.
  fs::copy(a.home(), copy.home(), fs::copy_options::recursive);
  a.ok({"put", space, "project", "new", "title@en=Written by the original"});
  a.ok({"sync", node.url()});
  copy.ok({"put", space, "project", "new", "title@en=Written by the copy"});
  copy.ok({"put", space, "project", before, "stage=feasibility"});

  // The node refuses the copy's changes: same key, same seqs, other content.
  Run refused = copy.run({"sync", node.url()});
  REQUIRE(refused.code == 0);
  CHECK(refused.parsed()["forked"] == true);
  CHECK(refused.parsed()["refused"].get<int>() >= 1);
  CHECK(refused.err.find("urbis device rekey") != std::string::npos);
  // ... and again on every later sync: it never heals by itself.
  CHECK(copy.ok({"sync", node.url()})["forked"] == true);
  const std::string hash_before = a.ok({"state-hash", space})["state_hash"].get<std::string>();

  // republish before rekey: nothing forked to read.
  CHECK(copy.run({"device", "republish"}).code == 1);

  const json rekey = copy.ok({"device", "rekey"});
  const std::string new_key = rekey["device"].get<std::string>();
  CHECK(new_key != rekey["old_device"].get<std::string>());
  REQUIRE(rekey["spaces"].size() == 1);
  CHECK(rekey["spaces"][0]["old_role"] == "admin");
  const fs::path forked = rekey["forked"].get<std::string>();
  CHECK(fs::exists(forked / "identity.key"));
  CHECK(fs::exists(forked / "replica.db"));
  CHECK(copy.ok({"space", "list"})["spaces"].empty());  // the new key starts empty

  // Not yet a member: republish refuses and writes nothing.
  copy.ok({"sync", node.url(), "--space", space});
  Run early = copy.run({"device", "republish"});
  CHECK(early.code == 1);
  CHECK(early.err.find("urbis: NotAMember:") == 0);
  CHECK(early.err.find(new_key) != std::string::npos);

  // The admin (the original) adds the new key; the copy syncs and republishes.
  a.ok({"space", "add-member", space, new_key, "--role", "editor"});
  a.ok({"sync", node.url()});
  const json fetched = copy.ok({"sync", node.url(), "--space", space});
  CHECK(fetched["forked"] == false);
  const json rep = copy.ok({"device", "republish"});
  REQUIRE(rep["spaces"].size() == 1);
  CHECK(rep["spaces"][0]["forked_at_seq"] == 3);  // genesis and "Before" were synced before the copy
  CHECK(rep["spaces"][0]["entities_created"] == 1);
  CHECK(rep["spaces"][0]["entities_updated"] == 1);
  CHECK(copy.ok({"sync", node.url()})["refused"] == 0);
  a.ok({"sync", node.url()});

  // Every member now has both copies' work, under keys the node accepts.
  const std::vector<std::string> want = {"Before the copy", "Written by the copy", "Written by the original"};
  CHECK(titles(a, space) == want);
  CHECK(titles(copy, space) == want);
  CHECK(a.ok({"get", space, "project", before})["values"]["stage"] == "feasibility");
  CHECK(a.ok({"state-hash", space})["state_hash"] == copy.ok({"state-hash", space})["state_hash"]);
  CHECK(a.ok({"state-hash", space})["state_hash"] != hash_before);

  // A second republish finds nothing left to do (no duplicates).
  CHECK(copy.run({"device", "republish"}).code == 1);
  CHECK(titles(copy, space) == want);
}

TEST_CASE("node_damaged_store") {
  // A node that served a space, stopped, and whose store then lost a table
  // (another program, a bad restore): it refuses to start with a clear
  // Storage error and exit 1, never an abort on the first query.
  Home a, node_home;
  a.init();
  a.ok({"space", "create", "Field office"});
  const fs::path home = node_home.home();
  {
    Node node(home);
    a.ok({"sync", node.url()});
    CHECK(node.stop(SIGTERM) == 0);
  }
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open((home / "replica.db").c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, "DROP TABLE grants;", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);

  const fs::path out = a.file("node2.out"), err = a.file("node2.err");
  Child child(spawn_urbis({"--home", home.string(), "node", "--listen", "127.0.0.1:0"}, {}, out, err));
  const auto code = child.wait(std::chrono::seconds(30));
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  const std::string text = read_all(err);
  INFO(text);
  CHECK(text.find("Storage") != std::string::npos);
  CHECK(text.find("table 'grants' is missing") != std::string::npos);
  CHECK(read_all(out).find("listening") == std::string::npos);
}
