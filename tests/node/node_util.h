// Helpers for tests that run `urbis node` and `urbis sync` as real
// processes on 127.0.0.1: spawning the binary with a clean URBIS_*
// environment, children killed and reaped even when a check fails, homes in
// temporary directories, a node on port 0 that reports where it listens, and
// a tiny raw-socket HTTP GET. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "process_util.h"

namespace urbis::testing {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The real wall clock, in ms since the Unix epoch (what a node's Env reads).
inline uint64_t wall_clock_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Spawns urbis with `args`; stdin /dev/null, stdout and stderr to files.
inline pid_t spawn_urbis(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                         const fs::path& out, const fs::path& err) {
  std::vector<std::string> argv = {URBIS_CLI_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_process(argv, env, out, err);
}

// Waits for `pid` at most `limit`; its exit code (128+signal), or nullopt.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A child process killed (SIGKILL) and reaped when it goes out of scope.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits (bounded) for the exit code.
  std::optional<int> stop(int sig, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    if (pid_ <= 0) return std::nullopt;
    kill(pid_, sig);
    return wait(limit);
  }
  // Waits (bounded) for the exit code.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return std::nullopt;
    auto code = wait_exit(pid_, limit);
    if (code) pid_ = -1;
    return code;
  }

 private:
  pid_t pid_ = -1;
};

struct Run {
  int code = -1;
  std::string out, err;
  json parsed() const { return json::parse(out); }
};

// A home in a temporary directory (a device's or a node's).
class Home {
 public:
  Home() {
    home_ = dir_.path() / "home";
    fs::create_directories(dir_.path() / "scratch");
  }
  std::map<std::string, std::string> env() const {
    return {{"URBIS_PASSPHRASE", "correct horse"}, {"URBIS_PWHASH", "minimal"}};
  }
  std::vector<std::string> with_home(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--home", home_.string()});
    return args;
  }
  // Runs a command to completion (killed after 30 s).
  Run run(std::vector<std::string> args) const {
    const fs::path out = dir_.path() / "scratch" / "stdout", err = dir_.path() / "scratch" / "stderr";
    Child child(spawn_urbis(with_home(std::move(args)), env(), out, err));
    auto code = child.wait(std::chrono::seconds(30));
    Run r;
    r.code = code.value_or(-1);
    r.out = read_all(out);
    r.err = read_all(err);
    return r;
  }
  json ok(std::vector<std::string> args) const {
    Run r = run(args);
    INFO("urbis " << args[0] << " stderr: " << r.err);
    REQUIRE(r.code == 0);
    return r.parsed();
  }
  std::string init() { return ok({"init"})["device"].get<std::string>(); }
  const fs::path& home() const { return home_; }
  fs::path file(const std::string& name) const { return dir_.path() / name; }

 private:
  TempDir dir_{"urbis-node"};
  fs::path home_;
};

// `urbis node --listen 127.0.0.1:0` in its own home; port() once listening.
// It takes new spaces from any device (--open-spaces, what most tests need:
// their admins create spaces on it) unless `extra` sets the creation policy
// itself (--space-creator KEY, or --open-spaces); kClosed: no new spaces but
// from members of spaces it holds.
class Node {
 public:
  Node() { start(home_.home(), {}); }
  explicit Node(std::vector<std::string> extra) { start(home_.home(), std::move(extra)); }
  // A node on the home another node left behind (a restart), or a home
  // prepared beforehand; `port` 0 picks a free one. `env`: for a home that
  // holds a device identity, Home::env() (its passphrase).
  explicit Node(const fs::path& existing_home, std::vector<std::string> extra = {}, int port = 0,
                std::map<std::string, std::string> env = {}) {
    start(existing_home, std::move(extra), port, std::move(env));
  }

  // In `extra`: start without --open-spaces (not passed to the node).
  static constexpr const char* kClosed = "(closed)";

  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/sync"; }
  std::optional<int> stop(int sig) { return child_->stop(sig); }
  std::string log() const { return read_all(err_); }
  // The key the node reported when it started listening ("node").
  std::string key() const { return key_; }
  const fs::path& home() const { return home_path_; }
  fs::path store() const { return home_path_ / "replica.db"; }

 private:
  void start(const fs::path& home, std::vector<std::string> extra, int port = 0,
             std::map<std::string, std::string> env = {}) {
    home_path_ = home;
    std::vector<std::string> args = {"--home", home.string(), "node", "--listen", "127.0.0.1:" + std::to_string(port)};
    auto has = [&](const char* flag) { return std::find(extra.begin(), extra.end(), flag) != extra.end(); };
    if (has(kClosed))
      std::erase(extra, std::string(kClosed));
    else if (!has("--space-creator") && !has("--open-spaces"))
      args.push_back("--open-spaces");
    args.insert(args.end(), extra.begin(), extra.end());
    out_ = home_.file("node.out");
    err_ = home_.file("node.err");
    child_ = std::make_unique<Child>(spawn_urbis(args, env, out_, err_));
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      std::string text = read_all(out_);
      if (text.find('\n') != std::string::npos) {
        json line = json::parse(text.substr(0, text.find('\n')));
        std::string addr = line["listening"].get<std::string>();
        port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
        key_ = line["node"].get<std::string>();
        return;
      }
      if (wait_exit(child_->pid(), std::chrono::milliseconds(0))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("the node did not report listening; stderr: " << read_all(err_));
  }

  Home home_;
  fs::path home_path_;
  fs::path out_, err_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
  std::string key_;
};

// Waits (bounded) until `done` holds, calling it every 200 ms.
template <typename F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

// A socket connected to 127.0.0.1:port with 5 s send/receive timeouts.
inline int connect_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

inline void send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the peer may close early (the oversized frame)
    done += static_cast<size_t>(n);
  }
}

inline std::string recv_until_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

struct HttpResponse {
  int status = 0;
  std::string head, body;
};

// GET over HTTP/1.0 (the node closes after the response).
// `headers`: extra request header lines, each ending in \r\n.
inline HttpResponse http_get(int port, const std::string& path, const std::string& headers = "") {
  int fd = connect_local(port);
  send_all(fd, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + "\r\n");
  std::string raw = recv_until_eof(fd);
  close(fd);
  HttpResponse r;
  const auto split = raw.find("\r\n\r\n");
  if (split == std::string::npos || raw.size() < 12) return r;
  r.head = raw.substr(0, split);
  r.body = raw.substr(split + 4);
  r.status = std::stoi(raw.substr(9, 3));
  return r;
}

inline bool any_file_contains(const fs::path& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && read_all(entry.path()).find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace urbis::testing
