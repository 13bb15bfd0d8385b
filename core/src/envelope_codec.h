// The envelope as the core reads and writes it (change.proto: Envelope,
// Header): parse raw bytes into the two messages, seal a header and a body
// into signed bytes, check a signature, open a content body. The public face
// (urbis/envelope.h, peek_envelope) reads the header alone for hosts that
// never see the wire types; this one speaks pb:: types and keys, so it stays
// internal (core/src, urbis::core_internal). Implemented in envelope.cc.
//
// Nothing here judges a change against a log (seq range, chain, epoch,
// membership): those are the replica's rules (replica.cc, parse and apply).
// Stateless; safe from any thread.
#pragma once

#include <optional>
#include <string>

#include "crypto.h"
#include "urbis/change.pb.h"
#include "urbis/identity.h"
#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis {

// An envelope and its header, both parsed, with the header's ids checked
// for size.
struct ParsedEnvelope {
  pb::Envelope envelope;
  pb::Header header;
  SpaceId space;
  DeviceKey author;
};

// What parse_envelope accepts. Canonical: only the canonical encoding of the
// known fields (what every received envelope must be, since a relay that
// re-encodes one would fork its author's chain). Any: whatever protobuf
// parses; for bytes a replica already stored, which may predate the rule.
enum class EnvelopeEncoding { Canonical, Any };

// `raw` parsed. On failure a Malformed status whose message says what is
// wrong: "envelope does not parse", "envelope is not in canonical form",
// "header of N bytes exceeds 65536" (Canonical only: peek_envelope reads no
// longer header, and what hosts peek and replicas keep must agree), "header
// does not parse", "space id must be 16 bytes", "author must be a 32-byte
// public key" (checked in that order).
Result<ParsedEnvelope> parse_envelope(ByteView raw, EnvelopeEncoding encoding = EnvelopeEncoding::Canonical);

// Whether `raw` is exactly the canonical encoding of the fields of `e` that
// this build knows (the lite runtime keeps unknown fields and re-emits them:
// an envelope or receipt holding any is refused by its size first).
bool is_canonical(const pb::Envelope& e, ByteView raw);

// An envelope sealed by seal_envelope: the message and its serialized bytes
// (canonical; their BLAKE2b-256 is the change's hash).
struct SealedEnvelope {
  pb::Envelope envelope;
  std::string raw;
};

// Seals `header` and `plain` into a signed envelope. With `key` (a content
// change: the header's kind is CHANGE_CONTENT and it carries a 24-byte
// nonce), the body is `plain` encrypted under `key` (XChaCha20-Poly1305,
// the serialized header as associated data); without (a membership change),
// the body is `plain` itself. `author` signs signing_message(header, body);
// it should be the header's author (nothing here checks it). Internal error
// when the key and the header's kind or nonce disagree.
Result<SealedEnvelope> seal_envelope(const pb::Header& header, ByteView plain, const SpaceKey* key,
                                     const Identity& author);

// Whether `e`'s signature is `author`'s over its header and body (a receipt
// is not covered; it carries its own signature).
[[nodiscard]] bool envelope_signature_ok(const pb::Envelope& e, const DeviceKey& author);

// The plaintext of a content envelope's body under `key`; nullopt when `key`
// does not open it (another key, or a body or header altered).
[[nodiscard]] std::optional<Bytes> open_envelope_body(const pb::Envelope& e, const pb::Header& h, const SpaceKey& key);

}  // namespace urbis
