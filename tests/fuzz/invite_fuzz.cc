// Fuzz target `invite`: decode_invite_code on any text. What holds: a code
// that decodes re-encodes to a code that decodes to the same secret, and its
// key pair derives; anything else is a clear InvalidArgument.
#include <cstring>

#include "fuzz_util.h"

using namespace urbis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  urbis::fuzz::reset_random();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = decode_invite_code(text);
  if (!decoded.is_ok()) {
    if (decoded.code() != Code::InvalidArgument) fuzz::broken("a bad code is not InvalidArgument");
    return 0;
  }
  const InviteSecret& secret = *decoded;
  const std::string again = encode_invite_code(secret);
  if (again.rfind(kInviteCodePrefix, 0) != 0) fuzz::broken("an encoded code lacks the prefix");
  auto round = decode_invite_code(again);
  if (!round.is_ok()) fuzz::broken("a re-encoded code does not decode");
  if (!(round->space == secret.space) || round->seed != secret.seed || round->expires_ms != secret.expires_ms)
    fuzz::broken("a re-encoded code decodes to another secret");
  (void)invite_identity(secret);
  return 0;
}
