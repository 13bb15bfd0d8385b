// Invite codes: how a device joins a space without an admin adding its key.
//
// An invite is an Ed25519 key pair derived from a random seed. The admin adds
// the invite's public key as a member marked as an invite with an expiry
// (Replica::create_invite) and gives the person joining a code: the space id
// and the seed, as text. Their device decodes the code, derives the invite's
// key pair, fetches the space from a node as the invite (a member, so the node
// serves it), and redeems it (Replica::redeem_invite): the invite key's one
// and only change, which moves the invite's role and space keys to the device.
//
// Code format: "urbis1-" then 64 characters of RFC 4648 base32 (lower case,
// no padding) of 40 bytes:
//   space id (16) | seed (16) | expiry, seconds since the epoch (u32, big-endian) | check (4)
// where check is the first 4 bytes of BLAKE2b-256("urbis/invite-code/v1" |
// the 36 bytes before it), so a mistyped or truncated code gets a clear error
// rather than a wrong key. Decoding ignores case, '-' and white space after
// the prefix. The expiry in the code only lets the joiner say "expired"
// before connecting; the expiry enforced is the one in the space's log.
//
// Whoever holds a code can act as the invite until it is redeemed or expires:
// treat it like a password. Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "urbis/identity.h"
#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis {

inline constexpr std::string_view kInviteCodePrefix = "urbis1-";

// What an invite code carries. The seed is wiped on destruction.
struct InviteSecret {
  SpaceId space;
  std::array<uint8_t, 16> seed{};
  uint64_t expires_ms = 0;  // whole seconds, as the code carries it

  InviteSecret() = default;
  InviteSecret(const InviteSecret&) = default;
  InviteSecret& operator=(const InviteSecret&) = default;
  ~InviteSecret();
};

// The code for `secret` ("urbis1-" + 64 base32 characters). `expires_ms`
// must be below 2^32 seconds; it is truncated to whole seconds.
std::string encode_invite_code(const InviteSecret& secret);

// Parses a code. InvalidArgument, with what is wrong (no "urbis1-" prefix, a
// character base32 does not use, a wrong length, a failed check), otherwise.
Result<InviteSecret> decode_invite_code(std::string_view code);

// The invite's key pair: crypto_sign_seed_keypair over
// BLAKE2b-256("urbis/invite/v1" | space id | seed).
Identity invite_identity(const InviteSecret& secret);

}  // namespace urbis
