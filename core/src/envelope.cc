// peek_envelope (urbis/envelope.h).
#include "urbis/envelope.h"

#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "urbis/change.pb.h"

namespace urbis {

namespace {
// A header holds two ids, a hash, a nonce and four numbers (~150 bytes):
// one longer than this is no header a replica wrote.
constexpr uint32_t kMaxHeaderBytes = 1u << 16;
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

}  // namespace urbis
