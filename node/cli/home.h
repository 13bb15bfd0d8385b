// The `urbis` home directory: where a device keeps its identity and store.
//
//   HOME/identity.key   Identity::wrap output (mode 0600)
//   HOME/device.json    {"name": ...} given to `urbis init --name`
//   HOME/replica.db     the Replica's SQLite store
//   HOME/replica.db.pre-vN  the store as an earlier release left it, copied
//                       before this one migrated it (see open_store)
//   HOME/node.key       a key-less node's transport key (mode 0600; see node_identity)
//
// HOME is --home, else $URBIS_HOME, else $XDG_DATA_HOME/urbis, else
// ~/.local/share/urbis. The passphrase comes from $URBIS_PASSPHRASE, else a
// no-echo prompt when stdin is a terminal; with neither, commands fail.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "urbis/replica.h"

namespace urbis::cli {

std::filesystem::path resolve_home(const Context& ctx);

// Creates HOME (0700) with a new identity wrapped under the passphrase
// (asked twice at a prompt) and an empty store. Fails, changing nothing,
// when HOME already holds an identity.
DeviceKey init_home(const Context& ctx, const std::string& name);

// Opens HOME/replica.db; a damaged store (Code::Storage: a table missing, a
// bad page) fails with the file's name and what to do. A store written by an
// earlier release (an older schema version N) is first copied to
// HOME/replica.db.pre-vN (a consistent snapshot, quick_checked; an existing
// copy of that version is kept, never overwritten), then migrated; when the
// copy cannot be made the open fails (Storage) with the store unmigrated.
// Every command and `urbis node` open their store here.
std::unique_ptr<Replica> open_store(const std::filesystem::path& home, std::optional<Identity> identity,
                                    ReplicaOptions options = {});

// Unwraps HOME's identity with the passphrase and opens its store.
// NotFound when HOME has no identity; WrongPassphrase when it does not fit.
std::unique_ptr<Replica> open_home(const Context& ctx);

// Refreshes what this command's writes (or a catch-up) left stale for the
// next read (Replica::refresh): a command that wrote does it before it
// exits, while its puts are its own, so another process's `urbis find`
// shows them without waiting for the store's lock. A failure is logged and
// loses nothing: the next read tries again.
void refresh_for_reads(Replica& replica);

// A store opened for syncing, and the key its sessions authenticate with:
// the replica's own identity (borrowed from the Replica: the secret is held
// once), or, for a node home without a device identity, the node's transport
// key (HOME/node.key).
struct SyncHome {
  std::unique_ptr<Replica> replica;
  std::optional<Identity> transport_key;  // set only when the replica holds no identity

  const Identity& signer() const { return replica->identity() ? *replica->identity() : *transport_key; }
};
// A device home, as open_home, plus the signing handle.
SyncHome open_device_for_sync(const Context& ctx);
// A node home, created (0700) when missing. The store is opened with
// materialize=false (never decrypts) and synchronous=FULL (an acknowledged
// change survives power loss), holding at most `max_held_changes` changes per
// space for a missing predecessor. The node signs its sessions with
// node_identity()'s key (signer()).
SyncHome open_node_home(const Context& ctx, size_t max_held_changes = ReplicaOptions{}.max_held_changes);

// `urbis node backup DIR`: copies HOME into DIR, a new home: the store as
// one consistent snapshot (SQLite `VACUUM INTO`, in one read transaction, so
// a node may go on serving and writing meanwhile; checked with quick_check)
// and the key files it holds (node.key, identity.key, device.json). DIR must
// not exist or be empty; it appears whole or not at all (written beside it,
// then renamed). Returns what it copied, for the command's output.
nlohmann::json backup_home(const std::filesystem::path& home, const std::filesystem::path& dir);

// `urbis device rekey`: for a device whose chain forked (its home restored
// from a backup or copied, and both copies wrote: the node holds other
// changes at the sequence numbers this store used, and refuses every later
// one as BrokenChain, for ever). Moves HOME/identity.key and HOME/replica.db
// to HOME/forked/<UTC time>/ (nothing is deleted), and makes a new identity
// under the SAME passphrase with an empty store. The new key is a new device
// to every space: an admin adds it; `urbis device republish` then re-writes
// the unsynced work of the old store under it.
struct RekeyResult {
  DeviceKey old_device, new_device;
  std::filesystem::path forked_dir;
  std::vector<SpaceInfo> spaces;  // what the old store held (and its role there)
};
RekeyResult rekey_home(const Context& ctx);

// The current home's store and a forked one (rekey_home's directory), both
// unlocked with one passphrase.
struct ForkedHome {
  std::unique_ptr<Replica> current, forked;
  DeviceKey old_device;
};
ForkedHome open_forked_home(const Context& ctx, const std::filesystem::path& forked_dir);

// The key a node authenticates with, to the nodes it links to (they trust it
// by its public key, --trust-peer) and to its clients (the witness key of
// their invites). One rule, used by `urbis node` and `urbis node key` alike:
//   - a home holding a device identity (identity.key): that device key,
//     unlocked with the passphrase like a device's;
//   - otherwise the node's transport key, HOME/node.key, created on first
//     use. It holds no space key: a node with it still reads nothing.
Identity node_identity(const Context& ctx);

}  // namespace urbis::cli
