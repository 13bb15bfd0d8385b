// Fuzz target `envelope`: hostile envelopes through Replica::apply_batch on a
// real replica (the core's whole apply path: parsing, signature, chain,
// membership, epochs, decryption, materialization), then every read.
//
// Input: a mode byte, then envelopes separated by fuzz::kSeparator.
//   bit 0: the replica is key-less (a node's: verify and store only), else
//          the editor's device (it decrypts and materializes);
//   bit 1: re-sign: an envelope whose header names a key of the world (the
//          admin, the editor, the outsider, the invite) is signed again with
//          it, so mutated headers and membership bodies get past the
//          signature: a hostile member (or admin) rather than a forger;
//   bits 2..7: how many changes of the world's log it applied first (0..),
//          so inputs can build on a space it already holds.
// The replica and its clock are made afresh for every input: an input
// replays alike.
#include "crypto.h"
#include "fuzz_util.h"
#include "urbis/change.pb.h"

using namespace urbis;

namespace {

// A key of the world, by the author bytes a header carries.
const Identity* signer_for(const std::string& author) {
  static const std::vector<Identity> keys = [] {
    std::vector<Identity> out;
    for (uint64_t seed : {fuzz::kAdminSeed, fuzz::kEditorSeed, fuzz::kOutsiderSeed})
      out.push_back(fuzz::identity_of(seed));
    out.push_back(invite_identity(fuzz::must(decode_invite_code(fuzz::world().invite_code), "invite code")));
    return out;
  }();
  for (const Identity& id : keys)
    if (author.size() == id.device().bytes.size() &&
        std::equal(author.begin(), author.end(), id.device().bytes.begin(),
                   [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; }))
      return &id;
  return nullptr;
}

void resign(Bytes& raw) {
  pb::Envelope e;
  if (!e.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) return;
  pb::Header h;
  if (!h.ParseFromString(e.header())) return;
  const Identity* signer = signer_for(h.author());
  if (!signer) return;
  const auto view = [](const std::string& s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  const auto sig = signer->sign(signing_message(view(e.header()), view(e.body())));
  e.set_signature(sig.data(), sig.size());
  const std::string out = e.SerializeAsString();
  raw.assign(out.begin(), out.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fuzz::World& world = fuzz::world();
  fuzz::reset_random();  // after the world, which is built once per process
  const bool node = data[0] & 1;
  const size_t preload = std::min<size_t>(data[0] >> 2, world.log.size());
  fuzz::Peer peer(node ? 0 : fuzz::kEditorSeed, 100, fuzz::kFuzzClockMs);
  for (size_t i = 0; i < preload; ++i) fuzz::must(peer->apply(world.log[i]), "preload");

  std::vector<Bytes> envelopes = fuzz::split(data + 1, size - 1);
  if (data[0] & 2)
    for (Bytes& e : envelopes) resign(e);
  const auto results = peer->apply_batch(envelopes);
  if (results.size() != envelopes.size()) fuzz::broken("apply_batch: one result per envelope");
  if (fuzz::verbose())
    for (const auto& r : results)
      std::fprintf(stderr, "envelope: %s\n",
                   !r.is_ok()                    ? r.status().to_string().c_str()
                   : *r == ApplyOutcome::Applied ? "Applied"
                   : *r == ApplyOutcome::Held    ? "Held"
                                                 : "Duplicate");
  // Whatever was applied, a second batch of the same is only duplicates
  // (or the same refusals): nothing applies twice.
  const auto again = peer->apply_batch(envelopes);
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].is_ok() && *results[i] == ApplyOutcome::Applied && again[i].is_ok() &&
        *again[i] == ApplyOutcome::Applied)
      fuzz::broken("an envelope applied twice");
  fuzz::read_back(*peer.replica);
  return 0;
}
