// toolchains/demo.sh, the flow `bootstrap.sh run` starts after building: run
// as a real process (bash, the real `urbis`) on a demo directory in a fresh
// temporary directory, a node on a free port of 127.0.0.1 and a small
// dataset (URBIS_DEMO_ARGS). Every wait is bounded; a process left over is
// killed through its own process group.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "process_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using urbis::testing::read_all;
using urbis::testing::TempDir;

namespace {

constexpr const char* kDemoPassphrase = "urbis-demo";  // the script's public default

// A process in its own process group, stdin /dev/null, stdout and stderr to
// files; killed with its group if a test ends before it does.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const fs::path& out,
          const fs::path& err) {
    pid_ = urbis::testing::spawn_process(args, env, out, err, {.own_group = true});
    group_ = pid_;
  }
  // Kills whatever of the group is left (a node the script did not stop).
  ~Process() {
    kill(-group_, SIGKILL);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128 + signal when killed), or -1 when it has not exited
  // within `limit`.
  int wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // True while a process of its group lives on (the script, or a node it started).
  bool group_alive() const { return kill(-group_, 0) == 0; }

 private:
  pid_t pid_ = -1;
  pid_t group_ = -1;
};

// The demo directory, the environment the script runs in, and runs of it.
class Demo {
 public:
  Demo() {
    fs::create_directories(dir_.path() / "scratch");
    env_ = {{"HOME", dir_.path().string()},
            {"URBIS_DEMO_DIR", demo_dir().string()},
            {"URBIS_LISTEN", "127.0.0.1:0"},
            {"URBIS_PWHASH", "minimal"},
            {"URBIS_DEMO_ARGS", "--cities 12 --projects 100"}};
  }
  fs::path demo_dir() const { return dir_.path() / "demo"; }
  fs::path file(const std::string& name) const { return dir_.path() / "scratch" / name; }
  // The script with `extra` arguments; its output in files `name` and `name`.err.
  std::unique_ptr<Process> start(std::vector<std::string> extra, const std::string& name = "out") const {
    std::vector<std::string> args = {"/bin/bash", URBIS_DEMO_SCRIPT, URBIS_CLI_BINARY};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, env_, file(name), file(name == "out" ? "err" : name + ".err"));
  }
  // `--seed-only`, which must succeed within a minute; its JSON line.
  json seed_only() const {
    auto p = start({"--seed-only"});
    const int code = p->wait(std::chrono::seconds(60));
    INFO("stderr: " << read_all(file("err")));
    REQUIRE(code == 0);
    const std::string out = read_all(file("out"));
    return json::parse(out.substr(out.rfind('{')));
  }
  // urbis on `home` with the demo passphrase; must succeed.
  json urbis(const fs::path& home, std::vector<std::string> args) const {
    args.insert(args.begin(), {URBIS_CLI_BINARY, "--home", home.string(), "--json"});
    std::map<std::string, std::string> env = env_;
    env["URBIS_PASSPHRASE"] = kDemoPassphrase;
    Process p(args, env, file("urbis.out"), file("urbis.err"));
    const int code = p.wait(std::chrono::seconds(60));
    INFO("urbis " << args[4] << " stderr: " << read_all(file("urbis.err")));
    REQUIRE(code == 0);
    return json::parse(read_all(file("urbis.out")));
  }
  // The same on the demo admin home.
  json admin(std::vector<std::string> args) const { return urbis(demo_dir() / "admin", std::move(args)); }
  int admin_code(std::vector<std::string> args) const {
    args.insert(args.begin(), {URBIS_CLI_BINARY, "--home", (demo_dir() / "admin").string(), "--json"});
    std::map<std::string, std::string> env = env_;
    env["URBIS_PASSPHRASE"] = kDemoPassphrase;
    Process p(args, env, file("urbis.out"), file("urbis.err"));
    return p.wait(std::chrono::seconds(60));
  }
  fs::path scratch_home(const std::string& name) const { return dir_.path() / "scratch" / name; }

 private:
  TempDir dir_{"urbis-demo"};
  std::map<std::string, std::string> env_;
};

size_t count(const Demo& demo, const std::string& space, const std::string& type) {
  return demo.admin({"find", space, "--type", type, "--limit", "1"})["total"].get<size_t>();
}

}  // namespace

TEST_CASE("demo_seed_only") {
  Demo demo;
  // Left by a first run that was interrupted: started over.
  fs::create_directories(demo.demo_dir() / "admin.partial");
  std::ofstream(demo.demo_dir() / "admin.partial" / "identity.key") << "half written";

  const json first = demo.seed_only();
  CHECK(first["created"] == true);
  const std::string space = first["space"].get<std::string>();
  CHECK(space.size() == 32);
  CHECK(first["node"].get<std::string>().size() == 64);
  CHECK(first["sent"].get<size_t>() > 1);  // the space's changes reached the node
  CHECK(!fs::exists(demo.demo_dir() / "admin.partial"));
  CHECK(count(demo, space, "project") == 100);
  CHECK(count(demo, space, "city") == 12);
  const json state = demo.admin({"state-hash", space});

  // A second run reuses everything: same space, same node, nothing new.
  const json second = demo.seed_only();
  CHECK(second["created"] == false);
  CHECK(second["space"] == space);
  CHECK(second["node"] == first["node"]);
  CHECK(second["sent"] == 0);  // the node kept what the first run sent
  CHECK(first["invite"].get<std::string>().rfind("urbis1-", 0) == 0);
  CHECK(second["invite"] == first["invite"]);  // still valid: reused, not made again
  CHECK(count(demo, space, "project") == 100);
  CHECK(demo.admin({"state-hash", space}) == state);
  const json spaces = demo.admin({"space", "list"})["spaces"];
  REQUIRE(spaces.size() == 1);
  CHECK(spaces[0]["name"] == "Urbis demo — fictional cities");
}

TEST_CASE("demo_foreground") {
  Demo demo;
  auto script = demo.start({});
  // Ready once it has printed how to connect.
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.find("Ctrl-C stops the node") == std::string::npos) {
    INFO("stderr: " << read_all(demo.file("err")));
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(script->wait(std::chrono::milliseconds(100)) == -1);  // still running
    out = read_all(demo.file("out"));
  }
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("sync: (ws://127\\.0\\.0\\.1:[0-9]+/sync)")));
  const std::string url = m[1];
  REQUIRE(std::regex_search(out, m, std::regex("space +([0-9a-f]{32})")));
  const std::string space = m[1];
  CHECK(out.find("DEMO ONLY") != std::string::npos);
  CHECK(out.find("node key") != std::string::npos);

  // The node serves the seeded space: the admin has nothing left to send.
  const json synced = demo.admin({"sync", url});
  CHECK(synced["sent"] == 0);
  CHECK(synced["refused"] == 0);
  CHECK(count(demo, space, "project") == 100);

  // A newcomer joins with the printed invite code and searches the demo.
  REQUIRE(std::regex_search(out, m, std::regex("space join (urbis1-[A-Za-z0-9-]+) ")));
  const std::string invite = m[1];
  const fs::path newcomer = demo.scratch_home("newcomer");
  demo.urbis(newcomer, {"init"});
  const json joined = demo.urbis(newcomer, {"space", "join", invite, url});
  CHECK(joined["space"] == space);
  CHECK(joined["role"] == "editor");
  CHECK(demo.urbis(newcomer, {"find", space, "--type", "project", "--limit", "1"})["total"] == 100);

  // One run per demo directory.
  auto second = demo.start({"--seed-only"}, "second");
  CHECK(second->wait(std::chrono::seconds(30)) == 1);
  CHECK(read_all(demo.file("second.err")).find("another demo run") != std::string::npos);

  // Ctrl-C (SIGINT to the script) stops the node and exits cleanly.
  REQUIRE(kill(script->pid(), SIGINT) == 0);
  CHECK(script->wait(std::chrono::seconds(15)) == 0);
  CHECK(!script->group_alive());
  CHECK(demo.admin_code({"sync", url}) != 0);  // nothing listens any more

  // The printed code was redeemed: the next run makes a new one.
  const json next = demo.seed_only();
  CHECK(next["invite"].get<std::string>().rfind("urbis1-", 0) == 0);
  CHECK(next["invite"] != invite);
  CHECK(next["sent"] == 1);  // the new invite
}
