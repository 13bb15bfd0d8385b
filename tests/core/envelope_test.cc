// The envelope component (envelope_codec.h, envelope.cc): parse, seal,
// verify, open. The wire format itself is fixed by golden_test.cc; here,
// what each function accepts and refuses.
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "crypto.h"
#include "envelope_codec.h"
#include "urbis/envelope.h"

using namespace urbis;

namespace {

std::array<uint8_t, 32> seed_of(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

template <typename Id>
std::string filled(uint8_t b) {
  return std::string(Id::kSize, static_cast<char>(b));
}

ByteView view_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

SpaceKey key_of(uint8_t b) {
  SpaceKey k;
  k.fill(b);
  return k;
}

const std::string kPlain = "a body in the clear: the same words a reader must not find in a content change";

// A header as a replica writes it: space 0x11.., `author`, seq 2 after a
// prev hash of 0x33.., HLC 1,700,000,000,000 ms counter 7, epoch 3; a
// content header carries a nonce of 0x44...
pb::Header header_of(const Identity& author, pb::ChangeKind kind) {
  pb::Header h;
  h.set_space(filled<SpaceId>(0x11));
  h.set_author(std::string(reinterpret_cast<const char*>(author.device().bytes.data()), DeviceKey::kSize));
  h.set_seq(2);
  h.set_prev_hash(filled<Hash>(0x33));
  h.set_hlc((1'700'000'000'000ull << 16) | 7);
  h.set_epoch(3);
  h.set_kind(kind);
  if (kind == pb::CHANGE_CONTENT) h.set_nonce(std::string(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, '\x44'));
  return h;
}

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::string serialize(const pb::Envelope& e) { return e.SerializeAsString(); }

// An envelope of `header` and `body`, signed by `signer` over exactly those
// bytes (a forger's envelope: nothing checks the header's fields).
std::string signed_envelope(const Identity& signer, const pb::Header& header, const std::string& body) {
  pb::Envelope e;
  e.set_header(header.SerializeAsString());
  e.set_body(body);
  auto sig = signer.sign(signing_message(view_of(e.header()), view_of(e.body())));
  e.set_signature(sig.data(), sig.size());
  return serialize(e);
}

void check_malformed(const std::string& raw, const std::string& message,
                     EnvelopeEncoding encoding = EnvelopeEncoding::Canonical) {
  auto p = parse_envelope(view_of(raw), encoding);
  REQUIRE_FALSE(p.is_ok());
  CHECK(p.code() == Code::Malformed);
  CHECK(p.status().message() == message);
}

}  // namespace

TEST_CASE("envelope: a sealed membership change parses back to its header, body and author") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  const pb::Header h = header_of(author, pb::CHANGE_MEMBERSHIP);
  auto sealed = seal_envelope(h, view_of(kPlain), nullptr, author);
  REQUIRE(sealed.is_ok());
  CHECK(sealed->raw == serialize(sealed->envelope));
  CHECK(is_canonical(sealed->envelope, view_of(sealed->raw)));

  auto p = parse_envelope(view_of(sealed->raw));
  REQUIRE(p.is_ok());
  CHECK(p->header.SerializeAsString() == h.SerializeAsString());
  CHECK(p->envelope.header() == h.SerializeAsString());
  CHECK(p->envelope.body() == kPlain);  // membership: in the clear
  CHECK(p->space.hex() == std::string(32, '1'));
  CHECK(p->author == author.device());
  CHECK(envelope_signature_ok(p->envelope, author.device()));
  CHECK_FALSE(envelope_signature_ok(p->envelope, Identity::from_seed(seed_of(0x23)).device()));

  // The public peek reads the same header.
  auto peek = peek_envelope(bytes_of(sealed->raw));
  REQUIRE(peek);
  CHECK(peek->space == p->space);
  CHECK(peek->author == p->author);
  CHECK(peek->seq == 2);
  CHECK(peek->membership);
}

TEST_CASE("envelope: seal writes the format golden_test.cc fixes") {
  // golden_test.cc, "an envelope, signed by a seeded key": the same header,
  // body and key give the same bytes.
  const Identity author = Identity::from_seed(seed_of(0x22));
  const std::string body = "membership body";
  auto sealed = seal_envelope(header_of(author, pb::CHANGE_MEMBERSHIP), view_of(body), nullptr, author);
  REQUIRE(sealed.is_ok());
  CHECK(blake2b_256(view_of(sealed->raw)).hex() == "6f08be52fdf3d8b2e0c1b82adaedead6f14a3a73d7cefddb5c96fdd68323a77c");
}

TEST_CASE("envelope: a sealed content change is encrypted, and opens only with its key") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  const SpaceKey key = key_of(0x55);
  const pb::Header h = header_of(author, pb::CHANGE_CONTENT);
  auto sealed = seal_envelope(h, view_of(kPlain), &key, author);
  REQUIRE(sealed.is_ok());
  const std::string& body = sealed->envelope.body();
  CHECK(body.size() == kPlain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  CHECK(body.find("in the clear") == std::string::npos);
  CHECK(sealed->raw.find("in the clear") == std::string::npos);

  auto p = parse_envelope(view_of(sealed->raw));
  REQUIRE(p.is_ok());
  CHECK(envelope_signature_ok(p->envelope, author.device()));
  auto clear = open_envelope_body(p->envelope, p->header, key);
  REQUIRE(clear);
  CHECK(std::string(clear->begin(), clear->end()) == kPlain);
  CHECK_FALSE(open_envelope_body(p->envelope, p->header, key_of(0x56)));

  // The header is the associated data: a header changed under the same body
  // opens no more.
  pb::Envelope moved = p->envelope;
  pb::Header later = p->header;
  later.set_seq(3);
  moved.set_header(later.SerializeAsString());
  CHECK_FALSE(open_envelope_body(moved, later, key));
}

TEST_CASE("envelope: seal refuses a key that does not fit the header") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  const SpaceKey key = key_of(0x55);
  auto no_key = seal_envelope(header_of(author, pb::CHANGE_CONTENT), view_of(kPlain), nullptr, author);
  CHECK(no_key.code() == Code::Internal);
  auto keyed_membership = seal_envelope(header_of(author, pb::CHANGE_MEMBERSHIP), view_of(kPlain), &key, author);
  CHECK(keyed_membership.code() == Code::Internal);
  pb::Header no_nonce = header_of(author, pb::CHANGE_CONTENT);
  no_nonce.clear_nonce();
  CHECK(seal_envelope(no_nonce, view_of(kPlain), &key, author).code() == Code::Internal);
}

TEST_CASE("envelope: a flipped bit in the header, the body or the signature fails the signature check") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  const SpaceKey key = key_of(0x55);
  for (const pb::ChangeKind kind : {pb::CHANGE_MEMBERSHIP, pb::CHANGE_CONTENT}) {
    CAPTURE(static_cast<int>(kind));
    auto sealed =
        seal_envelope(header_of(author, kind), view_of(kPlain), kind == pb::CHANGE_CONTENT ? &key : nullptr, author);
    REQUIRE(sealed.is_ok());
    REQUIRE(envelope_signature_ok(sealed->envelope, author.device()));
    int checked = 0;
    for (int field = 0; field < 3; ++field) {
      const std::string& bytes = field == 0   ? sealed->envelope.header()
                                 : field == 1 ? sealed->envelope.body()
                                              : sealed->envelope.signature();
      for (size_t i = 0; i < bytes.size(); ++i) {
        std::string flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
        pb::Envelope e = sealed->envelope;
        if (field == 0) e.set_header(flipped);
        if (field == 1) e.set_body(flipped);
        if (field == 2) e.set_signature(flipped);
        CAPTURE(field);
        CAPTURE(i);
        CHECK_FALSE(envelope_signature_ok(e, author.device()));
        checked += 1;
      }
    }
    CHECK(checked > 64 + static_cast<int>(kPlain.size()));
  }
}

TEST_CASE("envelope: truncated bytes do not parse, or parse without a valid signature") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  auto sealed = seal_envelope(header_of(author, pb::CHANGE_MEMBERSHIP), view_of(kPlain), nullptr, author);
  REQUIRE(sealed.is_ok());
  const std::string& raw = sealed->raw;
  check_malformed(raw.substr(0, raw.size() - 1), "envelope does not parse");
  check_malformed(raw.substr(0, 10), "envelope does not parse");
  // Every prefix: a cut inside a field does not parse; a cut between two
  // fields (after the header, after the body) parses, but then lacks a
  // signature that holds.
  int parsed = 0;
  for (size_t n = 0; n < raw.size(); ++n) {
    CAPTURE(n);
    auto p = parse_envelope(ByteView(reinterpret_cast<const uint8_t*>(raw.data()), n));
    if (!p.is_ok()) {
      CHECK(p.code() == Code::Malformed);
      continue;
    }
    parsed += 1;
    CHECK_FALSE(envelope_signature_ok(p->envelope, author.device()));
  }
  CHECK(parsed == 2);  // header alone; header and body
  // An empty header is no header with ids.
  check_malformed("", "space id must be 16 bytes");
}

TEST_CASE("envelope: a header whose ids have the wrong size is refused, signed or not") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  pb::Header h = header_of(author, pb::CHANGE_MEMBERSHIP);
  h.set_space(filled<SpaceId>(0x11).substr(1));
  check_malformed(signed_envelope(author, h, kPlain), "space id must be 16 bytes");
  h.set_space(filled<SpaceId>(0x11) + "x");
  check_malformed(signed_envelope(author, h, kPlain), "space id must be 16 bytes");
  h = header_of(author, pb::CHANGE_MEMBERSHIP);
  h.set_author(h.author().substr(0, 31));
  check_malformed(signed_envelope(author, h, kPlain), "author must be a 32-byte public key");
  h.clear_author();
  check_malformed(signed_envelope(author, h, kPlain), "author must be a 32-byte public key");
  // peek_envelope refuses them too.
  CHECK_FALSE(peek_envelope(bytes_of(signed_envelope(author, h, kPlain))));
  // The same envelope with both ids right parses.
  CHECK(parse_envelope(view_of(signed_envelope(author, header_of(author, pb::CHANGE_MEMBERSHIP), kPlain))).is_ok());
  // A header that is no protobuf.
  pb::Envelope e;
  e.set_header("\xff\xff\xff");
  e.set_body(kPlain);
  check_malformed(serialize(e), "header does not parse");
}

TEST_CASE("envelope: bytes that are not the canonical encoding are refused, unless stored") {
  const Identity author = Identity::from_seed(seed_of(0x22));
  auto sealed = seal_envelope(header_of(author, pb::CHANGE_MEMBERSHIP), view_of(kPlain), nullptr, author);
  REQUIRE(sealed.is_ok());
  const std::string& raw = sealed->raw;
  const pb::Envelope& e = sealed->envelope;
  auto field = [](int number, const std::string& bytes) {
    pb::Envelope one;
    if (number == 1) one.set_header(bytes);
    if (number == 2) one.set_body(bytes);
    if (number == 3) one.set_signature(bytes);
    return serialize(one);
  };

  const std::string unknown_field = raw + std::string("\x78\x01", 2);  // field 15, varint 1
  const std::string repeated_body = raw + field(2, e.body());          // the body twice (the last one wins)
  const std::string reordered = field(1, e.header()) + field(3, e.signature()) + field(2, e.body());
  const std::string empty_header_first = std::string("\x0a\x00", 2) + raw;  // an empty field written, then the real one
  // The header's length as a two-byte varint (0x80 | n, 0x00): the same
  // number, not its shortest form.
  REQUIRE(e.header().size() < 0x80);
  const std::string long_length = std::string("\x0a", 1) + static_cast<char>(0x80 | e.header().size()) +
                                  std::string(1, '\0') + e.header() + field(2, e.body()) + field(3, e.signature());
  for (const std::string& bytes : {unknown_field, repeated_body, reordered, empty_header_first, long_length}) {
    // The same fields, the same signature: only the encoding differs.
    auto any = parse_envelope(view_of(bytes), EnvelopeEncoding::Any);
    REQUIRE(any.is_ok());
    CHECK(envelope_signature_ok(any->envelope, author.device()));
    CHECK_FALSE(is_canonical(any->envelope, view_of(bytes)));
    check_malformed(bytes, "envelope is not in canonical form");
  }
  CHECK(parse_envelope(view_of(raw)).is_ok());
  CHECK(is_canonical(e, view_of(raw)));

  // A receipt's known fields re-encode canonically; an unknown one in it does not.
  pb::Envelope with_receipt = e;
  with_receipt.mutable_receipt()->set_witness(filled<DeviceKey>(0x66));
  with_receipt.mutable_receipt()->set_time_ms(1'700'000'000'000ull);
  with_receipt.mutable_receipt()->set_signature(std::string(64, '\x77'));
  const std::string receipted = serialize(with_receipt);
  CHECK(parse_envelope(view_of(receipted)).is_ok());
  pb::Receipt odd = with_receipt.receipt();
  std::string odd_bytes = odd.SerializeAsString() + std::string("\x78\x01", 2);
  std::string receipt_field = std::string("\x22", 1) + static_cast<char>(odd_bytes.size()) + odd_bytes;  // field 4
  const std::string odd_receipt = raw + receipt_field;
  REQUIRE(parse_envelope(view_of(odd_receipt), EnvelopeEncoding::Any).is_ok());
  check_malformed(odd_receipt, "envelope is not in canonical form");
}

TEST_CASE("envelope: a header past 64 KiB is refused, as peek_envelope skips it; stored bytes still parse") {
  const Identity author = Identity::from_seed(seed_of(0x23));
  const pb::Header h = header_of(author, pb::CHANGE_MEMBERSHIP);
  // An unknown field (100) pads the header: signed, so only the size is wrong.
  auto padded = [&](size_t n) {
    std::string pad = h.SerializeAsString();
    pad += static_cast<char>(0xa2);  // tag of field 100, length-delimited: 100 << 3 | 2 = 802 = 0xa2 0x06
    pad += static_cast<char>(0x06);
    for (size_t v = n;; v >>= 7) {  // varint length
      if (v < 0x80) {
        pad += static_cast<char>(v);
        break;
      }
      pad += static_cast<char>((v & 0x7f) | 0x80);
    }
    return pad + std::string(n, 'P');
  };
  const std::string small = signed_envelope(
      author,
      [&] {
        pb::Header x;
        REQUIRE(x.ParseFromString(padded(1000)));
        return x;
      }(),
      kPlain);
  // Just under the bound it parses and peeks alike.
  CHECK(parse_envelope(view_of(small)).is_ok());
  CHECK(peek_envelope(view_of(small)).has_value());

  pb::Envelope big;
  big.set_header(padded(70'000));
  big.set_body(kPlain);
  const std::string big_bytes = serialize(big);
  CHECK_FALSE(peek_envelope(view_of(big_bytes)).has_value());
  auto refused = parse_envelope(view_of(big_bytes));
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == Code::Malformed);
  CHECK(refused.status().message().find("exceeds 65536") != std::string::npos);
  // A store written before the rule keeps what it holds readable.
  CHECK(parse_envelope(view_of(big_bytes), EnvelopeEncoding::Any).is_ok());
}
