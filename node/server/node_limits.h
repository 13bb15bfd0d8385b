// What a node lets one peer use, and the meters that enforce it: pure
// values and arithmetic, no sockets, with the clock a template parameter so
// tests drive time (tests/node/server_unit_test.cc).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "urbis/replica.h"

namespace urbis::server {

// What one node and one connection may use; 0 for a rate means no limit.
struct NodeLimits {
  size_t max_connections = 10'000;                              // WebSocket sync sessions at once
  uint64_t max_frames_per_second = 2'000;                       // per connection; a burst of as many
  uint64_t max_bytes_per_second = 64u << 20;                    // per connection; beyond, reads slow down
  size_t max_batch_envelopes = 4'096;                           // envelopes in one Changes frame
  size_t max_spaces = 10'000;                                   // spaces in one Want, and synced in one session
  size_t max_held_changes = ReplicaOptions{}.max_held_changes;  // per space (the core's bound)
};
// Plain HTTP connections allowed beyond max_connections, so /healthz,
// /metrics and the 503 itself still get answered at the limit.
constexpr size_t kHttpHeadroom = 64;
// A peer that does not read what the node sends is not read either: while
// more than max_frame_bytes wait to be written to it, the node reads nothing
// more from it, and after this long without the queue draining it closes.
constexpr auto kStalledPeerLimit = std::chrono::seconds(60);

// A token bucket: `rate` tokens a second, holding at most `burst` (full at
// first); a rate of 0 never runs dry. `Clock` has a static now() (a
// std::chrono clock, or a test's).
template <typename Clock>
class BasicTokenBucket {
 public:
  BasicTokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst), last_(Clock::now()) {}
  // Takes `n` tokens if the bucket holds them; false (taking none) if not.
  bool try_take(double n) {
    if (rate_ <= 0) return true;
    refill();
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  // Takes `n` tokens, into debt if need be; how long until the debt is paid.
  typename Clock::duration take(double n) {
    if (rate_ <= 0) return Clock::duration::zero();
    refill();
    tokens_ -= n;
    if (tokens_ >= 0) return Clock::duration::zero();
    return std::chrono::duration_cast<typename Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_));
  }

 private:
  void refill() {
    const auto now = Clock::now();
    tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  double rate_, burst_, tokens_;
  typename Clock::time_point last_;
};
using TokenBucket = BasicTokenBucket<std::chrono::steady_clock>;

// For log lines an attacker can cause at will: at most one a second. admit()
// says whether this one goes out, and with it how many were kept back since
// the last that did (its "suppressed" field).
template <typename Clock>
class BasicLogThrottle {
 public:
  // Whether to log now; `suppressed` is set to the count kept back.
  bool admit(uint64_t& suppressed) {
    const auto now = Clock::now();
    if (now < next_) {
      suppressed_ += 1;
      return false;
    }
    next_ = now + std::chrono::seconds(1);
    suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  typename Clock::time_point next_{};
  uint64_t suppressed_ = 0;
};
using LogThrottle = BasicLogThrottle<std::chrono::steady_clock>;

}  // namespace urbis::server
