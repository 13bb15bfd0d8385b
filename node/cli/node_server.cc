// `urbis node`: the sync node. One io_context on one thread serves, on one
// listening socket, HTTP (/healthz, /readyz, /metrics, static files from --web) and
// WebSocket sync sessions on /sync: each binary message is one frame for a
// sync::Session in the Server role over the node's own replica (key-less:
// the node signs with its transport key, node.key, and holds no space key
// unless its home holds a member identity). Each --peer URL is an outbound
// link to another node: a Client session with discovery, reconnecting with
// exponential backoff and jitter. Changes a session or link applies are
// pushed live to every other session and link (store-and-forward along a
// chain of nodes). SIGINT/SIGTERM close the listener, every connection and
// link, then the replica.
//
// Limits (NodeLimits, flags of `urbis node`, node/README.md): WebSocket
// sessions at once (an upgrade beyond gets HTTP 503), frames per second and
// bytes per second per connection (a frame flood gets Error RateLimited and
// close 1013; bytes beyond the rate are read more slowly), envelopes per
// Changes frame and spaces per Want and per session (Error TooLarge), changes
// held per space (the core's bound), and a peer that does not read is not read.
#include "ws_connect.h"  // first: Boost before the rest

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "commands.h"
#include "home.h"
#include "http_static.h"
#include "net.h"
#include "urbis/sync.pb.h"
#include "urbis/sync/session.h"

namespace urbis::cli {
namespace {

namespace fs = std::filesystem;

// What one node and one connection may use; 0 for a rate means no limit.
struct NodeLimits {
  size_t max_connections = 10'000;          // WebSocket sync sessions at once
  uint64_t max_frames_per_second = 2'000;   // per connection; a burst of as many
  uint64_t max_bytes_per_second = 64u << 20;  // per connection; beyond, reads slow down
  size_t max_batch_envelopes = 4'096;       // envelopes in one Changes frame
  size_t max_spaces = 10'000;               // spaces in one Want, and synced in one session
  size_t max_held_changes = ReplicaOptions{}.max_held_changes;  // per space (the core's bound)
};
// Plain HTTP connections allowed beyond max_connections, so /healthz,
// /metrics and the 503 itself still get answered at the limit.
constexpr size_t kHttpHeadroom = 64;
// A peer that does not read what the node sends is not read either: while
// more than max_frame_bytes wait to be written to it, the node reads nothing
// more from it, and after this long without the queue draining it closes.
constexpr auto kStalledPeerLimit = std::chrono::seconds(60);

struct NodeOptions {
  std::optional<fs::path> web;
  fs::path store;  // replica.db, for urbis_store_bytes
  sync::SessionOptions session;  // for the sessions clients open (trusted peers included)
  NodeLimits limits;
  std::vector<std::string> peers;  // --peer URLs
  std::chrono::milliseconds peer_retry_min{250};
  std::chrono::milliseconds peer_retry_max{std::chrono::seconds(30)};
  // After SIGTERM: this long answering /readyz with 503 and refusing new
  // sessions while the open ones go on (a load balancer's time to notice),
  // before the stop. 0: stop at once.
  std::chrono::seconds drain{0};
  // --tls-cert and --tls-key: listen with TLS (HTTPS and wss://), reloaded on SIGHUP.
  std::optional<std::string> tls_cert, tls_key;
  // --ca-file: what wss:// peers' certificates are verified against (else the system's store).
  std::optional<std::string> ca_file;
};

// Where live pushes go: client connections and peer links.
class LiveTarget {
 public:
  virtual ~LiveTarget() = default;
  // `space` changed in the node's store through another session or link.
  virtual void push(const SpaceId& space) = 0;
  // Bytes waiting to be written to the peer.
  virtual size_t queued_bytes() const = 0;
};

// A Prometheus histogram of durations in seconds (cumulative buckets).
struct Histogram {
  static constexpr double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  uint64_t counts[std::size(kBounds)] = {};
  uint64_t count = 0;
  double sum = 0;
  void observe(double seconds) {
    for (size_t i = 0; i < std::size(kBounds); ++i)
      if (seconds <= kBounds[i]) counts[i] += 1;
    count += 1;
    sum += seconds;
  }
};

struct Metrics {
  // A Changes frame from a session: stored (or held or refused) and its
  // Ack queued, in the node's loop.
  Histogram changes_frame_seconds;
  // A session from the WebSocket upgrade until it is live (its catch-up
  // done both ways).
  Histogram catchup_seconds;
  uint64_t connections = 0;
  uint64_t sessions_total = 0;
  uint64_t changes_received = 0;
  uint64_t changes_sent = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t http_requests = 0;
  uint64_t connections_refused = 0;  // at max_connections (503, or closed unanswered)
  uint64_t reads_throttled = 0;      // reads delayed by max_bytes_per_second
  uint64_t reads_paused = 0;         // reads delayed while the peer did not read
  uint64_t tls_handshakes_failed = 0;  // with --tls-cert: connections whose TLS handshake failed
  std::map<std::string, uint64_t> refusals;  // by error code name
};

// A token bucket: `rate` tokens a second, holding at most `burst`; a rate of
// 0 never runs dry.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst), last_(Clock::now()) {}
  // Takes `n` tokens if the bucket holds them; false (taking none) if not.
  bool try_take(double n) {
    if (rate_ <= 0) return true;
    refill();
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  // Takes `n` tokens, into debt if need be; how long until the debt is paid.
  Clock::duration take(double n) {
    if (rate_ <= 0) return Clock::duration::zero();
    refill();
    tokens_ -= n;
    if (tokens_ >= 0) return Clock::duration::zero();
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_));
  }

 private:
  void refill() {
    const auto now = Clock::now();
    tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

// log_event for refusals an attacker can repeat at will: at most one line a
// second; the next line says how many were not logged ("suppressed").
class ThrottledLog {
 public:
  void operator()(const char* level, const char* event, nlohmann::json fields) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) {
      suppressed_ += 1;
      return;
    }
    next_ = now + std::chrono::seconds(1);
    fields["suppressed"] = std::exchange(suppressed_, 0);
    log_event(level, event, std::move(fields));
  }

 private:
  std::chrono::steady_clock::time_point next_{};
  uint64_t suppressed_ = 0;
};

std::string endpoint_text(const tcp::endpoint& e) {
  return e.address().to_string() + ":" + std::to_string(e.port());
}

std::string status_code_name(int32_t wire) {
  switch (wire) {
#define X(name, num, text) \
  case num:                \
    return #name;
#include "urbis/error_codes.def"
#undef X
    default:
      return "Internal";
  }
}

class SyncConnection;
class PeerLink;

class NodeServer {
 public:
  NodeServer(asio::io_context& io, Replica& replica, std::optional<sync::Signer> signer, NodeOptions options)
      : io_(io), acceptor_(io), signals_(io, SIGINT, SIGTERM), reload_signals_(io, SIGHUP), stop_timer_(io),
        drain_timer_(io), replica_(replica), signer_(std::move(signer)), options_(std::move(options)) {}

  // Loads the certificate and key (--tls-cert, --tls-key) that new
  // connections get; "" or why not (the previous ones then stay).
  std::string load_tls();
  bool tls() const { return tls_ != nullptr; }

  // Binds and listens; returns the bound endpoint (the real port for port 0).
  tcp::endpoint listen(const HostPort& where);
  // Starts accepting and waiting for signals.
  void start();

  Replica& replica() { return replica_; }
  const std::optional<sync::Signer>& signer() const { return signer_; }
  const sync::SessionOptions& session_options() const { return options_.session; }
  const NodeLimits& limits() const { return options_.limits; }
  Metrics& metrics() { return metrics_; }
  ThrottledLog& refusal_log() { return refusal_log_; }
  bool stopping() const { return stopping_; }

  void attach(uint64_t id, LiveTarget* c) { live_[id] = c; }
  void detach(uint64_t id) { live_.erase(id); }
  // Pushes `space`'s new changes to every session and link but `from`.
  void broadcast(uint64_t from, const SpaceId& space);
  void push_slice(std::shared_ptr<std::vector<uint64_t>> targets, size_t begin, SpaceId space);
  uint64_t next_id() { return ++last_id_; }
  void track(const std::shared_ptr<SyncConnection>& c) { all_.push_back(c); }
  // Starts an outbound link to another node.
  void add_peer(const std::string& url);
  // The TLS settings of wss:// peer links (--ca-file, else the system's store).
  const std::shared_ptr<asio::ssl::context>& peer_tls();
  const NodeOptions& options() const { return options_; }
  asio::io_context& io() { return io_; }

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(tcp::socket socket);
  http::response<http::string_body> respond(const http::request<http::string_body>& req);
  http::response<http::string_body> static_file(const http::request<http::string_body>& req,
                                                const std::string& path);
  http::response<http::string_body> refuse_upgrade(const http::request<http::string_body>& req,
                                                   const std::string& peer);
  std::string metrics_text();
  void stop(int signal);
  void wait_for_reload();
  void wait_for_quiet(std::chrono::steady_clock::time_point deadline);

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::signal_set reload_signals_;  // SIGHUP: reload the certificate
  asio::steady_timer stop_timer_;
  asio::steady_timer drain_timer_;
  Replica& replica_;
  std::optional<sync::Signer> signer_;
  NodeOptions options_;
  Metrics metrics_;
  ThrottledLog refusal_log_, connection_refusal_log_;
  size_t open_connections_ = 0;  // accepted sockets not yet closed (HTTP and WebSocket)
  size_t sync_connections_ = 0;  // of those, upgraded to /sync (handshake included)
  bool stopping_ = false;
  bool draining_ = false;  // --drain-seconds after SIGTERM: not ready, no new sessions
  std::chrono::steady_clock::time_point store_probed_{};  // /readyz's last read of the store
  bool store_ok_ = true;
  uint64_t last_id_ = 0;
  std::map<uint64_t, LiveTarget*> live_;              // sessions open, links up
  std::vector<std::shared_ptr<PeerLink>> links_;
  std::vector<std::weak_ptr<SyncConnection>> all_;   // for shutdown: alive until closed
  std::set<beast::tcp_stream*> http_streams_;        // HTTP connections (not upgraded), by their TCP stream
  std::shared_ptr<asio::ssl::context> tls_;          // the listener's, when --tls-cert
  std::shared_ptr<asio::ssl::context> peer_tls_;     // wss:// peer links', made on first use
};

// One WebSocket connection driving one Session.
class SyncConnection : public std::enable_shared_from_this<SyncConnection>, public LiveTarget {
 public:
  SyncConnection(NodeServer& node, Transport stream, std::string peer, std::string forwarded_for)
      : node_(node), ws_(std::move(stream)), out_(ws_), id_(node.next_id()), peer_(std::move(peer)),
        forwarded_for_(std::move(forwarded_for)),
        frames_(static_cast<double>(node.limits().max_frames_per_second),
                static_cast<double>(node.limits().max_frames_per_second)),
        bytes_(static_cast<double>(node.limits().max_bytes_per_second),
               static_cast<double>(std::max<uint64_t>(node.limits().max_bytes_per_second,
                                                      node.session_options().max_frame_bytes))) {
    out_.on_written = [this](size_t n) { node_.metrics().bytes_out += n; };
  }

  awaitable<void> run(http::request<http::string_body> req);
  // Live push: `space` changed through another session.
  void push(const SpaceId& space) override {
    if (!session_) return;
    send(session_->on_local_change(space));
  }
  // The node is stopping.
  void shut_down() { close(websocket::close_code::going_away); }
  // Bytes waiting to be written to the peer.
  size_t queued_bytes() const override { return out_.pending_bytes(); }

 private:
  void send(std::vector<Bytes> frames) {
    for (const Bytes& f : frames)
      if (auto peek = sync::peek_frame(f); peek && peek->kind == sync::FrameKind::Error)
        node_.metrics().refusals[status_code_name(peek->error_code)] += 1;
    account();
    out_.send(std::move(frames), shared_from_this());
  }
  void close(websocket::close_code code) { out_.close(websocket::close_reason(code), shared_from_this()); }
  // Refuses the connection at a limit: an Error frame (no space: the session
  // ends), then the close; later frames from the peer are read and dropped.
  void refuse(Code code, const std::string& message, websocket::close_code close_code) {
    if (refused_) return;
    refused_ = true;
    refusal_ = Status(code, message);
    pb::Frame f;
    f.mutable_error()->set_code(static_cast<int32_t>(code));
    f.mutable_error()->set_message(message);
    const std::string bytes = f.SerializeAsString();
    send({Bytes(bytes.begin(), bytes.end())});
    node_.refusal_log()("warn", "connection_refused",
                        {{"conn", id_}, {"peer", peer_}, {"code", std::string(code_name(code))}, {"reason", message}});
    close(close_code);
  }
  bool live_seen_ = false;  // catchup_seconds observed
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Counts one frame (a message or a ping) against max_frames_per_second;
  // false (and the connection refused) past it.
  bool within_frame_rate() {
    if (frames_.try_take(1)) return true;
    refuse_rate();
    return false;
  }
  void refuse_rate() {
    refuse(Code::RateLimited,
           "more than " + std::to_string(node_.limits().max_frames_per_second) + " frames a second",
           websocket::close_code::try_again_later);
  }
  // Backpressure: waits while more than max_frame_bytes are queued for the
  // peer; false when the queue has not drained for kStalledPeerLimit.
  awaitable<bool> wait_for_peer_to_read() {
    const size_t high_water = node_.session_options().max_frame_bytes;
    if (out_.pending_bytes() <= high_water) co_return true;
    node_.metrics().reads_paused += 1;
    const auto give_up = std::chrono::steady_clock::now() + kStalledPeerLimit;
    asio::steady_timer pause(ws_.get_executor());
    while (out_.pending_bytes() > high_water) {
      if (std::chrono::steady_clock::now() >= give_up) co_return false;
      pause.expires_after(std::chrono::milliseconds(10));
      beast::error_code ec;
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    co_return true;
  }
  // Adds the session's counters since the last call to the node's metrics.
  void account() {
    if (!session_) return;
    const sync::SessionCounters& c = session_->counters();
    node_.metrics().changes_received += c.changes_received - seen_.changes_received;
    node_.metrics().changes_sent += c.changes_sent - seen_.changes_sent;
    seen_ = c;
  }

  NodeServer& node_;
  WsStream ws_;
  FrameQueue<WsStream> out_;
  uint64_t id_;
  std::string peer_;
  std::string forwarded_for_;  // what a proxy said the client was (X-Forwarded-For); for logs only
  std::unique_ptr<sync::Session> session_;
  sync::SessionCounters seen_;
  TokenBucket frames_, bytes_;
  bool refused_ = false;
  Status refusal_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What a reverse proxy on this machine says the client is, for logs: the
// last entry of the last X-Forwarded-For line (the one the proxy added),
// at most 64 bytes; "" unless the connection comes from a loopback address
// (a proxy elsewhere is not told apart from a client that sends the header
// itself). Never used for anything but logs.
std::string forwarded_for(const http::request<http::string_body>& req, bool from_loopback) {
  if (!from_loopback) return {};
  std::string_view last;
  const auto [first, end] = req.equal_range("X-Forwarded-For");
  for (auto it = first; it != end; ++it) last = std::string_view(it->value().data(), it->value().size());
  if (const auto comma = last.rfind(','); comma != std::string_view::npos) last.remove_prefix(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  return std::string(last.substr(0, 64));
}

awaitable<void> SyncConnection::run(http::request<http::string_body> req) {
  auto self = shared_from_this();
  beast::error_code ec;
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "urbis"); }));
  // Until the peer is authenticated only Hello and Auth are read: a larger
  // message fails the connection before it is buffered (close 1009).
  ws_.read_message_max(node_.session_options().max_handshake_frame_bytes);
  ws_.binary(true);
  // Pings count as frames too (Beast answers them without a read returning).
  ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
    if (kind != websocket::frame_type::ping || refused_) return;
    if (!frames_.try_take(1))  // refused outside the read that runs this callback
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->refuse_rate(); });
  });
  co_await ws_.async_accept(req, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    log_event("warn", "ws_handshake_failed", {{"peer", peer_}, {"error", ec.message()}});
    co_return;
  }
  if (node_.stopping()) {
    close(websocket::close_code::going_away);
    co_return;
  }
  session_ = std::make_unique<sync::Session>(node_.replica(), system_env(), node_.signer(),
                                             sync::SessionRole::Server, std::vector<SpaceId>{},
                                             node_.session_options());
  node_.attach(id_, this);
  Metrics& m = node_.metrics();
  m.connections += 1;
  m.sessions_total += 1;
  nlohmann::json opened = {{"conn", id_}, {"peer", peer_}};
  if (!forwarded_for_.empty()) opened["forwarded_for"] = forwarded_for_;
  log_event("info", "session_opened", std::move(opened));
  send(session_->start());

  std::string reason = "closed by peer";
  const char* level = "info";
  beast::flat_buffer buffer;
  for (;;) {
    if (!co_await wait_for_peer_to_read()) {
      reason = "peer does not read what the node sends";
      level = "warn";
      beast::get_lowest_layer(ws_).close();  // the stalled write fails
      break;
    }
    buffer.clear();
    co_await ws_.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        // Beast has already failed the connection (close code 1009).
        m.refusals["TooLarge"] += 1;
        reason = "frame exceeds " + std::to_string(node_.session_options().max_frame_bytes) + " bytes";
        level = "warn";
      } else if (ec == websocket::error::closed) {
        if (out_.closing()) reason = "closed by node";
      } else {
        reason = ec.message();
        level = "warn";
      }
      break;
    }
    m.bytes_in += buffer.size();
    if (refused_) continue;  // until the close completes the read
    const auto data = buffer.cdata();
    const ByteView frame(static_cast<const uint8_t*>(data.data()), data.size());
    if (!within_frame_rate()) continue;
    const auto frame_start = std::chrono::steady_clock::now();
    sync::Reply reply = session_->receive(frame);
    send(std::move(reply.frames));
    if (reply.kind == sync::FrameKind::Changes) m.changes_frame_seconds.observe(seconds_since(frame_start));
    if (!live_seen_ && session_->state() == sync::SessionState::Live) {
      live_seen_ = true;
      m.catchup_seconds.observe(seconds_since(started_));
    }
    if (reply.stored > 0 && reply.space) node_.broadcast(id_, *reply.space);
    if (session_->state() != sync::SessionState::Handshaking)
      ws_.read_message_max(node_.session_options().max_frame_bytes);
    if (!reply.status.is_ok()) {
      reason = reply.status.to_string();
      level = "warn";
      // A frame over a limit (counted on the wire before parsing): 1009, as
      // for a message over --max-frame-bytes.
      close(reply.status.code() == Code::TooLarge ? websocket::close_code::too_big
                                                  : websocket::close_code::policy_error);
      // Keep reading: the close handshake completes the pending read.
    }
    // Bytes beyond max_bytes_per_second: the next read waits (TCP pushes back).
    if (const auto wait = bytes_.take(static_cast<double>(frame.size())); wait > wait.zero() && !refused_) {
      m.reads_throttled += 1;
      asio::steady_timer pause(ws_.get_executor(), wait);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  if (refused_) {
    reason = refusal_.to_string();
    level = "warn";
  }
  node_.detach(id_);
  m.connections -= 1;
  const sync::SessionCounters& c = session_->counters();
  log_event(level, "session_closed",
            {{"conn", id_},
             {"peer", peer_},
             {"reason", reason},
             {"state", std::string(sync::state_name(session_->state()))},
             {"device", session_->peer_device() ? session_->peer_device()->hex() : ""},
             {"changes_received", c.changes_received},
             {"changes_sent", c.changes_sent},
             {"changes_refused", c.changes_refused},
             {"bytes_in", c.bytes_in},
             {"bytes_out", c.bytes_out}});
}

// ---------------------------------------------------------------- peer links

// One outbound link to another node (--peer URL): connects, runs a Client
// session with discovery over the node's store (so every space either node
// may sync flows both ways, and spaces that appear later are proposed), and
// after a failure or a close reconnects with exponential backoff and jitter:
// the n-th consecutive failure waits a random time in [d/2, d] with
// d = min(retry_max, retry_min * 2^n); reaching Live resets n. Its state is
// in /metrics (urbis_peer_*) and in the log (peer_* events).
class PeerLink : public std::enable_shared_from_this<PeerLink>, public LiveTarget {
 public:
  PeerLink(NodeServer& node, std::string url_text)
      : node_(node), url_text_(std::move(url_text)), url_(parse_ws_url(url_text_)), id_(node.next_id()),
        timer_(node.io()) {}

  awaitable<void> run();
  void push(const SpaceId& space) override {
    if (conn_ && conn_->session) conn_->send(conn_->session->on_local_change(space));
  }
  // The node is stopping: close the connection or stop waiting.
  void shut_down() {
    timer_.cancel();
    if (!conn_) return;
    if (conn_->session)
      conn_->close(websocket::close_code::going_away);
    else
      beast::get_lowest_layer(conn_->ws).cancel();  // connecting or handshaking
  }
  bool finished() const { return finished_; }
  size_t queued_bytes() const override { return conn_ ? conn_->out.pending_bytes() : 0; }

  const std::string& url() const { return url_text_; }
  bool up() const { return conn_ && conn_->session && conn_->session->state() == sync::SessionState::Live; }
  uint64_t connects() const { return connects_; }
  uint64_t failures() const { return failures_total_; }
  double retry_seconds() const { return retry_.count() / 1000.0; }
  const sync::SessionCounters& totals() const { return totals_; }

 private:
  // One connection attempt and its session.
  struct Conn : std::enable_shared_from_this<Conn> {
    Conn(asio::io_context& io, const WsUrl& url, const std::shared_ptr<asio::ssl::context>& tls)
        : ws(client_stream(io, url, tls)), out(ws) {}
    void send(std::vector<Bytes> frames) { out.send(std::move(frames), shared_from_this()); }
    void close(websocket::close_code code) { out.close(websocket::close_reason(code), shared_from_this()); }
    WsStream ws;
    FrameQueue<WsStream> out;
    std::unique_ptr<sync::Session> session;
  };

  // Runs one connection until it ends; returns why it ended.
  awaitable<std::string> connect_once();
  void account(const sync::SessionCounters& now);

  NodeServer& node_;
  std::string url_text_;
  WsUrl url_;
  uint64_t id_;
  asio::steady_timer timer_;
  std::shared_ptr<Conn> conn_;
  bool finished_ = false;
  bool reached_live_ = false;  // in the current connection
  uint64_t connects_ = 0, failures_total_ = 0;
  unsigned consecutive_failures_ = 0;
  std::chrono::milliseconds retry_{0};
  sync::SessionCounters totals_, seen_;
};

void PeerLink::account(const sync::SessionCounters& now) {
  Metrics& m = node_.metrics();
  m.changes_received += now.changes_received - seen_.changes_received;
  m.changes_sent += now.changes_sent - seen_.changes_sent;
  totals_.changes_received += now.changes_received - seen_.changes_received;
  totals_.changes_sent += now.changes_sent - seen_.changes_sent;
  totals_.bytes_in += now.bytes_in - seen_.bytes_in;
  totals_.bytes_out += now.bytes_out - seen_.bytes_out;
  seen_ = now;
}

awaitable<void> PeerLink::run() {
  auto self = shared_from_this();
  const auto& opt = node_.options();
  while (!node_.stopping()) {
    reached_live_ = false;
    const std::string why = co_await connect_once();
    conn_.reset();
    node_.detach(id_);
    if (node_.stopping()) break;
    failures_total_ += 1;
    consecutive_failures_ = reached_live_ ? 0 : consecutive_failures_ + 1;
    // d = min(max, min * 2^n), then a random wait in [d/2, d].
    auto cap = opt.peer_retry_min * (1LL << std::min(consecutive_failures_, 20u));
    cap = std::min<std::chrono::milliseconds>(cap, opt.peer_retry_max);
    uint32_t r = 0;
    system_env().random_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&r), sizeof r));
    retry_ = cap / 2 + std::chrono::milliseconds(cap.count() > 1 ? r % (cap.count() / 2 + 1) : 0);
    log_event("warn", "peer_down", {{"peer", url_text_}, {"reason", why}, {"retry_in_ms", retry_.count()},
                                    {"consecutive_failures", consecutive_failures_}});
    timer_.expires_after(retry_);
    beast::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  retry_ = std::chrono::milliseconds(0);
  finished_ = true;
}

awaitable<std::string> PeerLink::connect_once() {
  auto conn = std::make_shared<Conn>(node_.io(), url_, url_.tls ? node_.peer_tls() : nullptr);
  conn_ = conn;
  if (std::string why = co_await ws_connect(conn->ws, url_, {.user_agent = "urbis-node"}); !why.empty()) co_return why;
  if (node_.stopping()) co_return "stopping";
  beast::error_code ec;

  // The node's own limits, and every space the peer node offers (this node
  // is member of none: the peer serves it only if it trusts it).
  sync::SessionOptions options = node_.session_options();
  options.discover = true;
  options.keep_unsolicited_spaces = true;
  conn->ws.binary(true);
  conn->ws.read_message_max(options.max_frame_bytes);
  conn->out.on_written = [this](size_t n) { node_.metrics().bytes_out += n; };
  conn->session = std::make_unique<sync::Session>(node_.replica(), system_env(), node_.signer(),
                                                  sync::SessionRole::Client, std::vector<SpaceId>{}, options);
  seen_ = sync::SessionCounters{};
  connects_ += 1;
  node_.attach(id_, this);
  log_event("info", "peer_connected", {{"peer", url_text_}, {"attempt", consecutive_failures_ + 1}});
  conn->send(conn->session->start());

  std::string why = "closed by peer";
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    co_await conn->ws.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (conn->out.closing() && why == "closed by peer") why = node_.stopping() ? "stopping" : "closed";
      if (!conn->out.closing()) {
        why = ec == websocket::error::closed
                  ? "closed by peer (" + std::string(conn->ws.reason().reason.data(), conn->ws.reason().reason.size()) + ")"
                  : ec.message();
      }
      break;
    }
    node_.metrics().bytes_in += buffer.size();
    const auto data = buffer.cdata();
    const ByteView frame(static_cast<const uint8_t*>(data.data()), data.size());
    sync::Reply reply = conn->session->receive(frame);
    conn->send(std::move(reply.frames));
    account(conn->session->counters());
    if (reply.stored > 0 && reply.space) node_.broadcast(id_, *reply.space);
    if (!reached_live_ && conn->session->state() == sync::SessionState::Live) {
      reached_live_ = true;
      consecutive_failures_ = 0;
      retry_ = std::chrono::milliseconds(0);
      log_event("info", "peer_live", {{"peer", url_text_},
                                      {"spaces", conn->session->synced_spaces().size()},
                                      {"changes_received", totals_.changes_received},
                                      {"changes_sent", totals_.changes_sent}});
    }
    if (!reply.status.is_ok()) {
      why = reply.status.to_string();
      conn->close(websocket::close_code::policy_error);
    }
  }
  account(conn->session->counters());
  co_return why;
}

const std::shared_ptr<asio::ssl::context>& NodeServer::peer_tls() {
  if (!peer_tls_) peer_tls_ = make_client_tls(options_.ca_file);  // first from add_peer, at startup
  return peer_tls_;
}

std::string NodeServer::load_tls() {
  std::string error;
  auto context = load_server_tls(*options_.tls_cert, *options_.tls_key, error);
  if (!context) return error;
  tls_ = std::move(context);
  // An expired certificate still loads (the operator may be mid-renewal),
  // but every client will refuse it: said loudly.
  if (auto expiry = certificate_expiry(*tls_)) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    if (*expiry <= now)
      log_event("error", "tls_certificate_expired", {{"certificate", certificate_summary(*tls_)}});
    else if (*expiry - now < 14 * 86'400)
      log_event("warn", "tls_certificate_expires_soon", {{"certificate", certificate_summary(*tls_)}});
  }
  return {};
}

void NodeServer::wait_for_reload() {
  reload_signals_.async_wait([this](beast::error_code ec, int) {
    if (ec || stopping_) return;
    if (!options_.tls_cert) {
      log_event("info", "reload", {{"tls", false}, {"note", "nothing to reload: no --tls-cert"}});
    } else if (std::string why = load_tls(); !why.empty()) {
      log_event("error", "tls_reload_failed", {{"error", why}, {"note", "new connections keep the previous certificate"}});
    } else {
      log_event("info", "tls_reloaded", {{"certificate", certificate_summary(*tls_)}});
    }
    wait_for_reload();
  });
}

void NodeServer::add_peer(const std::string& url) {
  // The TLS settings now, at startup (a CA file that stopped loading would
  // throw inside the link's coroutine later).
  if (parse_ws_url(url).tls) (void)peer_tls();
  auto link = std::make_shared<PeerLink>(*this, url);
  links_.push_back(link);
  asio::co_spawn(io_, link->run(), asio::detached);
}

tcp::endpoint NodeServer::listen(const HostPort& where) {
  beast::error_code ec;
  auto address = asio::ip::make_address(where.host, ec);
  if (ec) usage_error("--listen: '" + where.host + "' is not an IP address");
  tcp::endpoint endpoint(address, where.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail_network("cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
  return acceptor_.local_endpoint();
}

void NodeServer::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
  wait_for_reload();
  signals_.async_wait([this](beast::error_code ec, int signal) {
    if (!ec) stop(signal);
  });
}

awaitable<void> NodeServer::accept_loop() {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopping_) co_return;
    if (!ec) socket.set_option(tcp::no_delay(true), ec);  // small frames (Acks, live pushes) go at once
    if (ec) {
      log_event("warn", "accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));  // e.g. out of descriptors
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (open_connections_ >= options_.limits.max_connections + kHttpHeadroom) {
      // Past even the HTTP headroom: closed unanswered (answering costs what the limit saves).
      metrics_.connections_refused += 1;
      connection_refusal_log_("warn", "connection_refused",
                              {{"peer", endpoint_text(socket.remote_endpoint(ec))},
                               {"reason", "open connections at max_connections + " + std::to_string(kHttpHeadroom)}});
      socket.close(ec);
      continue;
    }
    open_connections_ += 1;  // counted here: serve() starts later
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

awaitable<void> NodeServer::serve(tcp::socket socket) {
  beast::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  const std::string peer = endpoint_text(remote);
  const bool from_loopback = !ec && remote.address().is_loopback();
  // With --tls-cert every connection is TLS, with the certificate loaded
  // last (a SIGHUP's reload reaches new connections only).
  Transport stream = tls_ ? Transport(beast::tcp_stream(std::move(socket)), tls_)
                          : Transport(beast::tcp_stream(std::move(socket)));
  beast::tcp_stream& tcp = stream.next_layer();
  http_streams_.insert(&tcp);
  bool tracked = true;
  auto untrack = [&] {
    if (tracked) http_streams_.erase(&tcp);
    tracked = false;
  };
  beast::flat_buffer buffer;
  bool upgraded = false;
  try {
    if (Transport::Tls* tls = stream.tls()) {
      tcp.expires_after(std::chrono::seconds(5));
      co_await tls->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        metrics_.tls_handshakes_failed += 1;
        log_event("debug", "tls_handshake_failed", {{"peer", peer}, {"error", tls_failure(*tls, ec)}});
      }
    }
    while (!ec && !stopping_) {
      tcp.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      http::request<http::string_body> req = parser.release();
      metrics_.http_requests += 1;
      const std::string target(req.target());
      const bool sync_upgrade = websocket::is_upgrade(req) && route_target(target).route == HttpRoute::Sync;
      if (sync_upgrade && !draining_ && sync_connections_ < options_.limits.max_connections) {
        untrack();
        tcp.expires_never();
        auto conn = std::make_shared<SyncConnection>(*this, std::move(stream), peer, forwarded_for(req, from_loopback));
        track(conn);
        sync_connections_ += 1;
        upgraded = true;
        co_await conn->run(std::move(req));
        break;
      }
      http::response<http::string_body> res = sync_upgrade ? refuse_upgrade(req, peer) : respond(req);
      // A declined upgrade ends the connection: the client tears down and waits for EOF.
      if (websocket::is_upgrade(req)) res.keep_alive(false);
      nlohmann::json line = {{"peer", peer}, {"method", std::string(req.method_string())},
                             {"target", target}, {"status", res.result_int()}};
      if (std::string via = forwarded_for(req, from_loopback); !via.empty()) line["forwarded_for"] = std::move(via);
      log_event("debug", "http", std::move(line));
      co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
      if (ec || res.need_eof()) break;
    }
  } catch (const std::exception& e) {
    log_event("error", "http_failed", {{"peer", peer}, {"error", e.what()}});
  }
  if (upgraded) sync_connections_ -= 1;
  untrack();
  open_connections_ -= 1;
  if (!upgraded) {
    // Over TLS, close_notify first, so a client reading to the end knows
    // the response is whole (bounded: a client that never answers).
    if (Transport::Tls* tls = stream.tls(); tls && !ec) {
      tcp.expires_after(std::chrono::seconds(2));
      co_await tls->async_shutdown(asio::redirect_error(use_awaitable, ec));
    }
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
}

// ---------------------------------------------------------------- HTTP

http::response<http::string_body> make_response(const http::request<http::string_body>& req, http::status status,
                                                std::string body, std::string_view type) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::server, "urbis");
  res.set(http::field::content_type, beast::string_view(type.data(), type.size()));
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays
  return res;
}

std::string_view mime_type(const fs::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".webmanifest") return "application/manifest+json";
  if (ext == ".css") return "text/css";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// How long browsers may keep a file without asking again. Pages, the web app
// manifest and the service worker: revalidate every time (an update must be
// seen). Vite's content-hashed assets/NAME-HASH.ext: forever. The rest: an hour.
std::string_view cache_control(std::string_view rel, const fs::path& file) {
  const std::string ext = file.extension().string();
  const std::string name = file.filename().string();
  if (ext == ".html" || ext == ".webmanifest" || name == "sw.js") return "no-cache";
  if (rel.starts_with("assets/")) return "public, max-age=31536000, immutable";
  return "public, max-age=3600";
}

http::response<http::string_body> NodeServer::static_file(const http::request<http::string_body>& req,
                                                          const std::string& raw_path) {
  auto not_found = [&] { return make_response(req, http::status::not_found, "not found\n", "text/plain"); };
  if (!options_.web) return not_found();
  auto found = resolve_static_path(*options_.web, raw_path);
  if (!found) return not_found();
  const fs::path& file = found->file;
  const std::string& rel = found->rel;
  // A precompressed sibling (FILE.gz, written by the web app's build) is sent
  // to clients that accept gzip: the wasm module travels at 45% of its size.
  fs::path sent = file;
  bool gzipped = false;
  std::error_code ec;
  const auto accept = req[http::field::accept_encoding];
  if (accepts_gzip(std::string_view(accept.data(), accept.size()))) {
    fs::path gz = file;
    gz += ".gz";
    if (fs::is_regular_file(gz, ec)) {
      sent = gz;
      gzipped = true;
    }
  }
  std::ifstream in(sent, std::ios::binary);
  if (!in) return not_found();
  std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto res = make_response(req, http::status::ok, std::move(body), mime_type(file));
  if (gzipped) res.set(http::field::content_encoding, "gzip");
  res.set(http::field::vary, "Accept-Encoding");
  const std::string_view cache = cache_control(rel, file);
  res.set(http::field::cache_control, beast::string_view(cache.data(), cache.size()));
  return res;
}

http::response<http::string_body> NodeServer::respond(const http::request<http::string_body>& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = make_response(req, http::status::method_not_allowed, "method not allowed\n", "text/plain");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  const HttpTarget target = route_target(std::string_view(req.target().data(), req.target().size()));
  switch (target.route) {
    case HttpRoute::Healthz: return make_response(req, http::status::ok, "ok\n", "text/plain; charset=utf-8");
    case HttpRoute::Readyz: {
      // Ready: serving, and the store answers a read. 503 once stopping
      // (a load balancer sends no one new) or when the store fails.
      if (stopping_ || draining_)
        return make_response(req, http::status::service_unavailable, "stopping\n", "text/plain; charset=utf-8");
      // The store is read at most once a second, however often this is
      // asked (it is unauthenticated); the reason goes to the log only.
      const auto now = std::chrono::steady_clock::now();
      if (now - store_probed_ >= std::chrono::seconds(1)) {
        store_probed_ = now;
        auto spaces = replica_.spaces();
        if (store_ok_ && !spaces.is_ok())
          log_event("error", "store_unreadable", {{"error", spaces.status().to_string()}});
        store_ok_ = spaces.is_ok();
      }
      if (!store_ok_)
        return make_response(req, http::status::service_unavailable, "store unavailable\n", "text/plain; charset=utf-8");
      return make_response(req, http::status::ok, "ready\n", "text/plain; charset=utf-8");
    }
    case HttpRoute::Metrics:
      return make_response(req, http::status::ok, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    case HttpRoute::Sync: return make_response(req, http::status::upgrade_required, "WebSocket only\n", "text/plain");
    case HttpRoute::Static: break;
  }
  return static_file(req, target.path);
}

// A /sync upgrade at max_connections: 503 with a body saying so, and the
// connection ends (as for any declined upgrade).
http::response<http::string_body> NodeServer::refuse_upgrade(const http::request<http::string_body>& req,
                                                             const std::string& peer) {
  metrics_.connections_refused += 1;
  if (draining_) {
    auto res = make_response(req, http::status::service_unavailable, "urbis node: stopping; connect to another node\n",
                             "text/plain; charset=utf-8");
    res.set(http::field::retry_after, "10");
    return res;
  }
  const std::string limit = std::to_string(options_.limits.max_connections);
  connection_refusal_log_("warn", "connection_refused",
                          {{"peer", peer}, {"reason", "sync connections at max_connections " + limit}});
  auto res = make_response(req, http::status::service_unavailable,
                           "urbis node: at its limit of " + limit + " sync connections; retry later\n",
                           "text/plain; charset=utf-8");
  res.set(http::field::retry_after, "10");
  return res;
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// The process's own figures, in Prometheus' standard names (Linux /proc).
void process_metrics(std::string& out) {
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    std::ostringstream v;
    v.precision(15);
    v << value;
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           v.str() + "\n";
  };
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    metric("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
           static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  if (std::ifstream statm("/proc/self/statm"); statm) {
    uint64_t size = 0, resident = 0;
    if (statm >> size >> resident)
      metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  std::error_code ec;
  size_t fds = 0;
  for (fs::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
  if (!ec) metric("process_open_fds", "gauge", "Open file descriptors.", static_cast<double>(fds));
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    metric("process_max_fds", "gauge", "The limit on open file descriptors.", static_cast<double>(rl.rlim_cur));
}

std::string NodeServer::metrics_text() {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(value) + "\n";
  };
  metric("urbis_connections", "gauge", "Open WebSocket sync connections.", metrics_.connections);
  metric("urbis_sessions_total", "counter", "Sync sessions opened.", metrics_.sessions_total);
  metric("urbis_changes_received_total", "counter", "Changes received and stored (or held).",
         metrics_.changes_received);
  metric("urbis_changes_sent_total", "counter", "Changes served to peers.", metrics_.changes_sent);
  metric("urbis_bytes_in_total", "counter", "WebSocket message bytes received.", metrics_.bytes_in);
  metric("urbis_bytes_out_total", "counter", "WebSocket message bytes sent.", metrics_.bytes_out);
  metric("urbis_http_requests_total", "counter", "HTTP requests read.", metrics_.http_requests);
  metric("urbis_http_connections", "gauge", "Open plain HTTP connections.", open_connections_ - sync_connections_);
  metric("urbis_connections_refused_total", "counter",
         "Connections refused at max_connections (HTTP 503, or closed unanswered).", metrics_.connections_refused);
  metric("urbis_reads_throttled_total", "counter", "WebSocket reads delayed by max_bytes_per_second.",
         metrics_.reads_throttled);
  size_t queued = 0;
  for (const auto& [id, conn] : live_) queued += conn->queued_bytes();
  metric("urbis_send_queue_bytes", "gauge", "Bytes waiting to be written to WebSocket peers.", queued);
  metric("urbis_reads_paused_total", "counter",
         "WebSocket reads delayed while more than max_frame_bytes waited to be written to the peer.",
         metrics_.reads_paused);
  if (tls_) {
    metric("urbis_tls_handshakes_failed_total", "counter",
           "Connections whose TLS handshake failed (not TLS, an old protocol, a client refusing the certificate).",
           metrics_.tls_handshakes_failed);
    if (auto expiry = certificate_expiry(*tls_))
      metric("urbis_tls_certificate_expiry_seconds", "gauge",
             "When the certificate new connections get expires (Unix time): alert weeks ahead.",
             static_cast<uint64_t>(*expiry));
  }
  const NodeLimits& l = options_.limits;
  metric("urbis_limit_max_connections", "gauge", "Limit: WebSocket sync connections at once.", l.max_connections);
  metric("urbis_limit_max_frames_per_second", "gauge", "Limit: frames a second per connection (0: none).",
         l.max_frames_per_second);
  metric("urbis_limit_max_bytes_per_second", "gauge", "Limit: bytes a second per connection (0: none).",
         l.max_bytes_per_second);
  metric("urbis_limit_max_frame_bytes", "gauge", "Limit: bytes in one frame.", options_.session.max_frame_bytes);
  metric("urbis_limit_max_batch_envelopes", "gauge", "Limit: envelopes in one Changes frame.",
         l.max_batch_envelopes);
  metric("urbis_limit_max_spaces", "gauge", "Limit: spaces in one Want and synced in one session.",
         l.max_spaces);
  metric("urbis_limit_max_held_changes", "gauge", "Limit: changes held for a missing predecessor, per space.",
         l.max_held_changes);
  out += "# HELP urbis_refusals_total Frames, changes and spaces refused, by error code.\n"
         "# TYPE urbis_refusals_total counter\n";
  for (const auto& [code, n] : metrics_.refusals)
    out += "urbis_refusals_total{code=\"" + label_value(code) + "\"} " + std::to_string(n) + "\n";
  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (size_t i = 0; i < std::size(Histogram::kBounds); ++i) {
      std::ostringstream le;
      le << Histogram::kBounds[i];
      out += std::string(name) + "_bucket{le=\"" + le.str() + "\"} " + std::to_string(h.counts[i]) + "\n";
    }
    std::ostringstream sum;
    sum << h.sum;
    out += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n" + name + "_sum " +
           sum.str() + "\n" + name + "_count " + std::to_string(h.count) + "\n";
  };
  histogram("urbis_changes_frame_seconds",
            "A Changes frame from a session: stored (or held, or refused) and its Ack queued.",
            metrics_.changes_frame_seconds);
  histogram("urbis_catchup_seconds", "A sync session from its WebSocket upgrade until it is live (caught up).",
            metrics_.catchup_seconds);
  process_metrics(out);
  uint64_t store = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    const auto size = fs::file_size(options_.store.string() + suffix, ec);
    if (!ec) store += size;
  }
  metric("urbis_store_bytes", "gauge", "Size of the node's SQLite store (with WAL).", store);
  if (!links_.empty()) {
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
      for (const auto& link : links_) {
        std::ostringstream v;
        v << value(*link);
        out += std::string(name) + "{peer=\"" + label_value(link->url()) + "\"} " + v.str() + "\n";
      }
    };
    family("urbis_peer_up", "gauge", "1 while the outbound link to the peer node is connected and live.",
           [](const PeerLink& l) { return l.up() ? 1 : 0; });
    family("urbis_peer_connects_total", "counter", "Connections made to the peer node.",
           [](const PeerLink& l) { return l.connects(); });
    family("urbis_peer_failures_total", "counter", "Failed or lost connections to the peer node.",
           [](const PeerLink& l) { return l.failures(); });
    family("urbis_peer_retry_seconds", "gauge", "Wait before the next attempt (0 while connected).",
           [](const PeerLink& l) { return l.retry_seconds(); });
    family("urbis_peer_changes_received_total", "counter", "Changes received from the peer node.",
           [](const PeerLink& l) { return l.totals().changes_received; });
    family("urbis_peer_changes_sent_total", "counter", "Changes sent to the peer node.",
           [](const PeerLink& l) { return l.totals().changes_sent; });
  }
  return out;
}

// ---------------------------------------------------------------- live push and shutdown

void NodeServer::broadcast(uint64_t from, const SpaceId& space) {
  // In slices of a few sessions, each slice a handler queued behind what is
  // ready meanwhile: with thousands of sessions the pushes interleave with
  // HTTP, signals and reads instead of holding the loop. A target may be gone
  // by its turn (looked up again).
  auto targets = std::make_shared<std::vector<uint64_t>>();
  for (const auto& entry : live_)
    if (entry.first != from) targets->push_back(entry.first);
  push_slice(std::move(targets), 0, space);
}

void NodeServer::push_slice(std::shared_ptr<std::vector<uint64_t>> targets, size_t begin, SpaceId space) {
  constexpr size_t kSlice = 32;
  const size_t end = std::min(targets->size(), begin + kSlice);
  for (size_t i = begin; i < end; ++i)
    if (auto it = live_.find((*targets)[i]); it != live_.end()) it->second->push(space);
  if (end < targets->size())
    asio::post(io_, [this, targets = std::move(targets), end, space] { push_slice(targets, end, space); });
}

void NodeServer::stop(int signal) {
  if (stopping_) return;
  if (options_.drain.count() > 0 && !draining_) {
    // Not ready from now on; the stop itself after the drain, or at once on
    // a second signal.
    draining_ = true;
    notify_systemd("STOPPING=1");
    log_event("info", "draining", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
                                    {"seconds", options_.drain.count()}, {"sessions", live_.size()}});
    signals_.async_wait([this](beast::error_code ec, int again) {
      if (!ec) stop(again);
    });
    drain_timer_.expires_after(options_.drain);
    drain_timer_.async_wait([this, signal](beast::error_code ec) {
      if (!ec) stop(signal);
    });
    return;
  }
  stopping_ = true;
  drain_timer_.cancel();
  beast::error_code ignored;
  signals_.cancel(ignored);  // the wait a drain armed for a second signal
  reload_signals_.cancel(ignored);
  if (!draining_) notify_systemd("STOPPING=1");
  log_event("info", "stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}, {"sessions", live_.size()}});
  beast::error_code ec;
  acceptor_.close(ec);
  for (beast::tcp_stream* s : http_streams_) s->cancel();
  for (auto& weak : all_)
    if (auto conn = weak.lock()) conn->shut_down();
  for (auto& link : links_) link->shut_down();
  wait_for_quiet(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

// Lets io_context::run return once every connection is gone, or stops it at
// `deadline` (a peer that never answers the close).
void NodeServer::wait_for_quiet(std::chrono::steady_clock::time_point deadline) {
  std::erase_if(all_, [](const auto& w) { return w.expired(); });
  const bool links_done = std::all_of(links_.begin(), links_.end(), [](const auto& l) { return l->finished(); });
  if (all_.empty() && http_streams_.empty() && links_done) return;  // nothing left: run() returns
  if (std::chrono::steady_clock::now() >= deadline) {
    log_event("warn", "stop_forced", {{"connections", all_.size() + http_streams_.size()}});
    io_.stop();
    return;
  }
  stop_timer_.expires_after(std::chrono::milliseconds(20));
  stop_timer_.async_wait([this, deadline](beast::error_code ec) {
    if (!ec) wait_for_quiet(deadline);
  });
}

// The value of `flag`: a whole number from `min` to `max`, or a usage error.
template <typename T>
std::optional<T> number_flag(const Args& args, const char* flag, T min, T max = std::numeric_limits<T>::max()) {
  auto text = args.value(flag);
  if (!text) return std::nullopt;
  T n{};
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < min || n > max)
    usage_error(std::string(flag) + " takes a whole number " +
                (max == std::numeric_limits<T>::max() ? "of at least " + std::to_string(min)
                                                       : "from " + std::to_string(min) + " to " + std::to_string(max)) +
                ", not '" + *text + "'");
  return n;
}

// Raises the soft limit on open files towards what `connections` sockets
// need (each one descriptor, plus the store and a margin), as far as the
// hard limit allows; warns when that is not enough.
void raise_file_limit(size_t connections) {
  const rlim_t wanted = static_cast<rlim_t>(connections + kHttpHeadroom + 64);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= wanted) return;
  rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
  if (raised.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  if (rl.rlim_cur < wanted)
    log_event("warn", "file_limit_low",
              {{"open_files", static_cast<uint64_t>(rl.rlim_cur)}, {"max_connections", connections},
               {"hint", "connections beyond the open-file limit fail to be accepted; raise ulimit -n"}});
}

}  // namespace


void run_node_key(const Context& ctx, const Args& args) {
  args.expect_positional(0, "node key");
  // The public key other nodes trust this one by (--trust-peer): the one
  // `urbis node` signs with (node_identity decides for both).
  emit(ctx, {{"node", node_identity(ctx).device().hex()}});
}

void run_node_backup(const Context& ctx, const Args& args) {
  args.expect_positional(1, "node backup DIR");
  emit(ctx, backup_home(resolve_home(ctx), args.positional()[0]));
}

void run_node(const Context& ctx, const Args& command_line) {
  command_line.expect_positional(0, kNodeUsage);
  // --config FILE: the same settings as flags, which win over it.
  Args args = command_line;
  if (auto path = command_line.value("--config")) {
    const auto& table = commands();
    const auto node = std::find_if(table.begin(), table.end(), [](const Command& c) { return c.name == "node"; });
    args.add_defaults(read_config_file(*path, node->valued, node->flags));
  }
  if (auto level = args.value("--log-level"); level && !set_log_level(*level))
    usage_error("--log-level takes debug, info, warn or error, not '" + *level + "'");
  auto listen = args.value("--listen");
  if (!listen) usage_error(std::string("usage: urbis ") + kNodeUsage);
  const HostPort where = parse_host_port(*listen);
  NodeOptions options;
  if (auto web = args.value("--web")) {
    if (!fs::is_directory(*web)) usage_error("--web: '" + *web + "' is not a directory");
    options.web = *web;
  }
  if (auto n = number_flag<size_t>(args, "--max-frame-bytes", 1024, size_t{1} << 30))
    options.session.max_frame_bytes = *n;
  NodeLimits& limits = options.limits;
  if (auto n = number_flag<size_t>(args, "--max-connections", 1, 1'000'000)) limits.max_connections = *n;
  if (auto n = number_flag<uint64_t>(args, "--max-frames-per-second", 0)) limits.max_frames_per_second = *n;
  if (auto n = number_flag<uint64_t>(args, "--max-bytes-per-second", 0)) limits.max_bytes_per_second = *n;
  // Below this a well-behaved client's batch (256 KiB of envelopes of ~200
  // bytes or more) could be refused.
  if (auto n = number_flag<size_t>(args, "--max-batch-envelopes", 2048)) limits.max_batch_envelopes = *n;
  if (auto n = number_flag<size_t>(args, "--max-held-changes", 0)) limits.max_held_changes = *n;
  if (auto n = number_flag<size_t>(args, "--max-spaces", 1)) limits.max_spaces = *n;
  for (const std::string& url : args.values("--peer")) {
    (void)parse_ws_url(url);  // a usage error now rather than a failing link later
    options.peers.push_back(url);
  }
  for (const std::string& hex : args.values("--trust-peer")) {
    auto key = DeviceKey::from_hex(hex);
    if (!key) usage_error("--trust-peer takes a node key (64 hex digits, from 'urbis node key'), not '" + hex + "'");
    options.session.trusted_peers.push_back(*key);
  }
  // Who may create spaces here: --space-creator keys, members of a space the
  // node holds, trusted peers; everyone with --open-spaces.
  for (const std::string& hex : args.values("--space-creator")) {
    auto key = DeviceKey::from_hex(hex);
    if (!key) usage_error("--space-creator takes a device key (64 hex digits, from 'urbis init'), not '" + hex + "'");
    options.session.space_creators.push_back(*key);
  }
  options.session.open_spaces = args.flag("--open-spaces");
  options.session.max_envelopes_per_frame = limits.max_batch_envelopes;
  options.session.max_spaces = limits.max_spaces;
  if (auto n = number_flag<int64_t>(args, "--peer-retry-max", 1, 86'400))
    options.peer_retry_max = std::chrono::seconds(*n);
  if (auto n = number_flag<int64_t>(args, "--drain-seconds", 0, 300)) options.drain = std::chrono::seconds(*n);
  options.tls_cert = args.value("--tls-cert");
  options.tls_key = args.value("--tls-key");
  if (options.tls_cert.has_value() != options.tls_key.has_value())
    usage_error("--tls-cert and --tls-key go together: the certificate chain and its private key (PEM files)");
  options.ca_file = args.value("--ca-file");
  for (const std::string& url : options.peers)
    if (WsUrl peer = parse_ws_url(url); peer.tls) check_client_tls(peer, options.ca_file);
  options.peer_retry_min = std::min(options.peer_retry_min, options.peer_retry_max);
  options.store = resolve_home(ctx) / "replica.db";
  if (args.flag("--print-config")) {
    // The effective settings, defaults included, in the configuration
    // file's names; nothing is opened or started.
    auto keys = [](const std::vector<DeviceKey>& ks) {
      nlohmann::json out = nlohmann::json::array();
      for (const DeviceKey& k : ks) out.push_back(k.hex());
      return out;
    };
    emit(ctx, {{"config", command_line.value("--config").value_or("")},
               {"home", resolve_home(ctx).string()},
               {"listen", *listen},
               {"web", options.web ? options.web->string() : ""},
               {"peer", options.peers},
               {"trust-peer", keys(options.session.trusted_peers)},
               {"space-creator", keys(options.session.space_creators)},
               {"open-spaces", options.session.open_spaces},
               {"peer-retry-max", std::chrono::duration_cast<std::chrono::seconds>(options.peer_retry_max).count()},
               {"max-frame-bytes", options.session.max_frame_bytes},
               {"max-connections", limits.max_connections},
               {"max-frames-per-second", limits.max_frames_per_second},
               {"max-bytes-per-second", limits.max_bytes_per_second},
               {"max-batch-envelopes", limits.max_batch_envelopes},
               {"max-spaces", limits.max_spaces},
               {"max-held-changes", limits.max_held_changes},
               {"drain-seconds", options.drain.count()},
               {"tls-cert", options.tls_cert.value_or("")},
               {"tls-key", options.tls_key.value_or("")},
               {"ca-file", options.ca_file.value_or("")},
               {"log-level", args.value("--log-level").value_or("info")}});
    return;
  }
  raise_file_limit(limits.max_connections);
  // A store that may not grow (a file-size limit) fails the write with an
  // error the client is told (Storage), instead of killing the node.
  std::signal(SIGXFSZ, SIG_IGN);

  SyncHome home = open_node_home(ctx, limits.max_held_changes);
  const sync::Signer signer = sync::Signer::of(*home.signer_identity);
  const std::string device = home.signer_identity->device().hex();
  {
    asio::io_context io(1);
    NodeServer server(io, *home.replica, signer, options);
    if (options.tls_cert)
      if (std::string why = server.load_tls(); !why.empty()) usage_error("--tls-cert: " + why);
    const tcp::endpoint bound = server.listen(where);
    server.start();
    nlohmann::json trusted = nlohmann::json::array();
    for (const DeviceKey& k : options.session.trusted_peers) trusted.push_back(k.hex());
    log_event("info", "listening", {{"address", endpoint_text(bound)},
                                    {"home", resolve_home(ctx).string()},
                                    {"node", device},
                                    {"peers", options.peers},
                                    {"trusted_peers", trusted},
                                    {"open_spaces", options.session.open_spaces},
                                    {"space_creators", options.session.space_creators.size()},
                                    {"web", options.web ? options.web->string() : ""},
                                    {"max_frame_bytes", options.session.max_frame_bytes},
                                    {"max_connections", limits.max_connections},
                                    {"max_frames_per_second", limits.max_frames_per_second},
                                    {"max_bytes_per_second", limits.max_bytes_per_second},
                                    {"max_batch_envelopes", limits.max_batch_envelopes},
                                    {"max_spaces", limits.max_spaces},
                                    {"max_held_changes", limits.max_held_changes},
                                    {"tls", server.tls()}});
    for (const std::string& url : options.peers) server.add_peer(url);
    const std::string line = dump_json({{"listening", endpoint_text(bound)}, {"node", device}}, -1) + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    notify_systemd("READY=1");
    io.run();
  }  // every connection and session is gone before the replica closes
  home.replica.reset();
  log_event("info", "stopped");
}

}  // namespace urbis::cli
