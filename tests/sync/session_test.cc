// Sessions joined by an in-process loopback: a pump shuttles frames between
// two Sessions until both are quiet, inspecting every frame on the way
// (sync/include/urbis/sync/session.h). No sockets, no threads: the same suite
// runs natively and under wasm.
#include "urbis/sync/session.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "forge_util.h"
#include "test_util.h"
#include "urbis/sync.pb.h"

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
    auto r = Replica::open(":memory:", std::nullopt, *env,
                           ReplicaOptions{.materialize = false, .synchronous_full = false});
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    replica = std::move(r).value();
  }
  std::unique_ptr<Session> session(SessionOptions options = {}) {
    options.open_spaces = options.open_spaces || open;
    return std::make_unique<Session>(*replica, *env, std::nullopt, SessionRole::Server,
                                     std::vector<SpaceId>{}, options);
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
  std::vector<std::pair<int, pb::Error>> errors;  // (sender side, Error)
  std::vector<Status> failures;                   // non-ok receive() statuses
};

void note(Traffic& t, int side, const std::vector<Bytes>& frames, int flight) {
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
        size_t bytes = 0;
        for (const auto& e : f.changes().envelopes()) bytes += e.size();
        if (f.changes().envelopes_size() > 1) t.largest_batch = std::max(t.largest_batch, bytes);
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
Traffic pump(Session& a, Session& b, std::vector<Bytes> a_out, std::vector<Bytes> b_out,
             size_t limit = SIZE_MAX) {
  Traffic t;
  std::array<Session*, 2> s{&a, &b};
  std::array<std::vector<Bytes>, 2> pending{std::move(a_out), std::move(b_out)};
  note(t, 0, pending[0], 0);
  note(t, 1, pending[1], 0);
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
        note(t, other, r.frames, static_cast<int>(t.flights));
        for (Bytes& f : r.frames) pending[other].push_back(std::move(f));
      }
    }
  }
  FAIL("the sessions never went quiet");
  return t;
}

// A session between two sessions from their start().
Traffic connect(Session& a, Session& b, size_t limit = SIZE_MAX) {
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
  Bytes forged = forge_content(viewer.id, w.space, {1, {}}, epoch->epoch,
                               body_setting(project, "project", "stage", "idea"), *key);
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
    return std::make_unique<Session>(*replica, *env, Signer::of(id), SessionRole::Client,
                                     std::vector<SpaceId>{}, options);
  }
  std::unique_ptr<Session> serve(const DeviceKey& trusted) {
    SessionOptions options;
    options.trusted_peers = {trusted};
    return std::make_unique<Session>(*replica, *env, Signer::of(id), SessionRole::Server,
                                     std::vector<SpaceId>{}, options);
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

}  // namespace
}  // namespace urbis::testing
