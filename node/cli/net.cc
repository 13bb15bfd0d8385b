// Log lines, addresses and URLs for `urbis node` and `urbis sync` (net.h).
#include "net.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace urbis::cli {

namespace {

// Levels in order, with their syslog priorities (sd-daemon(3)).
struct Level {
  const char* name;
  int priority;
};
constexpr Level kLevels[] = {{"debug", 7}, {"info", 6}, {"warn", 4}, {"error", 3}};
size_t log_threshold = 1;  // info

size_t level_index(const char* level) {
  for (size_t i = 0; i < std::size(kLevels); ++i)
    if (std::strcmp(kLevels[i].name, level) == 0) return i;
  return 1;
}

}  // namespace

bool set_log_level(const std::string& level) {
  for (size_t i = 0; i < std::size(kLevels); ++i)
    if (level == kLevels[i].name) {
      log_threshold = i;
      return true;
    }
  return false;
}

void notify_systemd(const char* state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t n = std::strlen(where);
  if (n >= sizeof addr.sun_path || (where[0] != '/' && where[0] != '@')) return;
  std::memcpy(addr.sun_path, where, n);
  if (where[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  (void)::sendto(fd, state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
}

void log_event(const char* level, const char* event, nlohmann::json fields) {
  const size_t index = level_index(level);
  if (index < log_threshold) return;
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  nlohmann::json line = {{"ts", ms}, {"level", level}, {"event", event}};
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) line[k] = std::move(v);
  std::string text;
  if (journal) {
    text += '<';
    text += std::to_string(kLevels[index].priority);
    text += '>';
  }
  text += dump_json(line, -1);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void fail_network(std::string message) {
  throw CliError{Code::Internal, std::move(message), kExitFailure, "Network"};
}

namespace {

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

HostPort parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) usage_error("'" + text + "' is not HOST:PORT");
  auto port = parse_port(std::string_view(text).substr(colon + 1));
  if (!port) usage_error("'" + text + "': the port must be a number from 0 to 65535");
  return {text.substr(0, colon), *port};
}

WsUrl parse_ws_url(const std::string& text) {
  WsUrl url;
  std::string rest;
  if (text.rfind("wss://", 0) == 0) {
    url.tls = true;
    url.port = 443;
    rest = text.substr(6);
  } else if (text.rfind("ws://", 0) == 0) {
    rest = text.substr(5);
  } else {
    usage_error("'" + text + "' is not a ws:// or wss:// URL (ws://HOST:PORT/PATH)");
  }
  if (rest.find_first_of("@?# \t\r\n") != std::string::npos)
    usage_error("'" + text + "': a sync URL has no user, query, fragment or spaces (ws[s]://HOST:PORT/PATH)");
  const auto slash = rest.find('/');
  url.path = slash == std::string::npos ? "/sync" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos) usage_error("'" + text + "': unclosed [ in the host");
    url.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') usage_error("'" + text + "': bad host");
    if (!after.empty()) port_text = after.substr(1);
    if (after == ":") usage_error("'" + text + "': bad port");
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1)
      usage_error("'" + text + "': an IPv6 address goes in brackets (ws://[::1]:8080/sync)");
    if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) usage_error("'" + text + "': bad port");
      authority.resize(colon);
    }
    url.host = authority;
  }
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port || *port == 0) usage_error("'" + text + "': bad port");
    url.port = *port;
  }
  if (url.host.empty()) usage_error("'" + text + "': no host");
  return url;
}

std::string WsUrl::text() const {
  std::string s = tls ? "wss://" : "ws://";
  if (host.find(':') != std::string::npos) {
    s += '[';
    s += host;
    s += ']';
  } else {
    s += host;
  }
  s += ':';
  s += std::to_string(port);
  s += path;
  return s;
}

}  // namespace urbis::cli
