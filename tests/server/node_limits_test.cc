// node/server/node_limits.h: the token buckets behind --max-frames-per-second
// and --max-bytes-per-second, and the throttle of refusal log lines, on a
// clock the test moves.
#include <doctest/doctest.h>

#include <chrono>

#include "node_limits.h"

using namespace urbis::server;
using namespace std::chrono_literals;

namespace {

// A clock that stands still until the test moves it.
struct TestClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<TestClock>;
  static constexpr bool is_steady = true;
  static inline time_point current{};
  static time_point now() { return current; }
  static void advance(duration d) { current += d; }
};

}  // namespace

TEST_CASE("token bucket: a full burst, then the rate, never more than the burst") {
  BasicTokenBucket<TestClock> frames(100, 10);  // 100 a second, bursts of 10
  for (int i = 0; i < 10; ++i) CHECK(frames.try_take(1));
  CHECK_FALSE(frames.try_take(1));  // the burst is spent
  TestClock::advance(10ms);         // one token comes back
  CHECK(frames.try_take(1));
  CHECK_FALSE(frames.try_take(1));
  TestClock::advance(1h);  // a long quiet time refills to the burst only
  for (int i = 0; i < 10; ++i) CHECK(frames.try_take(1));
  CHECK_FALSE(frames.try_take(1));
  // A refused take takes nothing.
  TestClock::advance(50ms);  // 5 tokens
  CHECK_FALSE(frames.try_take(6));
  CHECK(frames.try_take(5));
}

TEST_CASE("token bucket: take() goes into debt and says how long to wait") {
  BasicTokenBucket<TestClock> bytes(1000, 1000);  // 1000 bytes a second
  CHECK(bytes.take(1000) == TestClock::duration::zero());
  CHECK(bytes.take(500) == std::chrono::duration_cast<TestClock::duration>(500ms));
  // The debt is paid by time: after the wait, the next small take waits only for itself.
  TestClock::advance(500ms);
  CHECK(bytes.take(100) == std::chrono::duration_cast<TestClock::duration>(100ms));
}

TEST_CASE("token bucket: a rate of 0 is no limit") {
  BasicTokenBucket<TestClock> none(0, 0);
  for (int i = 0; i < 100000; ++i) REQUIRE(none.try_take(1e9));
  CHECK(none.take(1e12) == TestClock::duration::zero());
}

TEST_CASE("log throttle: one line a second, the next one counts what was kept back") {
  BasicLogThrottle<TestClock> throttle;
  uint64_t suppressed = 99;
  CHECK(throttle.admit(suppressed));
  CHECK(suppressed == 0);
  for (int i = 0; i < 41; ++i) CHECK_FALSE(throttle.admit(suppressed));
  TestClock::advance(999ms);
  CHECK_FALSE(throttle.admit(suppressed));
  TestClock::advance(1ms);
  CHECK(throttle.admit(suppressed));
  CHECK(suppressed == 42);
  TestClock::advance(5s);
  CHECK(throttle.admit(suppressed));
  CHECK(suppressed == 0);
}
