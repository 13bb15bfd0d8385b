// Internal crypto helpers over libsodium: hashing, the change signature
// message, AEAD for change bodies, sealed space keys. Keys are fixed-size
// arrays. A SpaceKey wipes itself when destroyed, so every copy (in the
// replica's key map, a vector that grew, an optional returned by
// open_sealed_key, a map cleared on an error path) is zeroed when dropped;
// other secrets (box secret keys, seeds) are wiped by their owner.
#pragma once

#include <sodium.h>

#include <array>
#include <optional>

#include "urbis/types.h"

namespace urbis {

// A space key: an array (aggregate, so `SpaceKey k{}` and spans work) whose
// destructor zeroes it with sodium_memzero. Copies are ordinary copies, each
// wiped at the end of its own life; there is no move that could leave bytes
// behind unwiped.
struct SpaceKey : std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> {
  ~SpaceKey() { sodium_memzero(data(), size()); }
};

// Initializes libsodium once; safe to call from anywhere, any number of times.
void crypto_init();

Hash blake2b_256(ByteView data);

// BLAKE2b-128(creator public key | salt): binds a space id to its creator.
SpaceId derive_space_id(const DeviceKey& creator, ByteView salt);

// What an envelope's signature covers: domain | u32 len(header) | header | body.
Bytes signing_message(ByteView header, ByteView body);
bool verify_signature(ByteView signature, ByteView message, const DeviceKey& author);

// What a witness's receipt signs (change.proto, Receipt): "urbis/receipt/v1" |
// BLAKE2b-256(u32 len(header) | header | u32 len(body) | body | signature) |
// u64 time_ms, big-endian.
Bytes receipt_message(ByteView header, ByteView body, ByteView signature, uint64_t time_ms);

Bytes aead_encrypt(ByteView plaintext, ByteView associated, ByteView nonce, const SpaceKey& key);
std::optional<Bytes> aead_decrypt(ByteView ciphertext, ByteView associated, ByteView nonce, const SpaceKey& key);

// crypto_box_seal of a space key to a device's Ed25519 public key (converted to X25519).
std::optional<Bytes> seal_key(const SpaceKey& key, const DeviceKey& device);
std::optional<SpaceKey> open_sealed_key(ByteView sealed, const DeviceKey& device,
                                        const std::array<uint8_t, 32>& box_secret);

}  // namespace urbis
