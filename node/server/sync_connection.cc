// One sync connection (sync_connection.h).
#include "sync_connection.h"

#include <algorithm>

namespace urbis::server {

awaitable<void> SyncConnection::run(http::request<http::string_body> req) {
  auto self = shared_from_this();
  beast::error_code ec;
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(
      websocket::stream_base::decorator([](websocket::response_type& res) { res.set(http::field::server, "urbis"); }));
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
  session_ = std::make_unique<sync::Session>(node_.replica(), system_env(), node_.signer(), sync::SessionRole::Server,
                                             std::vector<SpaceId>{}, node_.session_options());
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

}  // namespace urbis::server
