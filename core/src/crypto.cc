#include "crypto.h"

#include <cstring>

namespace urbis {

void crypto_init() {
  static const int rc = sodium_init();
  (void)rc;  // 1 = already initialized; -1 cannot happen on supported targets
}

Hash blake2b_256(ByteView data) {
  Hash h;
  crypto_generichash(h.bytes.data(), h.bytes.size(), data.data(), data.size(), nullptr, 0);
  return h;
}

SpaceId derive_space_id(const DeviceKey& creator, ByteView salt) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, SpaceId::kSize);
  crypto_generichash_update(&st, creator.bytes.data(), creator.bytes.size());
  crypto_generichash_update(&st, salt.data(), salt.size());
  SpaceId id;
  crypto_generichash_final(&st, id.bytes.data(), id.bytes.size());
  return id;
}

Bytes signing_message(ByteView header, ByteView body) {
  static constexpr char kDomain[] = "urbis/change/v1";
  constexpr size_t kDomainLen = sizeof kDomain - 1;
  Bytes msg(kDomainLen + 4 + header.size() + body.size());
  uint8_t* p = msg.data();
  std::memcpy(p, kDomain, kDomainLen);
  p += kDomainLen;
  const uint32_t n = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(n >> (8 * i));
  if (!header.empty()) std::memcpy(p, header.data(), header.size());
  if (!body.empty()) std::memcpy(p + header.size(), body.data(), body.size());
  return msg;
}

Bytes receipt_message(ByteView header, ByteView body, ByteView signature, uint64_t time_ms) {
  static constexpr char kDomain[] = "urbis/receipt/v1";
  constexpr size_t kDomainLen = sizeof kDomain - 1;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, Hash::kSize);
  auto put_len = [&](size_t n) {
    uint8_t len[4];
    for (int i = 0; i < 4; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    crypto_generichash_update(&st, len, sizeof len);
  };
  put_len(header.size());
  crypto_generichash_update(&st, header.data(), header.size());
  put_len(body.size());
  crypto_generichash_update(&st, body.data(), body.size());
  crypto_generichash_update(&st, signature.data(), signature.size());
  Bytes msg(kDomainLen + Hash::kSize + 8);
  std::memcpy(msg.data(), kDomain, kDomainLen);
  crypto_generichash_final(&st, msg.data() + kDomainLen, Hash::kSize);
  for (int i = 0; i < 8; ++i) msg[kDomainLen + Hash::kSize + i] = static_cast<uint8_t>(time_ms >> (56 - 8 * i));
  return msg;
}

bool verify_signature(ByteView signature, ByteView message, const DeviceKey& author) {
  return signature.size() == crypto_sign_BYTES &&
         crypto_sign_verify_detached(signature.data(), message.data(), message.size(), author.bytes.data()) == 0;
}

Bytes aead_encrypt(ByteView plaintext, ByteView associated, ByteView nonce, const SpaceKey& key) {
  Bytes out(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &len, plaintext.data(), plaintext.size(), associated.data(),
                                             associated.size(), nullptr, nonce.data(), key.data());
  out.resize(len);
  return out;
}

std::optional<Bytes> aead_decrypt(ByteView ciphertext, ByteView associated, ByteView nonce, const SpaceKey& key) {
  if (ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES ||
      nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    return std::nullopt;
  Bytes out(ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, ciphertext.data(), ciphertext.size(),
                                                 associated.data(), associated.size(), nonce.data(), key.data()) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

std::optional<Bytes> seal_key(const SpaceKey& key, const DeviceKey& device) {
  uint8_t x25519[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x25519, device.bytes.data()) != 0) return std::nullopt;
  Bytes out(key.size() + crypto_box_SEALBYTES);
  crypto_box_seal(out.data(), key.data(), key.size(), x25519);
  return out;
}

std::optional<SpaceKey> open_sealed_key(ByteView sealed, const DeviceKey& device,
                                        const std::array<uint8_t, 32>& box_secret) {
  SpaceKey key{};
  uint8_t x25519[crypto_box_PUBLICKEYBYTES];
  if (sealed.size() != key.size() + crypto_box_SEALBYTES ||
      crypto_sign_ed25519_pk_to_curve25519(x25519, device.bytes.data()) != 0)
    return std::nullopt;
  if (crypto_box_seal_open(key.data(), sealed.data(), sealed.size(), x25519, box_secret.data()) != 0)
    return std::nullopt;
  return key;
}

}  // namespace urbis
