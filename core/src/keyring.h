// The space keys a replica holds: per (space row, key epoch), each key once,
// in the order this replica learned them. A replica fills it from the grants
// sealed to its device (Replica::Impl::remember_grant) and reads it to open
// content (find) and to write (writing). Keys are SpaceKeys, so every copy,
// including those a growing vector leaves behind and those clear() drops, is
// wiped when it goes (crypto.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "crypto.h"
#include "membership.h"

namespace urbis {

class Keyring {
 public:
  // Holds `key` for (space, epoch); false when it was held already.
  bool add(int64_t space, uint32_t epoch, const SpaceKey& key) {
    auto& list = keys_[{space, epoch}];
    if (std::find(list.begin(), list.end(), key) != list.end()) return false;
    list.push_back(key);
    return true;
  }

  // The keys of (space, epoch), oldest first; nullptr when none is held.
  const std::vector<SpaceKey>* find(int64_t space, uint32_t epoch) const {
    auto it = keys_.find({space, epoch});
    return it == keys_.end() || it->second.empty() ? nullptr : &it->second;
  }

  // The key to write with in (space, epoch): the one named `key_id`
  // (key_id_of), or, when the space names none yet, the last learned;
  // nullptr when that key is not held.
  const SpaceKey* writing(int64_t space, uint32_t epoch, const Bytes& key_id) const {
    const auto* keys = find(space, epoch);
    if (!keys) return nullptr;
    if (key_id.empty()) return &keys->back();
    for (const auto& k : *keys)
      if (key_id_of(k) == key_id) return &k;
    return nullptr;
  }

  // Calls f(epoch, keys) for every epoch of `space` with keys held, in
  // epoch order.
  template <typename F>
  void each_epoch(int64_t space, F&& f) const {
    for (auto it = keys_.lower_bound({space, 0}); it != keys_.end() && it->first.first == space; ++it)
      f(it->first.second, it->second);
  }

  // Drops (and so wipes) every key: after a refused change whose grants were
  // opened, the replica forgets all and reloads what its store holds.
  void clear() { keys_.clear(); }

  size_t size() const {
    size_t n = 0;
    for (const auto& [where, list] : keys_) n += list.size();
    return n;
  }

 private:
  std::map<std::pair<int64_t, uint32_t>, std::vector<SpaceKey>> keys_;
};

}  // namespace urbis
