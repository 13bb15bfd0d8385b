#include "urbis/types.h"

#include <cstdio>

namespace urbis {

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::optional<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::None: return "none";
    case Role::Viewer: return "viewer";
    case Role::Commenter: return "commenter";
    case Role::Editor: return "editor";
    case Role::Admin: return "admin";
  }
  return "none";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (Role r : {Role::None, Role::Viewer, Role::Commenter, Role::Editor, Role::Admin})
    if (role_name(r) == name) return r;
  return std::nullopt;
}

std::string utc_time_text(uint64_t ms) {
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const int64_t secs = static_cast<int64_t>(ms / 1000);
  const int64_t days = secs / 86400, rem = secs % 86400;
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  char buf[96];  // room for any int64 fields: -Wformat-truncation cannot see the ranges
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

std::string OpId::to_string() const { return author.hex() + ":" + std::to_string(seq) + ":" + std::to_string(index); }

}  // namespace urbis
