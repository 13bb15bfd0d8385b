// Session: one sync connection between this replica and a peer, as a state
// machine over frames (sync/proto/urbis/sync.proto). Bytes in, bytes out: the
// host owns the transport (a WebSocket, a loopback queue), hands every frame
// it receives to receive(), and sends every frame a call returns, in order.
//
//   Session s(replica, env, Signer::of(identity), SessionRole::Client, {space});
//   send_all(s.start());
//   for each frame f from the peer:
//     Reply r = s.receive(f);
//     send_all(r.frames);
//     if (!r.status) close();           // after sending r.frames (an Error)
//   after a local commit:  send_all(s.on_local_change(space));
//
// Protocol (per DESIGN.md, "Sync"): both sides send Hello with a random
// challenge; each side that has a device key signs the peer's challenge
// (Auth). The server requires the client's signature and serves a space only
// to a client its replica lists as a member of it (any role); writes are
// checked by the core (Replica::apply_batch refuses changes whose author is
// not a member with a write role). The client then sends Want (its version
// vector per space); the server answers with its Want for the spaces it
// agrees to sync, and each side streams what the other lacks, bounded:
// batches of at most max_batch_bytes, at most max_batches_in_flight of them
// unacknowledged, each fetched with Replica::changes_since from the vector
// tracked for the peer (never the whole divergence at once). A Live marker
// ends each side's catch-up of a space; new local changes then go out through
// on_local_change()/poll(). Everything is idempotent: after a disconnect a
// new Session simply starts over, and its Want resumes where the last
// applied change left off.
//
// Discovery: a client with SessionOptions::discover syncs every space its
// replica holds and asks the server for every space the server would serve
// it (a device learns the spaces it was added to; a node peer learns all).
// Spaces that appear later, on either side, are proposed to the peer with a
// Want of their own when on_local_change()/poll() sees them.
//
// Trusted peers: a server serves every space, and accepts changes to every
// space, from a device listed in SessionOptions::trusted_peers (another node
// replicating with this one: it still cannot read content, and the core
// still verifies every change it sends).
//
// A server opened without an identity (a key-less node) sends no Auth: it
// authenticates clients but is not authenticated itself.
//
// New spaces (seeding): a space the server does not hold yet is accepted
// only from a client SessionOptions::may_create_spaces admits, and only with
// its genesis authored by that client, the space's creator (a space id is
// derived from its creator's key, so no one can relay another device's
// genesis); a trusted peer node may seed any space. It is served back only to
// members once it exists.
//
// Unsolicited spaces (the device side): a discovering client keeps a space
// it neither held nor named, offered by the server, only if the space's log
// makes this replica's device a member: when the server's Live for it
// arrives (the server has sent all of it) and the device is no member, the
// space is dropped from the replica (Replica::drop_space) and refused for the
// rest of the session. A session cut before that Live leaves the space
// stored: the next discovering session drops, before its Want, every held
// space whose log never made the device a member (Replica::member_by_log; a
// removed member keeps what it held). SessionOptions::keep_unsolicited_spaces turns this off
// for a node's link to a node that trusts it (a node is member of nothing).
// A host that copies the replica elsewhere asks judging() (hold the space's
// changes back until the verdict) and dropped_spaces() (purge its copies):
// the browser client does (wasm/README.md, "Durability").
//
// What the peer says it holds (its Want's heads) is believed only as far as
// it proves it: once the peer's Live for a space has arrived, a head it
// claimed above what this replica then holds (it would have sent those
// changes) is unproven, and the session sends that author's whole chain
// (duplicates cost bandwidth, never state). An Ack only frees a window slot:
// its heads never advance the peer's vector, so a lying Ack cannot make the
// session skip a change.
//
// Wire form: Changes frames go to a peer whose Hello lists
// FEATURE_COMPACT_CHANGES in the compact form (sync.proto, CompactEnvelope):
// per frame, an author table, and per envelope only what the receiver cannot
// work out from the frame (space, author key, and the prev_hash and seq of an
// author's chain continued in the frame are left out; HLCs are deltas). The
// receiver rebuilds the exact envelope bytes before the replica sees them,
// and refuses a frame with an entry it cannot rebuild (Malformed, nothing of
// it applied). A peer that does not list the feature gets the plain form.
//
// Hostile bytes: before the handshake completes only Hello, Auth and Error
// are accepted, each at most max_handshake_frame_bytes. After it, each frame
// is walked on the wire (peek_frame, no allocation) and its repeated fields
// counted against the limits in SessionOptions before it is parsed.
//
// Errors: a malformed, oversized or out-of-order frame, a bad signature, or
// an Error frame from the peer without a space fail the session: receive()
// returns the Error frame to send and a non-ok status, and the session
// refuses every later frame. A refused change or space produces an Error
// frame with that space and the core's code; the session continues.
//
// Thread-safety: none; one Session per connection, used from one thread at a
// time, with the Replica it was given (which outlives it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "urbis/env.h"
#include "urbis/identity.h"
#include "urbis/replica.h"
#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis::pb {
class Hello;
class Auth;
class Want;
class Changes;
class Ack;
}  // namespace urbis::pb

namespace urbis::sync {

// The protocol version this build speaks (Hello.version), and the only one
// it accepts: a Hello of another version fails the session InvalidArgument,
// naming both versions and the side to upgrade (the older). Releases evolve
// the protocol within one version by Hello.features (a side sends a new form
// only to a peer that lists it), so clients and nodes of different releases
// that speak this version sync (docs/operations.md, "Upgrade").
inline constexpr uint32_t kProtocolVersion = 1;

// The session compact form: the most author keys the tables of all spaces
// hold in one direction of a session (sync.proto, Changes.reset).
inline constexpr size_t kMaxSessionAuthors = 8192;

// The compact form's running state of one space and direction (session.cc).
struct CompactCodec;

enum class SessionRole { Client, Server };

enum class SessionState {
  Handshaking,    // Hello/Auth not complete
  Authenticated,  // server: waiting for the client's Want
  CatchingUp,     // Wants exchanged, some space not yet caught up both ways
  Live,           // every synced space caught up both ways; pushes continue
  Failed,         // closed by an error (ours or the peer's)
};

// How the session proves its device key: the key and an Ed25519 signer.
struct Signer {
  DeviceKey device;
  std::function<std::array<uint8_t, 64>(ByteView)> sign;
  // Signs with `identity`, which must outlive the Signer (it is borrowed).
  static Signer of(const Identity& identity);
};

struct SessionOptions {
  // Frames larger than this are refused (TooLarge) and fail the session.
  size_t max_frame_bytes = 17u << 20;
  // Before the handshake completes (Hello, Auth, a closing Error): a Hello
  // is under 80 bytes, an Auth under 110.
  size_t max_handshake_frame_bytes = 512;
  // Counted on the wire before a frame is parsed (beyond: TooLarge, and the
  // session fails). Envelopes in one Changes frame; author heads in one Ack
  // (an Ack names at most one head per author of the batch it answers).
  size_t max_envelopes_per_frame = 4096;
  // Spaces in one Want, and spaces synced in one session.
  size_t max_spaces = 10'000;
  // Author heads in one Want, over all its spaces (a node's link states
  // every space it holds: 10,000 spaces of 26 writers each fit).
  size_t max_heads_per_frame = 1u << 18;
  // Envelope bytes per Changes frame (a single larger envelope goes alone).
  size_t max_batch_bytes = 256u << 10;
  // Changes frames sent per space and not yet acknowledged.
  size_t max_batches_in_flight = 4;
  // Client: sync every space the replica holds and every space the server
  // offers (see "Discovery" above), besides the spaces given to the session.
  bool discover = false;
  // Server: devices (peer nodes) that may sync every space without being
  // members of it.
  std::vector<DeviceKey> trusted_peers;
  // Server: who may seed a space the replica does not hold (always with its
  // own genesis, see "New spaces"): every authenticated client when true;
  // else a trusted peer, a device in space_creators, or a member (any role)
  // of a space the replica already holds.
  bool open_spaces = false;
  std::vector<DeviceKey> space_creators;
  // Client with discover: keep spaces the server offers unasked although
  // this device is no member of them (a node's link to a node that trusts it).
  bool keep_unsolicited_spaces = false;
  // Offer (Hello.features) and, to a peer that offers it too, send the
  // compact form of Changes frames. Off: this side sends and asks for the
  // plain form only (it still reads the compact form).
  bool compact_changes = true;
  // With compact_changes: offer (FEATURE_SESSION_COMPACT) and, to a peer
  // that offers it too, use the session compact form: a space's author
  // table and compact state run on across its frames (sync.proto), so a
  // live push of one edit carries neither its author key nor its prev_hash.
  bool session_compact = true;
  // Client with discover: a space held here for which this returns true is
  // left alone, neither offered nor dropped, while it does (the browser
  // client's join stores the space before this device is a member).
  std::function<bool(const SpaceId&)> withheld;
};

// What a frame holds, read off the wire without parsing it (peek_frame).
// Values are the field numbers of pb::Frame's oneof.
enum class FrameKind : int { None = 0, Hello = 1, Auth, Want, Changes, Ack, Error, Live };

struct FramePeek {
  FrameKind kind = FrameKind::None;  // the message parsing would keep (the last one)
  size_t envelopes = 0;              // in Changes, both forms (every occurrence: protobuf merges them)
  size_t authors = 0;                // Changes: author table entries (compact form)
  size_t spaces = 0;                 // SpaceVersion entries in Want
  size_t heads = 0;                  // AuthorSeq entries in Want (all spaces) and in Ack
  std::optional<SpaceId> space;      // Changes, Ack or Live: the space named (last one)
  int32_t error_code = 0;            // Error: its code
};

// Walks a serialized pb::Frame with a CodedInputStream, reading tags and
// skipping fields (no allocation, no copy), and counts what parsing it would
// allocate. nullopt when the bytes are not a well-formed protobuf message at
// the wire level (parsing would fail too). Every host that looks into a frame
// before (or instead of) handing it to a Session uses this.
std::optional<FramePeek> peek_frame(ByteView frame);

// A serialized Error frame about no space (the session ends): what a host
// sends when it refuses a connection before or outside a Session (a node at
// its rate limit).
Bytes error_frame(Code code, const std::string& message);

struct SessionCounters {
  uint64_t changes_sent = 0;
  uint64_t changes_received = 0;   // applied (or held for a predecessor)
  uint64_t changes_duplicate = 0;  // already stored
  uint64_t changes_refused = 0;    // refused by the core or by membership
  uint64_t spaces_dropped = 0;     // client: unsolicited spaces not kept (no member)
  uint64_t claims_distrusted = 0;  // client: peer heads found unproven at its Live
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// What receive() returns: frames to send (in order, even on failure), and
// whether the session goes on. On a non-ok status, send the frames, then close.
struct [[nodiscard]] Reply {
  std::vector<Bytes> frames;
  Status status;
  // What the frame received was and did, so a host need not read frames
  // (filled once the frame passed the limits and parsed; kind None before):
  FrameKind kind = FrameKind::None;
  std::optional<SpaceId> space;  // the one it concerns: Changes, Ack, Live, an Error about one space
  uint64_t stored = 0;           // Changes: changes new to the replica it stored (to push on)
  // Want and Ack: the heads the peer states per space, what it says it
  // holds (after applying, for an Ack); never proof of anything.
  std::vector<std::pair<SpaceId, VersionVector>> heads;
  std::optional<Status> peer_error;  // an Error about one space: the peer's code and message
};

class Session {
 public:
  // `replica` and `env` (randomness for the challenge) are borrowed and must
  // outlive the session. `signer` is nullopt for a replica without an
  // identity; a client needs one. `spaces`: a client syncs these; a server
  // serves only these, or any space a client asks for when empty.
  Session(Replica& replica, Env& env, std::optional<Signer> signer, SessionRole role, std::vector<SpaceId> spaces,
          SessionOptions options = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The first frames to send (Hello). Call once.
  std::vector<Bytes> start();
  // Handles one frame from the peer; see Reply.
  Reply receive(ByteView frame);
  // Frames pushing `space`'s changes the peer lacks (after a local commit, or
  // after another session applied changes to this replica). Empty unless the
  // space is being synced in this session.
  std::vector<Bytes> on_local_change(const SpaceId& space);
  // on_local_change for every synced space.
  std::vector<Bytes> poll();

  SessionState state() const { return state_; }
  SessionRole role() const { return role_; }
  const SessionCounters& counters() const { return counters_; }
  // Why the session failed (Ok while it has not).
  const Status& failure() const { return failure_; }
  // The peer's device key once authenticated (nullopt for a key-less server).
  std::optional<DeviceKey> peer_device() const;
  // The spaces synced with the peer (agreed in the Want exchange).
  std::vector<SpaceId> synced_spaces() const;
  // Error frames the peer sent about single spaces (the latest 64).
  const std::vector<Status>& peer_errors() const { return peer_errors_; }
  // Changes from the peer that this replica refused, one entry per code and
  // Changes frame, as sent to the peer in Error frames (the latest 64).
  const std::vector<Status>& refusals() const { return refusals_; }
  // Client: whether `space` was offered unasked and its verdict (kept or
  // dropped at the peer's Live, see "Unsolicited spaces") is still to come.
  // A host that persists changes elsewhere holds these spaces' changes back
  // until then (the browser client does, wasm/src/client.cc).
  bool judging(const SpaceId& space) const;
  std::vector<SpaceId> judging_spaces() const;
  // Client: every space this session dropped from the replica, in order
  // (judged at the peer's Live, or swept before the Want).
  const std::vector<SpaceId>& dropped_spaces() const { return dropped_order_; }
  // Both Hellos listed FEATURE_SESSION_COMPACT (and compact changes): the
  // Changes frames of this session use the session compact form.
  bool session_compact() const;

 private:
  struct SpaceSync {
    bool sent_want = false;    // our Want for this space went out
    bool peer_wanted = false;  // the peer's Want for this space arrived
    bool seeding = false;      // server: the space was unknown at the Want
    bool unsolicited = false;  // client: offered unasked, unknown here at the Want
    bool sent_live = false;
    bool peer_live = false;
    size_t in_flight = 0;   // Changes frames not yet acknowledged
    VersionVector peer_vv;  // what the peer holds, as far as we know
  };
  class Out;

  Reply fail(Out& out, Code code, std::string message);
  Status handle_hello(const pb::Hello& hello, Out& out);
  Status handle_auth(const pb::Auth& auth, Out& out);
  Status handle_want(const pb::Want& want, Out& out);
  Status handle_changes(const pb::Changes& changes, Out& out);
  Status handle_ack(const pb::Ack& ack, Out& out);
  void after_handshake_step(Out& out);
  void pump(const SpaceId& space, SpaceSync& sync, Out& out);
  void propose(const SpaceId& space, Out& out);
  void propose_new_spaces(Out& out);
  bool offers(const SpaceId& space);
  bool peer_may_sync(const SpaceId& space);
  bool peer_trusted() const;
  bool peer_may_create_spaces();
  Status check_limits(const FramePeek& peek, size_t frame_bytes) const;
  void on_peer_live(const SpaceId& space, Out& out);
  void distrust_unproven(const SpaceId& space, SpaceSync& sync);
  void update_state();

  Replica& replica_;
  Env& env_;
  std::optional<Signer> signer_;
  SessionRole role_;
  std::vector<SpaceId> configured_;
  SessionOptions options_;

  SessionState state_ = SessionState::Handshaking;
  Status failure_;
  SessionCounters counters_;
  std::array<uint8_t, 32> challenge_{};
  bool started_ = false;
  bool got_hello_ = false;
  bool peer_authenticated_ = false;
  bool got_want_ = false;        // the peer's (first) Want arrived
  bool peer_discovers_ = false;  // server: the client's Want asked for discovery
  uint32_t peer_features_ = 0;   // the peer's Hello.features

  std::optional<DeviceKey> peer_device_;
  std::array<uint8_t, 32> peer_challenge_{};
  std::map<SpaceId, SpaceSync> spaces_;
  // The session compact form's state per space (FEATURE_SESSION_COMPACT on
  // both sides), of the frames sent and of those read, whatever became of
  // the space since; and the author keys in all their tables.
  std::map<SpaceId, std::shared_ptr<CompactCodec>> sent_codecs_, read_codecs_;
  size_t sent_authors_ = 0, read_authors_ = 0;
  std::set<SpaceId> dropped_;           // client: unsolicited spaces dropped, refused from now on
  std::vector<SpaceId> dropped_order_;  // client: every space dropped (also swept ones), for the host
  std::optional<bool> may_create_;      // server: the creation policy's verdict, once asked
  std::vector<Status> peer_errors_;
  std::vector<Status> refusals_;
};

std::string_view state_name(SessionState state);

// A serialized Changes frame carrying one envelope of `space`: how a host
// pushes a change it made outside a Session (e.g. an invite's redeem, which
// is stored only once the peer has acknowledged it).
Bytes changes_frame(const SpaceId& space, const Bytes& envelope);

// The exact envelope bytes a Changes frame carries, in order, in either form
// (the compact one rebuilt as Session::receive does); Malformed when a
// compact entry cannot be rebuilt. For hosts and tests that read frames
// of the per-frame forms; the session compact form reads with ChangesReader.
Result<std::vector<Bytes>> envelopes_of(const pb::Changes& changes);

// Reads the Changes frames one side of a session sends, in the order sent,
// as Session::receive does: in the session compact form (`session_compact`,
// Session::session_compact() of either side) each after the same side's
// earlier frames of its space. For hosts and tests that read frames.
class ChangesReader {
 public:
  explicit ChangesReader(bool session_compact) : session_compact_(session_compact) {}
  Result<std::vector<Bytes>> envelopes(const pb::Changes& changes);

 private:
  bool session_compact_;
  std::map<std::string, std::shared_ptr<CompactCodec>> spaces_;
  size_t authors_ = 0;
};

}  // namespace urbis::sync
