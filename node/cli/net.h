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

// One JSON line on stderr: {"ts": <ms>, "level": ..., "event": ..., fields...}
// (level: "debug", "info", "warn" or "error"). Lines below the threshold
// (set_log_level) are dropped. Under systemd (stderr is the journal:
// $JOURNAL_STREAM set) each line starts with its syslog priority, "<6>" for
// info, which journald takes as the entry's priority.
void log_event(const char* level, const char* event, nlohmann::json fields = nlohmann::json::object());
// "debug", "info" (the default), "warn" or "error"; false for another word.
bool set_log_level(const std::string& level);

// Tells systemd how the service is (sd_notify(3): "READY=1",
// "STOPPING=1"), when $NOTIFY_SOCKET names its socket; else does nothing.
void notify_systemd(const char* state);

// Fails with a CliError named "Network" (exit 1).
[[noreturn]] void fail_network(std::string message);

// "HOST:PORT" (PORT 0..65535; HOST an IPv4 address or a name), or a usage error.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
HostPort parse_host_port(const std::string& text);

// "ws://HOST:PORT/PATH" or "wss://HOST:PORT/PATH" (PORT defaults to 80 or
// 443, PATH to "/sync"; an IPv6 HOST in brackets), or a usage error.
struct WsUrl {
  bool tls = false;  // wss://
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string path;
  // "wss://host:port/path", for messages.
  std::string text() const;
};
WsUrl parse_ws_url(const std::string& text);

// For a wss:// `url`: a usage error unless `ca_file` (or, without one, the
// system's certificate store) loads; for ws://, a usage error if a CA file
// is given (it would verify nothing). Lets a command fail
// before it asks for a passphrase (transport.cc).
void check_client_tls(const WsUrl& url, const std::optional<std::string>& ca_file);

}  // namespace urbis::cli
