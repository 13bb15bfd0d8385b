// Addresses and sync URLs (url.h).
#include "url.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>

namespace urbis::net {

namespace {

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

Status bad(const std::string& text, const char* what) { return Status(Code::InvalidArgument, "'" + text + "'" + what); }

}  // namespace

Result<HostPort> parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad(text, " is not HOST:PORT");
  auto port = parse_port(std::string_view(text).substr(colon + 1));
  if (!port) return bad(text, ": the port must be a number from 0 to 65535");
  HostPort out;
  out.host = text.substr(0, colon);
  out.port = *port;
  return out;
}

Result<WsUrl> parse_ws_url(const std::string& text) {
  WsUrl url;
  std::string rest;
  if (text.rfind("wss://", 0) == 0) {
    url.tls = true;
    url.port = 443;
    rest = text.substr(6);
  } else if (text.rfind("ws://", 0) == 0) {
    rest = text.substr(5);
  } else {
    return bad(text, " is not a ws:// or wss:// URL (ws://HOST:PORT/PATH)");
  }
  if (rest.find_first_of("@?# \t\r\n") != std::string::npos)
    return bad(text, ": a sync URL has no user, query, fragment or spaces (ws[s]://HOST:PORT/PATH)");
  const auto slash = rest.find('/');
  url.path = slash == std::string::npos ? "/sync" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos) return bad(text, ": unclosed [ in the host");
    url.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad(text, ": bad host");
    if (after == ":") return bad(text, ": bad port");
    if (!after.empty()) port_text = after.substr(1);
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1)
      return bad(text, ": an IPv6 address goes in brackets (ws://[::1]:8080/sync)");
    if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad(text, ": bad port");
      authority.resize(colon);
    }
    url.host = authority;
  }
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port || *port == 0) return bad(text, ": bad port");
    url.port = *port;
  }
  if (url.host.empty()) return bad(text, ": no host");
  return url;
}

std::string WsUrl::authority() const {
  std::string s = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  s += ':';
  s += std::to_string(port);
  return s;
}

std::string WsUrl::text() const { return (tls ? "wss://" : "ws://") + authority() + path; }

}  // namespace urbis::net
