// Pieces shared by `urbis node` and `urbis sync` that need no sockets: the
// structured log, address and URL parsing (home.h opens homes for
// syncing). The Boost.Beast code is in node_server.cc and
// sync_client.cc; ws_queue.h holds their common WebSocket write queue.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli.h"

namespace urbis::cli {

// One JSON line on stderr: {"ts": <ms>, "level": ..., "event": ..., fields...}.
void log_event(const char* level, const char* event, nlohmann::json fields = nlohmann::json::object());

// Fails with a CliError named "Network" (exit 1).
[[noreturn]] void fail_network(std::string message);

// "HOST:PORT" (PORT 0..65535; HOST an IPv4 address or a name), or a usage error.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
HostPort parse_host_port(const std::string& text);

// "ws://HOST:PORT/PATH" (PORT defaults to 80, PATH to "/sync"), or a usage error.
// wss:// is refused: TLS is not built in.
struct WsUrl {
  std::string host;
  uint16_t port = 80;
  std::string path;
};
WsUrl parse_ws_url(const std::string& text);

}  // namespace urbis::cli
