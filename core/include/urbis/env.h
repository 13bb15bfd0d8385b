// Env: how the core reaches the world. Time and randomness come only from
// here (persistence comes through the SQLite location given to Replica::open),
// so the same sources build natively and for wasm, and tests can replace the
// clock and the random source to make runs replayable.
//
// Thread-safety: an Env is used by one Replica at a time unless stated.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace urbis {

class Env {
 public:
  virtual ~Env() = default;
  // Wall-clock milliseconds since the Unix epoch. May go backwards; the
  // hybrid logical clock copes.
  virtual uint64_t now_ms() = 0;
  // Fills `out` with bytes from a cryptographically secure source (or, for
  // deterministic test envs, a seeded stream).
  virtual void random_bytes(std::span<uint8_t> out) = 0;
};

// The process-wide real env: system clock, and randomness from libsodium's
// randombytes expanded with ChaCha20 (per-thread state). Safe to share
// between replicas and threads.
Env& system_env();

// A replayable env for tests and benchmarks: randomness is a ChaCha20 stream
// keyed by `seed`; the clock starts at `start_ms` and advances by `tick_ms`
// on every read. Never use it for real keys.
std::unique_ptr<Env> make_deterministic_env(uint64_t seed, uint64_t start_ms = 1'700'000'000'000ull,
                                            uint64_t tick_ms = 1);

}  // namespace urbis
