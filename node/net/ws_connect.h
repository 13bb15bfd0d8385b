// The client side of a connection to a node, shared by `urbis sync` and
// `space join` (node/cli/sync_client.cc) and the node's peer links (node/server):
// resolve, TCP connect (TCP_NODELAY: frames are small and latency matters),
// TLS handshake for wss://, WebSocket handshake; each step bounded by a
// timeout. Also the Boost namespace aliases both use.
#pragma once

#include "frame_queue.h"  // first: Boost before the rest
#include "transport.h"

#include <chrono>
#include <string>

#include "url.h"

namespace urbis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using WsStream = websocket::stream<Transport>;

// A client connection's stream for `url`: TLS with `tls` (make_client_tls)
// for wss://, plain TCP for ws://.
inline WsStream client_stream(asio::io_context& io, const WsUrl& url, const std::shared_ptr<asio::ssl::context>& tls) {
  if (url.tls) return WsStream(Transport(beast::tcp_stream(io), tls));
  return WsStream(Transport(beast::tcp_stream(io)));
}

struct WsConnectOptions {
  std::chrono::seconds timeout{5};        // for the TCP connect and for the handshake
  std::chrono::seconds idle_timeout{60};  // then: closed after this long without traffic (pings keep it alive)
  const char* user_agent = "urbis";
};

// Connects `ws` (from client_stream) to `url`. Resolves to "" once the
// WebSocket is open, else to why not, naming the URL ("cannot connect to
// ws://…: timed out", "TLS handshake with wss://… failed: certificate verify
// failed: …", "WebSocket handshake with ws://… failed: HTTP 503").
inline awaitable<std::string> ws_connect(WsStream& ws, const WsUrl& url, WsConnectOptions options) {
  const std::string where = url.text();
  beast::error_code ec;
  tcp::resolver resolver(ws.get_executor());
  auto results =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "cannot resolve " + url.host + ": " + ec.message();
  beast::tcp_stream& raw = beast::get_lowest_layer(ws);
  raw.expires_after(options.timeout);
  co_await raw.async_connect(results, asio::redirect_error(use_awaitable, ec));
  if (ec)
    co_return "cannot connect to " + where + ": " +
        (ec == beast::error::timeout ? std::string("timed out") : ec.message());
  raw.socket().set_option(tcp::no_delay(true), ec);
  if (Transport::Tls* tls = ws.next_layer().tls()) {
    if (std::string why = expect_server_name(*tls, url.host); !why.empty()) co_return why;
    raw.expires_after(options.timeout);
    co_await tls->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return "TLS handshake with " + where + " failed: " + tls_failure(*tls, ec);
  }
  raw.expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = options.timeout;
  timeouts.idle_timeout = options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [agent = options.user_agent](websocket::request_type& req) { req.set(http::field::user_agent, agent); }));
  websocket::response_type response;
  response.result(0u);  // stays 0 unless an HTTP answer is read
  co_await ws.async_handshake(response, url.authority(), url.path, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    std::string detail = ec.message();
    if (response.result_int() != 0 && response.result() != http::status::switching_protocols)
      detail = "HTTP " + std::to_string(response.result_int());
    else if (response.result_int() == 0 && !url.tls)
      detail += " (no HTTP answer: if the node listens with TLS, use wss://)";
    co_return "WebSocket handshake with " + where + " failed: " + detail;
  }
  co_return std::string();
}

}  // namespace urbis::net
