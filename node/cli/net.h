// The command line's side of the network code in node/net: its errors
// become usage errors (exit 2) or Network failures (exit 1), and its names
// are used unqualified by the commands.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli.h"
#include "log.h"
#include "url.h"

namespace boost::asio::ssl {
class context;
}

namespace urbis::cli {

using net::HostPort;
using net::log_event;
using net::notify_systemd;
using net::set_log_level;
using net::WsUrl;

// Fails with a CliError named "Network" (exit 1).
[[noreturn]] void fail_network(std::string message);

// net::parse_host_port and net::parse_ws_url, or a usage error.
HostPort parse_host_port(const std::string& text);
WsUrl parse_ws_url(const std::string& text);

// net::make_client_tls, or a usage error naming the file.
std::shared_ptr<boost::asio::ssl::context> client_tls(const std::optional<std::string>& ca_file);

// For a wss:// `url`: a usage error unless `ca_file` (or, without one, the
// system's certificate store) loads; for ws://, a usage error if a CA file
// is given (it would verify nothing). Lets a command fail
// before it asks for a passphrase.
void check_client_tls(const WsUrl& url, const std::optional<std::string>& ca_file);

}  // namespace urbis::cli
