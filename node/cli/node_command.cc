// `urbis node` and `urbis node key|backup`: the node's flags and
// configuration file into server::NodeOptions (node/server), the node's
// home, and the server run until SIGTERM. Errors of the server become
// usage errors (exit 2) or Network failures (exit 1).
#include "server.h"  // first: Boost before the rest

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>

#include "commands.h"
#include "home.h"
#include "net.h"

namespace urbis::cli {
namespace {

namespace fs = std::filesystem;

// The value of `flag`: a whole number from `min` to `max`, or a usage error.
template <typename T>
std::optional<T> number_flag(const Args& args, const char* flag, T min, T max = std::numeric_limits<T>::max()) {
  auto text = args.value(flag);
  if (!text) return std::nullopt;
  T n{};
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < min || n > max)
    usage_error(std::string(flag) + " takes a whole number " +
                (max == std::numeric_limits<T>::max() ? "of at least " + std::to_string(min)
                                                      : "from " + std::to_string(min) + " to " + std::to_string(max)) +
                ", not '" + *text + "'");
  return n;
}

// Raises the soft limit on open files towards what `connections` sockets
// need (each one descriptor, plus the store and a margin), as far as the
// hard limit allows; warns when that is not enough.
void raise_file_limit(size_t connections) {
  const rlim_t wanted = static_cast<rlim_t>(connections + server::kHttpHeadroom + 64);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= wanted) return;
  rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
  if (raised.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  if (rl.rlim_cur < wanted)
    log_event("warn", "file_limit_low",
              {{"open_files", static_cast<uint64_t>(rl.rlim_cur)},
               {"max_connections", connections},
               {"hint", "connections beyond the open-file limit fail to be accepted; raise ulimit -n"}});
}

}  // namespace

void run_node_key(const Context& ctx, const Args& args) {
  args.expect_positional(0, "node key");
  // The public key other nodes trust this one by (--trust-peer): the one
  // `urbis node` signs with (node_identity decides for both).
  emit(ctx, {{"node", node_identity(ctx).device().hex()}});
}

void run_node_backup(const Context& ctx, const Args& args) {
  args.expect_positional(1, "node backup DIR");
  emit(ctx, backup_home(resolve_home(ctx), args.positional()[0]));
}

void run_node(const Context& ctx, const Args& command_line) {
  command_line.expect_positional(0, kNodeUsage);
  // --config FILE: the same settings as flags, which win over it.
  Args args = command_line;
  if (auto path = command_line.value("--config")) {
    const auto& table = commands();
    const auto node = std::find_if(table.begin(), table.end(), [](const Command& c) { return c.name == "node"; });
    args.add_defaults(read_config_file(*path, node->valued, node->flags));
  }
  if (auto level = args.value("--log-level"); level && !set_log_level(*level))
    usage_error("--log-level takes debug, info, warn or error, not '" + *level + "'");
  auto listen = args.value("--listen");
  if (!listen) usage_error(std::string("usage: urbis ") + kNodeUsage);
  const HostPort where = parse_host_port(*listen);
  server::NodeOptions options;
  if (auto web = args.value("--web")) {
    if (!fs::is_directory(*web)) usage_error("--web: '" + *web + "' is not a directory");
    options.web = *web;
  }
  if (auto n = number_flag<size_t>(args, "--max-frame-bytes", 1024, size_t{1} << 30))
    options.session.max_frame_bytes = *n;
  server::NodeLimits& limits = options.limits;
  if (auto n = number_flag<size_t>(args, "--max-connections", 1, 1'000'000)) limits.max_connections = *n;
  if (auto n = number_flag<uint64_t>(args, "--max-frames-per-second", 0)) limits.max_frames_per_second = *n;
  if (auto n = number_flag<uint64_t>(args, "--max-bytes-per-second", 0)) limits.max_bytes_per_second = *n;
  // Below this a well-behaved client's batch (256 KiB of envelopes of ~200
  // bytes or more) could be refused.
  if (auto n = number_flag<size_t>(args, "--max-batch-envelopes", 2048)) limits.max_batch_envelopes = *n;
  if (auto n = number_flag<size_t>(args, "--max-held-changes", 0)) limits.max_held_changes = *n;
  if (auto n = number_flag<size_t>(args, "--max-spaces", 1)) limits.max_spaces = *n;
  for (const std::string& url : args.values("--peer")) {
    (void)parse_ws_url(url);  // a usage error now rather than a failing link later
    options.peers.push_back(url);
  }
  for (const std::string& hex : args.values("--trust-peer")) {
    auto key = DeviceKey::from_hex(hex);
    if (!key) usage_error("--trust-peer takes a node key (64 hex digits, from 'urbis node key'), not '" + hex + "'");
    options.session.trusted_peers.push_back(*key);
  }
  // Who may create spaces here: --space-creator keys, members of a space the
  // node holds, trusted peers; everyone with --open-spaces.
  for (const std::string& hex : args.values("--space-creator")) {
    auto key = DeviceKey::from_hex(hex);
    if (!key) usage_error("--space-creator takes a device key (64 hex digits, from 'urbis init'), not '" + hex + "'");
    options.session.space_creators.push_back(*key);
  }
  options.session.open_spaces = args.flag("--open-spaces");
  options.session.max_envelopes_per_frame = limits.max_batch_envelopes;
  options.session.max_spaces = limits.max_spaces;
  if (auto n = number_flag<int64_t>(args, "--peer-retry-max", 1, 86'400))
    options.peer_retry_max = std::chrono::seconds(*n);
  if (auto n = number_flag<int64_t>(args, "--drain-seconds", 0, 300)) options.drain = std::chrono::seconds(*n);
  options.tls_cert = args.value("--tls-cert");
  options.tls_key = args.value("--tls-key");
  if (options.tls_cert.has_value() != options.tls_key.has_value())
    usage_error("--tls-cert and --tls-key go together: the certificate chain and its private key (PEM files)");
  options.ca_file = args.value("--ca-file");
  for (const std::string& url : options.peers)
    if (WsUrl peer = parse_ws_url(url); peer.tls) check_client_tls(peer, options.ca_file);
  options.peer_retry_min = std::min(options.peer_retry_min, options.peer_retry_max);
  options.store = resolve_home(ctx) / "replica.db";
  if (args.flag("--print-config")) {
    // The effective settings, defaults included, in the configuration
    // file's names; nothing is opened or started.
    auto keys = [](const std::vector<DeviceKey>& ks) {
      nlohmann::json out = nlohmann::json::array();
      for (const DeviceKey& k : ks) out.push_back(k.hex());
      return out;
    };
    emit(ctx, {{"config", command_line.value("--config").value_or("")},
               {"home", resolve_home(ctx).string()},
               {"listen", *listen},
               {"web", options.web ? options.web->string() : ""},
               {"peer", options.peers},
               {"trust-peer", keys(options.session.trusted_peers)},
               {"space-creator", keys(options.session.space_creators)},
               {"open-spaces", options.session.open_spaces},
               {"peer-retry-max", std::chrono::duration_cast<std::chrono::seconds>(options.peer_retry_max).count()},
               {"max-frame-bytes", options.session.max_frame_bytes},
               {"max-connections", limits.max_connections},
               {"max-frames-per-second", limits.max_frames_per_second},
               {"max-bytes-per-second", limits.max_bytes_per_second},
               {"max-batch-envelopes", limits.max_batch_envelopes},
               {"max-spaces", limits.max_spaces},
               {"max-held-changes", limits.max_held_changes},
               {"drain-seconds", options.drain.count()},
               {"tls-cert", options.tls_cert.value_or("")},
               {"tls-key", options.tls_key.value_or("")},
               {"ca-file", options.ca_file.value_or("")},
               {"log-level", args.value("--log-level").value_or("info")}});
    return;
  }
  raise_file_limit(limits.max_connections);
  // A store that may not grow (a file-size limit) fails the write with an
  // error the client is told (Storage), instead of killing the node.
  std::signal(SIGXFSZ, SIG_IGN);

  SyncHome home = open_node_home(ctx, limits.max_held_changes);
  const std::string device = home.signer().device().hex();
  {
    // Borrows the replica's identity: it goes before the replica does.
    const sync::Signer signer = sync::Signer::of(home.signer());
    boost::asio::io_context io(1);
    server::NodeServer server(io, *home.replica, signer, options);
    if (options.tls_cert)
      if (Status why = server.load_tls(); !why.is_ok()) usage_error("--tls-cert: " + why.message());
    auto listening = server.listen(where);
    if (!listening.is_ok()) {
      if (listening.status().code() == Code::InvalidArgument) usage_error(listening.status().message());
      fail_network(listening.status().message());
    }
    const server::tcp::endpoint bound = *listening;
    server.start();
    nlohmann::json trusted = nlohmann::json::array();
    for (const DeviceKey& k : options.session.trusted_peers) trusted.push_back(k.hex());
    log_event("info", "listening",
              {{"address", server::endpoint_text(bound)},
               {"home", resolve_home(ctx).string()},
               {"node", device},
               {"peers", options.peers},
               {"trusted_peers", trusted},
               {"open_spaces", options.session.open_spaces},
               {"space_creators", options.session.space_creators.size()},
               {"web", options.web ? options.web->string() : ""},
               {"max_frame_bytes", options.session.max_frame_bytes},
               {"max_connections", limits.max_connections},
               {"max_frames_per_second", limits.max_frames_per_second},
               {"max_bytes_per_second", limits.max_bytes_per_second},
               {"max_batch_envelopes", limits.max_batch_envelopes},
               {"max_spaces", limits.max_spaces},
               {"max_held_changes", limits.max_held_changes},
               {"tls", server.tls()}});
    for (const std::string& url : options.peers)
      if (Status added = server.add_peer(url); !added.is_ok()) usage_error("--peer: " + added.message());
    const std::string line = dump_json({{"listening", server::endpoint_text(bound)}, {"node", device}}, -1) + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    notify_systemd("READY=1");
    io.run();
  }  // every connection and session is gone before the replica closes
  home.replica.reset();
  log_event("info", "stopped");
}

}  // namespace urbis::cli
