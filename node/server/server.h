// The sync node as a library: one io_context on one thread serves, on one
// listening socket, HTTP (/healthz, /readyz, /metrics, static files from
// options.web) and WebSocket sync sessions on /sync: each binary message is
// one frame for a sync::Session in the Server role over the node's own
// replica (key-less: the node signs with its transport key and holds no
// space key unless its home holds a member identity). Each options.peers URL
// is an outbound link to another node (peer_link.h). Changes a session or
// link applies are pushed live to every other session and link
// (store-and-forward along a chain of nodes). SIGINT/SIGTERM close the
// listener, every connection and link (after options.drain), and io.run()
// returns; SIGHUP reloads the TLS certificate.
//
// Limits (node_limits.h; flags of `urbis node`, node/README.md): WebSocket
// sessions at once (an upgrade beyond gets HTTP 503), frames per second and
// bytes per second per connection (a frame flood gets Error RateLimited and
// close 1013; bytes beyond the rate are read more slowly), envelopes per
// Changes frame and spaces per Want and per session (Error TooLarge), changes
// held per space (the core's bound), and a peer that does not read is not
// read.
//
// Errors are Status values: the command line (node/cli/node_command.cc)
// parses flags into NodeOptions and turns a Status into its exit code.
#pragma once

#include "ws_connect.h"  // first: Boost before the rest

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node_limits.h"
#include "log.h"
#include "metrics.h"
#include "url.h"
#include "urbis/replica.h"
#include "urbis/sync/session.h"

namespace urbis::server {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using net::log_event;
using net::notify_systemd;
using net::Transport;
using net::WsStream;

struct NodeOptions {
  std::optional<fs::path> web;
  fs::path store;                // replica.db, for urbis_store_bytes
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

// log_event for refusals an attacker can repeat at will: at most one line a
// second; the next line says how many were not logged ("suppressed").
class ThrottledLog {
 public:
  void operator()(const char* level, const char* event, nlohmann::json fields) {
    uint64_t suppressed = 0;
    if (!throttle_.admit(suppressed)) return;
    fields["suppressed"] = suppressed;
    log_event(level, event, std::move(fields));
  }

 private:
  LogThrottle throttle_;
};

// "address:port", for logs.
std::string endpoint_text(const tcp::endpoint& e);
double seconds_since(std::chrono::steady_clock::time_point start);
// The name of an error code as it travels on the wire ("Internal" for an
// unknown number), for the refusals metric.
std::string status_code_name(int32_t wire);
// What a reverse proxy on this machine says the client is, for logs: the
// last entry of the last X-Forwarded-For line (the one the proxy added), at
// most 64 bytes; "" unless the connection comes from a loopback address (a
// proxy elsewhere is not told apart from a client that sends the header
// itself). Never used for anything but logs.
std::string forwarded_for(const http::request<http::string_body>& req, bool from_loopback);

class SyncConnection;
class PeerLink;

class NodeServer {
 public:
  NodeServer(asio::io_context& io, Replica& replica, std::optional<sync::Signer> signer, NodeOptions options)
      : io_(io),
        acceptor_(io),
        signals_(io, SIGINT, SIGTERM),
        reload_signals_(io, SIGHUP),
        stop_timer_(io),
        drain_timer_(io),
        replica_(replica),
        signer_(std::move(signer)),
        options_(std::move(options)) {}

  // Loads the certificate and key (options.tls_cert, tls_key) that new
  // connections get; InvalidArgument naming the file and what is wrong (the
  // previous ones then stay).
  Status load_tls();
  bool tls() const { return tls_ != nullptr; }

  // Binds and listens; returns the bound endpoint (the real port for port
  // 0). InvalidArgument for a host that is not an IP address, Internal when
  // the socket cannot be bound.
  Result<tcp::endpoint> listen(const net::HostPort& where);
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
  // Starts an outbound link to another node; InvalidArgument for a bad URL
  // or, for wss://, TLS settings that do not load (options.ca_file).
  Status add_peer(const std::string& url);
  // The TLS settings of wss:// peer links (--ca-file, else the system's
  // store), loaded by the first add_peer of a wss:// URL.
  const std::shared_ptr<asio::ssl::context>& peer_tls() const { return peer_tls_; }
  const NodeOptions& options() const { return options_; }
  asio::io_context& io() { return io_; }

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(tcp::socket socket);
  http::response<http::string_body> respond(const http::request<http::string_body>& req);
  http::response<http::string_body> static_file(const http::request<http::string_body>& req, const std::string& path);
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
  bool draining_ = false;                                 // --drain-seconds after SIGTERM: not ready, no new sessions
  std::chrono::steady_clock::time_point store_probed_{};  // /readyz's last read of the store
  bool store_ok_ = true;
  uint64_t last_id_ = 0;
  std::map<uint64_t, LiveTarget*> live_;  // sessions open, links up
  std::vector<std::shared_ptr<PeerLink>> links_;
  std::vector<std::weak_ptr<SyncConnection>> all_;  // for shutdown: alive until closed
  std::set<beast::tcp_stream*> http_streams_;       // HTTP connections (not upgraded), by their TCP stream
  std::shared_ptr<asio::ssl::context> tls_;         // the listener's, when --tls-cert
  std::shared_ptr<asio::ssl::context> peer_tls_;    // wss:// peer links', made on first use
};

}  // namespace urbis::server
