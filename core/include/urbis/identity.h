// Device identity: an Ed25519 key pair (libsodium crypto_sign) that signs
// every change the device writes, and whose public key is the device's name
// in spaces. The secret key leaves memory only wrapped with a passphrase
// (Argon2id via crypto_pwhash + XSalsa20-Poly1305), and is wiped on
// destruction.
//
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string_view>

#include "urbis/env.h"
#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis {

// Cost of the passphrase hash. Interactive is the production default
// (crypto_pwhash OPSLIMIT/MEMLIMIT_INTERACTIVE); Minimal exists for tests
// only: the shipped `urbis` binary and the browser client refuse to make a
// device identity with it (node/README.md, "Test builds").
enum class PwhashCost { Interactive, Moderate, Minimal };

// The passphrase policy for a NEW identity (an existing identity unlocks
// with whatever passphrase wrapped it). InvalidArgument, with a message
// saying which rule failed, when the passphrase has
//   - fewer than kMinPassphraseChars characters (Unicode code points), or
//   - fewer than kMinPassphraseDistinct distinct characters ("aaaaaaaaaa",
//     "ababababab"), or
//   - is a run of neighbouring characters ("1234567890", "abcdefghij",
//     "9876543210") or a keyboard row ("qwertyuiop", "asdfghjkl;"), or
//   - is, ignoring case, one of a short list of passphrases every guessing
//     tool tries first ("password123", "iloveyou12", ...).
// The rule is deterministic and small on purpose: it stops the passphrases
// that fall in the first seconds of an offline guess against a stolen
// identity.key, it does not measure entropy. wasm/js/engine.js applies the
// same rule in the browser.
inline constexpr size_t kMinPassphraseChars = 10;
inline constexpr size_t kMinPassphraseDistinct = 5;
Status check_new_passphrase(std::string_view passphrase);

class Identity {
 public:
  // A new identity from `env`'s randomness.
  static Identity generate(Env& env);
  // The identity whose key pair crypto_sign_seed_keypair derives from `seed`:
  // the same seed always gives the same keys. For keys derived from a shared
  // secret (an invite's key, invite.h); a device's own identity comes from
  // generate(). The caller wipes `seed`.
  static Identity from_seed(std::span<const uint8_t, 32> seed);
  // Reopens a wrapped identity. WrongPassphrase when the passphrase does not
  // fit, Malformed when `wrapped` is not a wrapped identity.
  static Result<Identity> unwrap(ByteView wrapped, std::string_view passphrase);

  // A second copy of the key pair in memory, for a second owner (a
  // replica holds one, a sync session's signer borrows another). Copies are
  // explicit: the copy constructor is deleted so secrets do not spread by
  // accident; each copy is wiped on destruction.
  Identity duplicate() const;

  Identity(Identity&&) noexcept;
  Identity& operator=(Identity&&) noexcept;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;
  ~Identity();

  const DeviceKey& device() const { return public_key_; }
  // The secret key sealed with a key derived from `passphrase`. The format is
  // versioned and carries its own salt and cost parameters.
  Result<Bytes> wrap(std::string_view passphrase, Env& env, PwhashCost cost = PwhashCost::Interactive) const;

  // Detached Ed25519 signature of `message`.
  std::array<uint8_t, 64> sign(ByteView message) const;
  // The X25519 secret key matching this identity (to open sealed space keys).
  // Caller wipes it after use.
  std::array<uint8_t, 32> box_secret_key() const;

 private:
  Identity() = default;
  DeviceKey public_key_;
  std::array<uint8_t, 64> secret_key_{};
};

}  // namespace urbis
