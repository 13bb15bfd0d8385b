// Golden vectors: the bytes of the formats other replicas, other releases
// and other implementations must agree on. A change to any of them fails
// here first, so a format change is made on purpose (with a new domain or
// version, and a migration), never by a refactoring. Each vector is built
// from fixed inputs only (seeded keys, fixed fields), never from a clock or
// a random source.
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "crypto.h"
#include "forge_util.h"
#include "urbis/envelope.h"
#include "urbis/invite.h"

using namespace urbis;
using namespace urbis::testing;

namespace {

std::array<uint8_t, 32> seed_of(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

template <typename Id>
Id filled(uint8_t b) {
  Id id;
  id.bytes.fill(b);
  return id;
}

// A membership change's header and body as a replica writes them, from
// fixed fields: space 0x11.., author from seed 0x22.., seq 2 after a prev
// hash of 0x33.., HLC 1,700,000,000,000 ms counter 7, epoch 3.
struct Vector {
  Identity author = Identity::from_seed(seed_of(0x22));
  std::string header, body;
  Vector() {
    pb::Header h;
    h.set_space(id_str(filled<SpaceId>(0x11)));
    h.set_author(id_str(author.device()));
    h.set_seq(2);
    h.set_prev_hash(id_str(filled<Hash>(0x33)));
    h.set_hlc((1'700'000'000'000ull << 16) | 7);
    h.set_epoch(3);
    h.set_kind(pb::CHANGE_MEMBERSHIP);
    header = h.SerializeAsString();
    body = "membership body";
  }
};

}  // namespace

TEST_CASE("golden: the message a change's signature covers") {
  Vector v;
  const Bytes msg = signing_message(view_of(v.header), view_of(v.body));
  // "urbis/change/v1", the header's length (4 bytes, little-endian), the
  // header (fields 1 to 7 in order), the body.
  CHECK(to_hex(msg) ==
        "75726269732f6368616e67652f7631"  // urbis/change/v1
        "66000000"                        // 102 bytes of header:
        "0a10"
        "11111111111111111111111111111111"  //   1 space
        "1220"
        "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"  //   2 author
        "1802"                                                              //   3 seq
        "2220"
        "3333333333333333333333333333333333333333333333333333333333333333"  //   4 prev hash
        "28"
        "878080c0d6fcf3c501"                //   5 hlc
        "3003"                              //   6 epoch
        "3801"                              //   7 kind: membership
        "6d656d6265727368697020626f6479");  // "membership body"
}

TEST_CASE("golden: an envelope, signed by a seeded key") {
  Vector v;
  CHECK(v.author.device().hex() == "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0");
  const Bytes env = sign_envelope(v.author, v.header, v.body);
  // Header, body, signature: fields 1, 2, 3, each once, in order (Ed25519
  // signatures are deterministic).
  CHECK(blake2b_256(env).hex() == "6f08be52fdf3d8b2e0c1b82adaedead6f14a3a73d7cefddb5c96fdd68323a77c");
  CHECK(env.size() == 2 + 102 + 2 + 15 + 2 + 64);
  auto h = peek_envelope(env);
  REQUIRE(h);
  CHECK(h->space == filled<SpaceId>(0x11));
  CHECK(h->author == v.author.device());
  CHECK(h->seq == 2);
  CHECK(h->ms() == 1'700'000'000'000ull);
  CHECK((h->hlc & 0xffff) == 7);
  CHECK(h->epoch == 3);
  CHECK(h->membership);
  // Not an envelope: nothing.
  CHECK_FALSE(peek_envelope(ByteView(env.data() + 1, env.size() - 1)));
  CHECK_FALSE(peek_envelope({}));
}

TEST_CASE("golden: an invite code and the key it derives") {
  InviteSecret secret;
  secret.space = filled<SpaceId>(0x44);
  secret.seed.fill(0x55);
  secret.expires_ms = 1'800'000'000'000ull;
  const std::string code = encode_invite_code(secret);
  CHECK(code == "urbis1-irceirceirceirceirceirceirkvkvkvkvkvkvkvkvkvkvkvkvkwwsosacvujtgh");
  auto back = decode_invite_code(code);
  REQUIRE(back.is_ok());
  CHECK(back->space == secret.space);
  CHECK(back->seed == secret.seed);
  CHECK(back->expires_ms == secret.expires_ms);
  CHECK(invite_identity(secret).device().hex() == "189d90e92571c6225876f3915e16d7b9b4d57afc10a1ae0641f5ec8c209469ea");
}
