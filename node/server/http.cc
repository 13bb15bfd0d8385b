// What the node answers over plain HTTP: health, readiness, metrics and
// the web app's files (server.h).
#include "server.h"

#include <fstream>
#include <iterator>

#include "peer_link.h"
#include "static_files.h"

namespace urbis::server {

namespace {

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

}  // namespace

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
  const auto accept = req[http::field::accept_encoding];
  const bool gzipped = found->gzipped && accepts_gzip(std::string_view(accept.data(), accept.size()));
  const fs::path& sent = gzipped ? *found->gzipped : file;
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
        return make_response(req, http::status::service_unavailable, "store unavailable\n",
                             "text/plain; charset=utf-8");
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

std::string NodeServer::metrics_text() {
  PrometheusText out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    out.metric(name, type, help, value);
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
    if (auto expiry = net::certificate_expiry(*tls_))
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
  metric("urbis_limit_max_batch_envelopes", "gauge", "Limit: envelopes in one Changes frame.", l.max_batch_envelopes);
  metric("urbis_limit_max_spaces", "gauge", "Limit: spaces in one Want and synced in one session.", l.max_spaces);
  metric("urbis_limit_max_held_changes", "gauge", "Limit: changes held for a missing predecessor, per space.",
         l.max_held_changes);
  out.family("urbis_refusals_total", "counter", "Frames, changes and spaces refused, by error code.");
  for (const auto& [code, n] : metrics_.refusals)
    out.sample("urbis_refusals_total", "code", code, static_cast<double>(n));
  out.histogram("urbis_changes_frame_seconds",
                "A Changes frame from a session: stored (or held, or refused) and its Ack queued.",
                metrics_.changes_frame_seconds);
  out.histogram("urbis_catchup_seconds", "A sync session from its WebSocket upgrade until it is live (caught up).",
                metrics_.catchup_seconds);
  out.process();
  uint64_t store = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    const auto size = fs::file_size(options_.store.string() + suffix, ec);
    if (!ec) store += size;
  }
  metric("urbis_store_bytes", "gauge", "Size of the node's SQLite store (with WAL).", store);
  if (!links_.empty()) {
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
      out.family(name, type, help);
      for (const auto& link : links_) out.sample(name, "peer", link->url(), static_cast<double>(value(*link)));
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
  return out.take();
}

}  // namespace urbis::server
