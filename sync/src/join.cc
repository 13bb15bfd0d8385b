// Joining by invite code (join.h).
#include "urbis/sync/join.h"

#include <algorithm>

namespace urbis::sync {

JoinSession::JoinSession(Replica& store, Env& env, const InviteSecret& secret, const Identity& invite, std::string node)
    : env_(env),
      store_(store),
      secret_(secret),
      invite_(invite.device()),
      node_(std::move(node)),
      session_(store, env, Signer::of(invite), SessionRole::Client, std::vector<SpaceId>{secret.space}) {}

std::vector<Bytes> JoinSession::start() { return session_.start(); }

void JoinSession::refuse(Status why) {
  state_ = State::Refused;
  if (why.is_ok()) why = Status(Code::Internal, node_ + " refused the join without a reason");
  const bool pushed = redeem_.has_value();
  if (why.code() == Code::Expired || env_.now_ms() > secret_.expires_ms) {
    refusal_ = Status(Code::Expired, "this invite code expired at " + utc_time_text(secret_.expires_ms));
  } else if (why.code() == Code::BrokenChain || why.code() == Code::NotAMember) {
    // The node holds another redeem of this invite, or no longer counts the
    // invite a member.
    refusal_ = Status(Code::NotAMember, pushed ? "this invite code has already been used"
                                               : "this invite code has already been used (or was revoked, or "
                                                 "has not reached " +
                                                     node_ + " yet: the admin syncs after creating the invite)");
  } else if (why.code() == Code::UnknownSpace) {
    refusal_ = Status(Code::UnknownSpace, node_ + " does not hold space " + secret_.space.hex() +
                                              " yet: the admin syncs it there after creating the invite");
  } else {
    refusal_ = why;
  }
}

Reply JoinSession::receive(ByteView frame) {
  if (done()) return Reply{};
  const SpaceId space = secret_.space;
  Reply reply = session_.receive(frame);
  // The node's Ack of the redeem: its heads name the invite key at seq 1,
  // and the redeem it sent back (receipted, before the Ack) is in `store`:
  // the node's word alone does not make a join (a store holding a space's
  // log without the redeem that makes this device a member is not a join).
  // Whichever of the two arrives last completes it.
  if (state_ == State::Pushed && reply.status.is_ok() && reply.kind == FrameKind::Ack)
    for (const auto& [acked_space, heads] : reply.heads)
      if (auto it = heads.find(invite_); acked_space == space && it != heads.end() && it->second >= 1) acked_ = true;
  if (state_ == State::Pushed && acked_) {
    auto held = store_.version_vector(space);
    if (held.is_ok() && held->count(invite_) && held->at(invite_) >= 1) state_ = State::Accepted;
  }
  if (state_ == State::Accepted) return reply;
  if (!reply.status.is_ok()) {
    refuse(reply.status);
    return reply;
  }
  if (state_ == State::Pushed) {
    // The node's Error about the space, after the push: the redeem's refusal.
    if (reply.peer_error && (!reply.space || *reply.space == space)) refuse(*reply.peer_error);
    return reply;
  }
  const auto& errors = session_.peer_errors();
  if (session_.state() != SessionState::Live) return reply;
  const auto synced = session_.synced_spaces();
  served_ = std::find(synced.begin(), synced.end(), space) != synced.end();
  if (!served_) {
    refuse(errors.empty() ? Status(Code::NotAMember, "the node does not serve the invite") : errors.back());
    return reply;
  }
  auto built = store_.redeem_invite(secret_);
  if (!built.is_ok()) {
    refuse(built.status());
    return reply;
  }
  redeem_ = std::move(built).value();
  reply.frames.push_back(changes_frame(space, redeem_->envelope));
  state_ = State::Pushed;
  return reply;
}

}  // namespace urbis::sync
