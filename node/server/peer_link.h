// One outbound link from the node to another node (--peer URL).
#pragma once

#include "server.h"  // first: Boost before the rest

#include <memory>
#include <string>

#include "frame_queue.h"

namespace urbis::server {

// One outbound link to another node (--peer URL): connects, runs a Client
// session with discovery over the node's store (so every space either node
// may sync flows both ways, and spaces that appear later are proposed), and
// after a failure or a close reconnects with exponential backoff and jitter:
// the n-th consecutive failure waits a random time in [d/2, d] with
// d = min(retry_max, retry_min * 2^n); reaching Live resets n. Its state is
// in /metrics (urbis_peer_*) and in the log (peer_* events).
class PeerLink : public std::enable_shared_from_this<PeerLink>, public LiveTarget {
 public:
  PeerLink(NodeServer& node, std::string url_text, net::WsUrl url)
      : node_(node), url_text_(std::move(url_text)), url_(std::move(url)), id_(node.next_id()), timer_(node.io()) {}

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
    Conn(asio::io_context& io, const net::WsUrl& url, const std::shared_ptr<asio::ssl::context>& tls)
        : ws(net::client_stream(io, url, tls)), out(ws) {}
    void send(std::vector<Bytes> frames) { out.send(std::move(frames), shared_from_this()); }
    void close(websocket::close_code code) { out.close(websocket::close_reason(code), shared_from_this()); }
    WsStream ws;
    net::FrameQueue<WsStream> out;
    std::unique_ptr<sync::Session> session;
  };

  // Runs one connection until it ends; returns why it ended.
  awaitable<std::string> connect_once();
  void account(const sync::SessionCounters& now);

  NodeServer& node_;
  std::string url_text_;
  net::WsUrl url_;
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

}  // namespace urbis::server
