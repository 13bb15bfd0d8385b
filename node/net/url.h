// Addresses and sync URLs, parsed without sockets: what `--listen`,
// `--peer` and `urbis sync URL` take. Errors name the text and what is wrong
// (InvalidArgument), for the command line to show as a usage error.
#pragma once

#include <cstdint>
#include <string>

#include "urbis/status.h"

namespace urbis::net {

// "HOST:PORT" (PORT 0..65535; HOST an IPv4 address or a name).
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> parse_host_port(const std::string& text);

// "ws://HOST:PORT/PATH" or "wss://HOST:PORT/PATH" (PORT defaults to 80 or
// 443, PATH to "/sync"; an IPv6 HOST in brackets). No user, query, fragment
// or white space.
struct WsUrl {
  bool tls = false;  // wss://
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string path;
  // "host:port", an IPv6 host in brackets: the HTTP Host header.
  std::string authority() const;
  // "wss://host:port/path", for messages.
  std::string text() const;
};
Result<WsUrl> parse_ws_url(const std::string& text);

}  // namespace urbis::net
