// Device identity and its passphrase wrapping.
//
// Wrapped format (all integers little-endian):
//   "UIK1" | opslimit u64 | memlimit u64 | salt[16] | nonce[24] | secretbox(seed[32])
#include "urbis/identity.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "crypto.h"

namespace urbis {
namespace {

constexpr char kMagic[4] = {'U', 'I', 'K', '1'};
constexpr size_t kWrappedSize = 4 + 8 + 8 + crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES +
                                crypto_secretbox_MACBYTES + crypto_sign_SEEDBYTES;

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

bool derive_key(uint8_t key[crypto_secretbox_KEYBYTES], std::string_view passphrase, const uint8_t* salt, uint64_t ops,
                uint64_t mem) {
  return crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase.data(), passphrase.size(), salt, ops,
                       static_cast<size_t>(mem), crypto_pwhash_ALG_ARGON2ID13) == 0;
}

// The passphrases guessing tools try first that pass the length and
// distinct-character rules; compared ignoring ASCII case.
constexpr std::string_view kCommonPassphrases[] = {
    "password123",  "password1234", "password12345", "passw0rd123",    "p@ssw0rd123",   "iloveyou12",   "iloveyou123",
    "qwerty12345",  "qwerty123456", "1q2w3e4r5t",    "1q2w3e4r5t6y",   "q1w2e3r4t5",    "a1b2c3d4e5",   "abc1234567",
    "abcd123456",   "letmein123",   "welcome123",    "admin12345",     "administrator", "changeme123",  "trustno1234",
    "football123",  "baseball123",  "sunshine123",   "princess123",    "dragon12345",   "monkey12345",  "superman123",
    "correcthorse", "passphrase",   "mypassphrase",  "secretpassword", "urbis12345",    "urbispassword"};

// Keyboard rows (US layout), forwards; runs are also checked backwards.
constexpr std::string_view kKeyboardRows[] = {"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"};

// The code points of UTF-8 `text`; an invalid byte counts as itself.
std::vector<uint32_t> code_points(std::string_view text) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
    if (i + n > text.size()) n = 1;
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every step between neighbours is the same +1 or -1.
bool is_sequence(const std::vector<uint32_t>& cps) {
  for (int step : {1, -1}) {
    bool all = true;
    for (size_t i = 1; i < cps.size() && all; ++i)
      all = static_cast<int64_t>(cps[i]) - static_cast<int64_t>(cps[i - 1]) == step;
    if (all) return true;
  }
  return false;
}

// `lower` is a substring of a keyboard row read forwards or backwards.
bool is_keyboard_run(const std::string& lower) {
  for (std::string_view row : kKeyboardRows) {
    std::string fwd(row), back(row.rbegin(), row.rend());
    if (fwd.find(lower) != std::string::npos || back.find(lower) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Status check_new_passphrase(std::string_view passphrase) {
  const std::vector<uint32_t> cps = code_points(passphrase);
  if (cps.size() < kMinPassphraseChars)
    return Status(Code::InvalidArgument,
                  "weak passphrase: it must have at least " + std::to_string(kMinPassphraseChars) + " characters");
  if (std::set<uint32_t>(cps.begin(), cps.end()).size() < kMinPassphraseDistinct)
    return Status(Code::InvalidArgument, "weak passphrase: it must use at least " +
                                             std::to_string(kMinPassphraseDistinct) + " different characters");
  const std::string lower = ascii_lower(passphrase);
  if (is_sequence(cps) || is_keyboard_run(lower))
    return Status(Code::InvalidArgument,
                  "weak passphrase: a run of neighbouring characters or keys is guessed at once");
  for (std::string_view common : kCommonPassphrases)
    if (lower == common)
      return Status(Code::InvalidArgument,
                    "weak passphrase: it is one of the passphrases guessed first; choose another");
  return Status::ok();
}

Identity Identity::from_seed(std::span<const uint8_t, 32> seed) {
  crypto_init();
  Identity id;
  crypto_sign_seed_keypair(id.public_key_.bytes.data(), id.secret_key_.data(), seed.data());
  return id;
}

Identity Identity::generate(Env& env) {
  crypto_init();
  uint8_t seed[crypto_sign_SEEDBYTES];
  env.random_bytes(seed);
  Identity id = from_seed(std::span<const uint8_t, 32>(seed));
  sodium_memzero(seed, sizeof seed);
  return id;
}

Identity Identity::duplicate() const {
  Identity copy;
  copy.public_key_ = public_key_;
  copy.secret_key_ = secret_key_;
  return copy;
}

Identity::Identity(Identity&& other) noexcept { *this = std::move(other); }

Identity& Identity::operator=(Identity&& other) noexcept {
  public_key_ = other.public_key_;
  secret_key_ = other.secret_key_;
  sodium_memzero(other.secret_key_.data(), other.secret_key_.size());
  return *this;
}

Identity::~Identity() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

Result<Bytes> Identity::wrap(std::string_view passphrase, Env& env, PwhashCost cost) const {
  if (passphrase.empty()) return Status(Code::InvalidArgument, "empty passphrase");
  uint64_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE, mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (cost == PwhashCost::Moderate) {
    ops = crypto_pwhash_OPSLIMIT_MODERATE;
    mem = crypto_pwhash_MEMLIMIT_MODERATE;
  } else if (cost == PwhashCost::Minimal) {
    ops = crypto_pwhash_OPSLIMIT_MIN;
    mem = crypto_pwhash_MEMLIMIT_MIN;
  }
  Bytes out(kWrappedSize);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 4);
  put_u64(p + 4, ops);
  put_u64(p + 12, mem);
  uint8_t* salt = p + 20;
  uint8_t* nonce = salt + crypto_pwhash_SALTBYTES;
  uint8_t* box = nonce + crypto_secretbox_NONCEBYTES;
  env.random_bytes({salt, crypto_pwhash_SALTBYTES});
  env.random_bytes({nonce, crypto_secretbox_NONCEBYTES});
  uint8_t key[crypto_secretbox_KEYBYTES];
  if (!derive_key(key, passphrase, salt, ops, mem)) return Status(Code::Internal, "crypto_pwhash ran out of memory");
  // The Ed25519 secret key is seed | public key; the seed is enough.
  crypto_secretbox_easy(box, secret_key_.data(), crypto_sign_SEEDBYTES, nonce, key);
  sodium_memzero(key, sizeof key);
  return out;
}

Result<Identity> Identity::unwrap(ByteView wrapped, std::string_view passphrase) {
  crypto_init();
  if (wrapped.size() != kWrappedSize || std::memcmp(wrapped.data(), kMagic, 4) != 0)
    return Status(Code::Malformed, "not a wrapped Urbis identity");
  const uint8_t* p = wrapped.data();
  uint64_t ops = get_u64(p + 4), mem = get_u64(p + 12);
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE || mem < crypto_pwhash_MEMLIMIT_MIN ||
      mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
    return Status(Code::Malformed, "wrapped identity has out-of-range cost parameters");
  const uint8_t* salt = p + 20;
  const uint8_t* nonce = salt + crypto_pwhash_SALTBYTES;
  const uint8_t* box = nonce + crypto_secretbox_NONCEBYTES;
  uint8_t key[crypto_secretbox_KEYBYTES];
  if (!derive_key(key, passphrase, salt, ops, mem)) return Status(Code::Internal, "crypto_pwhash ran out of memory");
  uint8_t seed[crypto_sign_SEEDBYTES];
  int rc = crypto_secretbox_open_easy(seed, box, crypto_sign_SEEDBYTES + crypto_secretbox_MACBYTES, nonce, key);
  sodium_memzero(key, sizeof key);
  if (rc != 0) return Status(Code::WrongPassphrase, "the passphrase does not unlock this identity");
  Identity id = from_seed(std::span<const uint8_t, 32>(seed));
  sodium_memzero(seed, sizeof seed);
  return id;
}

std::array<uint8_t, 64> Identity::sign(ByteView message) const {
  std::array<uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

std::array<uint8_t, 32> Identity::box_secret_key() const {
  std::array<uint8_t, 32> out{};
  crypto_sign_ed25519_sk_to_curve25519(out.data(), secret_key_.data());
  return out;
}

}  // namespace urbis
