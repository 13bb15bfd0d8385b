// Peer links (peer_link.h).
#include "peer_link.h"

#include <algorithm>

namespace urbis::server {

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
    log_event("warn", "peer_down",
              {{"peer", url_text_},
               {"reason", why},
               {"retry_in_ms", retry_.count()},
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
  if (std::string why = co_await net::ws_connect(conn->ws, url_, {.user_agent = "urbis-node"}); !why.empty())
    co_return why;
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
                  ? "closed by peer (" + std::string(conn->ws.reason().reason.data(), conn->ws.reason().reason.size()) +
                        ")"
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
      log_event("info", "peer_live",
                {{"peer", url_text_},
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

}  // namespace urbis::server
