// The envelope component: peek_envelope (urbis/envelope.h) and the
// internal codec (envelope_codec.h): parse, seal, verify, open.
#include "urbis/envelope.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

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

namespace {
using google::protobuf::internal::WireFormatLite;

// What protobuf writes for a field of these messages: a one-byte tag (every
// field number is under 16), then the value; an empty or zero field is not
// written.
size_t bytes_field_size(const std::string& s) { return s.empty() ? 0 : 1 + WireFormatLite::BytesSize(s); }

size_t known_size(const pb::Receipt& r) {
  return bytes_field_size(r.witness()) + (r.time_ms() ? 1 + WireFormatLite::UInt64Size(r.time_ms()) : 0) +
         bytes_field_size(r.signature());
}
}  // namespace

bool is_canonical(const pb::Envelope& e, ByteView raw) {
  // Canonical: `raw` is what protobuf writes for the fields these messages
  // declare. Serializing `e` writes that, and also the unknown fields the
  // parse kept (appended at the end, where a byte comparison would not see
  // them): ByteSizeLong counts those, the known sizes do not.
  size_t known = bytes_field_size(e.header()) + bytes_field_size(e.body()) + bytes_field_size(e.signature());
  if (e.has_receipt()) {
    const size_t r = known_size(e.receipt());
    if (e.receipt().ByteSizeLong() != r) return false;
    known += 1 + WireFormatLite::LengthDelimitedSize(r);
  }
  if (known != raw.size() || e.ByteSizeLong() != known) return false;
  // An envelope of one small change fits on the stack; no copy of a field.
  std::array<uint8_t, 1024> small;
  std::vector<uint8_t> large;
  uint8_t* out = small.data();
  if (known > small.size()) {
    large.resize(known);
    out = large.data();
  }
  e.SerializeWithCachedSizesToArray(out);
  return std::equal(out, out + known, raw.begin());
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
