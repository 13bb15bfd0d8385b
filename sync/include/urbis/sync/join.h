// Joining a space by invite code, without I/O: the protocol both the
// command line (`urbis space join`, node/cli/invite.cc) and the browser
// client (wasm/src/client.cc) speak, so the rules and the words of its
// refusals are written once. The host moves frames; this decides.
//
// 1. As the invite (its key derived from the code), sync the space from the
//    node into `store`: the node serves the space to the invite key, a
//    member until redeemed or expired. `store` is a scratch replica (the
//    command line, or a browser whose replica holds the space already), or
//    the device's own.
// 2. Once the session is Live with the space, build the redeem there
//    (Replica::redeem_invite: not stored) and push it in the same session.
// 3. Accepted: the node's Ack of the redeem names the invite key at seq 1,
//    and `store` holds the redeem as the node sent it back, with its
//    receipt (the node, a witness the invite names, stored it); the host
//    then takes `store`'s log as the device's. Refused: an Error about the redeem, the space not served, or
//    the redeem not buildable; refusal() says why in words for a person.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "urbis/invite.h"
#include "urbis/replica.h"
#include "urbis/sync/session.h"

namespace urbis::sync {

class JoinSession {
 public:
  enum class State { Syncing, Pushed, Accepted, Refused };

  // `store`, `env` and `invite` (invite_identity(secret), the session's
  // signer) are borrowed and outlive the join. `node`: how messages name the
  // node ("the node", or its URL).
  JoinSession(Replica& store, Env& env, const InviteSecret& secret, const Identity& invite, std::string node);
  JoinSession(const JoinSession&) = delete;
  JoinSession& operator=(const JoinSession&) = delete;

  // The first frames to send. Call once.
  std::vector<Bytes> start();
  // One frame from the node: what to send back in reply.frames. A failed
  // session (reply.status) refuses the join too.
  Reply receive(ByteView frame);

  State state() const { return state_; }
  bool done() const { return state_ == State::Accepted || state_ == State::Refused; }
  // Whether the node synced the space with the invite key. A refusal
  // without it is not final: the code may have been redeemed by this very
  // device in a join whose Ack was lost (the host then syncs as the device).
  bool served() const { return served_; }
  // Refused: why, in the words a person reads (Expired, NotAMember "this
  // invite code has already been used", UnknownSpace naming the space, or
  // the refusal as it came).
  const Status& refusal() const { return refusal_; }
  const std::optional<CommitInfo>& redeem() const { return redeem_; }
  const InviteSecret& secret() const { return secret_; }
  const Session& session() const { return session_; }

 private:
  void refuse(Status why);

  Env& env_;
  Replica& store_;
  InviteSecret secret_;
  DeviceKey invite_;
  std::string node_;
  Session session_;
  State state_ = State::Syncing;
  bool served_ = false;
  bool acked_ = false;  // the node's Ack named the invite key
  std::optional<CommitInfo> redeem_;
  Status refusal_;
};

}  // namespace urbis::sync
