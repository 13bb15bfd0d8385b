// A shim over SQLite's default VFS that records written chunks of main
// database files (dirty_vfs.h). Every method forwards to the wrapped VFS and
// file; xWrite and xTruncate also mark chunks, xDelete forgets what the host
// holds. The pattern is SQLite's own for shims (ext/misc/vfstrace.c).
#include "dirty_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <map>

namespace urbis::wasm::dirty {
namespace {

struct Tracked {
  bool all = true;
  std::vector<bool> chunk;                 // by chunk index
  void mark(uint64_t from, uint64_t to) {  // bytes [from, to)
    if (all || to <= from) return;
    const uint64_t first = from / kChunkBytes, last = (to - 1) / kChunkBytes;
    if (chunk.size() <= last) chunk.resize(last + 1, false);
    std::fill(chunk.begin() + static_cast<std::ptrdiff_t>(first), chunk.begin() + static_cast<std::ptrdiff_t>(last) + 1,
              true);
  }
};

// Main database files by full path. One thread (a Web Worker, or Node).
std::map<std::string, Tracked>& files() {
  static std::map<std::string, Tracked> m;
  return m;
}

sqlite3_vfs* real_vfs = nullptr;

struct ShimFile {
  sqlite3_file base;   // pMethods: the shim's methods, or null when the open failed
  Tracked* tracked;    // a main database file, or null
  sqlite3_file* real;  // the wrapped VFS's file, in the same allocation
};

constexpr size_t kRealOffset = (sizeof(ShimFile) + 7) & ~size_t{7};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }
Tracked* tracked_of(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->tracked; }

int x_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  const int rc = real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
  // Marked whatever the result: a failed write may have written part.
  if (Tracked* t = tracked_of(f); t && n > 0)
    t->mark(static_cast<uint64_t>(off), static_cast<uint64_t>(off) + static_cast<uint64_t>(n));
  return rc;
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  const int rc = real_of(f)->pMethods->xTruncate(real_of(f), size);
  // The chunk the new end falls in changed; chunks past it are gone, which
  // the host learns from the file's size.
  if (Tracked* t = tracked_of(f)) t->mark(static_cast<uint64_t>(size), static_cast<uint64_t>(size) + 1);
  return rc;
}
int x_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int x_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
// No memory-mapped reads: a page read through a mapping could be written
// through it too, unseen by xWrite.
int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

// One method table per version the wrapped files may have.
const sqlite3_io_methods* methods_for(int version) {
  static const sqlite3_io_methods table[3] = {
      {1, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved_lock,
       x_file_control, x_sector_size, x_device_characteristics, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
      {2, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved_lock,
       x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap,
       nullptr, nullptr},
      {3, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved_lock,
       x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap,
       x_fetch, x_unfetch},
  };
  return &table[std::clamp(version, 1, 3) - 1];
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->base.pMethods = nullptr;
  shim->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  shim->tracked = nullptr;
  const int rc = real_vfs->xOpen(real_vfs, name, shim->real, flags, out_flags);
  if (shim->real->pMethods == nullptr) return rc;
  if ((flags & SQLITE_OPEN_MAIN_DB) && name) shim->tracked = &files()[name];
  shim->base.pMethods = methods_for(shim->real->pMethods->iVersion);
  return rc;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  const int rc = real_vfs->xDelete(real_vfs, name, sync_dir);
  if (auto it = files().find(name); it != files().end()) it->second = Tracked{};
  return rc;
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return real_vfs->xDlSym(real_vfs, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { real_vfs->xDlClose(real_vfs, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); }
int x_current_time(sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64) return real_vfs->xCurrentTimeInt64(real_vfs, out);
  double day = 0;
  const int rc = real_vfs->xCurrentTime(real_vfs, &day);
  *out = static_cast<sqlite3_int64>(day * 86400000.0);
  return rc;
}

}  // namespace

bool install() {
  static sqlite3_vfs shim;
  static bool done = false;
  if (done) return true;
  if (sqlite3_initialize() != SQLITE_OK) return false;
  real_vfs = sqlite3_vfs_find(nullptr);
  if (!real_vfs) return false;
  shim = sqlite3_vfs{};
  shim.iVersion = 2;
  shim.szOsFile = static_cast<int>(kRealOffset) + real_vfs->szOsFile;
  shim.mxPathname = real_vfs->mxPathname;
  shim.zName = "urbis-dirty";
  shim.xOpen = x_open;
  shim.xDelete = x_delete;
  shim.xAccess = x_access;
  shim.xFullPathname = x_full_pathname;
  shim.xDlOpen = x_dl_open;
  shim.xDlError = x_dl_error;
  shim.xDlSym = x_dl_sym;
  shim.xDlClose = x_dl_close;
  shim.xRandomness = x_randomness;
  shim.xSleep = x_sleep;
  shim.xCurrentTime = x_current_time;
  shim.xGetLastError = x_get_last_error;
  shim.xCurrentTimeInt64 = x_current_time_int64;
  if (sqlite3_vfs_register(&shim, /*makeDflt=*/1) != SQLITE_OK) return false;
  done = true;
  return true;
}

Taken take(const std::string& path) {
  Tracked& t = files()[path];
  Taken out;
  out.all = t.all;
  if (!t.all)
    for (size_t i = 0; i < t.chunk.size(); ++i)
      if (t.chunk[i]) out.chunks.push_back(static_cast<uint32_t>(i));
  t = Tracked{};
  t.all = false;
  return out;
}

void reset(const std::string& path, bool all) {
  Tracked& t = files()[path];
  t = Tracked{};
  t.all = all;
}

}  // namespace urbis::wasm::dirty
