// The `urbis` commands: one table (names, usage, help) and their handlers.
// Each handler prints its result with emit() or throws CliError.
#pragma once

#include <string>
#include <vector>

#include "cli.h"
#include "urbis/replica.h"

namespace urbis::cli {

struct Command {
  std::string name;                 // "put", or "space create" for a subcommand
  std::string usage;                // what follows "urbis [--home DIR] "
  std::string summary;              // one line for --help
  std::vector<std::string> valued;  // options taking a value
  void (*run)(const Context&, const Args&);
  std::vector<std::string> flags = {};  // options taking no value
};

// Every command, in the order --help lists them.
const std::vector<Command>& commands();

// A space named by its hex id, or by its local name when that is unique.
SpaceId resolve_space(Replica& replica, const std::string& text);
// An entity id in hex, or a usage error.
EntityId parse_entity_id(const std::string& text);

// export / import (transfer.cc).
void run_export(const Context& ctx, const Args& args);
void run_import(const Context& ctx, const Args& args);

// space invite / join / revoke-invite (invite.cc).
void run_space_invite(const Context& ctx, const Args& args);
void run_space_join(const Context& ctx, const Args& args);
void run_space_revoke_invite(const Context& ctx, const Args& args);
// device rekey / device republish (device.cc): recovering a forked device.
void run_device_rekey(const Context& ctx, const Args& args);
void run_device_republish(const Context& ctx, const Args& args);
// demo-data (node/demo/demo_data.cc): a fictional, deterministic demo dataset.
void run_demo_data(const Context& ctx, const Args& args);

// sync (sync_client.cc) and node (node_command.cc, over node/server): the network commands.
inline constexpr const char* kNodeUsage =
    "node --listen ADDR:PORT [--peer URL]... [--trust-peer NODE_KEY]... [--web DIR]\n"
    "      [--space-creator DEVICE_KEY]... [--open-spaces] [--log-level debug|info|warn|error]\n"
    "      [--config FILE] [--print-config] [--drain-seconds N]\n"
    "      [--tls-cert CHAIN.pem --tls-key KEY.pem] [--ca-file CA.pem]\n"
    "      [--peer-retry-max SECONDS] [--max-frame-bytes N] [--max-connections N]\n"
    "      [--max-frames-per-second N] [--max-bytes-per-second N] [--max-batch-envelopes N]\n"
    "      [--max-spaces N] [--max-held-changes N]";
void run_sync(const Context& ctx, const Args& args);
void run_node(const Context& ctx, const Args& args);
void run_node_key(const Context& ctx, const Args& args);
void run_node_backup(const Context& ctx, const Args& args);

}  // namespace urbis::cli
