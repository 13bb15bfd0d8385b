// Fuzz target `envelope`: hostile envelopes through Replica::apply_batch on a
// real replica (the core's whole apply path: parsing, signature, chain,
// membership, epochs, decryption, materialization), then every read.
//
// Input: a mode byte, then envelopes separated by fuzz::kSeparator.
//   bit 0: the replica is key-less (a node's: verify and store only), else
//          the editor's device (it decrypts and materializes);
//   bits 1..7: how many changes of the world's log it applied first (0..),
//          so inputs can build on a space it already holds.
// The replica and its clock are made afresh for every input: an input
// replays alike.
#include "fuzz_util.h"

using namespace urbis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fuzz::World& world = fuzz::world();
  fuzz::reset_random();  // after the world, which is built once per process
  const bool node = data[0] & 1;
  const size_t preload = std::min<size_t>(data[0] >> 1, world.log.size());
  fuzz::Peer peer(node ? 0 : fuzz::kEditorSeed, 100, fuzz::kFuzzClockMs);
  for (size_t i = 0; i < preload; ++i) fuzz::must(peer->apply(world.log[i]), "preload");

  const std::vector<Bytes> envelopes = fuzz::split(data + 1, size - 1);
  const auto results = peer->apply_batch(envelopes);
  if (results.size() != envelopes.size()) fuzz::broken("apply_batch: one result per envelope");
  if (fuzz::verbose())
    for (const auto& r : results)
      std::fprintf(stderr, "envelope: %s\n",
                   !r.is_ok() ? r.status().to_string().c_str()
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
