// Helpers for tests that play an attacker (or a misbehaving member): parse
// envelopes, re-sign them, and build changes by hand with the wire format
// (change.proto) and the core's crypto helpers.
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "crypto.h"
#include "test_util.h"
#include "urbis/change.pb.h"
#include "urbis/identity.h"
#include "urbis/replica.h"

namespace urbis::testing {

// The identity a Device(seed) holds: its env's first random bytes.
inline Identity identity_for_seed(uint64_t seed) {
  auto env = make_deterministic_env(seed);
  return Identity::generate(*env);
}

inline ByteView view_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

template <typename Id>
std::string id_str(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

inline pb::Envelope parse_envelope(ByteView raw) {
  pb::Envelope e;
  REQUIRE(e.ParseFromArray(raw.data(), static_cast<int>(raw.size())));
  return e;
}

inline pb::Header parse_header(const pb::Envelope& e) {
  pb::Header h;
  REQUIRE(h.ParseFromString(e.header()));
  return h;
}

inline Bytes serialize(const pb::Envelope& e) {
  std::string s = e.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

// An envelope with `header` and `body`, signed by `signer`.
inline Bytes sign_envelope(const Identity& signer, const std::string& header, const std::string& body) {
  pb::Envelope e;
  e.set_header(header);
  e.set_body(body);
  auto sig = signer.sign(signing_message(view_of(header), view_of(body)));
  e.set_signature(sig.data(), sig.size());
  return serialize(e);
}

inline Hash envelope_hash(ByteView raw) { return blake2b_256(raw); }

// The space key of `epoch` as sealed to `reader` in the membership changes
// `holder` stores (the reader opens its own grant, as a member would).
inline std::optional<SpaceKey> space_key(Replica& holder, const SpaceId& space, const Identity& reader,
                                         uint32_t epoch) {
  auto log = holder.changes_since(space, {});
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  auto secret = reader.box_secret_key();
  std::optional<SpaceKey> out;
  for (const auto& raw : *log) {
    pb::Envelope e = parse_envelope(raw);
    pb::Header h = parse_header(e);
    if (h.kind() != pb::CHANGE_MEMBERSHIP) continue;
    pb::Membership m;
    REQUIRE(m.ParseFromString(e.body()));
    for (const auto& g : m.grants())
      if (g.epoch() == epoch && g.device() == id_str(reader.device()))
        if (auto k = open_sealed_key(view_of(g.sealed_key()), reader.device(), secret)) out = *k;
  }
  sodium_memzero(secret.data(), secret.size());
  return out;
}

// A content body that sets plain `field` = `value` on entity `id` of `type`.
inline pb::Body body_setting(const EntityId& id, const std::string& type, const std::string& field,
                             const nlohmann::json& value) {
  pb::Body body;
  auto* g = body.add_entities();
  g->set_id(id_str(id));
  g->set_type(type);
  auto* op = g->add_ops();
  op->set_kind(pb::OP_SET);
  op->set_field(field);
  op->set_value(value.dump());
  return body;
}

// Where a hand-built change sits in its author's chain.
struct ChainPos {
  uint64_t seq = 1;
  std::optional<Hash> prev;  // required when seq > 1
};

inline pb::Header make_header(const SpaceId& space, const DeviceKey& author, ChainPos pos, uint32_t epoch,
                              pb::ChangeKind kind) {
  pb::Header h;
  h.set_space(id_str(space));
  h.set_author(id_str(author));
  h.set_seq(pos.seq);
  if (pos.prev) h.set_prev_hash(id_str(*pos.prev));
  // Five minutes after test clocks start: later than what test devices
  // write, yet within every receiver's skew window (a node's real clock is
  // later still; an HLC beyond now + the window is ClockAhead).
  h.set_hlc((kTestStartMs + 5 * 60 * 1000) << 16);
  h.set_epoch(epoch);
  h.set_kind(kind);
  return h;
}

// The content change with header `h` (its nonce replaced by a fresh one) and
// `body`, the body encrypted with `key` under the header, signed by `author`.
inline Bytes seal_content(const Identity& author, pb::Header h, const pb::Body& body, const SpaceKey& key) {
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  h.set_nonce(nonce, sizeof nonce);
  std::string header = h.SerializeAsString();
  std::string plain = body.SerializeAsString();
  Bytes c = aead_encrypt(view_of(plain), view_of(header), {nonce, sizeof nonce}, key);
  return sign_envelope(author, header, std::string(c.begin(), c.end()));
}

// A content change by `author`, its body encrypted with `key`, correctly
// signed; dated `hlc` when given (else make_header's date).
inline Bytes forge_content(const Identity& author, const SpaceId& space, ChainPos pos, uint32_t epoch,
                           const pb::Body& body, const SpaceKey& key, std::optional<uint64_t> hlc = std::nullopt) {
  pb::Header h = make_header(space, author.device(), pos, epoch, pb::CHANGE_CONTENT);
  if (hlc) h.set_hlc(*hlc);
  return seal_content(author, std::move(h), body, key);
}

// A membership change by `author`, correctly signed (plaintext body).
inline Bytes forge_membership(const Identity& author, const SpaceId& space, ChainPos pos, uint32_t epoch,
                              const pb::Membership& m) {
  pb::Header h = make_header(space, author.device(), pos, epoch, pb::CHANGE_MEMBERSHIP);
  return sign_envelope(author, h.SerializeAsString(), m.SerializeAsString());
}

inline SpaceKey random_space_key() {
  SpaceKey k;
  randombytes_buf(k.data(), k.size());
  return k;
}

// Head of `author`'s chain in `space` as `r` holds it.
inline uint64_t head_seq(Replica& r, const SpaceId& space, const DeviceKey& author) {
  auto vv = r.version_vector(space);
  REQUIRE_MESSAGE(vv.is_ok(), vv.status().to_string());
  auto it = vv->find(author);
  return it == vv->end() ? 0 : it->second;
}

}  // namespace urbis::testing
