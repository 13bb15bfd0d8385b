// `urbis sync URL [--watch] [--space SPACE]...`: one client Session over a
// WebSocket to a node. Without --watch it runs until every synced space is
// caught up both ways (Live, and every Changes frame sent acknowledged), then
// closes and prints the counts; with --watch it stays connected, pushing local
// commits (polled, so commits by other `urbis` processes go out too) and
// applying the node's live pushes until SIGINT/SIGTERM.
//
// `urbis sync` discovers: it syncs every space the store holds and every
// space the node serves this device (the ones it was added to elsewhere);
// --space names one more to fetch (e.g. one the node does not hold yet).
//
// run_sync_session (sync_client.h) is the same client for other commands:
// `urbis space join` runs it as an invite's key and pushes the redeem.
#include "ws_connect.h"  // first: Boost before the rest

#include <algorithm>
#include <chrono>
#include <csignal>
#include <exception>
#include <memory>
#include <string>

#include "commands.h"
#include "home.h"
#include "net.h"
#include "sync_client.h"
#include "urbis/sync/session.h"

namespace urbis::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;
using net::client_stream;
using net::FrameQueue;
using net::ws_connect;
using net::WsConnectOptions;
using net::WsStream;

// The kind of a frame, read off the wire (sync::peek_frame).
sync::FrameKind kind_of(ByteView frame) {
  auto peek = sync::peek_frame(frame);
  return peek ? peek->kind : sync::FrameKind::None;
}

constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kPollInterval = std::chrono::milliseconds(300);
// A join by invite ends with the node's Ack or Error of the redeem; a node
// that keeps the connection alive (pings) but never answers is given up on.
constexpr auto kJoinDeadline = std::chrono::seconds(60);

class SyncClient : public std::enable_shared_from_this<SyncClient> {
 public:
  SyncClient(asio::io_context& io, Replica& replica, sync::Signer signer, SyncRequest request, WsUrl url,
             std::string url_text)
      : io_(io),
        ws_(client_stream(io, url, url.tls ? client_tls(request.ca_file) : nullptr)),
        out_(ws_),
        poll_timer_(io),
        signals_(io, SIGINT, SIGTERM),
        replica_(replica),
        signer_(std::move(signer)),
        spaces_(std::move(request.spaces)),
        url_(std::move(url)),
        url_text_(std::move(url_text)),
        watch_(request.watch),
        discover_(request.discover),
        heal_(request.heal),
        on_caught_up_(std::move(request.on_caught_up)),
        join_(request.join) {}

  awaitable<void> run();
  const sync::Session* session() const { return join_ ? &join_->session() : session_.get(); }
  const std::vector<SpaceId>& settled() const { return settled_; }
  const std::vector<Status>& heal_errors() const { return heal_errors_; }

 private:
  void send(std::vector<Bytes> frames) {
    for (const Bytes& f : frames)
      if (kind_of(f) == sync::FrameKind::Changes) changes_frames_out_ += 1;
    out_.send(std::move(frames), shared_from_this());
  }
  void close() {
    poll_timer_.cancel();
    beast::error_code ec;
    signals_.cancel(ec);
    out_.close(websocket::close_reason(websocket::close_code::normal), shared_from_this());
  }
  bool caught_up() const { return session_->state() == sync::SessionState::Live && acks_in_ == changes_frames_out_; }
  void schedule_poll() {
    poll_timer_.expires_after(kPollInterval);
    poll_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->out_.closing()) return;
      // Watching: settle keys once live, and again whenever changes arrived
      // since; poll() then sends what heal committed with the rest.
      if (self->heal_ && self->session_->state() == sync::SessionState::Live &&
          self->received_at_heal_ != self->session_->counters().changes_received) {
        self->received_at_heal_ = self->session_->counters().changes_received;
        (void)self->heal_spaces();
      }
      self->send(self->session_->poll());
      self->schedule_poll();
    });
  }
  // Replica::heal on every synced space this device administers (only an
  // admin settles keys); the spaces where it committed a change (recorded in
  // settled_). A failure is reported, not fatal: the sync itself went
  // through, and the next sync tries again.
  std::vector<SpaceId> heal_spaces() {
    std::vector<SpaceId> healed;
    for (const SpaceId& space : session_->synced_spaces()) {
      auto info = replica_.space(space);
      if (!info.is_ok() || info->my_role != Role::Admin) continue;
      auto r = replica_.heal(space);
      if (!r.is_ok()) {
        heal_errors_.emplace_back(r.code(), "settling the keys of space " + space.hex() + ": " + r.status().message());
        continue;
      }
      if (!r.value()) continue;
      healed.push_back(space);
      settled_.push_back(space);
      log_event("info", "keys_settled", {{"space", space.hex()}});
    }
    return healed;
  }

  asio::io_context& io_;
  WsStream ws_;
  FrameQueue<WsStream> out_;
  asio::steady_timer poll_timer_;
  asio::signal_set signals_;
  Replica& replica_;
  sync::Signer signer_;
  std::vector<SpaceId> spaces_;
  WsUrl url_;
  std::string url_text_;
  bool watch_;
  bool discover_;
  bool heal_;
  std::function<std::vector<Bytes>(const sync::Session&)> on_caught_up_;
  sync::JoinSession* join_;  // joining by invite: its session instead of session_
  bool join_timed_out_ = false;
  std::unique_ptr<sync::Session> session_;
  uint64_t changes_frames_out_ = 0, acks_in_ = 0;
  uint64_t received_at_heal_ = ~uint64_t{0};  // changes_received at the last heal (watch)
  std::vector<SpaceId> settled_;
  std::vector<Status> heal_errors_;
};

awaitable<void> SyncClient::run() {
  const WsConnectOptions connect{.timeout = kConnectTimeout, .idle_timeout = std::chrono::seconds(watch_ ? 60 : 30)};
  if (std::string why = co_await ws_connect(ws_, url_, connect); !why.empty()) fail_network(why);
  beast::error_code ec;
  sync::SessionOptions options;
  options.discover = discover_;
  ws_.binary(true);
  ws_.read_message_max(options.max_frame_bytes);
  log_event("info", "connected", {{"url", url_text_}, {"spaces", spaces_.size()}, {"join", join_ != nullptr}});
  if (join_) {
    send(join_->start());
    poll_timer_.expires_after(kJoinDeadline);  // no polling while joining: the timer is free
    poll_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (e || self->join_->done()) return;
      self->join_timed_out_ = true;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);  // the pending read fails
    });
  } else {
    session_ =
        std::make_unique<sync::Session>(replica_, system_env(), signer_, sync::SessionRole::Client, spaces_, options);
    send(session_->start());
  }
  if (watch_) {
    schedule_poll();
    signals_.async_wait([self = shared_from_this()](beast::error_code e, int) {
      if (!e) self->close();
    });
  }

  bool live_logged = false;
  Status failure;
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    co_await ws_.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (out_.closing()) break;  // our close (done, a signal, or a failure) completed
      if (join_timed_out_)
        fail_network("joining through " + url_text_ + ": the node did not answer within " +
                     std::to_string(kJoinDeadline.count()) + " s");
      std::string why = ec == websocket::error::closed
                            ? "the node closed the connection (" +
                                  std::string(ws_.reason().reason.data(), ws_.reason().reason.size()) + ")"
                            : ec.message();
      if (session()->state() == sync::SessionState::Failed) why += "; " + session()->failure().to_string();
      fail_network("sync with " + url_text_ + " interrupted: " + why);
    }
    const auto data = buffer.cdata();
    const ByteView frame(static_cast<const uint8_t*>(data.data()), data.size());
    if (join_) {
      sync::Reply reply = join_->receive(frame);
      send(std::move(reply.frames));
      if (join_->done()) close();
      continue;
    }
    sync::Reply reply = session_->receive(frame);
    if (reply.kind == sync::FrameKind::Ack) acks_in_ += 1;
    send(std::move(reply.frames));
    if (!reply.status.is_ok()) {
      failure = reply.status;
      close();
      continue;
    }
    // What the catch-up left stale is refreshed once it is caught up, not
    // by the next `urbis find`; so is a large batch after Live (another
    // device's import, pushed to a watching sync), as it arrives. With
    // nothing stale, that is one PRAGMA.
    if (caught_up()) refresh_for_reads(replica_);
    if (caught_up() && !live_logged) {
      live_logged = true;
      log_event("info", "live", {{"spaces", session_->synced_spaces().size()}});
      std::vector<Bytes> more;
      if (!watch_ && heal_) {
        // What heal committed goes out now, in this session: the session
        // closes once the node has acknowledged it too (below).
        for (const SpaceId& space : heal_spaces()) {
          std::vector<Bytes> frames = session_->on_local_change(space);
          more.insert(more.end(), std::make_move_iterator(frames.begin()), std::make_move_iterator(frames.end()));
        }
      }
      if (!watch_ && on_caught_up_) {
        std::vector<Bytes> frames = std::exchange(on_caught_up_, nullptr)(*session_);
        more.insert(more.end(), std::make_move_iterator(frames.begin()), std::make_move_iterator(frames.end()));
      }
      if (!more.empty())
        send(std::move(more));  // closes when these are acknowledged too (below)
      else if (!watch_)
        close();
    } else if (live_logged && !watch_ && caught_up() && !out_.closing()) {
      close();
    }
  }
  if (!failure.is_ok()) check(failure);
}

}  // namespace

SyncResult run_sync_session(const std::string& url_text, Replica& replica, const sync::Signer& signer,
                            SyncRequest request) {
  WsUrl url = parse_ws_url(url_text);
  asio::io_context io(1);
  auto client = std::make_shared<SyncClient>(io, replica, signer, std::move(request), url, url_text);
  std::exception_ptr error;
  asio::co_spawn(io, client->run(), [&](std::exception_ptr e) {
    error = e;
    io.stop();  // nothing left to wait for (e.g. Beast tearing down a declined handshake)
  });
  io.run();
  if (error) std::rethrow_exception(error);
  const sync::Session* s = client->session();
  return SyncResult{s->counters(), s->synced_spaces(), s->peer_errors(),
                    s->refusals(), client->settled(),  client->heal_errors()};
}

void run_sync(const Context& ctx, const Args& args) {
  args.expect_positional(1, "sync URL [--watch] [--space SPACE]... [--ca-file FILE]");
  const std::string url_text = args.positional()[0];
  // A wrong URL or CA file is a usage error before the passphrase is asked for.
  check_client_tls(parse_ws_url(url_text), args.value("--ca-file"));
  std::vector<SpaceId> extra;
  for (const std::string& s : args.values("--space")) {
    auto id = SpaceId::from_hex(s);
    if (!id) usage_error("--space takes a space id (32 hex digits), not '" + s + "'");
    extra.push_back(*id);
  }

  SyncHome home = open_device_for_sync(ctx);
  std::vector<SpaceId> spaces;
  for (const SpaceInfo& s : check(home.replica->spaces())) spaces.push_back(s.id);
  for (const SpaceId& s : extra)
    if (std::find(spaces.begin(), spaces.end(), s) == spaces.end()) spaces.push_back(s);

  SyncResult result = run_sync_session(url_text, *home.replica, sync::Signer::of(home.signer()),
                                       SyncRequest{.spaces = spaces,
                                                   .discover = true,
                                                   .watch = args.flag("--watch"),
                                                   .heal = true,
                                                   .ca_file = args.value("--ca-file")});
  refresh_for_reads(*home.replica);  // what arrived after Live, before the session closed
  const sync::SessionCounters& c = result.counters;
  // Why anything was refused, not just how often: the node's errors (about
  // this device's changes or spaces) and this store's refusals of the
  // node's changes, each with its code and message.
  nlohmann::json errors = nlohmann::json::array();
  for (const Status& s : result.peer_errors)
    errors.push_back({{"by", "node"}, {"code", code_name(s.code())}, {"message", s.message()}});
  for (const Status& s : result.refusals)
    errors.push_back({{"by", "device"}, {"code", code_name(s.code())}, {"message", s.message()}});
  for (const Status& s : result.heal_errors)
    errors.push_back({{"by", "device"}, {"code", code_name(s.code())}, {"message", s.message()}});
  // An admin device settled keys after concurrent membership changes
  // (Replica::heal) and sent the change it made: one line per space.
  nlohmann::json settled = nlohmann::json::array();
  for (const SpaceId& space : result.settled) {
    settled.push_back(space.hex());
    std::fprintf(stderr, "urbis: settled the keys of space %s after concurrent membership changes (one change, sent)\n",
                 space.hex().c_str());
  }
  // The node refusing changes of ours as a broken chain means, for a device,
  // that its chain forked: this home was restored from a backup or copied,
  // and another copy wrote at the same sequence numbers first. It never heals
  // by itself; say what does (device.cc).
  bool forked = false;
  for (const Status& e : result.peer_errors) forked = forked || e.code() == Code::BrokenChain;
  if (forked)
    std::fprintf(stderr,
                 "urbis: the node refused changes as a broken chain (it holds other changes at their sequence "
                 "numbers). If this home was restored from a backup or copied to another machine, this "
                 "device's chain has forked and its new work can never sync under its key. Nothing is lost: "
                 "run 'urbis device rekey', have an admin add the new key, 'urbis sync URL', then 'urbis "
                 "device republish' and sync again (node/README.md, \"A forked device\").\n");
  emit(ctx, {{"sent", c.changes_sent},
             {"received", c.changes_received},
             {"refused", c.changes_refused + result.peer_errors.size()},
             {"spaces", result.synced_spaces.size()},
             {"errors", std::move(errors)},
             {"forked", forked},
             {"settled", std::move(settled)}});
}

}  // namespace urbis::cli
