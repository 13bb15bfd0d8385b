// One WebSocket sync connection to the node: drives one sync::Session in
// the Server role, within the connection's limits (frames and bytes a
// second, backpressure when the peer does not read), and receives the
// node's live pushes.
#pragma once

#include "server.h"  // first: Boost before the rest

#include <memory>
#include <string>

#include "frame_queue.h"

namespace urbis::server {

// One WebSocket connection driving one Session.
class SyncConnection : public std::enable_shared_from_this<SyncConnection>, public LiveTarget {
 public:
  SyncConnection(NodeServer& node, Transport stream, std::string peer, std::string forwarded_for)
      : node_(node),
        ws_(std::move(stream)),
        out_(ws_),
        id_(node.next_id()),
        peer_(std::move(peer)),
        forwarded_for_(std::move(forwarded_for)),
        frames_(static_cast<double>(node.limits().max_frames_per_second),
                static_cast<double>(node.limits().max_frames_per_second)),
        bytes_(static_cast<double>(node.limits().max_bytes_per_second),
               static_cast<double>(
                   std::max<uint64_t>(node.limits().max_bytes_per_second, node.session_options().max_frame_bytes))) {
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
    send({sync::error_frame(code, message)});
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
    refuse(Code::RateLimited, "more than " + std::to_string(node_.limits().max_frames_per_second) + " frames a second",
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
  net::FrameQueue<WsStream> out_;
  uint64_t id_;
  std::string peer_;
  std::string forwarded_for_;  // what a proxy said the client was (X-Forwarded-For); for logs only
  std::unique_ptr<sync::Session> session_;
  sync::SessionCounters seen_;
  TokenBucket frames_, bytes_;
  bool refused_ = false;
  Status refusal_;
};

}  // namespace urbis::server
