#include "urbis/types.h"

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

std::string OpId::to_string() const {
  return author.hex() + ":" + std::to_string(seq) + ":" + std::to_string(index);
}

}  // namespace urbis
