// Client: everything the browser worker's module holds — the unlocked
// identity, the replica (SQLite in Emscripten's in-memory file system), the
// open sync session — behind JSON methods and two outboxes (frames to send,
// envelopes to persist). c_api.cc exposes one process-wide Client as the
// module's flat C ABI; the Node unit tests drive the same code.
//
// Persistence contract (wasm/README.md, "Durability"): after every method,
// every change newly stored by the replica — local commits, membership
// changes, changes applied from the node — is in the log outbox exactly once,
// in an order in which it applies; except the changes of a space the node
// offered unasked, held back until the session keeps it (a device stores only
// spaces it is a member of, sync/session.h "Unsolicited spaces"): a space
// dropped instead never reaches the host, and takeEvents names it so the
// host can purge what an older store may hold of it. The JavaScript host appends them to
// IndexedDB and acknowledges a local edit only once that append is durable.
//
// Thread-safety: none (one worker, one thread).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "urbis/identity.h"
#include "urbis/invite.h"
#include "urbis/replica.h"
#include "urbis/status.h"
#include "urbis/sync/join.h"
#include "urbis/sync/session.h"

namespace urbis::wasm {

class Client {
 public:
  explicit Client(Env& env) : env_(env) {}

  // Runs `method` with `params`; see wasm/README.md for the list.
  Result<nlohmann::json> call(const std::string& method, const nlohmann::json& params);

  // One frame from the node for the open session. Frames to send go to the
  // frame outbox (also on failure, e.g. an Error frame); a non-ok status means
  // the session failed and the connection should close after sending them.
  Status receive(ByteView frame);

  // Applies envelopes read back from the persisted log (see c_api.h).
  Result<nlohmann::json> restore(const std::vector<Bytes>& envelopes);

  // One frame from the node for the join session (joinOpen). Frames to
  // send go to the join outbox; joinStatus tells how the join stands.
  Status join_receive(ByteView frame);

  std::vector<Bytes>& frame_outbox() { return frames_; }
  std::vector<Bytes>& log_outbox() { return log_; }
  std::vector<Bytes>& join_outbox() { return join_frames_; }

 private:
  // Joining a space by invite code (core/include/urbis/invite.h), as
  // `urbis space join` does, over a second connection the host opens:
  // 1. as the invite's key, sync the space from the node into the store
  //    (the node serves it to the invite, a member);
  // 2. build the redeem there (not stored) and push it; wait for the Ack;
  //    the receipted redeem the node sends back grants this device the
  //    space's keys, and the store materializes what it held unread;
  // 3. accepted: joinFinish hands the space's log to the host (into the log
  //    outbox: durable before joinSpace resolves).
  // The store is the replica itself when it does not hold the space: the log
  // is verified and stored once. Until joinFinish the space is the join's
  // alone: no log outbox, no snapshot (status' "judging" counts it), not
  // listed by spaces(); a join that ends otherwise (refused, cancelled,
  // abandoned) drops the space, so the replica holds nothing of it, as
  // before the join. A replica that holds the space already (a device that
  // lost access and keeps its log) joins through a scratch in-memory store
  // instead, copied into the replica once accepted, so that a failed join
  // cannot drop what it held.
  // A join by invite code in progress: the protocol is sync::JoinSession's
  // (shared with `urbis space join`); this owns its store and its key.
  struct Join {
    InviteSecret secret;
    std::unique_ptr<Identity> invite;  // the session's signer borrows it
    std::unique_ptr<Replica> scratch;  // null: the replica is the store
    bool dropped = false;              // the replica's copy was dropped (refused)
    std::unique_ptr<sync::JoinSession> session;
  };
  Result<nlohmann::json> join_open(const nlohmann::json& p);
  Result<nlohmann::json> join_finish();
  nlohmann::json join_status() const;
  // The join was refused: what the replica stored of its space goes.
  void join_refused();
  // Whether `space` is a join's, in the replica, not yet handed to the host.
  bool joining(const SpaceId& space) const;
  // Ends the join in progress, if any: a space it stored in the replica
  // is dropped (joinFinish never ran).
  void join_abandon();
  void forget_space(const SpaceId& space);

  // RPC methods (call()).
  Result<nlohmann::json> rpc_dirty_chunk_bytes(const nlohmann::json& p);
  Result<nlohmann::json> rpc_dirty_take(const nlohmann::json& p);
  Result<nlohmann::json> rpc_dirty_reset(const nlohmann::json& p);
  Result<nlohmann::json> rpc_replica_close(const nlohmann::json& p);
  Result<nlohmann::json> rpc_device(const nlohmann::json& p);
  Result<nlohmann::json> rpc_status(const nlohmann::json& p);
  Result<nlohmann::json> rpc_take_events(const nlohmann::json& p);
  Result<nlohmann::json> rpc_set_acked(const nlohmann::json& p);
  Result<nlohmann::json> rpc_spaces(const nlohmann::json& p);
  Result<nlohmann::json> rpc_create_space(const nlohmann::json& p);
  Result<nlohmann::json> rpc_add_member(const nlohmann::json& p);
  Result<nlohmann::json> rpc_remove_member(const nlohmann::json& p);
  Result<nlohmann::json> rpc_set_role(const nlohmann::json& p);
  Result<nlohmann::json> rpc_revoke_invite(const nlohmann::json& p);
  Result<nlohmann::json> rpc_create_invite(const nlohmann::json& p);
  Result<nlohmann::json> rpc_members(const nlohmann::json& p);
  Result<nlohmann::json> rpc_heal(const nlohmann::json& p);
  Result<nlohmann::json> rpc_seen(const nlohmann::json& p);
  Result<nlohmann::json> rpc_set_seen(const nlohmann::json& p);
  Result<nlohmann::json> rpc_state_hash(const nlohmann::json& p);
  Result<nlohmann::json> rpc_activity(const nlohmann::json& p);
  Result<nlohmann::json> rpc_session_open(const nlohmann::json& p);
  Result<nlohmann::json> rpc_checkpoint(const nlohmann::json& p);
  Result<nlohmann::json> rpc_join_open(const nlohmann::json& p);
  Result<nlohmann::json> rpc_join_status(const nlohmann::json& p);
  Result<nlohmann::json> rpc_join_finish(const nlohmann::json& p);
  Result<nlohmann::json> rpc_join_cancel(const nlohmann::json& p);
  Result<nlohmann::json> rpc_session_close(const nlohmann::json& p);
  Result<nlohmann::json> rpc_set_member(const nlohmann::json& p, bool add);
  Result<nlohmann::json> identity_create(const nlohmann::json& p);
  Result<nlohmann::json> identity_unlock(const nlohmann::json& p);
  Result<nlohmann::json> replica_open(const nlohmann::json& p);
  Result<nlohmann::json> put(const nlohmann::json& p);
  Result<nlohmann::json> get(const nlohmann::json& p);
  Result<nlohmann::json> remove(const nlohmann::json& p);
  Result<nlohmann::json> resolve(const nlohmann::json& p);
  Result<nlohmann::json> find(const nlohmann::json& p);
  Result<nlohmann::json> status();

  Result<Replica*> need_replica();
  Result<SpaceId> space_of(const nlohmann::json& p);
  // The existing entity a call names ({space, type, id}): get, remove, and
  // put of an id. NotFound when absent or of another type.
  struct Addressed {
    Replica* replica;
    SpaceId space;
    EntityId id;
    Entity entity;
  };
  Result<Addressed> addressed(const nlohmann::json& p);
  // Moves the changes of `space` not yet handed to the host into the log
  // outbox and counts them as an event.
  // A space the open session is still judging (offered unasked, verdict at
  // the node's Live) is skipped: its changes reach the host only once kept.
  Status collect_log(const SpaceId& space);
  Status collect_log_all();
  // Spaces the session dropped since the last look: forgotten here and
  // reported to the host (takeEvents' "dropped"), which purges its copies.
  void note_drops();
  // Ends the session; spaces it was still judging are dropped (their
  // changes never reached the host).
  void close_session();
  // After a local write to `space`: collect its log, push it to the peer.
  Status after_local_write(const SpaceId& space);
  // After a local commit to `space`: the envelope it made into the log
  // outbox (no query: a write costs the same whatever the space's history),
  // pushed to the peer; after_local_write when the host may lack more.
  Status after_commit(const SpaceId& space, const CommitInfo& info);
  void push_local_change(const SpaceId& space);
  // The node's heads for this device (its Want and Acks, Reply::heads):
  // only seen, never trusted for anything but the "pending" count.
  void note_heads_from_node(const sync::Reply& reply);
  // Last seen: the newest change time (ms) of the envelope's author in its
  // space, kept from every change stored (members' `lastSeen`).
  void note_seen(ByteView envelope);
  // An Error from the node about `space`: NotAMember for a space held here
  // means this device lost access to it (status' "refused").
  void note_refusal(const Status& error, const std::optional<SpaceId>& space);
  Result<uint64_t> pending();

  Env& env_;
  std::optional<Identity> identity_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<sync::Session> session_;
  std::vector<Bytes> frames_;       // to send, in order
  std::vector<Bytes> log_;          // to persist, in order
  std::vector<Bytes> join_frames_;  // to send on the join connection
  std::unique_ptr<Join> join_;
  std::map<SpaceId, VersionVector> logged_;                // what the host was handed
  std::map<SpaceId, uint64_t> acked_;                      // the node's head for this device, per space
  std::map<SpaceId, uint64_t> changed_;                    // changes per space since takeEvents
  std::vector<SpaceId> dropped_;                           // dropped since takeEvents
  size_t drops_seen_ = 0;                                  // of session_->dropped_spaces()
  std::set<SpaceId> live_;                                 // spaces the node sent all of, this session
  std::set<SpaceId> heal_due_;                             // synced since the last heal call
  std::set<SpaceId> refused_;                              // held here, refused by the node (NotAMember)
  std::map<SpaceId, std::map<DeviceKey, uint64_t>> seen_;  // newest change time (ms) per author
};

}  // namespace urbis::wasm
