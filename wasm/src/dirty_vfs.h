// Which parts of a database file SQLite wrote since the host last copied it.
//
// The browser keeps the replica's SQLite file in Emscripten's MEMFS and copies
// it into IndexedDB (wasm/js/engine.js, snapshots). Copying the whole file
// costs what the history weighs; copying the chunks written since the last
// copy costs what changed. This VFS wraps the default one (and becomes the
// default) and records, per main database file, the kChunkBytes-sized chunks
// any connection wrote or truncated into, including checkpoints and VACUUM.
// Writes that bypass SQLite (the host writing a snapshot into MEMFS) are the
// host's to declare, with reset().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace urbis::wasm::dirty {

// A chunk is 16 KiB: four pages of the default size. Smaller chunks write
// less for scattered pages and cost more records to read at start.
inline constexpr uint32_t kChunkBytes = 16 * 1024;

// Registers the VFS as SQLite's default (once; later calls do nothing).
// False if SQLite refused it.
bool install();

struct Taken {
  bool all = true;               // every chunk: what the host holds is unknown
  std::vector<uint32_t> chunks;  // otherwise these, ascending
};

// The chunks of `path` written since the last take() or reset(), and from
// now on none. A file never reset() reports all.
Taken take(const std::string& path);

// Declares what the host holds of `path`: everything as it is now
// (all = false), or nothing known (all = true: the next take() says all).
void reset(const std::string& path, bool all);

}  // namespace urbis::wasm::dirty
