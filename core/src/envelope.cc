// The envelope component: peek_envelope (urbis/envelope.h) and the
// internal codec (envelope_codec.h): parse, seal, verify, open.
#include "urbis/envelope.h"

#include <algorithm>
#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "envelope_codec.h"
#include "urbis/change.pb.h"

namespace urbis {

namespace {
// A header holds two ids, a hash, a nonce and four numbers (~150 bytes):
// one longer than this is no header a replica wrote.
constexpr uint32_t kMaxHeaderBytes = 1u << 16;

ByteView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

Status malformed(std::string what) { return Status(Code::Malformed, std::move(what)); }
}  // namespace

std::optional<EnvelopeHeader> peek_envelope(ByteView envelope) {
  using google::protobuf::internal::WireFormatLite;
  // The header is field 1, written first: the walk ends at once.
  google::protobuf::io::CodedInputStream in(envelope.data(), static_cast<int>(envelope.size()));
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (tag != WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      if (!WireFormatLite::SkipField(&in, tag)) return std::nullopt;
      continue;
    }
    std::string bytes;
    uint32_t n = 0;
    if (!in.ReadVarint32(&n) || n > kMaxHeaderBytes || !in.ReadString(&bytes, static_cast<int>(n))) return std::nullopt;
    pb::Header h;
    if (!h.ParseFromString(bytes)) return std::nullopt;
    auto space = SpaceId::from_string(h.space());
    auto author = DeviceKey::from_string(h.author());
    if (!space || !author) return std::nullopt;
    EnvelopeHeader out;
    out.space = *space;
    out.author = *author;
    out.seq = h.seq();
    out.hlc = h.hlc();
    out.epoch = h.epoch();
    out.membership = h.kind() == pb::CHANGE_MEMBERSHIP;
    return out;
  }
  return std::nullopt;
}

bool is_canonical(const pb::Envelope& e, ByteView raw) {
  pb::Envelope known;
  known.set_header(e.header());
  known.set_body(e.body());
  known.set_signature(e.signature());
  if (e.has_receipt()) {
    auto* r = known.mutable_receipt();
    r->set_witness(e.receipt().witness());
    r->set_time_ms(e.receipt().time_ms());
    r->set_signature(e.receipt().signature());
  }
  if (known.ByteSizeLong() != raw.size()) return false;
  const std::string bytes = known.SerializeAsString();
  return std::equal(bytes.begin(), bytes.end(), reinterpret_cast<const char*>(raw.data()));
}

Result<ParsedEnvelope> parse_envelope(ByteView raw, EnvelopeEncoding encoding) {
  ParsedEnvelope p;
  if (!p.envelope.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) return malformed("envelope does not parse");
  if (encoding == EnvelopeEncoding::Canonical && !is_canonical(p.envelope, raw))
    return malformed("envelope is not in canonical form");
  // What peek_envelope reads, parse reads too: a header it would skip is no
  // header a replica writes (~150 bytes), and hosts that peek (the sync
  // session, the browser's activity) must see every change a replica keeps.
  // Stored bytes (Any) may predate the rule.
  if (encoding == EnvelopeEncoding::Canonical && p.envelope.header().size() > kMaxHeaderBytes)
    return malformed("header of " + std::to_string(p.envelope.header().size()) + " bytes exceeds " +
                     std::to_string(kMaxHeaderBytes));
  if (!p.header.ParseFromString(p.envelope.header())) return malformed("header does not parse");
  auto space = SpaceId::from_string(p.header.space());
  auto author = DeviceKey::from_string(p.header.author());
  if (!space) return malformed("space id must be 16 bytes");
  if (!author) return malformed("author must be a 32-byte public key");
  p.space = *space;
  p.author = *author;
  return p;
}

Result<SealedEnvelope> seal_envelope(const pb::Header& header, ByteView plain, const SpaceKey* key,
                                     const Identity& author) {
  const bool content = header.kind() == pb::CHANGE_CONTENT;
  if (content != (key != nullptr))
    return Status(Code::Internal, content ? "a content change is sealed with a key" : "only content is encrypted");
  if (content && header.nonce().size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    return Status(Code::Internal, "a content change needs a 24-byte nonce");
  SealedEnvelope out;
  std::string h = header.SerializeAsString();
  if (key) {
    Bytes c = aead_encrypt(plain, view(h), view(header.nonce()), *key);
    out.envelope.set_body(c.data(), c.size());
  } else {
    out.envelope.set_body(plain.data(), plain.size());
  }
  auto sig = author.sign(signing_message(view(h), view(out.envelope.body())));
  out.envelope.set_signature(sig.data(), sig.size());
  out.envelope.set_header(std::move(h));
  out.raw = out.envelope.SerializeAsString();
  return out;
}

bool envelope_signature_ok(const pb::Envelope& e, const DeviceKey& author) {
  return verify_signature(view(e.signature()), signing_message(view(e.header()), view(e.body())), author);
}

std::optional<Bytes> open_envelope_body(const pb::Envelope& e, const pb::Header& h, const SpaceKey& key) {
  return aead_decrypt(view(e.body()), view(e.header()), view(h.nonce()), key);
}

}  // namespace urbis
