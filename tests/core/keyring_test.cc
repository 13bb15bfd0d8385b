// The keyring (core/src/keyring.h): space keys per (space, epoch), each once,
// the writing key by key id, and forgetting.
#include <cstdint>

#include "crypto.h"
#include "keyring.h"
#include "membership.h"
#include "test_util.h"

namespace urbis {
namespace {

SpaceKey key_of(uint8_t fill) {
  SpaceKey k{};
  k.fill(fill);
  return k;
}

TEST_CASE("keyring: a key is held once per space and epoch, oldest first") {
  crypto_init();
  Keyring ring;
  CHECK(ring.find(1, 1) == nullptr);
  CHECK(ring.add(1, 1, key_of(0xa1)));
  CHECK_FALSE(ring.add(1, 1, key_of(0xa1)));  // the same key again
  CHECK(ring.add(1, 1, key_of(0xa2)));        // a second key of the epoch (two admins rotated at once)
  CHECK(ring.add(1, 2, key_of(0xa1)));        // the same bytes under another epoch count apart
  CHECK(ring.add(2, 1, key_of(0xb1)));        // and under another space
  CHECK(ring.size() == 4);
  const auto* keys = ring.find(1, 1);
  REQUIRE(keys != nullptr);
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0] == key_of(0xa1));
  CHECK((*keys)[1] == key_of(0xa2));
  CHECK(ring.find(1, 3) == nullptr);
  CHECK(ring.find(3, 1) == nullptr);
}

TEST_CASE("keyring: many keys of one epoch survive the vector's growth") {
  crypto_init();
  Keyring ring;
  for (int i = 0; i < 100; ++i) CHECK(ring.add(7, 1, key_of(static_cast<uint8_t>(i))));
  const auto* keys = ring.find(7, 1);
  REQUIRE(keys != nullptr);
  REQUIRE(keys->size() == 100);
  for (int i = 0; i < 100; ++i) CHECK((*keys)[static_cast<size_t>(i)] == key_of(static_cast<uint8_t>(i)));
}

TEST_CASE("keyring: the writing key is the one the space names, else the last learned") {
  crypto_init();
  Keyring ring;
  CHECK(ring.writing(1, 1, {}) == nullptr);
  ring.add(1, 1, key_of(1));
  ring.add(1, 1, key_of(2));
  ring.add(1, 1, key_of(3));
  const SpaceKey* named = ring.writing(1, 1, key_id_of(key_of(2)));
  REQUIRE(named != nullptr);
  CHECK(*named == key_of(2));
  const SpaceKey* last = ring.writing(1, 1, {});
  REQUIRE(last != nullptr);
  CHECK(*last == key_of(3));
  // A key id this replica holds no key for: no key to write with (the
  // replica then refuses with NoKey rather than writing under another key).
  CHECK(ring.writing(1, 1, key_id_of(key_of(9))) == nullptr);
  CHECK(ring.writing(1, 2, key_id_of(key_of(2))) == nullptr);
}

TEST_CASE("keyring: clear forgets every key") {
  crypto_init();
  Keyring ring;
  ring.add(1, 1, key_of(1));
  ring.add(2, 5, key_of(2));
  ring.clear();
  CHECK(ring.size() == 0);
  CHECK(ring.find(1, 1) == nullptr);
  CHECK(ring.writing(2, 5, {}) == nullptr);
  CHECK(ring.add(1, 1, key_of(1)));  // held again after a reload
}

}  // namespace
}  // namespace urbis
