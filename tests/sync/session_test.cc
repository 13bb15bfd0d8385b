// Sessions joined by an in-process loopback: a pump shuttles frames between
// two Sessions until both are quiet, inspecting every frame on the way
// (sync/include/urbis/sync/session.h). No sockets, no threads: the same suite
// runs natively and under wasm.
#include "urbis/sync/session.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <tuple>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "forge_util.h"
#include "test_util.h"
#include "urbis/sync.pb.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace urbis::testing {
namespace {

using sync::Reply;
using sync::Session;
using sync::SessionOptions;
using sync::SessionRole;
using sync::SessionState;
using sync::Signer;

constexpr uint64_t kAdmin = 101, kEditor = 102, kViewer = 103, kOutsider = 104;

// A device with its replica and (a second handle on) its identity for signing.
struct Client {
  Device dev;
  Identity id;
  explicit Client(uint64_t seed) : dev(seed), id(identity_for_seed(seed)) {}
  Replica* operator->() { return dev.replica.get(); }
  std::unique_ptr<Session> session(const SpaceId& space, SessionOptions options = {}) {
    return std::make_unique<Session>(*dev.replica, *dev.env, Signer::of(id), SessionRole::Client,
                                     std::vector<SpaceId>{space}, options);
  }
};

// A key-less node: verifies and stores, cannot read. It takes new spaces
// from any device (SessionOptions::open_spaces) unless `open` is cleared.
struct Node {
  std::unique_ptr<Env> env = make_deterministic_env(999);
  std::unique_ptr<Replica> replica;
  bool open = true;
  Node() {
    auto r =
        Replica::open(":memory:", std::nullopt, *env, ReplicaOptions{.materialize = false, .synchronous_full = false});
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    replica = std::move(r).value();
  }
  std::unique_ptr<Session> session(SessionOptions options = {}) {
    options.open_spaces = options.open_spaces || open;
    return std::make_unique<Session>(*replica, *env, std::nullopt, SessionRole::Server, std::vector<SpaceId>{},
                                     options);
  }
};

pb::Frame parse_frame(const Bytes& b) {
  pb::Frame f;
  REQUIRE(f.ParseFromArray(b.data(), static_cast<int>(b.size())));
  return f;
}

Bytes frame_bytes(const pb::Frame& f) {
  std::string s = f.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

// What crossed the loopback. Side 0 is the first session given to pump().
struct Traffic {
  size_t flights = 0;    // bursts of frames delivered in one direction
  size_t delivered = 0;  // frames delivered
  bool dropped = false;  // the connection was cut at the delivery limit
  std::array<size_t, 2> wants{}, changes_frames{};
  std::array<int, 2> want_flight{-1, -1};
  int last_changes_flight = -1;
  size_t max_changes_per_call = 0;  // Changes frames produced by one call
  size_t largest_batch = 0;         // envelope bytes of a multi-envelope batch
  std::array<size_t, 2> changes_wire_bytes{}, changes_carried{}, compact_frames{};  // Changes frames' bytes, envelopes
  std::vector<std::pair<int, pb::Error>> errors;                                    // (sender side, Error)
  std::vector<Status> failures;                                                     // non-ok receive() statuses
};

// How the frames each session sends read (the session compact form runs
// on across a session's frames); a session's entry starts with connect().
std::map<const Session*, sync::ChangesReader>& readers() {
  static std::map<const Session*, sync::ChangesReader> r;
  return r;
}

void note(Traffic& t, int side, const Session& sender, const std::vector<Bytes>& frames, int flight) {
  size_t changes = 0;
  for (const Bytes& b : frames) {
    pb::Frame f = parse_frame(b);
    switch (f.msg_case()) {
      case pb::Frame::kWant:
        t.wants[side] += 1;
        if (t.want_flight[side] < 0) t.want_flight[side] = flight;
        break;
      case pb::Frame::kChanges: {
        changes += 1;
        t.changes_frames[side] += 1;
        t.last_changes_flight = flight;
        // Envelope bytes as stored (a compact frame's rebuilt), which the
        // batch bound counts.
        auto reader = readers().try_emplace(&sender, sender.session_compact()).first;
        auto envelopes = reader->second.envelopes(f.changes());
        REQUIRE_MESSAGE(envelopes.is_ok(), envelopes.status().to_string());
        size_t bytes = 0;
        for (const Bytes& e : *envelopes) bytes += e.size();
        if (envelopes->size() > 1) t.largest_batch = std::max(t.largest_batch, bytes);
        t.changes_wire_bytes[side] += b.size();
        t.changes_carried[side] += envelopes->size();
        t.compact_frames[side] += f.changes().compact_size() > 0 ? 1 : 0;
        break;
      }
      case pb::Frame::kError: t.errors.emplace_back(side, f.error()); break;
      default: break;
    }
  }
  t.max_changes_per_call = std::max(t.max_changes_per_call, changes);
}

// Shuttles frames between `a` and `b` (starting with what each has to send)
// until both are quiet, delivering at most `limit` frames: past it, the
// connection drops and everything in flight is lost.
Traffic pump(Session& a, Session& b, std::vector<Bytes> a_out, std::vector<Bytes> b_out, size_t limit = SIZE_MAX) {
  Traffic t;
  std::array<Session*, 2> s{&a, &b};
  std::array<std::vector<Bytes>, 2> pending{std::move(a_out), std::move(b_out)};
  note(t, 0, a, pending[0], 0);
  note(t, 1, b, pending[1], 0);
  for (int round = 0; round < 10'000; ++round) {
    if (pending[0].empty() && pending[1].empty()) return t;
    for (int side = 0; side < 2; ++side) {
      if (pending[side].empty()) continue;
      std::vector<Bytes> burst = std::move(pending[side]);
      pending[side].clear();
      t.flights += 1;
      const int other = 1 - side;
      for (const Bytes& frame : burst) {
        if (t.delivered == limit) {
          t.dropped = true;
          return t;
        }
        t.delivered += 1;
        Reply r = s[other]->receive(frame);
        if (!r.status.is_ok()) t.failures.push_back(r.status);
        note(t, other, *s[other], r.frames, static_cast<int>(t.flights));
        for (Bytes& f : r.frames) pending[other].push_back(std::move(f));
      }
    }
  }
  FAIL("the sessions never went quiet");
  return t;
}

// A session between two sessions from their start().
Traffic connect(Session& a, Session& b, size_t limit = SIZE_MAX) {
  readers().erase(&a);
  readers().erase(&b);
  auto a_out = a.start();
  auto b_out = b.start();
  return pump(a, b, std::move(a_out), std::move(b_out), limit);
}

void edit(Client& c, const SpaceId& space, const std::string& title) {
  Transaction tx = c->begin(space);
  EntityId e = tx.create("task");
  tx.set_text(e, "title", "en", title);
  tx.set(e, "notes", std::string(200, 'x'));
  URBIS_REQUIRE_OK(c->commit(tx));
}

uint64_t total(const VersionVector& vv) {
  uint64_t n = 0;
  for (const auto& entry : vv) n += entry.second;
  return n;
}

VersionVector vv_of(Replica& r, const SpaceId& space) {
  auto vv = r.version_vector(space);
  REQUIRE_MESSAGE(vv.is_ok(), vv.status().to_string());
  return *vv;
}

bool has_error(const Traffic& t, int side, Code code) {
  for (const auto& entry : t.errors)
    if (entry.first == side && entry.second.code() == static_cast<int>(code)) return true;
  return false;
}

// Admin A and editor B share a space with one project; node N holds nothing.
struct World {
  Client a{kAdmin}, b{kEditor};
  Node node;
  SpaceId space;
  World() {
    auto s = a->create_space("Plan");
    URBIS_REQUIRE_OK(s);
    space = *s;
    URBIS_REQUIRE_OK(a->add_member(space, b.dev.key, Role::Editor));
    edit(a, space, "first task");
  }
  // One complete session between `c` and the node; both must end live.
  Traffic sync(Client& c, SessionOptions options = {}) {
    auto cs = c.session(space, options);
    auto ns = node.session(options);
    Traffic t = connect(*cs, *ns);
    CHECK(cs->state() == SessionState::Live);
    CHECK(ns->state() == SessionState::Live);
    CHECK(t.failures.empty());
    return t;
  }
};

TEST_CASE("session: client and node catch up in one round trip after offline edits on both sides") {
  World w;
  w.sync(w.a);  // A seeds the node with the space
  w.sync(w.b);  // B learns it from the node
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));

  // Offline: both edit; B's edits reach the node, A's do not yet.
  for (int i = 0; i < 3; ++i) edit(w.a, w.space, "a offline " + std::to_string(i));
  for (int i = 0; i < 4; ++i) edit(w.b, w.space, "b offline " + std::to_string(i));
  w.sync(w.b);

  // A and the node each hold changes the other lacks.
  auto as = w.a.session(w.space);
  auto ns = w.node.session();
  Traffic t = connect(*as, *ns);
  CHECK(t.failures.empty());
  CHECK(as->state() == SessionState::Live);
  CHECK(ns->state() == SessionState::Live);
  CHECK(t.wants[0] == 1);
  CHECK(t.wants[1] == 1);
  // The node's changes answer A's Want; A's answer the node's Want, which
  // came back with them: catch-up takes one round trip after the Want.
  CHECK(t.last_changes_flight - t.want_flight[0] <= 2);
  CHECK(as->counters().changes_sent == 3);
  CHECK(as->counters().changes_received == 4);
  CHECK(ns->counters().changes_received == 3);
  CHECK(as->counters().changes_refused == 0);
  CHECK(as->counters().bytes_out == ns->counters().bytes_in);
  CHECK(ns->counters().bytes_out == as->counters().bytes_in);
  CHECK(as->peer_device() == std::nullopt);  // a key-less node signs nothing
  CHECK(ns->peer_device() == w.a.dev.key);

  // Client A -> node -> client B: the same state.
  w.sync(w.b);
  CHECK(vv_of(*w.b.dev.replica, w.space) == vv_of(*w.a.dev.replica, w.space));
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
  // Resuming with nothing new sends nothing but the handshake, Want and Live.
  Traffic again = w.sync(w.a);
  CHECK(again.changes_frames[0] + again.changes_frames[1] == 0);
}

TEST_CASE("session: live push after catch-up, A -> node -> B") {
  World w;
  w.sync(w.a);
  auto as = w.a.session(w.space);
  auto nas = w.node.session();
  auto bs = w.b.session(w.space);
  auto nbs = w.node.session();
  connect(*as, *nas);
  connect(*bs, *nbs);
  REQUIRE(as->state() == SessionState::Live);
  REQUIRE(bs->state() == SessionState::Live);
  REQUIRE(nbs->state() == SessionState::Live);
  const uint64_t b_caught_up = bs->counters().changes_received;

  for (int i = 0; i < 3; ++i) {
    edit(w.a, w.space, "live " + std::to_string(i));
    Traffic up = pump(*as, *nas, as->on_local_change(w.space), {});
    CHECK(up.changes_frames[0] == 1);
    // The host tells the node's other sessions that the store changed; the
    // session that brought the change has nothing to echo.
    CHECK(nas->on_local_change(w.space).empty());
    Traffic down = pump(*nbs, *bs, nbs->poll(), {});
    CHECK(down.changes_frames[0] == 1);
    CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
  }
  // And back: B's edit reaches A the same way.
  edit(w.b, w.space, "from b");
  pump(*bs, *nbs, bs->on_local_change(w.space), {});
  pump(*nas, *as, nas->on_local_change(w.space), {});
  CHECK(hash_of(*w.a.dev.replica, w.space) == hash_of(*w.b.dev.replica, w.space));
  for (Session* s : {as.get(), nas.get(), bs.get(), nbs.get()}) {
    CHECK(s->state() == SessionState::Live);
    CHECK(s->counters().changes_refused == 0);
  }
  CHECK(bs->counters().changes_received == b_caught_up + 3);
}

TEST_CASE("session: a non-member gets NotAMember and none of the space's changes") {
  World w;
  w.sync(w.a);
  Client outsider{kOutsider};
  auto os = outsider.session(w.space);
  auto ns = w.node.session();
  Traffic t = connect(*os, *ns);
  CHECK(t.failures.empty());
  CHECK(has_error(t, 1, Code::NotAMember));
  CHECK(t.changes_frames[1] == 0);
  CHECK(os->counters().changes_received == 0);
  CHECK(os->synced_spaces().empty());
  REQUIRE(os->peer_errors().size() == 1);
  CHECK(os->peer_errors()[0].code() == Code::NotAMember);
  CHECK(outsider->version_vector(w.space).code() == Code::UnknownSpace);

  // Pushing into the space anyway is refused; nothing is stored.
  const auto before = vv_of(*w.node.replica, w.space);
  auto log = w.a->changes_since(w.space, {});
  URBIS_REQUIRE_OK(log);
  pb::Frame f;
  f.mutable_changes()->set_space(id_str(w.space));
  for (const Bytes& e : *log) f.mutable_changes()->add_envelopes(e.data(), e.size());
  Reply r = ns->receive(frame_bytes(f));
  CHECK(r.status.is_ok());
  REQUIRE(!r.frames.empty());
  pb::Frame err = parse_frame(r.frames[0]);
  CHECK(err.error().code() == static_cast<int>(Code::NotAMember));
  CHECK(ns->counters().changes_refused == log->size());
  CHECK(vv_of(*w.node.replica, w.space) == before);
  // The session is still usable: later frames are handled, not refused.
  CHECK(ns->state() != SessionState::Failed);
}

TEST_CASE("session: a viewer's forged write is refused with NotAMember and the session continues") {
  World w;
  Client viewer{kViewer};
  URBIS_REQUIRE_OK(w.a->add_member(w.space, viewer.dev.key, Role::Viewer));
  w.sync(w.a);
  auto vs = viewer.session(w.space);
  auto ns = w.node.session();
  connect(*vs, *ns);
  REQUIRE(vs->state() == SessionState::Live);
  CHECK(hash_of(*viewer.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));

  // Correctly signed with the viewer's key and the space key it holds.
  auto epoch = w.a->space(w.space);
  URBIS_REQUIRE_OK(epoch);
  auto key = space_key(*w.a.dev.replica, w.space, viewer.id, epoch->epoch);
  REQUIRE(key.has_value());
  EntityId project = EntityId::from_hex("00112233445566778899aabbccddeeff").value();
  Bytes forged =
      forge_content(viewer.id, w.space, {1, {}}, epoch->epoch, body_setting(project, "project", "stage", "idea"), *key);
  pb::Frame f;
  f.mutable_changes()->set_space(id_str(w.space));
  f.mutable_changes()->add_envelopes(forged.data(), forged.size());
  const auto before = vv_of(*w.node.replica, w.space);
  Traffic t = pump(*vs, *ns, {frame_bytes(f)}, {});
  CHECK(t.failures.empty());
  CHECK(has_error(t, 1, Code::NotAMember));
  CHECK(ns->counters().changes_refused == 1);
  CHECK(vv_of(*w.node.replica, w.space) == before);
  CHECK(ns->state() == SessionState::Live);
  CHECK(vs->state() == SessionState::Live);

  // The same session still carries the admin's next change to the viewer.
  edit(w.a, w.space, "after the forgery");
  w.sync(w.a);
  Traffic down = pump(*ns, *vs, ns->poll(), {});
  CHECK(down.changes_frames[0] == 1);
  CHECK(hash_of(*viewer.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
}

TEST_CASE("session: a bad Auth signature fails the handshake") {
  World w;
  w.sync(w.a);
  // B claims its own key but signs with A's.
  Signer liar{w.b.dev.key, [&w](ByteView m) { return w.a.id.sign(m); }};
  Session bs(*w.b.dev.replica, *w.b.dev.env, liar, SessionRole::Client, {w.space});
  auto ns = w.node.session();
  Traffic t = connect(bs, *ns);
  REQUIRE(!t.failures.empty());
  CHECK(t.failures[0].code() == Code::BadSignature);
  CHECK(has_error(t, 1, Code::BadSignature));
  CHECK(ns->state() == SessionState::Failed);
  CHECK(bs.state() == SessionState::Failed);
  CHECK(bs.failure().code() == Code::BadSignature);
  CHECK(t.changes_frames[0] + t.changes_frames[1] == 0);
  CHECK(w.b->version_vector(w.space).code() == Code::UnknownSpace);

  // A server that signs is checked by the client the same way.
  Client s{kEditor};
  Signer wrong{s.dev.key, [&w](ByteView m) { return w.a.id.sign(m); }};
  Session server(*s.dev.replica, *s.dev.env, wrong, SessionRole::Server, {});
  auto as = w.a.session(w.space);
  (void)connect(*as, server);
  CHECK(as->state() == SessionState::Failed);
  CHECK(as->failure().code() == Code::BadSignature);
}

TEST_CASE("session: a client that signs with its key syncs with a server that signs too") {
  World w;
  SessionOptions open;
  open.open_spaces = true;  // A seeds the space on B
  Session server(*w.b.dev.replica, *w.b.dev.env, Signer::of(w.b.id), SessionRole::Server, {}, open);
  auto as = w.a.session(w.space);
  Traffic t = connect(*as, server);
  CHECK(t.failures.empty());
  CHECK(as->state() == SessionState::Live);
  CHECK(as->peer_device() == w.b.dev.key);
  CHECK(server.peer_device() == w.a.dev.key);
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
}

TEST_CASE("session: malformed, oversized and out-of-order frames give an Error and a non-ok status") {
  World w;
  SessionOptions small;
  small.max_frame_bytes = 1024;

  auto expect_error = [](const Reply& r, Code code) {
    CHECK(r.status.code() == code);
    REQUIRE(r.frames.size() == 1);
    pb::Frame f = parse_frame(r.frames[0]);
    REQUIRE(f.msg_case() == pb::Frame::kError);
    CHECK(f.error().code() == static_cast<int>(code));
    CHECK(f.error().space().empty());
  };
  {
    auto ns = w.node.session(small);
    (void)ns->start();
    expect_error(ns->receive(Bytes{0xff, 0xff, 0xff, 0xff}), Code::Malformed);
    CHECK(ns->state() == SessionState::Failed);
    Reply after = ns->receive(w.a.session(w.space)->start()[0]);
    CHECK(!after.status.is_ok());
    CHECK(after.frames.empty());
  }
  {
    auto ns = w.node.session(small);
    (void)ns->start();
    expect_error(ns->receive(Bytes(2000, 0x0a)), Code::TooLarge);
  }
  {
    auto ns = w.node.session(small);
    (void)ns->start();
    Bytes hello = w.a.session(w.space)->start()[0];
    hello.resize(hello.size() / 2);  // truncated
    expect_error(ns->receive(hello), Code::Malformed);
  }
  {
    auto ns = w.node.session(small);
    (void)ns->start();
    pb::Frame want;
    want.mutable_want()->add_spaces()->set_space(id_str(w.space));
    expect_error(ns->receive(frame_bytes(want)), Code::Forbidden);  // before Auth
  }
  {
    auto ns = w.node.session(small);
    (void)ns->start();
    expect_error(ns->receive(frame_bytes(pb::Frame{})), Code::Malformed);  // empty oneof
  }
}

// The protocol window (sync::kProtocolVersion, docs/operations.md "Upgrade"):
// exactly one version is spoken; another is refused at Hello, naming both
// versions and the side to upgrade, before anything is exchanged.
TEST_CASE("session: a Hello of another protocol version is refused, naming both versions and the side to upgrade") {
  World w;
  w.sync(w.a);  // the node holds the space
  edit(w.a, w.space, "written while the client was another release");
  const VersionVector node_before = vv_of(*w.node.replica, w.space);
  const std::string ours = std::to_string(sync::kProtocolVersion);

  // The client's Hello with `version`, as a client of another release sends it.
  auto hello_of_version = [&](uint32_t version) {
    auto cs = w.a.session(w.space);
    pb::Frame hello = parse_frame(cs->start().at(0));
    REQUIRE(hello.msg_case() == pb::Frame::kHello);
    hello.mutable_hello()->set_version(version);
    return frame_bytes(hello);
  };
  auto refusal = [&](Session& s, const Bytes& frame) {
    Reply r = s.receive(frame);
    CHECK(r.status.code() == Code::InvalidArgument);
    CHECK(s.state() == SessionState::Failed);
    REQUIRE(r.frames.size() == 1);
    pb::Frame f = parse_frame(r.frames[0]);
    REQUIRE(f.msg_case() == pb::Frame::kError);
    CHECK(f.error().code() == static_cast<int>(Code::InvalidArgument));
    CHECK(f.error().message() == r.status.message());  // the peer reads what this side logs
    return r.status.message();
  };
  const std::string newer = std::to_string(sync::kProtocolVersion + 1);
  const std::string older = std::to_string(sync::kProtocolVersion - 1);

  SUBCASE("a newer client: the server (the older side) is to be upgraded") {
    auto ns = w.node.session();
    (void)ns->start();
    const std::string m = refusal(*ns, hello_of_version(sync::kProtocolVersion + 1));
    INFO(m);
    std::string want = "unsupported protocol version ";
    want += newer;
    want += " (the client's): the server speaks protocol version ";
    want += ours;
    want += " only; upgrade the server to a release that speaks version ";
    want += newer;
    CHECK(m == want);
  }
  SUBCASE("an older client: the client is to be upgraded") {
    auto ns = w.node.session();
    (void)ns->start();
    const std::string m = refusal(*ns, hello_of_version(sync::kProtocolVersion - 1));
    INFO(m);
    CHECK(m.find("unsupported protocol version " + older) == 0);
    CHECK(m.find("upgrade the client to a release that speaks version " + ours) != std::string::npos);
  }
  SUBCASE("a client refuses a newer server's Hello the same way, and reads a server's refusal") {
    auto cs = w.a.session(w.space);
    (void)cs->start();
    auto ns = w.node.session();
    pb::Frame server_hello = parse_frame(ns->start().at(0));
    server_hello.mutable_hello()->set_version(sync::kProtocolVersion + 1);
    const std::string m = refusal(*cs, frame_bytes(server_hello));
    INFO(m);
    CHECK(m.find("(the server's): the client speaks protocol version " + ours) != std::string::npos);
    CHECK(m.find("upgrade the client to a release that speaks version " + newer) != std::string::npos);

    // The server's Error, as a client that speaks the server's version receives it.
    auto ns2 = w.node.session();
    (void)ns2->start();
    Reply refused = ns2->receive(hello_of_version(sync::kProtocolVersion + 1));
    REQUIRE(refused.frames.size() == 1);
    auto cs2 = w.a.session(w.space);
    (void)cs2->start();
    Reply read = cs2->receive(refused.frames[0]);
    CHECK(cs2->state() == SessionState::Failed);
    CHECK(read.status.message().find("peer: unsupported protocol version " + newer) == 0);
    CHECK(read.status.message().find("upgrade the server") != std::string::npos);
  }
  // Nothing was exchanged: the node still lacks A's new change, and a
  // client of the same version then syncs it as usual.
  CHECK(vv_of(*w.node.replica, w.space) == node_before);
  w.sync(w.a);
  CHECK(vv_of(*w.node.replica, w.space) == vv_of(*w.a.dev.replica, w.space));
  CHECK(vv_of(*w.node.replica, w.space) != node_before);
}

TEST_CASE("session: an interrupted transfer resumes in a new session; batches stay bounded") {
  World w;
  for (int i = 0; i < 40; ++i) edit(w.a, w.space, "task " + std::to_string(i));
  const uint64_t all = total(vv_of(*w.a.dev.replica, w.space));
  SessionOptions opts;
  opts.max_batch_bytes = 2048;
  opts.max_batches_in_flight = 2;

  auto as = w.a.session(w.space, opts);
  auto ns = w.node.session(opts);
  Traffic cut = connect(*as, *ns, 12);
  REQUIRE(cut.dropped);
  CHECK(ns->state() != SessionState::Live);
  const uint64_t stored = total(vv_of(*w.node.replica, w.space));
  CHECK(stored > 0);
  CHECK(stored < all);

  Traffic rest = w.sync(w.a, opts);
  CHECK(rest.wants[0] == 1);
  CHECK(total(vv_of(*w.node.replica, w.space)) == all);
  // Flow control: never more than the window of batches per call, each
  // within the byte bound.
  for (const Traffic* t : {&cut, &rest}) {
    CHECK(t->max_changes_per_call <= opts.max_batches_in_flight);
    CHECK(t->largest_batch <= opts.max_batch_bytes);
    CHECK(t->largest_batch > 0);
  }
  w.sync(w.b, opts);
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
}

TEST_CASE("session: a resumed session sends only what the peer still lacks") {
  World w;
  for (int i = 0; i < 20; ++i) edit(w.a, w.space, "task " + std::to_string(i));
  SessionOptions opts;
  opts.max_batch_bytes = 1500;
  opts.max_batches_in_flight = 1;
  auto as = w.a.session(w.space, opts);
  auto ns = w.node.session(opts);
  Traffic cut = connect(*as, *ns, 10);
  REQUIRE(cut.dropped);
  const uint64_t stored = total(vv_of(*w.node.replica, w.space));
  const uint64_t all = total(vv_of(*w.a.dev.replica, w.space));
  REQUIRE(stored < all);

  auto as2 = w.a.session(w.space, opts);
  auto ns2 = w.node.session(opts);
  (void)connect(*as2, *ns2);
  CHECK(as2->state() == SessionState::Live);
  CHECK(as2->counters().changes_sent == all - stored);
  CHECK(ns2->counters().changes_duplicate == 0);
}

// A key-less node that also has a transport key: it can open a session to
// another node as a client (a peer link) and be trusted by it.
struct PeerNode : Node {
  Identity id;
  explicit PeerNode(uint64_t seed) : id(identity_for_seed(seed)) {}
  std::unique_ptr<Session> link(SessionOptions options = {}) {
    options.discover = true;
    options.keep_unsolicited_spaces = true;  // a node is member of nothing
    return std::make_unique<Session>(*replica, *env, Signer::of(id), SessionRole::Client, std::vector<SpaceId>{},
                                     options);
  }
  std::unique_ptr<Session> serve(const DeviceKey& trusted) {
    SessionOptions options;
    options.trusted_peers = {trusted};
    return std::make_unique<Session>(*replica, *env, Signer::of(id), SessionRole::Server, std::vector<SpaceId>{},
                                     options);
  }
};

std::unique_ptr<Session> discovering(Client& c) {
  SessionOptions options;
  options.discover = true;
  return std::make_unique<Session>(*c.dev.replica, *c.dev.env, Signer::of(c.id), SessionRole::Client,
                                   std::vector<SpaceId>{}, options);
}

TEST_CASE("session: a discovering client learns the spaces it was added to, and only those") {
  World w;
  auto other = w.a->create_space("Secretariat only");
  URBIS_REQUIRE_OK(other);
  edit(w.a, *other, "not for B");
  auto as = discovering(w.a);
  auto nas = w.node.session();
  Traffic seed = connect(*as, *nas);
  CHECK(seed.failures.empty());
  CHECK(as->synced_spaces().size() == 2);  // A offered both of its spaces

  // B holds nothing and names nothing; it receives the space it is in.
  auto bs = discovering(w.b);
  auto nbs = w.node.session();
  Traffic t = connect(*bs, *nbs);
  CHECK(t.failures.empty());
  CHECK(t.errors.empty());
  CHECK(bs->state() == SessionState::Live);
  CHECK(nbs->state() == SessionState::Live);
  REQUIRE(bs->synced_spaces() == std::vector<SpaceId>{w.space});
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
  CHECK(w.b->version_vector(*other).code() == Code::UnknownSpace);

  // An outsider discovers nothing and is told nothing about the spaces.
  Client outsider{kOutsider};
  auto os = discovering(outsider);
  auto nos = w.node.session();
  Traffic o = connect(*os, *nos);
  CHECK(o.failures.empty());
  CHECK(o.changes_frames[1] == 0);
  CHECK(os->synced_spaces().empty());
  CHECK(os->state() == SessionState::Live);
  auto held = outsider->spaces();
  URBIS_REQUIRE_OK(held);
  CHECK(held->empty());
}

TEST_CASE("session: spaces that appear while a session is live are proposed and synced both ways") {
  World w;
  w.sync(w.a);
  auto bs = discovering(w.b);
  auto nbs = w.node.session();
  connect(*bs, *nbs);
  REQUIRE(bs->state() == SessionState::Live);
  REQUIRE(bs->synced_spaces().size() == 1);

  // A creates a space with B in it and brings it to the node over another session.
  auto fresh = w.a->create_space("Field office");
  URBIS_REQUIRE_OK(fresh);
  URBIS_REQUIRE_OK(w.a->add_member(*fresh, w.b.dev.key, Role::Editor));
  edit(w.a, *fresh, "made while B was connected");
  auto as = discovering(w.a);
  auto nas = w.node.session();
  connect(*as, *nas);
  REQUIRE(w.node.replica->version_vector(*fresh).is_ok());

  // The node's host tells B's session the store changed: the node proposes it.
  Traffic down = pump(*nbs, *bs, nbs->on_local_change(*fresh), {});
  CHECK(down.failures.empty());
  CHECK(down.wants[0] == 1);
  CHECK(down.wants[1] == 1);
  CHECK(hash_of(*w.b.dev.replica, *fresh) == hash_of(*w.a.dev.replica, *fresh));
  CHECK(bs->state() == SessionState::Live);

  // B creates a space of its own while connected: its poll proposes it.
  auto mine = w.b->create_space("B's notes");
  URBIS_REQUIRE_OK(mine);
  edit(w.b, *mine, "from B");
  Traffic up = pump(*bs, *nbs, bs->poll(), {});
  CHECK(up.failures.empty());
  CHECK(vv_of(*w.node.replica, *mine) == vv_of(*w.b.dev.replica, *mine));
  CHECK(nbs->state() == SessionState::Live);
  CHECK(bs->state() == SessionState::Live);

  // A space B is not in is never proposed to B.
  auto hidden = w.a->create_space("Not B's");
  URBIS_REQUIRE_OK(hidden);
  pump(*as, *nas, as->poll(), {});
  REQUIRE(w.node.replica->version_vector(*hidden).is_ok());
  CHECK(nbs->on_local_change(*hidden).empty());
}

TEST_CASE("session: a trusted peer node replicates every space; an untrusted one only seeds") {
  World w;
  w.sync(w.a);
  PeerNode regional{501}, edge{502};
  // The edge links to the regional node, which trusts it: every space flows,
  // though neither node can read any of them.
  {
    auto link = edge.link();
    auto serve = regional.serve(edge.id.device());
    // Regional learns the space from A first.
    auto as = w.a.session(w.space);
    auto ras = regional.session();
    connect(*as, *ras);
    REQUIRE(regional.replica->version_vector(w.space).is_ok());
    Traffic t = connect(*link, *serve);
    CHECK(t.failures.empty());
    CHECK(t.errors.empty());
    CHECK(link->state() == SessionState::Live);
    CHECK(vv_of(*edge.replica, w.space) == vv_of(*w.a.dev.replica, w.space));
  }
  // B, a client of the edge, writes while the link is down; the next link
  // carries it up.
  {
    auto bs = discovering(w.b);
    auto ebs = edge.session();
    connect(*bs, *ebs);
  }
  edit(w.b, w.space, "written behind the edge");
  {
    auto bs = w.b.session(w.space);
    auto ebs = edge.session();
    connect(*bs, *ebs);
    auto link = edge.link();
    auto serve = regional.serve(edge.id.device());
    Traffic t = connect(*link, *serve);
    CHECK(t.failures.empty());
    CHECK(serve->counters().changes_received == 1);
  }
  CHECK(vv_of(*regional.replica, w.space) == vv_of(*w.b.dev.replica, w.space));

  // An untrusted node is no member: it is offered nothing and may not write.
  PeerNode stranger{503};
  auto link = stranger.link();
  auto serve = regional.serve(edge.id.device());
  Traffic t = connect(*link, *serve);
  CHECK(t.failures.empty());
  CHECK(t.changes_frames[1] == 0);
  CHECK(link->synced_spaces().empty());
  CHECK(stranger.replica->version_vector(w.space).code() == Code::UnknownSpace);
}

// ---------------------------------------------------------------- hostile frames (issue 10, finding 5)

// `n` empty AuthorSeq entries (2 bytes each on the wire) in an Ack of `space`.
Bytes ack_of_empty_heads(const SpaceId& space, size_t n) {
  pb::Frame f;
  f.mutable_ack()->set_space(id_str(space));
  // Built by hand: the Ack's body, then Frame.ack's tag and length before it.
  std::string body = f.ack().SerializeAsString();
  body.reserve(body.size() + 2 * n);
  for (size_t i = 0; i < n; ++i) body += std::string("\x12\x00", 2);  // heads (2), length 0
  std::string out = "\x2a";                                           // Frame.ack: field 5, length-delimited
  google::protobuf::io::StringOutputStream raw(&out);
  {
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.WriteVarint32(static_cast<uint32_t>(body.size()));
  }
  out += body;
  return Bytes(out.begin(), out.end());
}

// A Want of one space with `n` heads, each a 32-byte author (one head per
// author key, the counter in its first bytes): what a peer would send if it
// claimed that many writers.
Bytes want_of_heads(const SpaceId& space, size_t n) {
  pb::Frame f;
  auto* sv = f.mutable_want()->add_spaces();
  sv->set_space(id_str(space));
  for (size_t i = 0; i < n; ++i) {
    auto* h = sv->add_heads();
    std::string author(32, '\0');
    for (size_t b = 0; b < 8; ++b) author[b] = static_cast<char>(i >> (8 * b));
    h->set_author(std::move(author));
    h->set_seq(1);
  }
  return frame_bytes(f);
}

// A node session whose client (A) has completed the handshake and its Want.
struct Authenticated {
  std::unique_ptr<Session> client, server;
  explicit Authenticated(World& w) {
    client = w.a.session(w.space);
    server = w.node.session();
    Traffic t = connect(*client, *server);
    REQUIRE(t.failures.empty());
    REQUIRE(server->state() == SessionState::Live);
  }
};

TEST_CASE("session: peek_frame counts repeated fields on the wire, as parsing would merge them") {
  World w;
  pb::Frame changes;
  changes.mutable_changes()->set_space(id_str(w.space));
  for (int i = 0; i < 3; ++i) changes.mutable_changes()->add_envelopes("e");
  const std::string one = changes.SerializeAsString();
  auto peek = sync::peek_frame(view_of(one + one));  // two occurrences: protobuf merges them
  REQUIRE(peek);
  CHECK(peek->kind == sync::FrameKind::Changes);
  CHECK(peek->envelopes == 6);
  CHECK(peek->space == w.space);
  pb::Frame want;
  for (int i = 0; i < 2; ++i) {
    auto* sv = want.mutable_want()->add_spaces();
    sv->set_space(id_str(w.space));
    for (int h = 0; h < 5; ++h) sv->add_heads()->set_seq(1);
  }
  peek = sync::peek_frame(view_of(one + want.SerializeAsString()));  // the last member of the oneof wins
  REQUIRE(peek);
  CHECK(peek->kind == sync::FrameKind::Want);
  CHECK(peek->spaces == 2);
  CHECK(peek->heads == 10);
  CHECK(peek->envelopes == 3);  // counted all the same: parsing allocates them before dropping them
  pb::Frame error;
  error.mutable_error()->set_code(static_cast<int32_t>(Code::Storage));
  peek = sync::peek_frame(view_of(error.SerializeAsString()));
  REQUIRE(peek);
  CHECK(peek->kind == sync::FrameKind::Error);
  CHECK(peek->error_code == static_cast<int32_t>(Code::Storage));
  // Truncated, a length past the end, a zero tag: not a frame.
  CHECK(!sync::peek_frame(view_of(one.substr(0, one.size() - 1))));
  CHECK(!sync::peek_frame(view_of(std::string("\x22\x7f\x0a", 3))));
  CHECK(!sync::peek_frame(view_of(std::string("\x00\x00", 2))));
  CHECK(sync::peek_frame(view_of(std::string()))->kind == sync::FrameKind::None);
}

TEST_CASE("session: a 16 MB Ack of 8 million empty heads is refused unparsed, before and after authentication") {
  World w;
  w.sync(w.a);
  const Hash node_before = hash_of(*w.node.replica, w.space);
  const VersionVector vv_before = vv_of(*w.node.replica, w.space);
  const Bytes huge = ack_of_empty_heads(w.space, 8'000'000);
  REQUIRE(huge.size() > 15'900'000);
  REQUIRE(huge.size() < SessionOptions{}.max_frame_bytes);
  {
    INFO("before Hello: the size cap of a handshake frame");
    auto ns = w.node.session();
    (void)ns->start();
    Reply r = ns->receive(huge);
    CHECK(r.status.code() == Code::TooLarge);
    CHECK(r.status.message().find("before authentication") != std::string::npos);
    CHECK(ns->state() == SessionState::Failed);
    // Even a small non-handshake frame is refused before authentication, unparsed.
    auto again = w.node.session();
    (void)again->start();
    CHECK(again->receive(ack_of_empty_heads(w.space, 100)).status.code() == Code::Forbidden);
  }
  {
    INFO("after authentication: the heads are counted on the wire first");
    Authenticated s(w);
    Reply r = s.server->receive(huge);
    CHECK(r.status.code() == Code::TooLarge);
    CHECK(r.status.message().find("Ack: heads 8000000") != std::string::npos);
    REQUIRE(r.frames.size() == 1);
    CHECK(parse_frame(r.frames[0]).error().code() == static_cast<int>(Code::TooLarge));
    CHECK(s.server->state() == SessionState::Failed);
  }
  {
    INFO("a Want with millions of heads, and a Want over the spaces limit");
    Authenticated s(w);
    Reply r = s.server->receive(want_of_heads(w.space, 300'000));
    CHECK(r.status.code() == Code::TooLarge);
    CHECK(r.status.message().find("Want: heads 300000") != std::string::npos);
    SessionOptions small;
    small.max_spaces = 3;
    auto cs = w.a.session(w.space);
    auto ns = w.node.session(small);
    REQUIRE(connect(*cs, *ns).failures.empty());
    pb::Frame many;
    for (int i = 0; i < 4; ++i)
      many.mutable_want()->add_spaces()->set_space(std::string(16, static_cast<char>('a' + i)));
    CHECK(ns->receive(frame_bytes(many)).status.code() == Code::TooLarge);
  }
  {
    INFO("the same with empty heads: 3 million in 6 MB");
    Authenticated s(w);
    pb::Frame want;
    want.mutable_want()->add_spaces()->set_space(id_str(w.space));
    std::string bytes = want.SerializeAsString();
    // Frame{want{spaces{space, heads x N}}} built by hand as above.
    std::string sv = want.want().spaces(0).SerializeAsString();
    for (int i = 0; i < 3'000'000; ++i) sv += std::string("\x12\x00", 2);
    std::string w_body, f_body;
    {
      google::protobuf::io::StringOutputStream o(&w_body);
      google::protobuf::io::CodedOutputStream c(&o);
      c.WriteTag(0x0a);
      c.WriteVarint32(static_cast<uint32_t>(sv.size()));
    }
    w_body += sv;
    {
      google::protobuf::io::StringOutputStream o(&f_body);
      google::protobuf::io::CodedOutputStream c(&o);
      c.WriteTag(0x1a);
      c.WriteVarint32(static_cast<uint32_t>(w_body.size()));
    }
    f_body += w_body;
    Reply r = s.server->receive(view_of(f_body));
    CHECK(r.status.code() == Code::TooLarge);
  }
  {
    INFO("Changes over the envelope limit, split over two occurrences");
    Authenticated s(w);
    pb::Frame half;
    half.mutable_changes()->set_space(id_str(w.space));
    const std::string e(1, 'e');
    for (int i = 0; i < 2049; ++i) half.mutable_changes()->add_envelopes(e);
    const std::string bytes = half.SerializeAsString() + half.SerializeAsString();
    CHECK(s.server->receive(view_of(bytes)).status.code() == Code::TooLarge);
  }
  {
    INFO("compact Changes over the envelope limit, plain and compact entries counted together");
    Authenticated s(w);
    pb::Frame f;
    f.mutable_changes()->set_space(id_str(w.space));
    const std::string e(1, 'e');
    for (int i = 0; i < 2049; ++i) f.mutable_changes()->add_compact()->set_envelope(e);
    for (int i = 0; i < 2048; ++i) f.mutable_changes()->add_envelopes(e);
    auto peek = sync::peek_frame(frame_bytes(f));
    REQUIRE(peek);
    CHECK(peek->envelopes == 4097);
    CHECK(s.server->receive(frame_bytes(f)).status.code() == Code::TooLarge);
  }
  {
    INFO("a compact author table over the limit");
    Authenticated s(w);
    pb::Frame f;
    f.mutable_changes()->set_space(id_str(w.space));
    const std::string a(1, 'a');
    for (int i = 0; i < 4097; ++i) f.mutable_changes()->add_authors(a);
    auto peek = sync::peek_frame(frame_bytes(f));
    REQUIRE(peek);
    CHECK(peek->authors == 4097);
    CHECK(s.server->receive(frame_bytes(f)).status.code() == Code::TooLarge);
  }
  CHECK(hash_of(*w.node.replica, w.space) == node_before);
  CHECK(vv_of(*w.node.replica, w.space) == vv_before);
  // A well-behaved client is served as before.
  edit(w.a, w.space, "after the hostile frames");
  w.sync(w.a);
  w.sync(w.b);
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
}

// ---------------------------------------------------------------- new spaces (finding 4)

TEST_CASE("session: a space is seeded only by its creator, and only by a device the policy admits") {
  World w;
  w.node.open = false;
  Client c{kOutsider};
  // C got a copy of A's whole log (say from a shared backup) and relays it.
  auto log = w.a->changes_since(w.space, {});
  URBIS_REQUIRE_OK(log);
  for (auto& r : c->apply_batch(*log)) REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  {
    INFO("a stranger on a closed node: the space is refused at the Want");
    auto cs = c.session(w.space);
    auto ns = w.node.session();
    Traffic t = connect(*cs, *ns);
    CHECK(t.failures.empty());
    CHECK(has_error(t, 1, Code::Forbidden));
    CHECK(t.changes_frames[0] == 0);
    CHECK(w.node.replica->version_vector(w.space).code() == Code::UnknownSpace);
  }
  {
    INFO("on an open node: C may seed spaces, but only its own; A's genesis relayed by C is refused");
    SessionOptions open;
    open.open_spaces = true;
    auto cs = c.session(w.space);
    auto ns = w.node.session(open);
    Traffic t = connect(*cs, *ns);
    CHECK(t.failures.empty());
    CHECK(has_error(t, 1, Code::Forbidden));
    CHECK(ns->counters().changes_received == 0);
    CHECK(w.node.replica->version_vector(w.space).code() == Code::UnknownSpace);
    auto held = w.node.replica->spaces();
    URBIS_REQUIRE_OK(held);
    CHECK(held->empty());
  }
  {
    INFO("a creator the node lists seeds its own space");
    SessionOptions listed;
    listed.space_creators = {w.a.dev.key};
    auto as = w.a.session(w.space);
    auto ns = w.node.session(listed);
    Traffic t = connect(*as, *ns);
    CHECK(t.failures.empty());
    CHECK(t.errors.empty());
    CHECK(vv_of(*w.node.replica, w.space) == vv_of(*w.a.dev.replica, w.space));
  }
  {
    INFO("a member of a space the node holds may create one; a stranger still may not");
    auto mine = w.b->create_space("B's own");
    URBIS_REQUIRE_OK(mine);
    auto bs = w.b.session(*mine);
    auto ns = w.node.session();
    Traffic t = connect(*bs, *ns);
    CHECK(t.failures.empty());
    CHECK(t.errors.empty());
    CHECK(w.node.replica->version_vector(*mine).is_ok());
    auto theirs = c->create_space("C's own");
    URBIS_REQUIRE_OK(theirs);
    auto cs = c.session(*theirs);
    auto ns2 = w.node.session();
    Traffic t2 = connect(*cs, *ns2);
    CHECK(has_error(t2, 1, Code::Forbidden));
    CHECK(w.node.replica->version_vector(*theirs).code() == Code::UnknownSpace);
  }
}

TEST_CASE("session: a seeding client's first change must be its own genesis; nothing else creates the space") {
  World w;
  Client c{kOutsider};
  auto log = w.a->changes_since(w.space, {});
  URBIS_REQUIRE_OK(log);
  SessionOptions open;
  open.open_spaces = true;
  // By hand after the handshake: C wants the unknown space (offered for
  // seeding on the open node), then pushes A's genesis behind a genesis of
  // its own that the core refuses (a bad signature).
  auto cs = c.session(w.space);
  auto ns = w.node.session(open);
  Traffic t = connect(*cs, *ns);
  REQUIRE(t.failures.empty());
  REQUIRE(ns->synced_spaces() == std::vector<SpaceId>{w.space});
  pb::Envelope bad = parse_envelope(log->front());
  bad.set_signature(std::string(64, 'x'));
  pb::Header h = parse_header(bad);
  h.set_author(id_str(c.dev.key));
  bad.set_header(h.SerializeAsString());
  pb::Frame f;
  f.mutable_changes()->set_space(id_str(w.space));
  const Bytes forged = serialize(bad);
  f.mutable_changes()->add_envelopes(forged.data(), forged.size());
  for (const Bytes& e : *log) f.mutable_changes()->add_envelopes(e.data(), e.size());
  Reply r = ns->receive(frame_bytes(f));
  CHECK(r.status.is_ok());
  CHECK(ns->counters().changes_refused == log->size() + 1);
  CHECK(w.node.replica->version_vector(w.space).code() == Code::UnknownSpace);
  // A's genesis first, relayed by C: refused as well.
  pb::Frame g;
  g.mutable_changes()->set_space(id_str(w.space));
  for (const Bytes& e : *log) g.mutable_changes()->add_envelopes(e.data(), e.size());
  r = ns->receive(frame_bytes(g));
  CHECK(r.status.is_ok());
  bool forbidden = false;
  for (const Bytes& b : r.frames)
    if (parse_frame(b).has_error()) forbidden |= parse_frame(b).error().code() == static_cast<int>(Code::Forbidden);
  CHECK(forbidden);
  CHECK(w.node.replica->version_vector(w.space).code() == Code::UnknownSpace);
}

// A malicious "node": a Server session that treats the device as a trusted
// peer, so it offers the device every space it holds, member or not.
TEST_CASE("session: a device keeps no space a node pushes unasked in which it is no member") {
  World w;
  Client evil{kOutsider};
  auto lure = evil->create_space("Phishing");
  URBIS_REQUIRE_OK(lure);
  edit(evil, *lure, "click here");
  auto lure_for_b = evil->create_space("Phishing naming B");
  URBIS_REQUIRE_OK(lure_for_b);
  URBIS_REQUIRE_OK(evil->add_member(*lure_for_b, w.b.dev.key, Role::Viewer));
  // B holds its own space already.
  w.sync(w.a);
  w.sync(w.b);
  auto b_spaces = w.b->spaces();
  URBIS_REQUIRE_OK(b_spaces);
  REQUIRE(b_spaces->size() == 1);
  const Hash b_hash = hash_of(*w.b.dev.replica, w.space);

  SessionOptions rogue;
  rogue.trusted_peers = {w.b.dev.key};
  rogue.open_spaces = true;
  Session node(*evil.dev.replica, *evil.dev.env, Signer::of(evil.id), SessionRole::Server, {}, rogue);
  auto bs = discovering(w.b);
  Traffic t = connect(*bs, node);
  CHECK(t.failures.empty());
  CHECK(has_error(t, 0, Code::NotAMember));  // B tells the node it did not keep the lure
  CHECK(bs->counters().spaces_dropped == 1);
  CHECK(bs->dropped_spaces() == std::vector<SpaceId>{*lure});  // what a host purges (the browser)
  CHECK(bs->judging_spaces().empty());                         // every verdict given
  CHECK(w.b->version_vector(*lure).code() == Code::UnknownSpace);
  // The space that names B is B's by its log (the honest node's creation
  // policy is what keeps strangers from making such spaces): kept.
  CHECK(w.b->version_vector(*lure_for_b).is_ok());
  URBIS_REQUIRE_OK(w.b->drop_space(*lure_for_b));
  auto after = w.b->spaces();
  URBIS_REQUIRE_OK(after);
  CHECK(after->size() == 1);
  CHECK(hash_of(*w.b.dev.replica, w.space) == b_hash);
  // Offered again in the same session: refused without being stored.
  edit(evil, *lure, "click here again");
  pump(node, *bs, node.on_local_change(*lure), {});
  CHECK(w.b->version_vector(*lure).code() == Code::UnknownSpace);
  CHECK(bs->state() != SessionState::Failed);

  // A session cut after the lure's changes but before the node's Live
  // leaves it stored; B's next discovering session drops it before its Want.
  // (Cut after 1, 2, ... frames until the lure is stored.)
  for (size_t limit = 1; limit < 60 && !w.b->version_vector(*lure).is_ok(); ++limit) {
    Session node2(*evil.dev.replica, *evil.dev.env, Signer::of(evil.id), SessionRole::Server, {}, rogue);
    auto cut = discovering(w.b);
    REQUIRE(connect(*cut, node2, limit).dropped);
    // Stored before the verdict: the session says it is still judging it
    // (a host holds its changes back, wasm/src/client.cc).
    if (w.b->version_vector(*lure).is_ok()) CHECK(cut->judging(*lure));
  }
  REQUIRE(w.b->version_vector(*lure).is_ok());  // stored, not yet judged
  auto next = discovering(w.b);
  auto ws = w.node.session();
  Traffic t2 = connect(*next, *ws);
  CHECK(t2.failures.empty());
  CHECK(next->counters().spaces_dropped == 1);
  CHECK(next->dropped_spaces() == std::vector<SpaceId>{*lure});  // swept before the Want
  CHECK(w.b->version_vector(*lure).code() == Code::UnknownSpace);
  CHECK(hash_of(*w.b.dev.replica, w.space) == b_hash);
}

// ---------------------------------------------------------------- lying acknowledgements (finding 3)

// A hand-driven key-less "node" for client A: its Hello, then whatever the
// test sends. Returns A's frames, parsed.
std::vector<pb::Frame> deliver(Session& s, const pb::Frame& f) {
  Reply r = s.receive(frame_bytes(f));
  REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
  std::vector<pb::Frame> out;
  for (const Bytes& b : r.frames) out.push_back(parse_frame(b));
  return out;
}

std::vector<uint64_t> seqs_sent(const std::vector<pb::Frame>& frames, const DeviceKey& author) {
  std::vector<uint64_t> out;
  for (const auto& f : frames)
    if (f.has_changes())
      for (const auto& e : f.changes().envelopes()) {
        pb::Header h = parse_header(parse_envelope(view_of(e)));
        if (h.author() == id_str(author)) out.push_back(h.seq());
      }
  return out;
}

TEST_CASE("session: lying heads and acknowledgements never make a client skip its changes") {
  World w;
  for (int i = 0; i < 3; ++i) edit(w.a, w.space, "a " + std::to_string(i));
  const uint64_t a_head = vv_of(*w.a.dev.replica, w.space)[w.a.dev.key];
  REQUIRE(a_head >= 4);
  const Hash a_hash = hash_of(*w.a.dev.replica, w.space);
  auto as = w.a.session(w.space);
  (void)as->start();
  pb::Frame hello;
  hello.mutable_hello()->set_version(sync::kProtocolVersion);
  hello.mutable_hello()->set_challenge(std::string(32, 'n'));
  auto sent = deliver(*as, hello);
  REQUIRE(!sent.empty());
  REQUIRE(sent.back().has_want());

  // The "node" claims to hold A's chain up to 1000 and a stranger's up to 7.
  DeviceKey stranger = identity_for_seed(kOutsider).device();
  pb::Frame want;
  auto* sv = want.mutable_want()->add_spaces();
  sv->set_space(id_str(w.space));
  for (const auto& [author, seq] : std::vector<std::pair<DeviceKey, uint64_t>>{{w.a.dev.key, 1000}, {stranger, 7}}) {
    auto* h = sv->add_heads();
    h->set_author(id_str(author));
    h->set_seq(seq);
  }
  sent = deliver(*as, want);
  CHECK(seqs_sent(sent, w.a.dev.key).empty());  // believed for now: nothing to send
  // It sends nothing and says it is done: its claim is unproven, A sends all.
  pb::Frame live;
  live.mutable_live()->set_space(id_str(w.space));
  sent = deliver(*as, live);
  std::vector<uint64_t> expected;
  for (uint64_t s = 1; s <= a_head; ++s) expected.push_back(s);
  CHECK(seqs_sent(sent, w.a.dev.key) == expected);
  CHECK(as->counters().claims_distrusted == 2);

  // Its Ack claims heads it was never sent: a later change still goes out.
  pb::Frame ack;
  ack.mutable_ack()->set_space(id_str(w.space));
  for (const auto& [author, seq] : std::vector<std::pair<DeviceKey, uint64_t>>{{w.a.dev.key, 5000}, {stranger, 99}}) {
    auto* h = ack.mutable_ack()->add_heads();
    h->set_author(id_str(author));
    h->set_seq(seq);
  }
  (void)deliver(*as, ack);
  edit(w.a, w.space, "after the lie");
  std::vector<pb::Frame> pushed;
  for (const Bytes& b : as->on_local_change(w.space)) pushed.push_back(parse_frame(b));
  CHECK(seqs_sent(pushed, w.a.dev.key) == std::vector<uint64_t>{a_head + 1});
  // Nothing the node said changed A's store beyond its own edit.
  CHECK(vv_of(*w.a.dev.replica, w.space).size() == 1);
  CHECK(hash_of(*w.a.dev.replica, w.space) != a_hash);  // the edit
  CHECK(as->state() != SessionState::Failed);
  // An honest node afterwards gets everything.
  w.sync(w.a);
  CHECK(vv_of(*w.node.replica, w.space) == vv_of(*w.a.dev.replica, w.space));
}

// ---------------------------------------------------------------- compact Changes frames (issue 13)

namespace compact {

// `n` edits of one field, a short value, on one entity A created before.
void one_field_edits(Client& c, const SpaceId& space, const EntityId& e, int n) {
  for (int i = 0; i < n; ++i) {
    Transaction tx = c->begin(space);
    tx.set(e, "status", i % 2 ? "open" : "done");
    URBIS_REQUIRE_OK(c->commit(tx));
  }
}

EntityId task(Client& c, const SpaceId& space) {
  Transaction tx = c->begin(space);
  EntityId e = tx.create("task");
  tx.set(e, "status", "new");
  URBIS_REQUIRE_OK(c->commit(tx));
  return e;
}

// Every envelope `r` holds of `space`, in log order.
std::vector<Bytes> log_of(Replica& r, const SpaceId& space) {
  auto log = r.changes_since(space, {});
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  return *log;
}

}  // namespace compact

TEST_CASE("session: a catch-up of one-field edits travels compact, rebuilds the exact envelopes, <= 220 bytes each") {
  World w;
  const EntityId e = compact::task(w.a, w.space);
  w.sync(w.a);
  w.sync(w.b);
  // A second node that, like a peer predating the compact form, offers only
  // the plain one (and so is sent only the plain one).
  SessionOptions plain;
  plain.compact_changes = false;
  Node old;
  auto sync_old = [&] {
    auto as = w.a.session(w.space);
    auto os = old.session(plain);
    Traffic t = connect(*as, *os);
    CHECK(t.failures.empty());
    CHECK(os->state() == SessionState::Live);
    CHECK(t.compact_frames[0] + t.compact_frames[1] == 0);
    return t;
  };
  sync_old();
  constexpr int kEdits = 40;
  compact::one_field_edits(w.a, w.space, e, kEdits);

  // A catches the node up: every Changes frame in the compact form.
  Traffic t = w.sync(w.a);
  CHECK(t.changes_frames[0] > 0);
  CHECK(t.compact_frames[0] == t.changes_frames[0]);
  REQUIRE(t.changes_carried[0] == static_cast<size_t>(kEdits));
  // The node holds byte for byte what A holds (hashes chain the log), and
  // B, caught up from the node in the compact form as well, the same state.
  CHECK(compact::log_of(*w.node.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));
  Traffic down = w.sync(w.b);
  CHECK(down.compact_frames[1] == down.changes_frames[1]);
  CHECK(compact::log_of(*w.b.dev.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));

  // The same edits in the plain form, to the old node.
  Traffic p = sync_old();
  REQUIRE(p.changes_carried[0] == static_cast<size_t>(kEdits));
  CHECK(compact::log_of(*old.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));

  // Bytes per change on the wire (whole Changes frames).
  const double compact_per_edit = static_cast<double>(t.changes_wire_bytes[0]) / kEdits;
  const double plain_per_edit = static_cast<double>(p.changes_wire_bytes[0]) / kEdits;
  const size_t stored = compact::log_of(*w.a.dev.replica, w.space).back().size();
  MESSAGE("one-field edit: envelope " << stored << " bytes; per change in a catch-up: plain " << plain_per_edit
                                      << ", compact " << compact_per_edit << " bytes on the wire");
  CHECK(compact_per_edit <= 220.0);
  CHECK(plain_per_edit > stored);

  // A side that does not offer it is sent the plain form, and sends it.
  compact::one_field_edits(w.a, w.space, e, 3);
  auto as2 = w.a.session(w.space, plain);
  auto ns2 = w.node.session();
  Traffic q = connect(*as2, *ns2);
  CHECK(q.failures.empty());
  CHECK(q.changes_carried[0] == 3);
  CHECK(q.compact_frames[0] + q.compact_frames[1] == 0);
  CHECK(compact::log_of(*w.node.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));
}

TEST_CASE("session: a compact entry that cannot be rebuilt fails the frame whole (Malformed); state unchanged") {
  World w;
  const EntityId e = compact::task(w.a, w.space);
  w.sync(w.a);
  w.sync(w.b);
  const VersionVector node_had = vv_of(*w.node.replica, w.space);
  compact::one_field_edits(w.a, w.space, e, 3);

  // A real compact frame: A answers a hand-driven "node" that offers the
  // compact form and holds what the node holds.
  auto as = w.a.session(w.space);
  (void)as->start();
  pb::Frame hello;
  hello.mutable_hello()->set_version(sync::kProtocolVersion);
  hello.mutable_hello()->set_challenge(std::string(32, 'n'));
  hello.mutable_hello()->set_features(pb::FEATURE_COMPACT_CHANGES);
  (void)deliver(*as, hello);
  pb::Frame want;
  auto* sv = want.mutable_want()->add_spaces();
  sv->set_space(id_str(w.space));
  for (const auto& [author, seq] : node_had) {
    auto* h = sv->add_heads();
    h->set_author(id_str(author));
    h->set_seq(seq);
  }
  pb::Frame good;
  for (const pb::Frame& f : deliver(*as, want))
    if (f.has_changes()) good = f;
  REQUIRE(good.has_changes());
  const pb::Changes& c = good.changes();
  REQUIRE(c.compact_size() == 3);
  CHECK(c.envelopes_size() == 0);
  CHECK(c.authors_size() == 1);
  CHECK(c.compact(0).seq() > 1);  // the first states its seq and prev_hash
  CHECK(c.compact(0).prev_hash().size() == 32);
  for (int i = 1; i < 3; ++i) {  // the others continue the chain
    CHECK(c.compact(i).seq() == 0);
    CHECK(c.compact(i).prev_hash().empty());
  }
  auto missing = w.a->changes_since(w.space, node_had);
  URBIS_REQUIRE_OK(missing);
  auto rebuilt = sync::envelopes_of(c);
  URBIS_REQUIRE_OK(rebuilt);
  CHECK(*rebuilt == *missing);

  // Each tampered copy goes to a node session B opened (B relays A's
  // changes, which a member may do).
  // The frame is of the per-frame form (the hand-driven node offered no
  // FEATURE_SESSION_COMPACT), so these sessions do not use the session form.
  SessionOptions frame_form;
  frame_form.session_compact = false;
  auto deliver_to_node = [&](const pb::Frame& f) {
    auto bs = w.b.session(w.space, frame_form);
    auto ns = w.node.session(frame_form);
    Traffic t = connect(*bs, *ns);
    REQUIRE(ns->state() == SessionState::Live);
    Reply r = ns->receive(frame_bytes(f));
    return std::make_pair(std::move(ns), std::move(r));
  };
  auto refused = [&](const pb::Frame& f, const std::string& because) {
    INFO(because);
    auto [ns, r] = deliver_to_node(f);
    CHECK(r.status.code() == Code::Malformed);
    CHECK(r.status.message().find("cannot be rebuilt") != std::string::npos);
    CHECK(ns->state() == SessionState::Failed);
    REQUIRE(r.frames.size() == 1);
    CHECK(parse_frame(r.frames[0]).error().code() == static_cast<int>(Code::Malformed));
    CHECK(vv_of(*w.node.replica, w.space) == node_had);
    CHECK(sync::envelopes_of(f.changes()).code() == Code::Malformed);
  };
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(1)->set_author(1);
    refused(f, "wrong author index (past the table)");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact()->DeleteSubrange(0, 1);
    refused(f, "seq left out, the previous change absent from the frame");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(0)->set_prev_hash(std::string(31, 'p'));
    refused(f, "prev_hash not of 32 bytes");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(2)->set_prev_hash(c.compact(0).prev_hash());
    refused(f, "prev_hash with seq left out");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(0)->set_seq(1);
    refused(f, "prev_hash at seq 1");
  }
  {
    // A receipt whose fields are out of number order parses, but is not
    // the canonical encoding the envelope was signed with.
    pb::Frame f = good;
    std::string receipt = std::string("\x10\x07", 2) + '\x0a' + char(32) + std::string(32, 'w');
    f.mutable_changes()->mutable_compact(0)->set_receipt(receipt);
    refused(f, "non-canonical receipt");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(0)->set_kind(9);
    refused(f, "unknown change kind");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(0)->set_envelope(missing->front().data(), missing->front().size());
    refused(f, "a whole envelope with other fields");
  }
  {
    pb::Frame f = good;
    f.mutable_changes()->add_envelopes(missing->front().data(), missing->front().size());
    auto [ns, r] = deliver_to_node(f);
    CHECK(r.status.code() == Code::Malformed);
    CHECK(vv_of(*w.node.replica, w.space) == node_had);
  }
  {
    INFO("an entry that rebuilds, to other bytes than A signed: the core refuses it, the session goes on");
    pb::Frame f = good;
    f.mutable_changes()->mutable_compact(2)->set_hlc(c.compact(2).hlc() + 2);
    auto [ns, r] = deliver_to_node(f);
    CHECK(r.status.is_ok());
    CHECK(ns->state() != SessionState::Failed);
    CHECK(ns->counters().changes_refused == 1);
    CHECK(ns->counters().changes_received == 2);
    auto now = vv_of(*w.node.replica, w.space);
    CHECK(now[w.a.dev.key] == node_had.at(w.a.dev.key) + 2);
  }
  // The untouched frame applies; B then reaches A's state through the node.
  auto [ns, r] = deliver_to_node(good);
  CHECK(r.status.is_ok());
  CHECK(ns->counters().changes_received == 1);  // the two before are stored since
  CHECK(compact::log_of(*w.node.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));
  w.sync(w.b);
  CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
}

TEST_CASE("session: live pushes in the session compact form carry no author key or prev_hash") {
  World w;
  const EntityId e = compact::task(w.a, w.space);
  w.sync(w.a);
  w.sync(w.b);
  // Live sessions A <-> node <-> B; and the same with the form off on A's
  // side (a release before it), which then sends and gets the frame form.
  auto run = [&](SessionOptions a_options, int edits) {
    auto as = w.a.session(w.space, a_options);
    auto nas = w.node.session();
    auto bs = w.b.session(w.space);
    auto nbs = w.node.session();
    Traffic t1 = connect(*as, *nas);
    Traffic t2 = connect(*bs, *nbs);
    REQUIRE((t1.failures.empty() && t2.failures.empty()));
    REQUIRE(as->state() == SessionState::Live);
    REQUIRE(bs->state() == SessionState::Live);
    CHECK(as->session_compact() == a_options.session_compact);
    CHECK(nbs->session_compact());
    size_t up_bytes = 0, down_bytes = 0;
    int bare = 0;  // pushes with neither an author key nor seq nor prev_hash
    for (int i = 0; i < edits; ++i) {
      compact::one_field_edits(w.a, w.space, e, 1);
      std::vector<Bytes> push = as->on_local_change(w.space);
      REQUIRE(push.size() == 1);
      const pb::Frame pushed = parse_frame(push[0]);
      const pb::Changes& c = pushed.changes();
      REQUIRE(c.compact_size() == 1);
      if (c.authors_size() == 0 && c.compact(0).seq() == 0 && c.compact(0).prev_hash().empty()) ++bare;
      Traffic up = pump(*as, *nas, std::move(push), {});
      CHECK(up.failures.empty());
      Traffic down = pump(*nbs, *bs, nbs->on_local_change(w.space), {});
      CHECK(down.failures.empty());
      REQUIRE(up.changes_carried[0] == 1);
      REQUIRE(down.changes_carried[0] == 1);
      up_bytes += up.changes_wire_bytes[0];
      down_bytes += down.changes_wire_bytes[0];
    }
    CHECK(compact::log_of(*w.b.dev.replica, w.space) == compact::log_of(*w.a.dev.replica, w.space));
    CHECK(hash_of(*w.b.dev.replica, w.space) == hash_of(*w.a.dev.replica, w.space));
    return std::make_tuple(static_cast<double>(up_bytes) / edits, static_cast<double>(down_bytes) / edits, bare);
  };
  constexpr int kEdits = 30;
  const auto [up, down, bare] = run({}, kEdits);
  SessionOptions frame_form;
  frame_form.session_compact = false;
  const auto [old_up, old_down, old_bare] = run(frame_form, kEdits);
  MESSAGE("live push of a one-field edit: A -> node " << up << " bytes, node -> B " << down
                                                      << " (frame form: " << old_up << ", " << old_down << ")");
  // Only a session's first push of an author states its key, seq and prev_hash.
  CHECK(bare == kEdits - 1);
  CHECK(old_bare == 0);
  // Issue 13 asks <= 220 bytes: 218.4 in urbis-net-bench (edits a few ms
  // apart), ~220.6 here (several edits in one millisecond: an HLC counter
  // travels too). What is left (space 18, nonce 26, signature 66, ciphertext
  // ~100, HLC 2-4, framing 6) is signed or encrypted but for the space id.
  // A guard against losing the gain:
  CHECK(up < 230.0);
  CHECK(down < 230.0);
  CHECK(old_up > up + 60);  // the key and prev_hash (34 bytes each) no longer travel
}

TEST_CASE("session: the session compact form's author tables are bounded; a reset frees them") {
  World w;
  (void)compact::task(w.a, w.space);
  w.sync(w.a);
  auto bs = w.b.session(w.space);
  auto ns = w.node.session();
  REQUIRE(connect(*bs, *ns).failures.empty());
  REQUIRE(ns->session_compact());
  // A frame of A's genesis sent whole, with 3,000 made-up author keys: the
  // keys count against the session's tables though no entry names them.
  const Bytes genesis = compact::log_of(*w.a.dev.replica, w.space).front();
  int frames = 0;
  auto frame = [&](bool reset) {
    ++frames;
    pb::Frame f;
    auto* c = f.mutable_changes();
    c->set_space(id_str(w.space));
    c->set_reset(reset);
    for (int i = 0; i < 3000; ++i) {
      std::string key(32, '\0');
      for (size_t b = 0; b < 4; ++b) key[b] = static_cast<char>((i >> (8 * b)) & 0xff);
      key[4] = static_cast<char>(frames);  // no key twice in the session
      c->add_authors(key);
    }
    c->add_compact()->set_envelope(genesis.data(), genesis.size());
    return frame_bytes(f);
  };
  const VersionVector before = vv_of(*w.node.replica, w.space);
  CHECK(ns->receive(frame(false)).status.is_ok());
  CHECK(ns->receive(frame(false)).status.is_ok());  // 6,000 keys
  CHECK(ns->receive(frame(true)).status.is_ok());   // reset: 3,000
  CHECK(ns->receive(frame(false)).status.is_ok());  // 6,000
  Reply over = ns->receive(frame(false));           // 9,000 > 8,192
  CHECK(over.status.code() == Code::Malformed);
  CHECK(over.status.message().find("author tables would pass 8192 keys") != std::string::npos);
  CHECK(ns->state() == SessionState::Failed);
  CHECK(vv_of(*w.node.replica, w.space) == before);

  // What the session form keeps must be keys: 32 bytes, each once; and its
  // HLC travels only as hlc_ms and hlc_counter.
  auto refused = [&](pb::Frame f, const std::string& why) {
    INFO(why);
    auto b2 = w.b.session(w.space);
    auto n2 = w.node.session();
    REQUIRE(connect(*b2, *n2).failures.empty());
    Reply r = n2->receive(frame_bytes(f));
    CHECK(r.status.code() == Code::Malformed);
    CHECK(r.status.message().find(why) != std::string::npos);
    CHECK(vv_of(*w.node.replica, w.space) == before);
  };
  pb::Frame bad;
  auto* c = bad.mutable_changes();
  c->set_space(id_str(w.space));
  c->add_compact()->set_envelope(genesis.data(), genesis.size());
  c->add_authors(std::string(33, 'k'));
  refused(bad, "an author key not of 32 bytes");
  c->mutable_authors(0)->assign(std::string(1u << 20, 'k'));  // a 1 MiB "key": never kept
  refused(bad, "an author key not of 32 bytes");
  c->mutable_authors(0)->assign(std::string(32, 'k'));
  c->add_authors(std::string(32, 'k'));
  refused(bad, "an author key twice in the table");
  pb::Frame hlc = bad;
  hlc.mutable_changes()->mutable_authors()->RemoveLast();
  auto* entry = hlc.mutable_changes()->mutable_compact(0);
  entry->Clear();
  entry->set_author(0);
  entry->set_seq(1);
  entry->set_hlc(5);
  refused(hlc, "hlc given in the session compact form");
  entry->set_hlc(0);
  entry->set_hlc_counter(0x10000);
  refused(hlc, "hlc_counter past 16 bits");
}

TEST_CASE("session: an Error frame with code 0 (Ok) from a hostile peer is a failure, never success") {
  World w;
  // About no space: the session fails, with a status that is not ok.
  {
    auto as = w.a.session(w.space);
    (void)as->start();
    Reply r = as->receive(sync::error_frame(Code::Ok, "all is well"));
    CHECK_FALSE(r.status.is_ok());
    CHECK(r.status.code() == Code::Internal);
    CHECK(as->state() == SessionState::Failed);
    CHECK_FALSE(as->failure().is_ok());
  }
  // About one space: the peer's error is recorded as one.
  {
    auto as = w.a.session(w.space);
    (void)as->start();
    pb::Frame f;
    f.mutable_error()->set_code(0);
    f.mutable_error()->set_message("fine");
    f.mutable_error()->set_space(
        std::string(reinterpret_cast<const char*>(w.space.bytes.data()), w.space.bytes.size()));
    const std::string bytes = f.SerializeAsString();
    Reply r = as->receive(Bytes(bytes.begin(), bytes.end()));
    REQUIRE(r.peer_error);
    CHECK_FALSE(r.peer_error->is_ok());
    REQUIRE(as->peer_errors().size() == 1);
    CHECK_FALSE(as->peer_errors()[0].is_ok());
  }
}

// ---- headers past what peek_envelope reads (64 KiB): found by an attacker's
// review when the session read headers by peeking. Whatever a host peeks at,
// a replica must refuse too, or a change slips past the session's checks and
// then stalls every session that has to send it.

// `h` serialized with an unknown field (100) of `n` bytes appended.
std::string padded_header(const pb::Header& h, size_t n) {
  std::string pad;
  {
    google::protobuf::io::StringOutputStream zo(&pad);
    google::protobuf::io::CodedOutputStream co(&zo);
    co.WriteTag((100u << 3) | 2);
    co.WriteVarint32(static_cast<uint32_t>(n));
    co.WriteString(std::string(n, 'P'));
  }
  return h.SerializeAsString() + pad;
}

// A content change of `author` with a header padded to over 70 KB,
// correctly encrypted and signed (the signature covers the padding).
Bytes padded_content(const Identity& author, pb::Header h, const pb::Body& body, const SpaceKey& key) {
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  h.set_nonce(nonce, sizeof nonce);
  const std::string header = padded_header(h, 70'000);
  const std::string plain = body.SerializeAsString();
  Bytes c = aead_encrypt(view_of(plain), view_of(header), {nonce, sizeof nonce}, key);
  return sign_envelope(author, header, std::string(c.begin(), c.end()));
}

TEST_CASE("session: a member's change with a 70 KB header is refused, and the space goes on syncing") {
  World w;
  Client viewer{kViewer};
  URBIS_REQUIRE_OK(w.a->add_member(w.space, viewer.dev.key, Role::Viewer));
  w.sync(w.a);
  w.sync(w.b);
  auto epoch = w.a->space(w.space);
  URBIS_REQUIRE_OK(epoch);
  EntityId project = EntityId::from_hex("00112233445566778899aabbccddeeff").value();
  const auto node_before = vv_of(*w.node.replica, w.space);

  // The viewer's forged write (a viewer may not write: the padding must not
  // carry it past the node's check of a device's own changes).
  auto vkey = space_key(*w.a.dev.replica, w.space, viewer.id, epoch->epoch);
  REQUIRE(vkey.has_value());
  const Bytes forged =
      padded_content(viewer.id, make_header(w.space, viewer.dev.key, {1, {}}, epoch->epoch, pb::CHANGE_CONTENT),
                     body_setting(project, "project", "stage", "idea"), *vkey);
  // The editor's next change, signed by the editor, padded.
  auto bkey = space_key(*w.a.dev.replica, w.space, w.b.id, epoch->epoch);
  REQUIRE(bkey.has_value());
  const uint64_t bseq = head_seq(*w.b.dev.replica, w.space, w.b.dev.key);
  std::optional<Hash> prev;
  {
    auto log = w.b->changes_since(w.space, {});
    URBIS_REQUIRE_OK(log);
    for (const auto& e : *log)
      if (parse_header(parse_envelope(e)).author() == id_str(w.b.dev.key) &&
          parse_header(parse_envelope(e)).seq() == bseq)
        prev = envelope_hash(e);
  }
  const Bytes big =
      padded_content(w.b.id, make_header(w.space, w.b.dev.key, {bseq + 1, prev}, epoch->epoch, pb::CHANGE_CONTENT),
                     body_setting(project, "project", "stage", "idea"), *bkey);
  // Its own author's replica refuses it too (it could never send it).
  auto own = w.b->apply(big);
  CHECK(own.status().code() == Code::Malformed);

  for (const auto* sender : {&viewer, &w.b}) {
    Client& c = *const_cast<Client*>(sender);
    auto cs = c.session(w.space);
    auto ns = w.node.session();
    connect(*cs, *ns);
    REQUIRE(cs->state() == SessionState::Live);
    pb::Frame f;
    f.mutable_changes()->set_space(id_str(w.space));
    const Bytes& e = sender == &viewer ? forged : big;
    f.mutable_changes()->add_envelopes(e.data(), e.size());
    Traffic t = pump(*cs, *ns, {frame_bytes(f)}, {});
    CHECK(has_error(t, 1, Code::Malformed));
    CHECK(ns->counters().changes_refused == 1);
    CHECK(ns->counters().changes_received == 0);
    CHECK(vv_of(*w.node.replica, w.space) == node_before);
    CHECK(ns->state() == SessionState::Live);
  }

  // Honest edits still travel B -> node -> A, live and by catch-up.
  auto as = w.a.session(w.space);
  auto nas = w.node.session();
  connect(*as, *nas);
  auto bs = w.b.session(w.space);
  auto nbs = w.node.session();
  connect(*bs, *nbs);
  for (int i = 0; i < 3; ++i) {
    edit(w.b, w.space, "honest " + std::to_string(i));
    Traffic up = pump(*bs, *nbs, bs->on_local_change(w.space), {});
    CHECK(up.failures.empty());
    Traffic down = pump(*nas, *as, nas->poll(), {});
    CHECK(down.changes_frames[0] == 1);
    CHECK(down.errors.empty());
  }
  CHECK(vv_of(*w.a.dev.replica, w.space) == vv_of(*w.b.dev.replica, w.space));
  CHECK(vv_of(*w.node.replica, w.space) == vv_of(*w.b.dev.replica, w.space));
  CHECK(hash_of(*w.a.dev.replica, w.space) == hash_of(*w.b.dev.replica, w.space));
}

TEST_CASE("session: a node's genesis of another space, its header padded past 64 KiB, plants nothing on a device") {
  World w;
  w.sync(w.a);
  auto as = w.a.session(w.space);
  auto nas = w.node.session();
  connect(*as, *nas);
  REQUIRE(as->state() == SessionState::Live);
  Client stranger{kOutsider};
  auto planted = stranger->create_space("Planted");
  URBIS_REQUIRE_OK(planted);
  auto log = stranger->changes_since(*planted, {});
  URBIS_REQUIRE_OK(log);
  pb::Frame f;
  f.mutable_changes()->set_space(id_str(w.space));  // inside the frame of a space A syncs
  for (const auto& raw : *log) {
    pb::Envelope e = parse_envelope(raw);
    Bytes re = sign_envelope(stranger.id, padded_header(parse_header(e), 70'000), e.body());
    f.mutable_changes()->add_envelopes(re.data(), re.size());
  }
  const Hash before = hash_of(*w.a.dev.replica, w.space);
  Reply r = as->receive(frame_bytes(f));
  (void)r;
  CHECK_FALSE(w.a->version_vector(*planted).is_ok());
  auto spaces = w.a->spaces();
  URBIS_REQUIRE_OK(spaces);
  CHECK(spaces->size() == 1);
  CHECK(hash_of(*w.a.dev.replica, w.space) == before);
}

}  // namespace
}  // namespace urbis::testing
