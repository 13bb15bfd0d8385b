// The home directory, the passphrase and the identity file (see home.h).
#include "home.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include <sodium.h>
#include <sqlite3.h>

#include <chrono>

#include "net.h"

namespace urbis::cli {
namespace fs = std::filesystem;

namespace {

constexpr const char* kIdentityFile = "identity.key";
constexpr const char* kDeviceFile = "device.json";
constexpr const char* kStoreFile = "replica.db";
constexpr const char* kNodeKeyFile = "node.key";
// node.key holds a transport key only (it grants no access to content); it is
// protected by the file's mode, and wrapped under this fixed phrase just to
// reuse the identity format.
constexpr std::string_view kNodeKeyPhrase = "urbis node transport key";

// A passphrase that is wiped when it goes out of scope. Filled in place
// (from the environment, or read straight into it at the prompt), so no
// temporary std::string copy is left behind unwiped.
class Passphrase {
 public:
  Passphrase() { text_.reserve(kReserve); }  // no reallocation (and unwiped old buffer) while typing
  explicit Passphrase(const char* text) : text_(text) {}
  ~Passphrase() { sodium_memzero(text_.data(), text_.capacity()); }
  Passphrase(const Passphrase&) = delete;
  Passphrase& operator=(const Passphrase&) = delete;
  const std::string& text() const { return text_; }
  std::string& buffer() { return text_; }

 private:
  static constexpr size_t kReserve = 1024;
  std::string text_;
};

// Reads one line from a terminal without echo into `out`.
void prompt_no_echo(const char* prompt, Passphrase& out) {
  std::fprintf(stderr, "%s", prompt);
  std::fflush(stderr);
  termios old{};
  const bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  const bool got = static_cast<bool>(std::getline(std::cin, out.buffer()));
  if (restore) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  if (!got) fail(Code::InvalidArgument, "no passphrase entered");
}

// $URBIS_PASSPHRASE, else a prompt (twice when `confirm`) if stdin is a
// terminal, else a clear failure.
std::unique_ptr<Passphrase> read_passphrase(bool confirm) {
  if (const char* env = std::getenv("URBIS_PASSPHRASE")) return std::make_unique<Passphrase>(env);
  if (!isatty(STDIN_FILENO))
    fail(Code::InvalidArgument, "no passphrase: set URBIS_PASSPHRASE or run urbis from a terminal to be asked for it");
  auto first = std::make_unique<Passphrase>();
  prompt_no_echo("Passphrase: ", *first);
  if (confirm) {
    Passphrase again;
    prompt_no_echo("Passphrase again: ", again);
    if (again.text() != first->text()) fail(Code::InvalidArgument, "the passphrases differ");
  }
  return first;
}

// URBIS_PWHASH: the cost of the passphrase hash for a new identity. Only a
// test build (target urbis-test, URBIS_TEST_BUILD) honours "minimal": the
// shipped `urbis` refuses it, so no configuration of a device can make its
// identity.key cheap to guess offline.
PwhashCost pwhash_cost() {
  const char* env = std::getenv("URBIS_PWHASH");
  std::string cost = env ? env : "interactive";
  if (cost == "interactive") return PwhashCost::Interactive;
  if (cost == "moderate") return PwhashCost::Moderate;
  if (cost == "minimal") {
#ifdef URBIS_TEST_BUILD
    return PwhashCost::Minimal;
#else
    fail(Code::InvalidArgument,
         "URBIS_PWHASH=minimal is for test builds only (urbis-test); this urbis wraps identities at "
         "'interactive' or 'moderate' cost: unset URBIS_PWHASH");
#endif
  }
  fail(Code::InvalidArgument, "URBIS_PWHASH must be interactive or moderate, not '" + cost + "'");
}

// Writes `data` to a new file `path` with mode 0600; fails if it exists.
void write_new_private_file(const fs::path& path, ByteView data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      fail(Code::InvalidArgument,
           path.parent_path().string() + " already holds an identity (identity.key); refusing to overwrite it");
    fail(Code::Storage, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      fs::remove(path);
      fail(Code::Storage, "cannot write " + path.string() + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) {
    fs::remove(path);
    fail(Code::Storage, "cannot write " + path.string());
  }
}

}  // namespace

namespace {

// Flushes `path` (a file or a directory) to disk; false if it cannot.
bool sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// A read-only SQLite connection, closed on destruction. The store is opened
// through no symbolic link: a copy never writes to the home (no recovery, no
// checkpoint), whoever runs it.
class ReadOnlyDb {
 public:
  explicit ReadOnlyDb(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr) != SQLITE_OK)
      error_ = "cannot open " + file.string() + ": " + why();
    else
      sqlite3_busy_timeout(db_, 10'000);
  }
  ~ReadOnlyDb() { sqlite3_close(db_); }
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;
  // "" when the file opened.
  const std::string& error() const { return error_; }
  std::string why() const { return db_ ? sqlite3_errmsg(db_) : "out of memory"; }
  sqlite3* get() const { return db_; }
  // The first column of the first row of `sql` as text ("" when none).
  std::string one_value(const char* sql) const {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      if (const unsigned char* t = sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(t);
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

// Copies the store `store` to the new file `copy`: one consistent snapshot
// (VACUUM INTO, in one read transaction of a second, read-only connection:
// writers go on in the WAL meanwhile, and the copy is the store as of its
// start), read back whole (quick_check), made 0600 and flushed. A Storage
// error says what failed; `copy` may then be left partly written.
Status copy_store(const fs::path& store, const fs::path& copy) {
  {
    ReadOnlyDb db(store);
    if (!db.error().empty()) return Status(Code::Storage, db.error());
    char* vacuum = sqlite3_mprintf("VACUUM INTO %Q", copy.c_str());
    const int rc = sqlite3_exec(db.get(), vacuum, nullptr, nullptr, nullptr);
    sqlite3_free(vacuum);
    if (rc != SQLITE_OK) {
      std::string message = "cannot copy ";
      message += store.string();
      message += " to ";
      message += copy.string();
      message += ": ";
      message += db.why();
      return Status(Code::Storage, std::move(message));
    }
  }
  {
    ReadOnlyDb db(copy);
    if (!db.error().empty()) return Status(Code::Storage, db.error());
    const std::string verdict = db.one_value("PRAGMA quick_check");
    if (verdict != "ok") {
      std::string message = "the copy ";
      message += copy.string();
      message += " fails its check (";
      message += verdict.empty() ? db.why() : verdict;
      message += ")";
      return Status(Code::Storage, std::move(message));
    }
  }
  std::error_code ec;
  fs::permissions(copy, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
  if (!sync_path(copy)) return Status(Code::Storage, "cannot flush " + copy.string());
  return Status::ok();
}

struct StoreCounts {
  int64_t changes = 0, spaces = 0;
};
// What a (copied) store holds, for a command's output; zeros when unreadable.
StoreCounts count_store(const fs::path& file) {
  ReadOnlyDb db(file);
  const std::string changes = db.one_value("SELECT count(*) FROM changes");
  const std::string spaces = db.one_value("SELECT count(*) FROM spaces");
  return {std::stoll(changes.empty() ? "0" : changes), std::stoll(spaces.empty() ? "0" : spaces)};
}

// ReplicaOptions::before_migration of every store the command line opens:
// before a store written by an earlier release (schema version `from`) is
// migrated, STORE.pre-v<from> is made beside it, a whole checked copy
// (copy_store), written as STORE.pre-v<from>.partial and renamed once
// checked, so that name only ever holds a whole copy. An existing
// STORE.pre-v<from> that is a version-<from> store is kept, never
// overwritten (an earlier open made it and did not get to migrate, or it was
// put back by hand), and no new copy is made: a log line says so. Anything
// else at that name is an error. On error nothing has been migrated.
Status keep_pre_migration_copy(const fs::path& store, int from, int to) {
  fs::path keep = store;
  keep += ".pre-v";
  keep += std::to_string(from);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(keep, ec))) {
    if (fs::is_regular_file(fs::symlink_status(keep, ec))) {
      ReadOnlyDb old(keep);
      const std::string version = old.one_value("SELECT value FROM meta WHERE key='schema_version'");
      if (old.error().empty() && version == std::to_string(from)) {
        log_event("warn", "pre_migration_copy_kept",
                  {{"copy", keep.string()},
                   {"from_version", from},
                   {"to_version", to},
                   {"note", "a copy of this store at that version already exists: kept as it is, no new copy made"}});
        return Status::ok();
      }
    }
    std::string message = keep.string();
    message += " exists and is not a copy of this store at schema version ";
    message += std::to_string(from);
    message += ": move it aside";
    return Status(Code::Storage, std::move(message));
  }
  fs::path partial = keep;
  partial += ".partial";
  fs::remove(partial, ec);  // left by an open that was stopped while copying
  if (ec) return Status(Code::Storage, "cannot remove " + partial.string() + ": " + ec.message());
  const auto start = std::chrono::steady_clock::now();
  Status copied = copy_store(store, partial);
  if (copied.is_ok() && ::rename(partial.c_str(), keep.c_str()) != 0)
    copied = Status(Code::Storage, "cannot rename " + partial.string() + ": " + std::strerror(errno));
  if (!copied.is_ok()) {
    fs::remove(partial, ec);
    return copied;
  }
  sync_path(store.parent_path());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  log_event("info", "pre_migration_copy",
            {{"copy", keep.string()},
             {"from_version", from},
             {"to_version", to},
             {"bytes", static_cast<uint64_t>(fs::file_size(keep, ec))},
             {"ms", ms.count()}});
  return Status::ok();
}

}  // namespace

std::unique_ptr<Replica> open_store(const fs::path& home, std::optional<Identity> identity, ReplicaOptions options) {
  const fs::path file = home / kStoreFile;
  // A store of an earlier release is copied before it is migrated; a copy
  // that cannot be made stops the open with the store unmigrated.
  std::optional<Status> copy_failed;
  int old_version = 0, new_version = 0;
  options.before_migration = [&](int from, int to) {
    old_version = from;
    new_version = to;
    Status s = keep_pre_migration_copy(file, from, to);
    if (!s.is_ok()) copy_failed = s;
    return s;
  };
  auto replica = Replica::open(file.string(), std::move(identity), system_env(), options);
  if (copy_failed) {
    std::string message = file.string();
    message += ": this urbis upgrades the store from schema version ";
    message += std::to_string(old_version);
    message += " to ";
    message += std::to_string(new_version);
    message += " and keeps a copy of it first (";
    message += file.string();
    message += ".pre-v";
    message += std::to_string(old_version);
    message += "), but the copy could not be made: ";
    message += copy_failed->message();
    message += ". Nothing was changed: the store is still version ";
    message += std::to_string(old_version);
    message += ". Free space in ";
    message += home.string();
    message += " (the copy needs about the store's size) or fix what is named above, and run again";
    fail(Code::Storage, std::move(message));
  }
  if (!replica.is_ok() && replica.code() == Code::Storage)
    fail(Code::Storage, file.string() + ": " + replica.status().message() +
                            ". Nothing was changed. Restore the file from a backup, or move it aside and run "
                            "'urbis sync' to fetch the spaces again from a node (work never synced is in the "
                            "moved file)");
  return check(std::move(replica));
}

fs::path resolve_home(const Context& ctx) {
  if (ctx.home_flag) return *ctx.home_flag;
  if (const char* h = std::getenv("URBIS_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "urbis";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".local" / "share" / "urbis";
  fail(Code::InvalidArgument, "no home directory: use --home DIR or set URBIS_HOME");
}

DeviceKey init_home(const Context& ctx, const std::string& name) {
  const fs::path home = resolve_home(ctx);
  if (fs::exists(home / kIdentityFile))
    fail(Code::InvalidArgument, home.string() + " already holds an identity (identity.key); refusing to overwrite it");
  // The cost is checked before the passphrase is asked for, the policy
  // (identity.h, check_new_passphrase) before anything is written.
  const PwhashCost cost = pwhash_cost();
  auto passphrase = read_passphrase(/*confirm=*/true);
  check(check_new_passphrase(passphrase->text()));
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) fail(Code::Storage, "cannot create " + home.string() + ": " + ec.message());
  fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace, ec);
  Env& env = system_env();
  Identity identity = Identity::generate(env);
  const DeviceKey device = identity.device();
  Bytes wrapped = check(identity.wrap(passphrase->text(), env, cost));
  write_new_private_file(home / kIdentityFile, wrapped);
  if (!name.empty()) {
    std::ofstream out(home / kDeviceFile);
    out << dump_json({{"name", name}}) << "\n";
  }
  // Creates the store now, so a broken home shows at init rather than later.
  open_store(home, std::move(identity));
  return device;
}

namespace {

// HOME's identity unwrapped with the passphrase; nullopt when HOME has none
// and `required` is false.
std::optional<Identity> unlock_identity(const fs::path& home, bool required) {
  std::ifstream in(home / kIdentityFile, std::ios::binary);
  if (!in) {
    if (!required) return std::nullopt;
    fail(Code::NotFound, "no identity in " + home.string() + "; run 'urbis init' first (or pass --home)");
  }
  Bytes wrapped{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto passphrase = read_passphrase(/*confirm=*/false);
  return check(Identity::unwrap(wrapped, passphrase->text()));
}

// The session signs with the replica's identity (SyncHome::signer).
SyncHome open_for_sync(const fs::path& home, std::optional<Identity> identity, ReplicaOptions options) {
  SyncHome out;
  out.replica = open_store(home, std::move(identity), options);
  return out;
}

}  // namespace

std::unique_ptr<Replica> open_home(const Context& ctx) {
  const fs::path home = resolve_home(ctx);
  Identity identity = *unlock_identity(home, /*required=*/true);
  return open_store(home, std::move(identity));
}

void refresh_for_reads(Replica& replica) {
  if (Status refreshed = replica.refresh(); !refreshed.is_ok())
    log_event("warn", "refresh_failed", {{"error", refreshed.to_string()}});
}

SyncHome open_device_for_sync(const Context& ctx) {
  const fs::path home = resolve_home(ctx);
  return open_for_sync(home, unlock_identity(home, /*required=*/true), ReplicaOptions{});
}

namespace {

// HOME/node.key, created on first use (see node_identity).
Identity transport_key(const fs::path& home) {
  const fs::path file = home / kNodeKeyFile;
  std::ifstream in(file, std::ios::binary);
  if (in) {
    Bytes wrapped{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto key = Identity::unwrap(wrapped, kNodeKeyPhrase);
    if (!key.is_ok()) fail(Code::Malformed, file.string() + " is not a node key: " + key.status().message());
    return std::move(key).value();
  }
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) fail(Code::Storage, "cannot create " + home.string() + ": " + ec.message());
  fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace, ec);
  Env& env = system_env();
  Identity key = Identity::generate(env);
  write_new_private_file(file, check(key.wrap(kNodeKeyPhrase, env, PwhashCost::Minimal)));
  return key;
}

// THE rule of which key a node authenticates with (its sessions' Auth, the
// key other nodes name with --trust-peer, the witness key of invites): the
// home's device identity when it holds one (`device`, already unlocked),
// else the transport key. `urbis node` (SyncHome::signer) and `urbis node
// key` both follow it, so the key printed is the key presented.
std::optional<Identity> transport_key_unless(const fs::path& home, const std::optional<Identity>& device) {
  if (device) return std::nullopt;
  return transport_key(home);
}

}  // namespace

Identity node_identity(const Context& ctx) {
  const fs::path home = resolve_home(ctx);
  std::optional<Identity> device = unlock_identity(home, /*required=*/false);
  if (auto key = transport_key_unless(home, device)) return std::move(*key);
  return std::move(*device);
}

RekeyResult rekey_home(const Context& ctx) {
  const fs::path home = resolve_home(ctx);
  std::ifstream in(home / kIdentityFile, std::ios::binary);
  if (!in) fail(Code::NotFound, "no identity in " + home.string() + "; run 'urbis init' first (or pass --home)");
  const Bytes wrapped_old{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  in.close();
  const PwhashCost cost = pwhash_cost();
  // One passphrase for both: the person keeps the passphrase they know (the
  // policy of check_new_passphrase is not applied again to it).
  auto passphrase = read_passphrase(/*confirm=*/false);
  Identity old = check(Identity::unwrap(wrapped_old, passphrase->text()));
  RekeyResult out;
  out.old_device = old.device();
  {
    // The old store must open (a damaged one is restored first, not moved).
    auto replica = open_store(home, std::move(old));
    out.spaces = check(replica->spaces());
  }  // closed: its WAL is checkpointed into replica.db

  // Nothing is deleted: the old key and store move to HOME/forked/<UTC time>/,
  // where `urbis device republish` reads them.
  const uint64_t now = system_env().now_ms();
  std::string stamp = utc_time_text(now);
  for (char& c : stamp)
    if (c == ':') c = '-';
  out.forked_dir = home / "forked" / stamp;
  for (int n = 2; fs::exists(out.forked_dir); ++n) out.forked_dir = home / "forked" / (stamp + "-" + std::to_string(n));
  std::error_code ec;
  fs::create_directories(out.forked_dir, ec);
  if (ec) fail(Code::Storage, "cannot create " + out.forked_dir.string() + ": " + ec.message());
  fs::permissions(out.forked_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path from = home / (std::string(kStoreFile) + suffix);
    if (!fs::exists(from)) continue;
    fs::rename(from, out.forked_dir / (std::string(kStoreFile) + suffix), ec);
    if (ec) fail(Code::Storage, "cannot move " + from.string() + ": " + ec.message());
  }
  fs::rename(home / kIdentityFile, out.forked_dir / kIdentityFile, ec);
  if (ec) fail(Code::Storage, "cannot move " + (home / kIdentityFile).string() + ": " + ec.message());

  Env& env = system_env();
  Identity fresh = Identity::generate(env);
  out.new_device = fresh.device();
  write_new_private_file(home / kIdentityFile, check(fresh.wrap(passphrase->text(), env, cost)));
  open_store(home, std::move(fresh));
  return out;
}

ForkedHome open_forked_home(const Context& ctx, const fs::path& forked_dir) {
  const fs::path home = resolve_home(ctx);
  auto read_file = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(Code::NotFound, "cannot read " + file.string());
    return Bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const Bytes current = read_file(home / kIdentityFile), forked = read_file(forked_dir / kIdentityFile);
  auto passphrase = read_passphrase(/*confirm=*/false);
  ForkedHome out;
  out.current = open_store(home, check(Identity::unwrap(current, passphrase->text())));
  Identity old = check(Identity::unwrap(forked, passphrase->text()));
  out.old_device = old.device();
  out.forked = open_store(forked_dir, std::move(old));
  return out;
}

nlohmann::json backup_home(const fs::path& home, const fs::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path store = home / kStoreFile;
  std::error_code ec;
  if (!fs::exists(store, ec))
    fail(Code::NotFound, "no store at " + store.string() + ": is " + home.string() + " a node's home (--home)?");
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
    usage_error(dir.string() + " exists and is not an empty directory: a backup never overwrites");
  const fs::path target = fs::absolute(dir, ec).lexically_normal();
  const fs::path parent = target.parent_path();
  if (!fs::is_directory(parent, ec)) fail(Code::NotFound, "no directory " + parent.string() + " to back up into");
  // Written beside DIR, renamed at the end: DIR is whole or absent.
  std::string pattern = (parent / ("." + target.filename().string() + ".partial-XXXXXX")).string();
  if (!::mkdtemp(pattern.data()))
    fail(Code::Storage, "cannot create a directory in " + parent.string() + ": " + std::strerror(errno));
  const fs::path work = pattern;
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) fs::remove_all(path, ignored);
    }
  } cleanup{work};

  // The key files, read through no symbolic link (the home belongs to the
  // node's user; this may run as root): regular files only, mode 0600.
  nlohmann::json copied = nlohmann::json::array();
  for (const char* name : {kNodeKeyFile, kIdentityFile, kDeviceFile}) {
    const fs::path from = home / name, to = work / name;
    const int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) {
      if (errno == ENOENT) continue;
      fail(Code::Storage, "cannot read " + from.string() + ": " + std::strerror(errno) +
                              (errno == ELOOP ? " (a symbolic link: refused)" : ""));
    }
    struct stat st {};
    std::string bytes;
    char buf[4096];
    bool ok = ::fstat(in, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (1 << 20);
    for (ssize_t n = 0; ok && (n = ::read(in, buf, sizeof buf)) != 0;) {
      if (n < 0)
        ok = false;
      else
        bytes.append(buf, static_cast<size_t>(n));
    }
    ::close(in);
    if (!ok) fail(Code::Storage, from.string() + " is not a readable regular file");
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const bool written =
        out >= 0 && ::write(out, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(out) == 0;
    if (out >= 0) ::close(out);
    sodium_memzero(bytes.data(), bytes.size());
    if (!written) fail(Code::Storage, "cannot write " + to.string() + ": " + std::strerror(errno));
    copied.push_back(name);
  }

  const fs::path copy = work / kStoreFile;
  check(copy_store(store, copy));
  const StoreCounts counts = count_store(copy);
  fs::permissions(work, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (!sync_path(work)) fail(Code::Storage, "cannot flush " + work.string());

  // rename(2) replaces an empty directory atomically, and fails on one that
  // is not (filled meanwhile).
  if (::rename(work.c_str(), target.c_str()) != 0)
    fail(Code::Storage, "cannot rename " + work.string() + " to " + target.string() + ": " + std::strerror(errno));
  cleanup.path.clear();
  sync_path(parent);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return {{"backup", target.string()},
          {"store_bytes", static_cast<uint64_t>(fs::file_size(target / kStoreFile, ec))},
          {"changes", counts.changes},
          {"spaces", counts.spaces},
          {"keys", copied},
          {"ms", ms.count()}};
}

SyncHome open_node_home(const Context& ctx, size_t max_held_changes) {
  const fs::path home = resolve_home(ctx);
  std::error_code ec;
  if (!fs::exists(home)) {
    fs::create_directories(home, ec);
    if (ec) fail(Code::Storage, "cannot create " + home.string() + ": " + ec.message());
    fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  std::optional<Identity> device = unlock_identity(home, /*required=*/false);
  SyncHome out;
  out.transport_key = transport_key_unless(home, device);
  out.replica =
      open_store(home, std::move(device),
                 ReplicaOptions{.materialize = false, .synchronous_full = true, .max_held_changes = max_held_changes});
  return out;
}

}  // namespace urbis::cli
