// The real env (system clock, libsodium randomness) and the deterministic one.
#include "urbis/env.h"

#include <sodium.h>

#include <chrono>
#include <cstring>

namespace urbis {
namespace {

// Randomness: libsodium's randombytes is the source, but under Emscripten
// each call crosses into JavaScript (~90 us), which would cap commits at ~10k
// per second. So a 256-bit key is drawn from it and expanded with ChaCha20
// (a standard DRBG construction), rekeyed from the source every 1 MiB. The
// generator state is per thread, so the env is safe to share.
struct Drbg {
  static constexpr size_t kRekeyBytes = 1u << 20;
  uint8_t key[crypto_stream_chacha20_KEYBYTES] = {};
  uint64_t counter = 0;
  size_t produced = kRekeyBytes;  // forces keying on first use
  ~Drbg() { sodium_memzero(key, sizeof key); }

  void fill(std::span<uint8_t> out) {
    if (out.empty()) return;
    if (out.size() > kRekeyBytes) {
      randombytes_buf(out.data(), out.size());
      return;
    }
    if (produced + out.size() > kRekeyBytes) {
      randombytes_buf(key, sizeof key);
      counter = 0;
      produced = 0;
    }
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
    std::memcpy(nonce, &counter, sizeof counter);
    ++counter;
    crypto_stream_chacha20(out.data(), out.size(), nonce, key);
    produced += out.size();
  }
};

class SystemEnv final : public Env {
 public:
  uint64_t now_ms() override {
    using namespace std::chrono;
    return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  }
  void random_bytes(std::span<uint8_t> out) override {
    thread_local Drbg drbg;
    drbg.fill(out);
  }
};

class DeterministicEnv final : public Env {
 public:
  DeterministicEnv(uint64_t seed, uint64_t start_ms, uint64_t tick_ms) : now_(start_ms), tick_(tick_ms) {
    std::memcpy(key_, &seed, sizeof seed);
  }
  uint64_t now_ms() override { return now_ += tick_; }
  void random_bytes(std::span<uint8_t> out) override {
    // One ChaCha20 stream per call, keyed by the seed, the nonce a counter.
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
    std::memcpy(nonce, &counter_, sizeof counter_);
    ++counter_;
    if (out.empty()) return;  // data() may be null: libsodium requires a buffer
    crypto_stream_chacha20(out.data(), out.size(), nonce, key_);
  }

 private:
  uint8_t key_[crypto_stream_chacha20_KEYBYTES] = {};
  uint64_t counter_ = 0;
  uint64_t now_;
  uint64_t tick_;
};

}  // namespace

Env& system_env() {
  static const int sodium_ready = sodium_init();  // randombytes needs it
  (void)sodium_ready;
  static SystemEnv env;
  return env;
}

std::unique_ptr<Env> make_deterministic_env(uint64_t seed, uint64_t start_ms, uint64_t tick_ms) {
  return std::make_unique<DeterministicEnv>(seed, start_ms, tick_ms);
}

}  // namespace urbis
