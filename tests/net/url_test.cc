// node/net/url.h: the addresses and sync URLs `--listen`, `--peer` and
// `urbis sync` take, with every refusal naming what is wrong.
#include <doctest/doctest.h>

#include "url.h"

using urbis::Code;
using urbis::net::parse_host_port;
using urbis::net::parse_ws_url;

namespace {

// The message parsing `text` fails with (it must fail, as InvalidArgument).
std::string refusal(const std::string& text) {
  auto r = parse_ws_url(text);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::InvalidArgument);
  CHECK(r.status().message().find("'" + text + "'") == 0);  // the text itself, quoted, first
  return r.status().message();
}

}  // namespace

TEST_CASE("ws and wss URLs: defaults, ports, paths and IPv6 hosts") {
  auto u = parse_ws_url("ws://node.example");
  REQUIRE(u.is_ok());
  CHECK_FALSE(u->tls);
  CHECK(u->host == "node.example");
  CHECK(u->port == 80);
  CHECK(u->path == "/sync");
  CHECK(u->text() == "ws://node.example:80/sync");

  u = parse_ws_url("wss://node.example/urbis/sync");
  REQUIRE(u.is_ok());
  CHECK(u->tls);
  CHECK(u->port == 443);
  CHECK(u->path == "/urbis/sync");

  u = parse_ws_url("ws://127.0.0.1:8080/sync");
  REQUIRE(u.is_ok());
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8080);
  CHECK(u->authority() == "127.0.0.1:8080");

  u = parse_ws_url("wss://[::1]:8443/sync");
  REQUIRE(u.is_ok());
  CHECK(u->host == "::1");
  CHECK(u->port == 8443);
  // The Host header and messages put an IPv6 host back in brackets.
  CHECK(u->authority() == "[::1]:8443");
  CHECK(u->text() == "wss://[::1]:8443/sync");
  u = parse_ws_url("ws://[fe80::1]");
  REQUIRE(u.is_ok());
  CHECK(u->port == 80);
  CHECK(u->authority() == "[fe80::1]:80");
}

TEST_CASE("ws URLs that are refused, and why") {
  CHECK(refusal("http://node.example/sync").find("is not a ws:// or wss:// URL") != std::string::npos);
  CHECK(refusal("node.example:8080").find("is not a ws:// or wss:// URL") != std::string::npos);
  CHECK(refusal("WS://node.example").find("is not a ws:// or wss:// URL") != std::string::npos);
  for (const char* t : {"ws://user@node.example/sync", "ws://node.example/sync?x=1", "ws://node.example/sync#f",
                        "ws://node example/sync", "ws://node.example/sy\nnc"})
    CHECK(refusal(t).find("no user, query, fragment or spaces") != std::string::npos);
  CHECK(refusal("ws://[::1:8080/sync").find("unclosed [") != std::string::npos);
  CHECK(refusal("ws://[::1]x/sync").find("bad host") != std::string::npos);
  CHECK(refusal("ws://[::1]:/sync").find("bad port") != std::string::npos);
  CHECK(refusal("ws://::1:8080/sync").find("IPv6 address goes in brackets") != std::string::npos);
  for (const char* t : {"ws://h:/sync", "ws://h:0/sync", "ws://h:65536/sync", "ws://h:-1/sync", "ws://h:8o/sync",
                        "ws://h:99999999999999999999/sync"})
    CHECK(refusal(t).find("bad port") != std::string::npos);
  CHECK(refusal("ws:///sync").find("no host") != std::string::npos);
  CHECK(refusal("ws://:8080/sync").find("no host") != std::string::npos);
  CHECK(refusal("wss://[]:443").find("no host") != std::string::npos);
}

TEST_CASE("HOST:PORT for --listen") {
  auto hp = parse_host_port("127.0.0.1:0");
  REQUIRE(hp.is_ok());
  CHECK(hp->host == "127.0.0.1");
  CHECK(hp->port == 0);
  hp = parse_host_port("0.0.0.0:65535");
  REQUIRE(hp.is_ok());
  CHECK(hp->port == 65535);
  for (const char* t : {"8080", ":8080", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "127.0.0.1:80 "}) {
    auto r = parse_host_port(t);
    CHECK_FALSE(r.is_ok());
    CHECK(r.status().code() == Code::InvalidArgument);
  }
  CHECK(parse_host_port("8080").status().message() == "'8080' is not HOST:PORT");
  CHECK(parse_host_port("h:99999").status().message() == "'h:99999': the port must be a number from 0 to 65535");
}
