// The sync session under fuzz (session_fuzz.cc), made the same way by the
// seed generator (make_corpus.cc), which records what a real peer sends it:
// on a deterministic env its challenge is the same in every process, so the
// recorded Hello/Auth of the seeds stay valid and the fuzzer starts past the
// handshake.
#pragma once

#include <memory>

#include "fuzz_util.h"
#include "urbis/sync/session.h"

namespace urbis::fuzz {

struct SessionHarness {
  Identity identity;  // the session's signer (borrowed by it)
  Peer peer;
  std::unique_ptr<sync::Session> session;
  std::vector<Bytes> started;  // what start() returned

  // Server: a key-less node's replica holding the world's log, signing with
  // the node key (as `urbis node` does); `variant`: open_spaces (seeding).
  // Client: the editor's device lacking the log's last change, syncing the
  // world's space; `variant`: discovery.
  SessionHarness(bool client, bool variant)
      : identity(identity_of(client ? kEditorSeed : kNodeSeed)),
        peer(client ? kEditorSeed : 0, client ? 201 : 200, kFuzzClockMs) {
    const World& w = world();
    reset_random();
    const size_t preload = client ? w.log.size() - 1 : w.log.size();
    for (size_t i = 0; i < preload; ++i) must(peer->apply(w.log[i]), "preload");
    sync::SessionOptions options;
    if (client) {
      options.discover = variant;
      session = std::make_unique<sync::Session>(*peer.replica, *peer.env, sync::Signer::of(identity),
                                                sync::SessionRole::Client, std::vector<SpaceId>{w.space}, options);
    } else {
      options.open_spaces = variant;
      session = std::make_unique<sync::Session>(*peer.replica, *peer.env, sync::Signer::of(identity),
                                                sync::SessionRole::Server, std::vector<SpaceId>{}, options);
    }
    started = session->start();
  }
};

}  // namespace urbis::fuzz
