// Shared by the libFuzzer targets (tests/fuzz/*_fuzz.cc) and the seed
// generator (make_corpus.cc): a small deterministic world (a space, its
// admin, an editor, a node key, an invite) and the framing that splits one
// fuzz input into several envelopes or frames.
//
// Everything is rebuilt from fixed seeds on deterministic envs, so a process
// makes the same bytes every time: an input replays alike in the fuzzer, in
// the replay runner and in the generator (which records what a real peer
// would send, so the seeds get past signatures and the handshake). A change
// to the core that alters the world's bytes leaves the committed seeds
// valid inputs, only shallower: regenerate them (tests/README.md).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sodium.h>

#include "urbis/env.h"
#include "urbis/identity.h"
#include "urbis/invite.h"
#include "urbis/replica.h"

namespace urbis::fuzz {

// Separates envelopes (or frames) in one input. Protobuf bytes contain it only
// by rare chance, and a mutation that breaks it merely merges two pieces.
inline constexpr std::string_view kSeparator = "|urbis|";

inline std::vector<Bytes> split(const uint8_t* data, size_t size) {
  std::vector<Bytes> out;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (;;) {
    const size_t next = in.find(kSeparator, at);
    const std::string_view piece = in.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at);
    out.emplace_back(piece.begin(), piece.end());
    if (next == std::string_view::npos) break;
    at = next + kSeparator.size();
  }
  return out;
}

inline std::string join(const std::vector<Bytes>& pieces) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i) out += kSeparator;
    out.append(pieces[i].begin(), pieces[i].end());
  }
  return out;
}

// libsodium's own randomness (crypto_box_seal's ephemeral keys, which no Env
// reaches) from a fixed stream (splitmix64: reproducible, not secure),
// restarted by reset_random() before the world is built and before every
// input, so the same input does the same thing in every process.
namespace detail {
inline uint64_t g_random_state = 0;
inline uint64_t next_random() {
  uint64_t z = (g_random_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline const char* random_name() { return "urbis-fuzz"; }
inline uint32_t random_u32() { return static_cast<uint32_t>(next_random()); }
inline void random_buf(void* out, size_t size) {
  auto* p = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(next_random());
}
inline randombytes_implementation g_random = {random_name, random_u32, nullptr, nullptr, random_buf, nullptr};
}  // namespace detail

inline void reset_random() {
  static const bool installed = randombytes_set_implementation(&detail::g_random) == 0;
  if (!installed) std::abort();
  detail::g_random_state = 0x75726269735F667Aull;
}

// URBIS_FUZZ_VERBOSE set: the targets print what each piece of an input did
// (to see how deep a seed gets; never while fuzzing).
inline bool verbose() {
  static const bool on = std::getenv("URBIS_FUZZ_VERBOSE") != nullptr;
  return on;
}

// A broken invariant: print it and abort, which libFuzzer reports as a crash
// (and the replay runner as a failed test).
[[noreturn]] inline void broken(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.is_ok()) {
    std::fprintf(stderr, "fuzz setup: %s: %s\n", what, r.status().to_string().c_str());
    std::abort();
  }
  return std::move(r).value();
}
inline void must(const Status& s, const char* what) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "fuzz setup: %s: %s\n", what, s.to_string().c_str());
    std::abort();
  }
}

// The world's clock: changes are dated from kWorldStartMs; the replicas under
// fuzz read a clock an hour later (nothing is ClockAhead, invites are live).
inline constexpr uint64_t kWorldStartMs = 1'700'000'000'000ull;
inline constexpr uint64_t kFuzzClockMs = kWorldStartMs + 3'600'000ull;

// Who is who: the identity each seed's deterministic env generates first.
inline constexpr uint64_t kAdminSeed = 1, kEditorSeed = 2, kNodeSeed = 3, kOutsiderSeed = 4;

inline Identity identity_of(uint64_t seed) {
  auto env = make_deterministic_env(seed, kWorldStartMs);
  return Identity::generate(*env);
}

// A replica on a deterministic env. `identity_seed` 0: key-less (a node's).
struct Peer {
  std::unique_ptr<Env> env;
  std::unique_ptr<Replica> replica;
  std::optional<Identity> identity;  // a copy of the replica's, for signing sessions

  Peer(uint64_t identity_seed, uint64_t env_seed, uint64_t start_ms) {
    env = make_deterministic_env(env_seed, start_ms);
    ReplicaOptions options;
    options.synchronous_full = false;
    options.materialize = identity_seed != 0;
    std::optional<Identity> id;
    if (identity_seed != 0) {
      id = identity_of(identity_seed);
      identity = identity_of(identity_seed);
    }
    replica = must(Replica::open(":memory:", std::move(id), *env, options), "open replica");
  }
  Replica* operator->() { return replica.get(); }
};

// The world: the admin's space with an editor, an invite witnessed by the
// node key, content by both, and (`extra`) changes made after `log` that a
// replica holding `log` lacks.
struct World {
  SpaceId space;
  std::vector<Bytes> log;    // every change, in an order in which they apply
  std::vector<Bytes> extra;  // later changes by the admin and the editor
  std::string invite_code;
};

inline const World& world() {
  static const World w = [] {
    reset_random();
    World out;
    Peer admin(kAdminSeed, kAdminSeed, kWorldStartMs);
    Peer editor(kEditorSeed, kEditorSeed, kWorldStartMs + 1000);
    out.space = must(admin->create_space("fuzz"), "create_space");
    must(admin->set_role(out.space, identity_of(kEditorSeed).device(), Role::Editor), "set_role editor");
    Invite invite =
        must(admin->create_invite(out.space, Role::Commenter, 7 * 24 * 3600, {identity_of(kNodeSeed).device()}),
             "create_invite");
    out.invite_code = invite.code;
    Transaction tx = admin->begin(out.space);
    EntityId city = tx.create("city");
    tx.set_text(city, "name", "en", "Fuzzton");
    EntityId project = tx.create("project");
    tx.set_text(project, "title", "en", "Bridge", "en");
    tx.set_text(project, "title", "ko", "다리");
    tx.set(project, "city", city.hex());
    tx.add(project, "tags", "transport");
    must(admin->commit(tx), "admin commit");
    for (const Bytes& e : must(admin->changes_since(out.space, {}), "admin log"))
      must(editor->apply(e), "editor apply");
    Transaction edit = editor->begin(out.space);
    edit.set(project, "budget", 1200000);
    edit.remove(project, "tags", "transport");
    must(editor->commit(edit), "editor commit");
    out.log = must(editor->changes_since(out.space, {}), "world log");
    // Later changes: the admin's (a member added, then removed: a new key
    // epoch) and the editor's, each made without seeing the other's.
    const VersionVector known = must(editor->version_vector(out.space), "vv");
    for (const Bytes& e : out.log) (void)admin->apply(e);
    must(admin->set_role(out.space, identity_of(kOutsiderSeed).device(), Role::Viewer), "set_role viewer");
    must(admin->remove_member(out.space, identity_of(kOutsiderSeed).device()), "remove viewer");
    Transaction later = admin->begin(out.space);
    later.remove_entity(city);
    must(admin->commit(later), "admin later");
    Transaction more = editor->begin(out.space);
    more.set_text(project, "title", "fr", "Pont");
    must(editor->commit(more), "editor later");
    for (const Bytes& e : must(admin->changes_since(out.space, known), "admin extra")) out.extra.push_back(e);
    for (const Bytes& e : must(editor->changes_since(out.space, known), "editor extra")) out.extra.push_back(e);
    return out;
  }();
  return w;
}

// Reads everything a replica can say about its spaces (what a client or a
// node does after applying changes), so the fuzzers reach the read paths
// over whatever state the input left. Errors are fine; crashes are not.
inline void read_back(Replica& replica) {
  auto spaces = replica.spaces();
  if (!spaces.is_ok()) return;
  for (const SpaceInfo& s : *spaces) {
    (void)replica.members(s.id);
    (void)replica.state_hash(s.id);
    (void)replica.held_count(s.id);
    auto vv = replica.version_vector(s.id);
    (void)replica.changes_since(s.id, vv.is_ok() ? *vv : VersionVector{}, 64 << 10);
    Query q;
    q.limit = 5;
    (void)replica.find(s.id, q);
  }
}

}  // namespace urbis::fuzz
