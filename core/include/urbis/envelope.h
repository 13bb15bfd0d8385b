// What a stored or received envelope says of itself, read without its key:
// its header's public fields. For hosts that list or date changes (the
// browser client's activity and last-seen marks) without parsing the wire
// format themselves; a replica's own checks (signature, chain, epoch) are
// Replica::apply's, and nothing here verifies anything.
#pragma once

#include <cstdint>
#include <optional>

#include "urbis/types.h"

namespace urbis {

struct EnvelopeHeader {
  SpaceId space;
  DeviceKey author;
  uint64_t seq = 0;
  uint64_t hlc = 0;  // ms << 16 | counter
  uint32_t epoch = 0;
  bool membership = false;  // a membership change (plaintext body), else content

  uint64_t ms() const { return hlc >> 16; }
};

// The header of `envelope` (the body is skipped, never copied); nullopt
// for bytes that are no envelope, a header over 64 KiB, or a header whose
// ids have the wrong size.
std::optional<EnvelopeHeader> peek_envelope(ByteView envelope);

}  // namespace urbis
