// `urbis node` and `urbis sync` as real processes on 127.0.0.1 (issue 3):
// a node in a temporary home, client devices in others, every wait bounded,
// every process killed at the end even when a check fails. HTTP is checked
// with a tiny raw-socket GET; the oversized frame with a raw WebSocket
// handshake. URBIS_PWHASH=minimal keeps each command fast.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

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
  for (const char* name : {"urbis_connections 0", "urbis_sessions_total 6", "urbis_changes_received_total",
                           "urbis_changes_sent_total", "urbis_bytes_in_total", "urbis_bytes_out_total",
                           "# TYPE urbis_refusals_total counter"})
    CHECK_MESSAGE(metrics.body.find(name) != std::string::npos, name);

  CHECK(node.stop(SIGTERM) == 0);
  const std::string log = node.log();
  CHECK(log.find("\"event\":\"stopped\"") != std::string::npos);
  CHECK(!any_file_contains(node.home(), marker));
  CHECK(any_file_contains(a.home(), marker));  // the check can see a marker where one is
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
  CHECK(sent == 7);  // genesis, membership, five tasks
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

TEST_CASE("live_push") {
  Node node;
  Home a, b;
  a.init();
  const std::string device_b = b.init();
  const std::string space = a.ok({"space", "create", "Live"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "editor"});
  a.ok({"sync", node.url()});
  b.ok({"sync", node.url(), "--space", space});

  // B watches; A's next sync reaches B through the node's live push.
  Child watch(spawn_urbis(b.with_home({"sync", node.url(), "--watch"}), b.env(), b.file("watch.out"),
                          b.file("watch.err")));
  auto log_has = [&](const std::string& what) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (read_all(b.file("watch.err")).find(what) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  REQUIRE(log_has("\"event\":\"live\""));
  const std::string id = a.ok({"put", space, "project", "new", "title@en=Pushed"})["id"].get<std::string>();
  a.ok({"sync", node.url()});
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
    a.ok({"sync", node.url()});
    back = a.ok({"get", space, "project", id})["values"]["stage"] == "from-b";
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(back);
  CHECK(watch.stop(SIGINT) == 0);
  json summary = json::parse(read_all(b.file("watch.out")));
  CHECK(summary["received"].get<int>() >= 1);
  CHECK(summary["sent"].get<int>() >= 1);
  CHECK(node.stop(SIGTERM) == 0);
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
  for (const char* evil : {"/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt",
                           "/assets/%2E%2E/%2E%2E/secret.txt"}) {
    HttpResponse r = http_get(node.port(), evil);
    CHECK_MESSAGE(r.status == 404, evil);
    CHECK(r.body.find("do not serve") == std::string::npos);
  }
  CHECK(http_get(node.port(), "/healthz").body == "ok\n");
  CHECK(node.stop(SIGINT) == 0);
}
