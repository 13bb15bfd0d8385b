// The node's lifecycle: listening, accepting, serving HTTP and upgrading to
// sync connections, live push, TLS reload and the stop (server.h).
#include "server.h"

#include <algorithm>
#include <csignal>

#include "peer_link.h"
#include "static_files.h"
#include "sync_connection.h"

namespace urbis::server {

std::string endpoint_text(const tcp::endpoint& e) { return e.address().to_string() + ":" + std::to_string(e.port()); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string status_code_name(int32_t wire) {
  switch (wire) {
#define X(name, num, text) \
  case num:                \
    return #name;
#include "urbis/error_codes.def"
#undef X
    default: return "Internal";
  }
}

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

Status NodeServer::load_tls() {
  std::string error;
  auto context = net::load_server_tls(*options_.tls_cert, *options_.tls_key, error);
  if (!context) return Status(Code::InvalidArgument, error);
  tls_ = std::move(context);
  // An expired certificate still loads (the operator may be mid-renewal),
  // but every client will refuse it: said loudly.
  if (auto expiry = net::certificate_expiry(*tls_)) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (*expiry <= now)
      log_event("error", "tls_certificate_expired", {{"certificate", net::certificate_summary(*tls_)}});
    else if (*expiry - now < 14 * 86'400)
      log_event("warn", "tls_certificate_expires_soon", {{"certificate", net::certificate_summary(*tls_)}});
  }
  return Status::ok();
}

void NodeServer::wait_for_reload() {
  reload_signals_.async_wait([this](beast::error_code ec, int) {
    if (ec || stopping_) return;
    if (!options_.tls_cert) {
      log_event("info", "reload", {{"tls", false}, {"note", "nothing to reload: no --tls-cert"}});
    } else if (Status why = load_tls(); !why.is_ok()) {
      log_event("error", "tls_reload_failed",
                {{"error", why.message()}, {"note", "new connections keep the previous certificate"}});
    } else {
      log_event("info", "tls_reloaded", {{"certificate", net::certificate_summary(*tls_)}});
    }
    wait_for_reload();
  });
}

Status NodeServer::add_peer(const std::string& url) {
  auto parsed = net::parse_ws_url(url);
  if (!parsed.is_ok()) return parsed.status();
  // The TLS settings now, at startup, never first inside the link's coroutine.
  if (parsed->tls && !peer_tls_) {
    auto tls = net::make_client_tls(options_.ca_file);
    if (!tls.is_ok()) return tls.status();
    peer_tls_ = std::move(tls).value();
  }
  auto link = std::make_shared<PeerLink>(*this, url, std::move(parsed).value());
  links_.push_back(link);
  asio::co_spawn(io_, link->run(), asio::detached);
  return Status::ok();
}

Result<tcp::endpoint> NodeServer::listen(const net::HostPort& where) {
  beast::error_code ec;
  auto address = asio::ip::make_address(where.host, ec);
  if (ec) return Status(Code::InvalidArgument, "--listen: '" + where.host + "' is not an IP address");
  tcp::endpoint endpoint(address, where.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status(Code::Internal, "cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
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
  Transport stream =
      tls_ ? Transport(beast::tcp_stream(std::move(socket)), tls_) : Transport(beast::tcp_stream(std::move(socket)));
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
        log_event("debug", "tls_handshake_failed", {{"peer", peer}, {"error", net::tls_failure(*tls, ec)}});
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
      nlohmann::json line = {{"peer", peer},
                             {"method", std::string(req.method_string())},
                             {"target", target},
                             {"status", res.result_int()}};
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
    log_event("info", "draining",
              {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
               {"seconds", options_.drain.count()},
               {"sessions", live_.size()}});
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

}  // namespace urbis::server
