// One client sync session with a node over a WebSocket (sync_client.cc),
// shared by `urbis sync` and `urbis space join`: connect, run a
// sync::Session with the given signer over the given replica and spaces,
// close. The Boost.Beast code stays in sync_client.cc.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "urbis/replica.h"
#include "urbis/sync/join.h"
#include "urbis/sync/session.h"

namespace urbis::cli {

struct SyncRequest {
  // The spaces to sync (sync::Session's `spaces`): the node agrees to those
  // the signer is a member of, or that it does not hold yet.
  std::vector<SpaceId> spaces = {};
  // Also every space the replica holds and every space the node serves the
  // signer (SessionOptions::discover), now and as they appear.
  bool discover = false;
  // Stay connected until SIGINT/SIGTERM, pushing local commits (polled) and
  // applying the node's live pushes; otherwise close once caught up.
  bool watch = false;
  // Without watch: called once, when the session is first caught up (Live,
  // every Changes frame acknowledged). The frames it returns are sent and the
  // session closes once caught up again (so a Changes frame among them is
  // acknowledged, or refused with an Error frame, first); with none it
  // closes at once.
  std::function<std::vector<Bytes>(const sync::Session&)> on_caught_up = nullptr;
  // Settle keys after concurrent membership changes: once caught up (and,
  // with watch, after changes arrive), Replica::heal on every synced space;
  // what it commits is sent in the same session (and acknowledged before a
  // session without watch closes). A no-op where heal returns false.
  bool heal = false;
  // For a wss:// URL: verify the node's certificate against this CA file
  // (PEM) instead of the system's store ($SSL_CERT_FILE, or /etc/ssl/certs).
  std::optional<std::string> ca_file = std::nullopt;
  // Join by invite instead (sync/join.h): its session replaces the one the
  // other fields describe (the replica and signer given are the join's), and
  // the connection closes once the join is accepted or refused (a refusal
  // is the join's to report, not a failure of the call).
  sync::JoinSession* join = nullptr;
};

// What a finished session did.
struct SyncResult {
  sync::SessionCounters counters;
  std::vector<SpaceId> synced_spaces;  // agreed with the node
  std::vector<Status> peer_errors;     // the node's Error frames about single spaces
  std::vector<Status> refusals;        // changes from the node this replica refused
  std::vector<SpaceId> settled;        // spaces whose keys heal settled (and sent), in order
  std::vector<Status> heal_errors;     // heal failures, one per space and attempt
};

// Connects to `url_text` (ws:// or wss://HOST:PORT/PATH), syncs as `request` says,
// closes. A network failure ends the command (CliError "Network"), and so
// does a session failure (its code). `replica` and the identity behind
// `signer` outlive the call.
SyncResult run_sync_session(const std::string& url_text, Replica& replica, const sync::Signer& signer,
                            SyncRequest request);

}  // namespace urbis::cli
