// Transport: the byte stream under a WebSocket, plain TCP (ws://) or TLS over
// TCP (wss://, and a node listening with --tls-cert). One type for both, so
// the WebSocket code (the node's sessions and peer links, `urbis sync`) is
// written once: Beast's websocket::stream<Transport> reads and writes through
// whichever stream the connection has.
//
// TLS is OpenSSL through Boost.Asio: TLS 1.2 at least; a client verifies the
// server's chain against the system's store (or one CA file) and its name or
// IP address against the certificate (OpenSSL's own host checks, with SNI).
#pragma once

#include <utility>  // before Boost: asio's awaitable.hpp needs std::exchange

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

#include "urbis/status.h"

namespace urbis::net {

class Transport {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = Plain::executor_type;

  explicit Transport(Plain plain) : stream_(std::in_place_type<Plain>, std::move(plain)) {}
  // TLS over `plain`, with `context` (kept alive by the connection: a node's
  // certificate can be replaced while connections made with the old one go on).
  Transport(Plain plain, std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)), stream_(std::in_place_type<Tls>, std::move(plain), *context_) {}

  Transport(Transport&&) = default;
  Transport& operator=(Transport&&) = default;

  executor_type get_executor() noexcept { return lowest().get_executor(); }
  // The TCP stream under it (Beast's get_lowest_layer finds it here): timeouts, the socket.
  Plain& next_layer() noexcept { return lowest(); }
  const Plain& next_layer() const noexcept { return const_cast<Transport*>(this)->lowest(); }
  // The TLS stream; nullptr for plain TCP.
  Tls* tls() noexcept { return std::get_if<Tls>(&stream_); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  // The WebSocket closing handshake's end (Beast's teardown customization
  // point): TLS sends its close_notify first.
  friend void teardown(boost::beast::role_type role, Transport& t, boost::system::error_code& ec) {
    std::visit(
        [&](auto& s) {
          using boost::beast::websocket::teardown;
          teardown(role, s, ec);
        },
        t.stream_);
  }
  template <typename Handler>
  friend void async_teardown(boost::beast::role_type role, Transport& t, Handler&& handler) {
    if (Tls* s = t.tls()) {
      using boost::beast::websocket::async_teardown;
      async_teardown(role, *s, std::forward<Handler>(handler));
    } else {
      using boost::beast::websocket::async_teardown;
      async_teardown(role, std::get<Plain>(t.stream_), std::forward<Handler>(handler));
    }
  }

 private:
  Plain& lowest() noexcept {
    if (Tls* s = tls()) return s->next_layer();
    return std::get<Plain>(stream_);
  }

  std::shared_ptr<boost::asio::ssl::context> context_;  // before stream_: outlives it
  std::variant<Plain, Tls> stream_;
};

// A client's TLS settings: verify the server against `ca_file` (PEM, one or
// more certificates) or, without one, the system's store; InvalidArgument
// naming the file when it cannot be read.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const std::optional<std::string>& ca_file);

// A server's TLS settings from a certificate chain and its private key (PEM
// files); nullptr and `error` (naming the file and what is wrong) when they
// cannot be loaded or do not match.
std::shared_ptr<boost::asio::ssl::context> load_server_tls(const std::string& cert_file, const std::string& key_file,
                                                           std::string& error);

// Prepares a client connection to `host` (a name, or an IPv4/IPv6 address):
// SNI for a name, and the certificate must be for `host`. Call before the
// handshake. Returns "" or why not.
std::string expect_server_name(Transport::Tls& tls, const std::string& host);

// Why a TLS handshake failed, in words: OpenSSL's verification result when
// the certificate was refused ("certificate verify failed: unable to get
// local issuer certificate"), else the error's message.
std::string tls_failure(Transport::Tls& tls, const boost::system::error_code& ec);

// The subject and expiry of the certificate `context` presents, for logs
// ("CN=node.example, expires 2027-01-01T00:00:00Z").
std::string certificate_summary(boost::asio::ssl::context& context);
// When that certificate expires (Unix time); nullopt without one.
std::optional<int64_t> certificate_expiry(boost::asio::ssl::context& context);

}  // namespace urbis::net
