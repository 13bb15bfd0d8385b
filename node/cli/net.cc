// The command line's wrappers of node/net (net.h).
#include "net.h"

#include "transport.h"

namespace urbis::cli {

void fail_network(std::string message) { throw CliError{Code::Internal, std::move(message), kExitFailure, "Network"}; }

namespace {

template <typename T>
T or_usage_error(Result<T> r) {
  if (!r.is_ok()) usage_error(r.status().message());
  return std::move(r).value();
}

}  // namespace

HostPort parse_host_port(const std::string& text) { return or_usage_error(net::parse_host_port(text)); }

WsUrl parse_ws_url(const std::string& text) { return or_usage_error(net::parse_ws_url(text)); }

std::shared_ptr<boost::asio::ssl::context> client_tls(const std::optional<std::string>& ca_file) {
  return or_usage_error(net::make_client_tls(ca_file));
}

void check_client_tls(const WsUrl& url, const std::optional<std::string>& ca_file) {
  if (url.tls)
    (void)client_tls(ca_file);
  else if (ca_file)
    usage_error("--ca-file is for wss:// URLs; " + url.text() + " is not encrypted");
}

}  // namespace urbis::cli
