// Value types shared by the whole core: byte strings, fixed-size ids, roles,
// version vectors. Plain data, no I/O; safe to copy between threads.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace urbis {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

std::string to_hex(ByteView bytes);
// Decodes lower- or upper-case hex; nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view hex);

// A fixed-size binary identifier, ordered bytewise and printed as hex.
// `Tag` makes each kind of id its own type: a space id is not an entity id,
// a device key is not a hash, though each pair has the same size.
template <size_t N, typename Tag>
struct FixedId {
  static constexpr size_t kSize = N;
  std::array<uint8_t, N> bytes{};

  ByteView view() const { return {bytes.data(), N}; }
  std::string hex() const { return to_hex(view()); }
  bool is_zero() const {
    for (uint8_t b : bytes)
      if (b) return false;
    return true;
  }
  // nullopt unless `data` is exactly N bytes.
  static std::optional<FixedId> from_bytes(ByteView data) {
    if (data.size() != N) return std::nullopt;
    FixedId id;
    std::copy(data.begin(), data.end(), id.bytes.begin());
    return id;
  }
  static std::optional<FixedId> from_string(std::string_view data) {
    return from_bytes({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
  }
  static std::optional<FixedId> from_hex(std::string_view hex) {
    auto raw = urbis::from_hex(hex);
    if (!raw) return std::nullopt;
    return from_bytes(*raw);
  }
  // Bytewise order. Not defaulted: libc++ before 17 (Emscripten 3.1.6) has no
  // operator<=> for std::array, which would leave a defaulted one deleted.
  bool operator==(const FixedId&) const = default;
  std::strong_ordering operator<=>(const FixedId& o) const {
    for (size_t i = 0; i < N; ++i)
      if (bytes[i] != o.bytes[i]) return bytes[i] <=> o.bytes[i];
    return std::strong_ordering::equal;
  }
};

struct DeviceKeyTag;
struct SpaceIdTag;
struct EntityIdTag;
struct HashTag;
using DeviceKey = FixedId<32, DeviceKeyTag>;  // Ed25519 public key of a device
using SpaceId = FixedId<16, SpaceIdTag>;
using EntityId = FixedId<16, EntityIdTag>;
using Hash = FixedId<32, HashTag>;  // BLAKE2b-256

// Roles a member can hold in a space, weakest first. The numbers are the
// wire values (change.proto, Role).
enum class Role : int { None = 0, Viewer = 1, Commenter = 2, Editor = 3, Admin = 4 };
std::string_view role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);
inline bool can_write(Role r) { return r >= Role::Commenter; }

// A wall-clock time (ms since the Unix epoch) as ISO 8601 UTC to the second,
// e.g. "2025-03-01T12:00:00Z": how the core and the CLI show times.
std::string utc_time_text(uint64_t ms);

// Author -> highest contiguous seq held, per space.
using VersionVector = std::map<DeviceKey, uint64_t>;

// Identifies one op: its author, the seq of its change, its index in it.
struct OpId {
  DeviceKey author;
  uint64_t seq = 0;
  uint32_t index = 0;
  auto operator<=>(const OpId&) const = default;
  std::string to_string() const;  // "<author hex>:<seq>:<index>"
};

}  // namespace urbis
