// `urbis node` and `urbis sync` as real processes on 127.0.0.1 (issue 3):
// a node in a temporary home, client devices in others, every wait bounded,
// every process killed at the end even when a check fails. HTTP is checked
// with a tiny raw-socket GET; the oversized frame with a raw WebSocket
// handshake. URBIS_PWHASH=minimal keeps each command fast.
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "hostile_util.h"
#include "node_util.h"

using namespace urbis::testing;

TEST_CASE("two_clients") {
  Node node;
  Home a, b;
  a.init();
  const std::string device_b = b.init();
  const std::string space = a.ok({"space", "create", "Busan mobility"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "editor"});
  const std::string marker = "MARKER-b7e1c2-plaintext";
  const std::string id =
      a.ok({"put", space, "project", "new", "title@en=" + marker, "stage=planning"})["id"].get<std::string>();

  json sa = a.ok({"sync", node.url()});
  CHECK(sa["sent"].get<int>() >= 3);  // genesis, membership, the project
  CHECK(sa["spaces"] == 1);
  CHECK(sa["refused"] == 0);

  // B holds no space yet: it names the one to fetch.
  json sb = b.ok({"sync", node.url(), "--space", space});
  CHECK(sb["received"] == sa["sent"]);
  CHECK(sb["spaces"] == 1);
  json e = b.ok({"get", space, "project", id});
  CHECK(e["values"]["title"] == marker);

  // Both edit the same field offline, then sync twice each.
  a.ok({"put", space, "project", id, "stage=design-a"});
  b.ok({"put", space, "project", id, "stage=design-b"});
  for (int round = 0; round < 2; ++round) {
    a.ok({"sync", node.url()});
    b.ok({"sync", node.url()});
  }
  CHECK(a.ok({"state-hash", space})["state_hash"] == b.ok({"state-hash", space})["state_hash"]);
  e = b.ok({"get", space, "project", id});
  REQUIRE(e["conflicts"].contains("stage"));
  CHECK(e["conflicts"]["stage"].size() == 2);

  HttpResponse health = http_get(node.port(), "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  HttpResponse metrics = http_get(node.port(), "/metrics");
  CHECK(metrics.status == 200);
  for (const char* name :
       {"urbis_connections 0", "urbis_sessions_total 6", "urbis_changes_received_total", "urbis_changes_sent_total",
        "urbis_bytes_in_total", "urbis_bytes_out_total", "# TYPE urbis_refusals_total counter",
        "# TYPE urbis_changes_frame_seconds histogram", "urbis_changes_frame_seconds_bucket{le=\"0.001\"}",
        "# TYPE urbis_catchup_seconds histogram", "urbis_catchup_seconds_bucket{le=\"+Inf\"} 6",
        "process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds ", "process_max_fds "})
    CHECK_MESSAGE(metrics.body.find(name) != std::string::npos, name);
  // Every sync sent Changes (the first three of A's, then each edit): each
  // frame observed once, within the +Inf bucket.
  auto value_of = [&](const std::string& line_start) {
    const auto at = metrics.body.find("\n" + line_start);
    return at == std::string::npos ? -1.0 : std::stod(metrics.body.substr(at + 1 + line_start.size()));
  };
  CHECK(value_of("urbis_changes_frame_seconds_count ") >= 3);
  CHECK(value_of("urbis_changes_frame_seconds_bucket{le=\"+Inf\"} ") == value_of("urbis_changes_frame_seconds_count "));
  CHECK(value_of("process_resident_memory_bytes ") > 1e6);
  CHECK(value_of("process_open_fds ") >= 3);

  CHECK(node.stop(SIGTERM) == 0);
  const std::string log = node.log();
  CHECK(log.find("\"event\":\"stopped\"") != std::string::npos);
  CHECK(!any_file_contains(node.home(), marker));
  CHECK(any_file_contains(a.home(), marker));  // the check can see a marker where one is
}

// A catch-up of 32 changes or more leaves the entities it changed stale
// (Replica::refresh): `urbis sync` refreshes them once caught up, so the
// store it leaves holds none and the next `urbis find` has nothing to do.
TEST_CASE("sync_refreshes_catch_up") {
  Node node;
  Home a, b;
  a.init();
  const std::string device_b = b.init();
  const std::string space = a.ok({"space", "create", "Catch-up"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "editor"});
  for (int i = 0; i < 40; ++i)
    a.ok({"put", space, "project", "new", "title@en=Catch-up project " + std::to_string(i), "stage=planning"});
  a.ok({"sync", node.url()});
  json sb = b.ok({"sync", node.url(), "--space", space});
  CHECK(sb["received"].get<int>() >= 42);
  CHECK(sql_int(b.home() / "replica.db", "SELECT count(*) FROM stale_entities") == 0);
  CHECK(sql_int(b.home() / "replica.db", "SELECT count(*) FROM facets WHERE field='stage' AND value='planning'") == 40);
  CHECK(b.ok({"find", space, "--type", "project", "--text", "catch-up"})["total"] == 40);
}

TEST_CASE("kill_node") {
  // Every change a sync reported acknowledged survives kill -9 of the node.
  auto node = std::make_unique<Node>();
  Home a, b;
  a.init();
  const std::string device_b = b.init();
  const std::string space = a.ok({"space", "create", "Durable"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "viewer"});
  int sent = 0;
  for (int i = 0; i < 5; ++i) {
    a.ok({"put", space, "task", "new", "n=" + std::to_string(i), "title@en=task " + std::to_string(i)});
    sent += a.ok({"sync", node->url()})["sent"].get<int>();
  }
  CHECK(sent == 7);                    // genesis, membership, five tasks
  const fs::path home = node->home();  // node (and its directory) stays alive: only the process dies
  CHECK(node->stop(SIGKILL) == std::optional<int>(128 + SIGKILL));

  Node again(home);
  json sb = b.ok({"sync", again.url(), "--space", space});
  CHECK(sb["received"] == sent);
  CHECK(a.ok({"state-hash", space})["state_hash"] == b.ok({"state-hash", space})["state_hash"]);
  json found = b.ok({"find", space, "--type", "task"});
  CHECK(found["total"] == 5);
  CHECK(again.stop(SIGTERM) == 0);
}

// A and B share a space through a node, and B watches it (`urbis sync
// --watch`, Live): what the node pushes live reaches B's store.
struct Watching {
  Node node;
  Home a, b;
  std::string space;
  std::optional<Child> watch;
  explicit Watching(const std::string& name) {
    a.init();
    const std::string device_b = b.init();
    space = a.ok({"space", "create", name})["space"].get<std::string>();
    a.ok({"space", "add-member", space, device_b, "--role", "editor"});
    a.ok({"sync", node.url()});
    b.ok({"sync", node.url(), "--space", space});
    watch.emplace(
        spawn_urbis(b.with_home({"sync", node.url(), "--watch"}), b.env(), b.file("watch.out"), b.file("watch.err")));
    REQUIRE(log_has("\"event\":\"live\""));
  }
  // Whether the watcher's log says `what` within 10 s.
  bool log_has(const std::string& what) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (read_all(b.file("watch.err")).find(what) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_CASE("live_push") {
  // B watches; A's next sync reaches B through the node's live push.
  Watching w("Live");
  Home& a = w.a;
  Home& b = w.b;
  const std::string& space = w.space;
  const std::string id = a.ok({"put", space, "project", "new", "title@en=Pushed"})["id"].get<std::string>();
  a.ok({"sync", w.node.url()});
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  bool arrived = false;
  while (!arrived && Clock::now() < deadline) {
    // The watcher holds the store open; `find` reads it alongside (WAL).
    Run r = b.run({"find", space, "--text", "Pushed"});
    arrived = r.code == 0 && r.parsed()["total"] == 1;
    if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(arrived);
  // And B's own commit goes out from the watcher (polled) to A.
  b.ok({"put", space, "project", id, "stage=from-b"});
  bool back = false;
  const auto deadline2 = Clock::now() + std::chrono::seconds(10);
  while (!back && Clock::now() < deadline2) {
    a.ok({"sync", w.node.url()});
    back = a.ok({"get", space, "project", id})["values"]["stage"] == "from-b";
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(back);
  CHECK(w.watch->stop(SIGINT) == 0);
  json summary = json::parse(read_all(b.file("watch.out")));
  CHECK(summary["received"].get<int>() >= 1);
  CHECK(summary["sent"].get<int>() >= 1);
  CHECK(w.node.stop(SIGTERM) == 0);
}

// A watching sync that receives a large batch after Live (another device's
// burst of puts: one frame of 32 changes or more, left stale by apply_batch)
// refreshes it as it arrives, not at the next `urbis find`: B's store holds
// the refreshed facets and no stale entity while the watcher still runs.
TEST_CASE("watch_refreshes_a_large_live_batch") {
  Watching w("Burst");
  for (int i = 0; i < 40; ++i)
    w.a.ok({"put", w.space, "project", "new", "title@en=Burst " + std::to_string(i), "stage=planning"});
  w.a.ok({"sync", w.node.url()});  // one push of 40 changes, forwarded live to B
  const fs::path db = w.b.home() / "replica.db";
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  bool refreshed = false;
  while (!refreshed && Clock::now() < deadline) {
    refreshed = sql_int(db, "SELECT count(*) FROM facets WHERE field='stage' AND value='planning'") == 40 &&
                sql_int(db, "SELECT count(*) FROM stale_entities") == 0;
    if (!refreshed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(refreshed);
  CHECK(w.watch->stop(SIGINT) == 0);
  CHECK(w.node.stop(SIGTERM) == 0);
}

TEST_CASE("sync_errors") {
  Home a;
  a.init();
  a.ok({"space", "create", "Offline"});
  // A port nothing listens on: bind one, note it, close it.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const int dead_port = ntohs(addr.sin_port);
  close(probe);
  Run refused = a.run({"sync", "ws://127.0.0.1:" + std::to_string(dead_port) + "/sync"});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("urbis: Network: cannot connect") != std::string::npos);
  CHECK(refused.out.empty());

  Node node;
  Run not_ws = a.run({"sync", "ws://127.0.0.1:" + std::to_string(node.port()) + "/elsewhere"});
  CHECK(not_ws.code == 1);
  CHECK(not_ws.err.find("handshake") != std::string::npos);
  CHECK(a.run({"sync", "http://127.0.0.1:1/sync"}).code == 2);
  CHECK(node.stop(SIGTERM) == 0);
}

TEST_CASE("oversized_frame") {
  Node node(std::vector<std::string>{"--max-frame-bytes", "1024"});
  Home a;
  a.init();
  a.ok({"space", "create", "Still served"});

  int fd = connect_local(node.port());
  send_all(fd,
           "GET /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  // The 101 (and the node's Hello) before any frame, as RFC 6455 requires.
  std::string reply;
  char buf[4096];
  while (reply.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    reply.append(buf, static_cast<size_t>(n));
  }
  // A masked binary frame announcing 4096 bytes (limit 1024), then its bytes.
  std::string frame = {'\x82', static_cast<char>(0x80 | 126), '\x10', '\x00', 'm', 'a', 's', 'k'};
  frame += std::string(4096, 'x');
  send_all(fd, frame);
  reply += recv_until_eof(fd);  // the close
  close(fd);
  CHECK(reply.find("101 Switching Protocols") != std::string::npos);
  // Close frame with status 1009 (message too big).
  CHECK(reply.find(std::string("\x88\x02\x03\xf1", 4)) != std::string::npos);

  // The node keeps serving others.
  CHECK(a.ok({"sync", node.url()})["spaces"] == 1);
  HttpResponse metrics = http_get(node.port(), "/metrics");
  CHECK(metrics.body.find("urbis_refusals_total{code=\"TooLarge\"} 1") != std::string::npos);
  CHECK(node.stop(SIGTERM) == 0);
}

TEST_CASE("static_files") {
  TempDir web{"urbis-node"};
  fs::create_directories(web.path() / "site" / "assets");
  const fs::path site = web.path() / "site";
  std::ofstream(site / "index.html") << "<!doctype html>home";
  std::ofstream(site / "assets" / "app.js") << "console.log(1)";
  std::ofstream(site / "assets" / "core.wasm") << "\0asm";
  std::ofstream(site / "app.webmanifest") << "{}";
  std::ofstream(site / "style.css") << "body{}";
  std::ofstream(web.path() / "secret.txt") << "do not serve";
  Node node({"--web", site.string()});

  auto content_type = [](const HttpResponse& r) {
    auto at = r.head.find("Content-Type: ");
    return at == std::string::npos ? std::string() : r.head.substr(at + 14, r.head.find("\r\n", at) - at - 14);
  };
  HttpResponse index = http_get(node.port(), "/");
  CHECK(index.status == 200);
  CHECK(index.body == "<!doctype html>home");
  CHECK(content_type(index) == "text/html; charset=utf-8");
  CHECK(content_type(http_get(node.port(), "/assets/app.js")) == "text/javascript");
  CHECK(content_type(http_get(node.port(), "/assets/core.wasm")) == "application/wasm");
  CHECK(content_type(http_get(node.port(), "/app.webmanifest")) == "application/manifest+json");
  CHECK(content_type(http_get(node.port(), "/style.css")) == "text/css");
  CHECK(http_get(node.port(), "/missing.js").status == 404);

  // Caching: pages, the manifest and the service worker revalidate; hashed
  // assets are immutable.
  auto header = [](const HttpResponse& r, const std::string& name) {
    auto at = r.head.find(name + ": ");
    return at == std::string::npos
               ? std::string()
               : r.head.substr(at + name.size() + 2, r.head.find("\r\n", at) - at - name.size() - 2);
  };
  std::ofstream(site / "sw.js") << "self.x=1";
  CHECK(header(index, "Cache-Control") == "no-cache");
  CHECK(header(http_get(node.port(), "/sw.js"), "Cache-Control") == "no-cache");
  CHECK(header(http_get(node.port(), "/app.webmanifest"), "Cache-Control") == "no-cache");
  CHECK(header(http_get(node.port(), "/assets/app.js"), "Cache-Control").find("immutable") != std::string::npos);
  CHECK(header(http_get(node.port(), "/style.css"), "Cache-Control") == "public, max-age=3600");

  // A precompressed FILE.gz goes to clients that accept gzip, with the type of FILE.
  std::ofstream(site / "assets" / "app.js.gz") << "GZIPPED";
  HttpResponse plain = http_get(node.port(), "/assets/app.js");
  CHECK(plain.body == "console.log(1)");
  CHECK(header(plain, "Content-Encoding").empty());
  CHECK(header(plain, "Vary") == "Accept-Encoding");
  HttpResponse gz = http_get(node.port(), "/assets/app.js", "Accept-Encoding: br, gzip, deflate\r\n");
  CHECK(gz.body == "GZIPPED");
  CHECK(header(gz, "Content-Encoding") == "gzip");
  CHECK(content_type(gz) == "text/javascript");
  CHECK(http_get(node.port(), "/assets/app.js", "Accept-Encoding: gzip;q=0\r\n").body == "console.log(1)");
  CHECK(http_get(node.port(), "/style.css", "Accept-Encoding: gzip\r\n").body == "body{}");  // no .gz: as is

  for (const char* evil :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/assets/%2E%2E/%2E%2E/secret.txt"}) {
    HttpResponse r = http_get(node.port(), evil);
    CHECK_MESSAGE(r.status == 404, evil);
    CHECK(r.body.find("do not serve") == std::string::npos);
  }
  CHECK(http_get(node.port(), "/healthz").body == "ok\n");
  CHECK(node.stop(SIGINT) == 0);
}

// A unix datagram socket in a temporary directory, as systemd's
// NOTIFY_SOCKET; next() is the next message (empty after 10 s).
class NotifySocket {
 public:
  NotifySocket() {
    path_ = dir_.path() / "notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string path() const { return path_.string(); }
  std::string next() {
    char buf[512];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  TempDir dir_{"urbis-notify"};
  fs::path path_;
  int fd_ = -1;
};

TEST_CASE("systemd_ready") {
  // Under systemd: READY=1 once listening, STOPPING=1 on SIGTERM, log lines
  // prefixed with their journal priority; /readyz reads the store.
  NotifySocket notify;
  Home home;
  Node node(home.home(), {}, 0, {{"NOTIFY_SOCKET", notify.path()}, {"JOURNAL_STREAM", "8:12345"}});
  CHECK(notify.next() == "READY=1");
  HttpResponse ready = http_get(node.port(), "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body == "ready\n");
  CHECK(node.stop(SIGTERM) == 0);
  CHECK(notify.next() == "STOPPING=1");
  std::istringstream lines(node.log());
  int info = 0;
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(line.rfind("<", 0) == 0);
    if (line.rfind("<6>{", 0) == 0 && line.find("\"level\":\"info\"") != std::string::npos) ++info;
  }
  CHECK(info >= 3);  // listening, stopping, stopped

  // --drain-seconds: after SIGTERM, not ready and no new sessions, while
  // the open ones go on; then the stop.
  {
    NotifySocket drain_notify;
    Home drain_home, client;
    client.init();
    Node draining(drain_home.home(), {"--drain-seconds", "2"}, 0, {{"NOTIFY_SOCKET", drain_notify.path()}});
    CHECK(drain_notify.next() == "READY=1");
    CHECK(http_get(draining.port(), "/readyz").status == 200);
    const auto signalled = Clock::now();
    REQUIRE(kill(draining.pid(), SIGTERM) == 0);
    CHECK(drain_notify.next() == "STOPPING=1");
    HttpResponse during = http_get(draining.port(), "/readyz");
    CHECK(during.status == 503);
    CHECK(during.body == "stopping\n");
    Run refused = client.run({"sync", draining.url()});
    CHECK(refused.code != 0);
    CHECK(refused.err.find("503") != std::string::npos);
    CHECK(draining.stop(0).value_or(-1) == 0);  // signal 0: only waits for the exit
    CHECK(Clock::now() - signalled >= std::chrono::milliseconds(1900));
    CHECK(draining.log().find("\"event\":\"draining\"") != std::string::npos);
  }

  // --log-level drops what is below it; a wrong level is a usage error.
  Home quiet_home;
  Node quiet(quiet_home.home(), {"--log-level", "warn"});
  CHECK(quiet.stop(SIGTERM) == 0);
  CHECK(quiet.log().find("\"event\":\"listening\"") == std::string::npos);
  Run wrong = quiet_home.run({"node", "--listen", "127.0.0.1:0", "--log-level", "loud"});
  CHECK(wrong.code == 2);
  CHECK(wrong.err.find("--log-level takes debug, info, warn or error") != std::string::npos);
}

TEST_CASE("config_file") {
  // Every flag from a file; the command line wins per flag; unknown names
  // and bad values stop it with the file and the line.
  Home home;
  const fs::path conf = home.file("node.conf");
  {
    std::ofstream out(conf);
    out << "# a regional node\n"
           "listen = 127.0.0.1:0\n"
           "peer = ws://a.example:8080/sync\n"
           "peer = ws://b.example:8080/sync\n"
           "open-spaces = true\n"
           "max-connections = 500\n"
           "log-level = warn\n";
  }
  json settings = home.ok({"node", "--config", conf.string(), "--print-config"});
  CHECK(settings["listen"] == "127.0.0.1:0");
  CHECK(settings["peer"] == json::array({"ws://a.example:8080/sync", "ws://b.example:8080/sync"}));
  CHECK(settings["open-spaces"] == true);
  CHECK(settings["max-connections"] == 500);
  CHECK(settings["max-spaces"] == 10000);  // a default, shown
  CHECK(settings["log-level"] == "warn");
  settings = home.ok(
      {"node", "--config", conf.string(), "--peer", "ws://c.example/sync", "--max-connections", "7", "--print-config"});
  CHECK(settings["peer"] == json::array({"ws://c.example/sync"}));
  CHECK(settings["max-connections"] == 7);
  CHECK_FALSE(fs::exists(home.home() / "replica.db"));  // printing opens nothing

  // The file's settings run a real node.
  Node node(home.home(), {"--config", conf.string(), Node::kClosed});
  CHECK(http_get(node.port(), "/readyz").status == 200);
  CHECK(node.stop(SIGTERM) == 0);
  CHECK(node.log().find("\"event\":\"listening\"") == std::string::npos);  // log-level = warn

  auto refused = [&](const std::string& text) {
    std::ofstream(conf) << text;
    return home.run({"node", "--config", conf.string(), "--print-config"});
  };
  Run r = refused("listen = 127.0.0.1:0\nlisen = 127.0.0.1:1\n");
  CHECK(r.code == 2);
  CHECK(r.err.find("node.conf:2: unknown setting 'lisen'") != std::string::npos);
  r = refused("listen = 127.0.0.1:0\nopen-spaces = maybe\n");
  CHECK(r.code == 2);
  CHECK(r.err.find("node.conf:2: open-spaces is true or false") != std::string::npos);
  r = refused("listen 127.0.0.1:0\n");
  CHECK(r.err.find("node.conf:1: not a 'name = value' line") != std::string::npos);
  r = refused("config = other.conf\n");
  CHECK(r.err.find("unknown setting 'config'") != std::string::npos);
  r = refused("print-config = true\n");  // would make the service exit before it is ready
  CHECK(r.err.find("unknown setting 'print-config'") != std::string::npos);
  r = home.run({"node", "--config", home.file("missing.conf").string(), "--print-config"});
  CHECK(r.code == 2);
  CHECK(r.err.find("cannot read") != std::string::npos);
}

TEST_CASE("node_chain") {
  // edge -> regional -> secretariat, each node trusting the one below it;
  // clients on different nodes; nodes stopped and restarted (partitions).
  Home edge_home, regional_home, secretariat_home;
  const std::string edge_key = edge_home.ok({"node", "key"})["node"].get<std::string>();
  const std::string regional_key = regional_home.ok({"node", "key"})["node"].get<std::string>();
  CHECK(edge_home.ok({"node", "key"})["node"] == edge_key);  // stable across runs
  CHECK(edge_key != regional_key);
  auto secretariat =
      std::make_unique<Node>(secretariat_home.home(), std::vector<std::string>{"--trust-peer", regional_key});
  const std::vector<std::string> regional_args = {"--peer", secretariat->url(), "--trust-peer",
                                                  edge_key, "--peer-retry-max", "1"};
  auto regional = std::make_unique<Node>(regional_home.home(), regional_args);
  const int regional_port = regional->port();
  const std::string regional_url = regional->url();
  Node edge(edge_home.home(), {"--peer", regional_url, "--peer-retry-max", "1"});

  Home a, b, c;  // A on the secretariat, B on the edge, C on the regional node
  a.init();
  const std::string device_b = b.init(), device_c = c.init();
  const std::string space = a.ok({"space", "create", "Chain"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "editor"});
  a.ok({"space", "add-member", space, device_c, "--role", "editor"});
  const std::string marker = "MARKER-chain-5d1f09";
  const std::string id =
      a.ok({"put", space, "project", "new", "title@en=" + marker, "stage=idea"})["id"].get<std::string>();
  a.ok({"sync", secretariat->url()});

  // The space travels down the chain by itself; B, who never named it, gets it.
  auto stage_at = [&](Home& who, const std::string& url) -> std::string {
    if (who.run({"sync", url}).code != 0) return "";
    Run r = who.run({"get", space, "project", id});
    return r.code == 0 ? r.parsed()["values"]["stage"].get<std::string>() : "";
  };
  CHECK(eventually([&] { return stage_at(b, edge.url()) == "idea"; }));
  CHECK(eventually([&] { return stage_at(c, regional_url) == "idea"; }));

  // Partition 1: the regional node goes down. B and A edit the same field.
  CHECK(regional->stop(SIGTERM) == 0);
  b.ok({"put", space, "project", id, "stage=design-edge"});
  CHECK(b.ok({"sync", edge.url()})["sent"] == 1);  // stored at the edge, going nowhere yet
  a.ok({"put", space, "project", id, "stage=design-hq"});
  a.ok({"sync", secretariat->url()});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // links back off
  regional = std::make_unique<Node>(regional_home.home(), regional_args, regional_port);

  auto converged = [&] {
    const std::string ha = a.run({"sync", secretariat->url()}).code == 0
                               ? a.ok({"state-hash", space})["state_hash"].get<std::string>()
                               : "a";
    const std::string hb =
        b.run({"sync", edge.url()}).code == 0 ? b.ok({"state-hash", space})["state_hash"].get<std::string>() : "b";
    const std::string hc =
        c.run({"sync", regional_url}).code == 0 ? c.ok({"state-hash", space})["state_hash"].get<std::string>() : "c";
    return ha == hb && hb == hc;
  };
  REQUIRE(eventually(converged));
  json e = c.ok({"get", space, "project", id});
  REQUIRE(e["conflicts"].contains("stage"));
  CHECK(e["conflicts"]["stage"].size() == 2);

  // Partition 2: the secretariat goes down; C writes at the regional node.
  const fs::path secretariat_path = secretariat->home();
  const int secretariat_port = secretariat->port();
  CHECK(secretariat->stop(SIGKILL) == std::optional<int>(128 + SIGKILL));
  c.ok({"put", space, "project", id, "stage=built", "+tags=regional"});
  c.ok({"sync", regional_url});
  CHECK(eventually([&] { return stage_at(b, edge.url()) == "built"; }));  // edge still hears it
  secretariat = std::make_unique<Node>(secretariat_path, std::vector<std::string>{"--trust-peer", regional_key},
                                       secretariat_port);
  CHECK(eventually([&] { return stage_at(a, secretariat->url()) == "built"; }));
  REQUIRE(eventually(converged));

  // The links' state is visible; no node can read what it carried.
  HttpResponse metrics = http_get(edge.port(), "/metrics");
  CHECK(metrics.body.find("urbis_peer_up{peer=\"" + regional_url + "\"} 1") != std::string::npos);
  CHECK(metrics.body.find("urbis_peer_connects_total{peer=\"" + regional_url + "\"} 2") != std::string::npos);
  CHECK(edge.log().find("\"event\":\"peer_down\"") != std::string::npos);
  CHECK(edge.stop(SIGTERM) == 0);
  CHECK(regional->stop(SIGTERM) == 0);
  CHECK(secretariat->stop(SIGTERM) == 0);
  for (const Home* h : {&edge_home, &regional_home, &secretariat_home}) CHECK(!any_file_contains(h->home(), marker));
  CHECK(any_file_contains(a.home(), marker));
}

TEST_CASE("node_backup") {
  // A regional node, linked to the secretariat's, is backed up while a
  // device writes through it, then lost. Restored from the backup (same key),
  // it gets back what came after the backup: from its peer what reached the
  // secretariat, from the device what only the lost node had acknowledged.
  Home regional_home, secretariat_home;
  const std::string regional_key = regional_home.ok({"node", "key"})["node"].get<std::string>();
  auto secretariat =
      std::make_unique<Node>(secretariat_home.home(), std::vector<std::string>{"--trust-peer", regional_key});
  const fs::path secretariat_path = secretariat->home();
  const int secretariat_port = secretariat->port();
  const std::vector<std::string> regional_args = {"--peer", secretariat->url(), "--peer-retry-max", "1"};
  auto regional = std::make_unique<Node>(regional_home.home(), regional_args);

  Home a, b, c;  // C looks at the secretariat, B at the restored node
  a.init();
  const std::string device_b = b.init(), device_c = c.init();
  const std::string space = a.ok({"space", "create", "Backed up"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "viewer"});
  a.ok({"space", "add-member", space, device_c, "--role", "viewer"});
  a.ok({"sync", regional->url()});

  // The device writes and syncs, one task at a time, during the backup.
  std::atomic<int> written{0};
  std::atomic<bool> stop{false}, failed{false};
  const std::string url = regional->url();
  std::thread writer([&] {
    for (int i = 0; i < 400 && !stop; ++i) {
      if (a.run({"put", space, "task", "new", "n=" + std::to_string(i)}).code != 0 || a.run({"sync", url}).code != 0) {
        failed = true;
        return;
      }
      written = i + 1;
    }
  });
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (written < 5 && !failed && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const fs::path backup = regional_home.file("backup");
  const json report = regional_home.ok({"node", "backup", backup.string()});
  const int at_backup = written;
  while (written < at_backup + 5 && !failed && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  writer.join();
  REQUIRE_FALSE(failed.load());
  const int before_loss = written;
  INFO("tasks at the backup " << at_backup << ", before the loss " << before_loss);
  REQUIRE(before_loss > at_backup);
  CHECK(report["keys"] == json::array({"node.key"}));
  CHECK(report["spaces"] == 1);
  // The genesis, the membership, and at least the tasks synced before it
  // began; and a copy, never the live file.
  CHECK(report["changes"].get<int>() >= 2 + 5);
  CHECK(fs::exists(backup / "replica.db"));
  // A backup never overwrites.
  Run again = regional_home.run({"node", "backup", backup.string()});
  CHECK(again.code == 2);
  CHECK(again.err.find("never overwrites") != std::string::npos);

  auto tasks_at = [&](Home& who, const std::string& where) {
    if (who.run({"sync", where, "--space", space}).code != 0) return -1;
    Run r = who.run({"find", space, "--type", "task", "--limit", "1000"});
    return r.code == 0 ? r.parsed()["total"].get<int>() : -1;
  };
  // The regional node forwards every task to the secretariat; then the
  // secretariat goes down, the device writes three more tasks, which only
  // the regional node acknowledges, and the regional node is lost.
  REQUIRE(eventually([&] { return tasks_at(c, secretariat->url()) == before_loss; }));
  CHECK(secretariat->stop(SIGKILL) == std::optional<int>(128 + SIGKILL));
  for (int i = 0; i < 3; ++i) a.ok({"put", space, "task", "new", "n=late-" + std::to_string(i)});
  CHECK(a.ok({"sync", regional->url()})["sent"] == 3);
  CHECK(regional->stop(SIGKILL) == std::optional<int>(128 + SIGKILL));
  fs::remove_all(regional_home.home());

  // Restored: the backup is a home; the node has its old key.
  secretariat = std::make_unique<Node>(secretariat_path, std::vector<std::string>{"--trust-peer", regional_key},
                                       secretariat_port);
  Node restored(backup, regional_args);
  CHECK(restored.key() == regional_key);
  // From the peer: every task the secretariat had (all before the loss).
  CHECK(eventually([&] { return tasks_at(b, restored.url()) == before_loss; }));
  // From the device: the three only the lost node had.
  CHECK(a.ok({"sync", restored.url()})["sent"] == 3);
  CHECK(tasks_at(b, restored.url()) == before_loss + 3);
  CHECK(a.ok({"state-hash", space})["state_hash"] == b.ok({"state-hash", space})["state_hash"]);
  CHECK(restored.stop(SIGTERM) == 0);
  CHECK(secretariat->stop(SIGTERM) == 0);
}

TEST_CASE("invite_join") {
  // Issue 3, test 7: a device joins a space by code; a used code is refused.
  Node node;
  Home a, b, c;
  a.init();
  const std::string device_b = b.init();
  c.init();
  const std::string space = a.ok({"space", "create", "Harbour"})["space"].get<std::string>();
  const std::string id =
      a.ok({"put", space, "project", "new", "title@en=Harbour wifi", "stage=planning"})["id"].get<std::string>();
  // Before any sync the home knows no node to witness the join: a clear error.
  Run no_node = a.run({"space", "invite", space, "--role", "editor"});
  CHECK(no_node.code == 1);
  CHECK(no_node.err.find("urbis: NotFound: no node to witness the invite") != std::string::npos);
  CHECK(a.run({"space", "invite", space, "--role", "editor", "--witness", "abc"}).code == 2);
  a.ok({"sync", node.url()});  // the node it syncs with witnesses its invites
  json invite = a.ok({"space", "invite", space, "--role", "editor"});
  const std::string code = invite["invite"].get<std::string>();
  CHECK(code.rfind("urbis1-", 0) == 0);
  CHECK(invite["expires"].get<std::string>().back() == 'Z');
  json listed = a.ok({"space", "members", space});
  REQUIRE(listed["invites"].size() == 1);
  CHECK(listed["invites"][0]["role"] == "editor");
  CHECK(listed["invites"][0]["expires"] == invite["expires"]);
  CHECK(listed["members"].size() == 1);
  a.ok({"sync", node.url()});

  json joined = b.ok({"space", "join", code, node.url()});
  CHECK(joined["space"] == space);
  CHECK(joined["role"] == "editor");
  json e = b.ok({"get", space, "project", id});
  CHECK(e["values"]["title"] == "Harbour wifi");
  // B writes as an editor; it reaches A through the node.
  b.ok({"put", space, "project", id, "stage=procurement"});
  CHECK(b.ok({"sync", node.url()})["refused"] == 0);
  a.ok({"sync", node.url()});
  CHECK(a.ok({"get", space, "project", id})["values"]["stage"] == "procurement");
  CHECK(a.ok({"state-hash", space})["state_hash"] == b.ok({"state-hash", space})["state_hash"]);
  listed = a.ok({"space", "members", space});
  CHECK(listed["invites"].empty());
  REQUIRE(listed["members"].size() == 2);
  bool b_listed = false;
  for (const auto& m : listed["members"]) b_listed |= m["device"] == device_b && m["role"] == "editor";
  CHECK(b_listed);
  // Joining again changes nothing and says so.
  CHECK(b.ok({"space", "join", code, node.url()})["role"] == "editor");

  // A third device with the same code is refused, and keeps nothing of it.
  Run used = c.run({"space", "join", code, node.url()});
  CHECK(used.code == 1);
  CHECK(used.err.find("urbis: NotAMember: this invite code has already been used") != std::string::npos);
  CHECK(used.out.empty());
  CHECK(c.ok({"space", "list"})["spaces"].empty());
  CHECK(c.ok({"sync", node.url()})["refused"] == 0);
  // A mistyped code is a usage error, before any network.
  std::string typo = code;
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  Run mistyped = c.run({"space", "join", typo, node.url()});
  CHECK(mistyped.code == 2);
  CHECK(mistyped.err.find("mistyped") != std::string::npos);
  Run foreign = c.run({"space", "join", "hello", node.url()});
  CHECK(foreign.code == 2);
  CHECK(foreign.err.find("urbis1-") != std::string::npos);
  // Only an admin invites; the ttl is checked.
  CHECK(b.run({"space", "invite", space, "--role", "viewer"}).code == 1);
  CHECK(a.run({"space", "invite", space, "--role", "viewer", "--ttl", "0"}).code == 2);
  CHECK(a.run({"space", "invite", space, "--role", "none"}).code == 2);
  CHECK(node.stop(SIGTERM) == 0);
}

TEST_CASE("invite_race") {
  // Two devices join with one code at the same moment: exactly one becomes a
  // member; the other is told the code was used (whether the node refused
  // its redeem as a fork or no longer served the invite) and keeps nothing.
  Node node;
  Home a, c, d;
  a.init();
  c.init();
  d.init();
  const std::string space = a.ok({"space", "create", "Contested"})["space"].get<std::string>();
  a.ok({"put", space, "task", "new", "title@en=Only one seat"});
  a.ok({"sync", node.url()});
  const std::string code = a.ok({"space", "invite", space, "--role", "viewer"})["invite"].get<std::string>();
  a.ok({"sync", node.url()});
  Child jc(
      spawn_urbis(c.with_home({"space", "join", code, node.url()}), c.env(), c.file("join.out"), c.file("join.err")));
  Child jd(
      spawn_urbis(d.with_home({"space", "join", code, node.url()}), d.env(), d.file("join.out"), d.file("join.err")));
  const std::optional<int> rc = jc.wait(std::chrono::seconds(30));
  const std::optional<int> rd = jd.wait(std::chrono::seconds(30));
  REQUIRE(rc.has_value());
  REQUIRE(rd.has_value());
  INFO("c: " << read_all(c.file("join.err")) << "\nd: " << read_all(d.file("join.err")));
  CHECK(((*rc == 0) != (*rd == 0)));
  const Home& winner = *rc == 0 ? c : d;
  const Home& loser = *rc == 0 ? d : c;
  CHECK(read_all(loser.file("join.err")).find("this invite code has already been used") != std::string::npos);
  CHECK(json::parse(read_all(winner.file("join.out")))["role"] == "viewer");
  CHECK(winner.ok({"find", space, "--text", "seat"})["total"] == 1);
  CHECK(loser.ok({"space", "list"})["spaces"].empty());
  CHECK(loser.ok({"sync", node.url()})["refused"] == 0);
  CHECK(node.stop(SIGTERM) == 0);
}

TEST_CASE("invite_expired") {
  Node node;
  Home a, b;
  a.init();
  b.init();
  const std::string space = a.ok({"space", "create", "Brief"})["space"].get<std::string>();
  a.ok({"sync", node.url()});
  json invite = a.ok({"space", "invite", space, "--role", "viewer", "--ttl", "1"});
  a.ok({"sync", node.url()});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  Run late = b.run({"space", "join", invite["invite"].get<std::string>(), node.url()});
  CHECK(late.code == 1);
  CHECK(late.err.find("urbis: Expired: this invite code expired at " + invite["expires"].get<std::string>()) !=
        std::string::npos);
  CHECK(b.ok({"space", "list"})["spaces"].empty());
  // The admin no longer lists it.
  CHECK(a.ok({"space", "members", space})["invites"].empty());
  CHECK(node.stop(SIGTERM) == 0);
}
