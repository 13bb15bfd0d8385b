// Node benchmarks (issue 3; native only): a real `urbis node --listen
// 127.0.0.1:0` process in its own temporary home, and clients in this process
// that drive sync::Session over Boost.Beast WebSockets as `urbis sync` does,
// each over a Replica in the same temporary directory. Over loopback:
//   1. catch-up of 100k ops: a client pushes them to the empty node, then a
//      second member of the space catches up from it (seconds each way; wire
//      bytes against the encrypted payload);
//   1b. catch-up of 100k one-op changes, pushed and pulled the same way;
//   2. live propagation A -> node -> B at 500 edits/s (latency p50/p99/max);
//   3. node ingest of pre-built changes from 1 and from 4 clients (changes/s,
//      and changes per second of the node's CPU time);
//   4. concurrent WebSocket clients held (node memory per connection; the
//      node still answers /healthz and serves a fresh sync while they stay;
//      how long one edit takes to reach them all);
//   5. bytes on the wire per one-field edit (live, relayed, caught up), in
//      the compact and the plain form of Changes frames.
// Each figure is a line "BENCH <name> <value> <unit>"; a table with the
// budgets of DESIGN.md follows. Every wait is bounded, so the bench ends by
// itself; the node is killed with the bench (PR_SET_PDEATHSIG).
//
//   URBIS_BENCH_SCALE=0.1   shrinks the workloads (bench_util.h); not the
//                           number of connections held
//   URBIS_BENCH_DIR=DIR     where the node's home and the clients' stores go
//                           (default: the system temp directory; /dev/shm
//                           takes the disk's fsync out of the figures)
//   URBIS_BENCH_CLIENTS=N   connections to hold (default 5000)
//   URBIS_BENCH_ONLY=LIST   run only these of catchup (with live), catchup1, ingest, held, wire
//
// Clients use synchronous=NORMAL (as the core benchmark), so their own fsyncs
// do not pace the figures; the node runs as shipped (synchronous=FULL: it
// acknowledges a change only once it is on disk). The clients share one
// thread (one io_context), except in the live test, where A (the writer)
// runs on a thread of its own so B's applies never delay A's edits.
#include "frame_queue.h"  // first: Boost before the rest (as in node/net)

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <atomic>
#include <cstdarg>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "tcp_counters.h"
#include "urbis/replica.h"
#include "urbis/sync.pb.h"
#include "urbis/sync/session.h"

extern char** environ;

namespace urbis::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using WsStream = websocket::stream<beast::tcp_stream>;
using namespace std::chrono_literals;

// The first byte of a serialized pb::Frame holding the message with field
// number `field`: enough to tell the frames this bench's own clients send and
// the node's answers apart, at no cost to what is measured (a host that must
// not trust a frame walks it with sync::peek_frame instead).
constexpr uint8_t frame_tag(int field) { return static_cast<uint8_t>(field << 3 | 2); }
constexpr uint8_t kChangesTag = frame_tag(pb::Frame::kChangesFieldNumber);
constexpr uint8_t kAckTag = frame_tag(pb::Frame::kAckFieldNumber);
// IPv4 (20) + TCP with timestamps (32): the headers of one loopback segment.
constexpr uint64_t kSegmentHeaderBytes = 52;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// `v` with `decimals` digits after the point.
std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------- results

struct Row {
  std::string name, unit, budget;
  double value;
  int decimals;
  std::optional<bool> met;  // nullopt: no budget
  std::string note;
};
std::vector<Row> rows;

void report(const std::string& name, double value, const std::string& unit, int decimals = 1, std::string budget = "",
            std::optional<bool> met = std::nullopt, std::string note = "") {
  std::printf("BENCH %s %.*f %s\n", name.c_str(), decimals, value, unit.c_str());
  std::fflush(stdout);
  rows.push_back({name, unit, std::move(budget), value, decimals, met, std::move(note)});
}

void say(const char* format, ...) __attribute__((format(printf, 1, 2)));
void say(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::fputs("net-bench: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "net-bench: %s\n", why.c_str());
  std::exit(1);  // atexit kills the node
}

// ---------------------------------------------------------------- files and processes

// A directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("URBIS_BENCH_DIR");
    std::string tmpl = ((base ? fs::path(base) : fs::temp_directory_path()) / "urbis-net-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) die("cannot create a directory like " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Time a process's threads ran, and waited runnable for a CPU (other
// processes on the machine, or each other), from /proc/PID/task/*/schedstat.
// The wait is how the figures show a busy machine.
struct SchedTimes {
  double cpu_s = 0, runqueue_wait_s = 0;
  SchedTimes operator-(const SchedTimes& o) const { return {cpu_s - o.cpu_s, runqueue_wait_s - o.runqueue_wait_s}; }
};

SchedTimes sched_times(pid_t pid) {
  SchedTimes t;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream in(read_text(task.path() / "schedstat"));
    unsigned long long run_ns = 0, wait_ns = 0;
    if (in >> run_ns >> wait_ns) {
      t.cpu_s += run_ns / 1e9;
      t.runqueue_wait_s += wait_ns / 1e9;
    }
  }
  return t;
}

// "CPU 1.23 s, run-queue wait 0.45 s" for `who`.
std::string sched_note(const char* who, const SchedTimes& t) {
  return std::string(who) + " CPU " + fixed(t.cpu_s, 2) + " s, run-queue wait " + fixed(t.runqueue_wait_s, 2) + " s";
}

pid_t g_node_pid = -1;  // killed at exit, whatever path exit takes

// `urbis --home DIR/node node --listen 127.0.0.1:0`, stdout and stderr in
// files next to the home; port() once it printed {"listening": "ADDR:PORT"}.
class NodeProcess {
 public:
  explicit NodeProcess(const fs::path& dir) : out_(dir / "node.out"), err_(dir / "node.err") {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).rfind("URBIS_", 0) != 0) env_strings.emplace_back(*e);
    env_strings.push_back("URBIS_PASSPHRASE=net bench passphrase");
    env_strings.push_back("URBIS_PWHASH=minimal");
    std::vector<std::string> args = {URBIS_CLI_BINARY, "--home",      (dir / "node").string(), "node",
                                     "--listen",       "127.0.0.1:0", "--open-spaces"};
    std::vector<char*> argv, envp;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0 || err < 0) die("cannot open the node's stdio files in " + dir.string());
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      // The node dies with the bench, even when the bench is killed.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      execve(URBIS_CLI_BINARY, argv.data(), envp.data());
      _exit(127);
    }
    ::close(in);
    ::close(out);
    ::close(err);
    pid_ = pid;
    g_node_pid = pid;
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
      const std::string text = read_text(out_);
      if (const auto nl = text.find('\n'); nl != std::string::npos) {
        auto line = nlohmann::json::parse(text.substr(0, nl), nullptr, false);
        if (line.is_object() && line.contains("listening")) {
          const std::string addr = line["listening"].get<std::string>();
          port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
          return;
        }
        die("unexpected first line from the node: " + text.substr(0, nl));
      }
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = g_node_pid = -1;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    die("the node did not report listening; its log:\n" + read_text(err_));
  }
  ~NodeProcess() { stop(); }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  // SIGTERM, then SIGKILL after `limit`. The node's exit code, or nullopt if killed.
  std::optional<int> stop(std::chrono::seconds limit = 15s) {
    if (pid_ <= 0) return std::nullopt;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + limit;
    std::optional<int> code;
    for (;;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        if (WIFEXITED(status)) code = WEXITSTATUS(status);
        break;
      }
      if (Clock::now() >= deadline) {
        say("the node did not stop within %llds of SIGTERM; killing it", static_cast<long long>(limit.count()));
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    pid_ = g_node_pid = -1;
    return code;
  }

  // VmRSS of the node, in KiB (0 if unreadable).
  uint64_t rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
  }
  SchedTimes sched() const { return sched_times(pid_); }
  std::string log() const { return read_text(err_); }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

void kill_node_at_exit() {
  if (g_node_pid > 0) {
    kill(g_node_pid, SIGKILL);
    waitpid(g_node_pid, nullptr, 0);
  }
}

struct HttpResult {
  int status = 0;
  std::string body;
  double ms = 0;
};

// GET over HTTP/1.0 on 127.0.0.1 with 5 s socket timeouts (blocking; the
// node closes after the response).
HttpResult http_get(uint16_t port, const std::string& path) {
  HttpResult r;
  const auto start = Clock::now();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string raw;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  r.ms = seconds_since(start) * 1000;
  const auto split = raw.find("\r\n\r\n");
  if (split == std::string::npos || raw.size() < 12) return r;
  r.status = std::atoi(raw.c_str() + 9);
  r.body = raw.substr(split + 4);
  return r;
}

// The value of metric `name` (an unlabelled line "name value") in /metrics text.
std::optional<double> metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
  return std::nullopt;
}

// Raises this process's soft RLIMIT_NOFILE to its hard limit (the node,
// started afterwards, inherits it); returns the soft limit in force.
rlim_t raise_nofile_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit want = lim;
    want.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) lim = want;
  }
  return lim.rlim_cur;
}

// ---------------------------------------------------------------- replicas and identities

// A second handle on `identity` (move-only; Replica::open takes one, the
// session's Signer borrows the other), as node/cli/home.cc does it.
Identity copy_identity(const Identity& identity) {
  Bytes wrapped = must(identity.wrap("bench copy", system_env(), PwhashCost::Minimal), "wrap");
  return must(Identity::unwrap(wrapped, "bench copy"), "unwrap");
}

std::unique_ptr<Replica> open_client_replica(const fs::path& path, std::optional<Identity> identity) {
  ReplicaOptions o;
  o.synchronous_full = false;  // WAL + NORMAL: see the file comment
  return must(Replica::open(path.string(), std::move(identity), system_env(), o), "open replica");
}

std::string wire(const SpaceId& space) {
  return std::string(reinterpret_cast<const char*>(space.bytes.data()), space.bytes.size());
}

uint64_t total_bytes(const std::vector<Bytes>& v) {
  uint64_t n = 0;
  for (const Bytes& b : v) n += b.size();
  return n;
}

// ---------------------------------------------------------------- a sync client

// One WebSocket connection to the node driving one client Session (as
// node/cli/sync_client.cc), or, for the ingest test, carrying pre-built
// Changes frames after the session's handshake. Lives on one io_context;
// everything it counts is read from that context's thread.
class Client : public std::enable_shared_from_this<Client> {
 public:
  enum class Phase { Connecting, Open, Closed, Failed };

  Client(asio::io_context& io, Replica& replica, sync::Signer signer, std::vector<SpaceId> spaces,
         sync::SessionOptions options = {})
      : ws_(io),
        out_(ws_),
        replica_(replica),
        signer_(std::move(signer)),
        spaces_(std::move(spaces)),
        options_(std::move(options)) {
    out_.on_written = [this](size_t n) { ws_bytes_out_ += n; };
  }

  // Connects to 127.0.0.1:port and runs the session until closed.
  void start(uint16_t port) {
    started_at_ = Clock::now();
    asio::co_spawn(ws_.get_executor(), run(port), [self = shared_from_this()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        self->fail(std::string("exception: ") + x.what());
      } catch (...) {
        self->fail("unknown exception");
      }
    });
  }

  void send(std::vector<Bytes> frames) {
    if (phase_ != Phase::Open) return;
    for (const Bytes& f : frames)
      if (!f.empty() && f[0] == kChangesTag) {
        changes_frames_out_ += 1;
        changes_bytes_out_ += f.size();
      }
    out_.send(std::move(frames), shared_from_this());
  }
  // Closes with the WebSocket close handshake once the queue is written.
  void close() {
    if (phase_ != Phase::Open) return;
    out_.close(websocket::close_reason(websocket::close_code::normal), shared_from_this());
  }
  // Drops the TCP connection at once (the node sees EOF or a reset).
  void abort() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  Phase phase() const { return phase_; }
  bool ended() const { return phase_ == Phase::Closed || phase_ == Phase::Failed; }
  // The session reached Live (both sides caught up) for exactly `spaces` spaces.
  bool live(size_t spaces = 1) const {
    return session_ && session_->state() == sync::SessionState::Live && session_->synced_spaces().size() == spaces;
  }
  // Live, and every Changes frame sent acknowledged.
  bool caught_up() const { return live() && acks_in_ == changes_frames_out_; }
  // When caught_up() first held (checked after each frame received).
  std::optional<Clock::time_point> caught_up_at() const { return caught_up_at_; }
  Clock::time_point started_at() const { return started_at_; }
  sync::Session& session() { return *session_; }
  const std::string& error() const { return error_; }
  uint64_t ws_bytes_in() const { return ws_bytes_in_; }
  uint64_t ws_bytes_out() const { return ws_bytes_out_; }
  uint64_t acks_in() const { return acks_in_; }
  uint64_t changes_frames_out() const { return changes_frames_out_; }
  // Bytes of the Changes frames (whole frames, as WebSocket payloads) sent and received.
  uint64_t changes_bytes_out() const { return changes_bytes_out_; }
  uint64_t changes_bytes_in() const { return changes_bytes_in_; }
  // Ended with the session Live but without the space (refused by the node).
  bool live_without_space() const {
    return session_ && session_->state() == sync::SessionState::Live && session_->synced_spaces().empty();
  }
  TcpCounters tcp() {
    TcpCounters c;
    auto& sock = beast::get_lowest_layer(ws_).socket();
    if (sock.is_open()) read_tcp_counters(sock.native_handle(), c);
    return c;
  }

  // Called after each frame received and handled by the session.
  std::function<void(Client&, ByteView)> on_frame;

 private:
  void fail(std::string why) {
    if (ended()) return;
    error_ = std::move(why);
    phase_ = Phase::Failed;
    abort();
  }

  asio::awaitable<void> run(uint16_t port) {
    auto self = shared_from_this();
    beast::error_code ec;
    auto& raw = beast::get_lowest_layer(ws_);
    raw.expires_after(10s);
    co_await raw.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail("connect: " + ec.message());
    raw.expires_never();
    // Small frames go out at once, as from a browser (Chromium sets TCP_NODELAY
    // on every socket): Nagle would hold an edit until the previous one is acknowledged.
    raw.socket().set_option(tcp::no_delay(true), ec);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = 10s;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    co_await ws_.async_handshake("127.0.0.1:" + std::to_string(port), "/sync",
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail("WebSocket handshake: " + ec.message());
    ws_.binary(true);
    ws_.read_message_max(options_.max_frame_bytes);
    session_ =
        std::make_unique<sync::Session>(replica_, system_env(), signer_, sync::SessionRole::Client, spaces_, options_);
    phase_ = Phase::Open;
    send(session_->start());
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (out_.closing() && ec == websocket::error::closed) {
          phase_ = Phase::Closed;
          co_return;
        }
        co_return fail(ec == websocket::error::closed ? "closed by the node" : ec.message());
      }
      ws_bytes_in_ += buffer.size();
      const auto data = buffer.cdata();
      const ByteView frame(static_cast<const uint8_t*>(data.data()), data.size());
      if (!frame.empty() && frame[0] == kAckTag) acks_in_ += 1;
      if (!frame.empty() && frame[0] == kChangesTag) changes_bytes_in_ += frame.size();
      sync::Reply reply = session_->receive(frame);
      send(std::move(reply.frames));
      if (!reply.status.is_ok()) co_return fail("session: " + reply.status.to_string());
      if (!caught_up_at_ && caught_up()) caught_up_at_ = Clock::now();
      if (on_frame) on_frame(*this, frame);
    }
  }

  WsStream ws_;
  net::FrameQueue<WsStream> out_;
  Replica& replica_;
  sync::Signer signer_;
  std::vector<SpaceId> spaces_;
  sync::SessionOptions options_;
  std::unique_ptr<sync::Session> session_;
  Phase phase_ = Phase::Connecting;
  std::string error_;
  Clock::time_point started_at_;
  std::optional<Clock::time_point> caught_up_at_;
  uint64_t ws_bytes_in_ = 0, ws_bytes_out_ = 0, acks_in_ = 0, changes_frames_out_ = 0;
  uint64_t changes_bytes_out_ = 0, changes_bytes_in_ = 0;
};

// Runs `io` (which must hold a work guard) until `done()` or `limit`.
bool run_until(asio::io_context& io, const std::function<bool()>& done, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    io.run_for(5ms);
  }
  return true;
}

// Closes `clients` (the close handshake) and waits, bounded, for them to end.
void close_all(asio::io_context& io, const std::vector<std::shared_ptr<Client>>& clients) {
  for (auto& c : clients) c->close();
  const bool closed = run_until(
      io, [&] { return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->ended(); }); }, 10s);
  if (!closed)
    for (auto& c : clients) c->abort();
  io.run_for(50ms);
}

void require_caught_up(const Client& c, const char* what) {
  if (!c.caught_up()) die(std::string(what) + ": not caught up" + (c.error().empty() ? "" : ": " + c.error()));
}

// ---------------------------------------------------------------- 1 + 2: catch-up and live

struct WireFigures {
  double seconds = 0;
  uint64_t ws_bytes = 0, tcp_bytes = 0, segments = 0;
};

WireFigures wire_figures(Client& c) {
  WireFigures w;
  w.seconds = std::chrono::duration<double>(*c.caught_up_at() - c.started_at()).count();
  w.ws_bytes = c.ws_bytes_in() + c.ws_bytes_out();
  const TcpCounters t = c.tcp();
  w.segments = t.segments_in + t.segments_out;
  w.tcp_bytes = t.bytes_received + t.bytes_sent + kSegmentHeaderBytes * w.segments;
  return w;
}

// Commits one edit every `period` on A's thread and pushes it; records the
// steady-clock time each commit returned, by the change's seq.
class LiveWriter {
 public:
  LiveWriter(asio::io_context& io, Replica& replica, SpaceId space, std::vector<EntityId> targets, Client& client,
             size_t edits, std::chrono::microseconds period, uint64_t first_seq)
      : timer_(io),
        replica_(replica),
        space_(space),
        targets_(std::move(targets)),
        client_(client),
        edits_(edits),
        period_(period),
        first_seq_(first_seq),
        committed_ns_(edits) {}

  void start() {
    t0_ = Clock::now();
    next();
  }
  bool done() const { return done_.load(); }
  // Steady-clock ns at which change `seq` was committed (0: not yet).
  int64_t committed_ns(uint64_t seq) const {
    if (seq < first_seq_ || seq - first_seq_ >= committed_ns_.size()) return 0;
    return committed_ns_[seq - first_seq_].load(std::memory_order_acquire);
  }
  // Edits per second achieved (first to last commit); valid once done().
  double achieved_rate() const {
    return edits_ > 1 ? (edits_ - 1) / std::chrono::duration<double>(last_ - first_).count() : 0;
  }
  std::vector<double> commit_ms() const { return commit_ms_; }

 private:
  void next() {
    timer_.expires_at(t0_ + period_ * i_);  // a late tick fires at once: the rate is kept on average
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      edit();
      if (++i_ < edits_) return next();
      done_.store(true);
    });
  }
  void edit() {
    Transaction tx = replica_.begin(space_);
    tx.set(targets_[i_ % targets_.size()], "budget", static_cast<int64_t>(1'000'000 + i_));
    const auto before = Clock::now();
    CommitInfo info = must(replica_.commit(tx), "live commit");
    const auto after = Clock::now();
    if (i_ == 0) first_ = after;
    last_ = after;
    commit_ms_.push_back(std::chrono::duration<double, std::milli>(after - before).count());
    if (info.seq >= first_seq_ && info.seq - first_seq_ < committed_ns_.size())
      committed_ns_[info.seq - first_seq_].store(
          std::chrono::duration_cast<std::chrono::nanoseconds>(after.time_since_epoch()).count(),
          std::memory_order_release);
    client_.send(client_.session().on_local_change(space_));
  }

  asio::steady_timer timer_;
  Replica& replica_;
  SpaceId space_;
  std::vector<EntityId> targets_;
  Client& client_;
  size_t edits_, i_ = 0;
  std::chrono::microseconds period_;
  uint64_t first_seq_;
  std::vector<std::atomic<int64_t>> committed_ns_;
  std::vector<double> commit_ms_;
  Clock::time_point t0_, first_, last_;
  std::atomic<bool> done_{false};
};

// One sync of `replica` with the node, until its session caught up.
struct SyncRun {
  std::shared_ptr<Client> client;
  SchedTimes node, self;  // CPU time of the node and of this process meanwhile
  WireFigures wire;
};

SyncRun sync_until_caught_up(asio::io_context& io, Replica& replica, const Identity& signer, const SpaceId& space,
                             NodeProcess& node, const char* what) {
  SyncRun run;
  run.client = std::make_shared<Client>(io, replica, sync::Signer::of(signer), std::vector<SpaceId>{space});
  const SchedTimes node0 = node.sched(), self0 = sched_times(getpid());
  run.client->start(node.port());
  run_until(
      io, [&] { return run.client->caught_up() || run.client->ended(); }, 120s);
  require_caught_up(*run.client, what);
  run.node = node.sched() - node0;
  run.self = sched_times(getpid()) - self0;
  run.wire = wire_figures(*run.client);
  return run;
}

// Dies unless `b` holds what `a` holds of `space`: the same version vector
// and state hash.
void require_converged(Replica& a, Replica& b, const SpaceId& space, const std::string& what) {
  if (must(b.version_vector(space), "vv") != must(a.version_vector(space), "vv"))
    die(what + ": B's version vector differs from A's");
  if (must(b.state_hash(space), "hash") != must(a.state_hash(space), "hash")) die(what + ": B diverged from A");
}

// 1b. Catch-up of one-op changes (issue 13: 100,000 of them, node -> empty
// client, within 2 s natively): A makes them (one field of one project each,
// in commit_groups of 1,000: one signed change per edit), pushes them to the
// node; B, a member with an empty store, pulls them. The sync case of many
// small changes from field devices back online.
void bench_catch_up_one_op(const fs::path& dir, NodeProcess& node) {
  const size_t edits = scaled(100000), projects = 1000;
  say("1b. catch-up of %zu one-op changes: building...", edits);
  Identity a_id = Identity::generate(system_env()), b_id = Identity::generate(system_env());
  const DeviceKey b_key = b_id.device();
  const Identity a_signer = copy_identity(a_id), b_signer = copy_identity(b_id);
  auto a = open_client_replica(dir / "a1.db", std::move(a_id));
  auto b = open_client_replica(dir / "b1.db", std::move(b_id));
  const SpaceId space = must(a->create_space("catch-up, one op each"), "create space");
  must(a->add_member(space, b_key, Role::Editor), "add member");
  std::vector<EntityId> ids;
  {
    Transaction tx = a->begin(space);
    for (size_t p = 0; p < projects; ++p) {
      ids.push_back(tx.create("project"));
      project_ops(tx, ids.back(), p, 0, 10);
    }
    must(a->commit(tx), "commit projects");
  }
  const auto build_start = Clock::now();
  for (size_t done = 0; done < edits;) {
    std::vector<Transaction> group;
    for (; group.size() < 1000 && done < edits; ++done) {
      Transaction tx = a->begin(space);
      tx.set(ids[(done * 7919) % ids.size()], "budget", static_cast<int64_t>(1'000'000 + done));
      group.push_back(std::move(tx));
    }
    must(a->commit_group(group), "commit_group");
  }
  const std::vector<Bytes> log = must(a->changes_since(space, {}), "changes_since");
  const uint64_t payload = total_bytes(log);
  say("   built in %.1f s: %zu changes, %.2f MB of envelopes", seconds_since(build_start), log.size(), payload / 1e6);

  asio::io_context io_a(1), io_b(1);
  auto guard_a = asio::make_work_guard(io_a);
  auto guard_b = asio::make_work_guard(io_b);
  const SyncRun push = sync_until_caught_up(io_a, *a, a_signer, space, node, "push of one-op changes");
  const SyncRun pull = sync_until_caught_up(io_b, *b, b_signer, space, node, "pull of one-op changes");
  // What B's reads show (summaries, facets, full text), brought up to date:
  // part of the catch-up (a catch-up's batches leave it to the next read).
  const auto refresh_start = Clock::now();
  must(b->refresh(), "refresh");
  const double refresh_s = seconds_since(refresh_start);
  const double pull_s = pull.wire.seconds + refresh_s;
  require_converged(*a, *b, space, "pull of one-op changes");
  const std::string note =
      std::to_string(log.size()) + " changes, " + std::to_string(static_cast<int>(payload / 1000)) + " kB of envelopes";
  report("catchup_push_100k_1op_changes_s", push.wire.seconds, "s", 2, "", std::nullopt,
         note + "; " + sched_note("node", push.node) + "; " + sched_note("client A", push.self));
  char refreshed[96];
  std::snprintf(refreshed, sizeof refreshed, "; then B's summaries, facets and text refreshed in %.2f s", refresh_s);
  report("catchup_pull_100k_1op_changes_s", pull_s, "s", 2, "<= 2 s (issue 13)", pull_s <= 2,
         "B verifies, decrypts, merges, materializes; " + sched_note("node", pull.node) + "; " +
             sched_note("client B", pull.self) + refreshed);
  report("catchup_pull_1op_changes_per_s", log.size() / pull_s, "changes/s", 0, "", std::nullopt, "");
}

void bench_catch_up_and_live(const fs::path& dir, NodeProcess& node) {
  const size_t txs = scaled(1000), ops_per_tx = 100;
  say("1. catch-up: building %zu changes of %zu ops (one project = 10 ops)...", txs, ops_per_tx);
  Identity a_id = Identity::generate(system_env()), b_id = Identity::generate(system_env());
  const DeviceKey a_key = a_id.device(), b_key = b_id.device();
  Identity a_signer = copy_identity(a_id), b_signer = copy_identity(b_id);
  auto a = open_client_replica(dir / "a.db", std::move(a_id));
  auto b = open_client_replica(dir / "b.db", std::move(b_id));
  const SpaceId space = must(a->create_space("catch-up"), "create space");
  must(a->add_member(space, b_key, Role::Editor), "add member");
  std::vector<EntityId> projects;
  const auto build_start = Clock::now();
  for (size_t done = 0; done < txs;) {
    std::vector<Transaction> group;
    for (; group.size() < 100 && done < txs; ++done) {
      Transaction tx = a->begin(space);
      for (size_t p = 0; p < ops_per_tx / 10; ++p) {
        projects.push_back(tx.create("project"));
        project_ops(tx, projects.back(), projects.size() - 1, 0, 10);
      }
      group.push_back(std::move(tx));
    }
    must(a->commit_group(group), "commit_group");
  }
  const std::vector<Bytes> log = must(a->changes_since(space, {}), "changes_since");
  const uint64_t payload = total_bytes(log);
  const size_t ops = txs * ops_per_tx;
  say("   built in %.1f s: %zu changes (2 membership), %.2f MB of envelopes", seconds_since(build_start), log.size(),
      payload / 1e6);

  asio::io_context io_a(1), io_b(1);
  auto guard_a = asio::make_work_guard(io_a);
  auto guard_b = asio::make_work_guard(io_b);

  // Push: A (offline so far) connects to the empty node and sends everything.
  SyncRun push_run = sync_until_caught_up(io_a, *a, a_signer, space, node, "push");
  auto ca = push_run.client;
  const SchedTimes push_node = push_run.node, push_self = push_run.self;
  const WireFigures push = push_run.wire;
  if (ca->session().counters().changes_sent != log.size())
    die("push: sent " + std::to_string(ca->session().counters().changes_sent) + " changes, expected " +
        std::to_string(log.size()));

  // Pull: B, a member with an empty store, catches up from the node.
  SyncRun pull_run = sync_until_caught_up(io_b, *b, b_signer, space, node, "pull");
  auto cb = pull_run.client;
  const SchedTimes pull_node = pull_run.node, pull_self = pull_run.self;
  WireFigures pull = pull_run.wire;
  // B's reads brought up to date (summaries, facets, full text): part of the
  // catch-up, as in 1b.
  const auto refresh_start = Clock::now();
  must(b->refresh(), "refresh");
  pull.seconds += seconds_since(refresh_start);
  require_converged(*a, *b, space, "pull");

  const std::string ops_note = std::to_string(ops) + " ops in " + std::to_string(txs) + " changes of " +
                               std::to_string(ops_per_tx) + " ops, " +
                               std::to_string(static_cast<int>(payload / 1000)) + " kB of envelopes";
  report("catchup_push_100k_ops_s", push.seconds, "s", 2, "< 2 s", push.seconds < 2,
         ops_note + "; " + sched_note("node", push_node) + "; " + sched_note("client A", push_self));
  report("catchup_pull_100k_ops_s", pull.seconds, "s", 2, "< 2 s", pull.seconds < 2,
         "B verifies, decrypts, merges, materializes; " + sched_note("node", pull_node) + "; " +
             sched_note("client B", pull_self));
  const double push_ws = static_cast<double>(push.ws_bytes) / payload;
  const double pull_ws = static_cast<double>(pull.ws_bytes) / payload;
  report("catchup_push_ws_bytes_ratio", push_ws, "x", 3, "<= 1.3x", push_ws <= 1.3,
         "WebSocket message payloads, both ways / envelope bytes");
  report("catchup_pull_ws_bytes_ratio", pull_ws, "x", 3, "<= 1.3x", pull_ws <= 1.3, "");
  if (push.segments && pull.segments) {
    const double push_tcp = static_cast<double>(push.tcp_bytes) / payload;
    const double pull_tcp = static_cast<double>(pull.tcp_bytes) / payload;
    report("catchup_push_tcp_bytes_ratio", push_tcp, "x", 3, "<= 1.3x", push_tcp <= 1.3,
           "TCP stream (HTTP upgrade, WS framing) + 52 B IP/TCP headers per segment (" + std::to_string(push.segments) +
               " segments)");
    report("catchup_pull_tcp_bytes_ratio", pull_tcp, "x", 3, "<= 1.3x", pull_tcp <= 1.3,
           std::to_string(pull.segments) + " segments");
  }

  // 2. Live: A commits one edit (1 op) every 2 ms and pushes it; B receives it
  // through the node. Latency: A's commit returned -> B's receive() (which
  // applied it) returned, both on this process's steady clock.
  const size_t edits = scaled(5000);
  const auto period = 2000us;
  say("2. live: %zu edits at one per 2 ms, A -> node -> B...", edits);
  const uint64_t first_seq = must(a->version_vector(space), "vv").at(a_key) + 1;
  LiveWriter writer(io_a, *a, space, std::vector<EntityId>(projects.begin(), projects.begin() + 100), *ca, edits,
                    period, first_seq);
  std::vector<double> latency_ms;
  latency_ms.reserve(edits);
  uint64_t b_seen = first_seq - 1;
  cb->on_frame = [&](Client&, ByteView frame) {
    if (frame.empty() || frame[0] != kChangesTag) return;
    const int64_t applied = now_ns();
    const VersionVector vv = must(b->version_vector(space), "vv");
    const auto it = vv.find(a_key);
    const uint64_t head = it == vv.end() ? 0 : it->second;
    for (; b_seen < head; ++b_seen)
      if (const int64_t t = writer.committed_ns(b_seen + 1)) latency_ms.push_back((applied - t) / 1e6);
  };
  // On A's thread: when the node acknowledges A's changes (stored durably).
  std::vector<double> ack_ms;
  ack_ms.reserve(edits);
  uint64_t a_acked = first_seq - 1;
  ca->on_frame = [&](Client&, ByteView frame) {
    if (frame.empty() || frame[0] != kAckTag) return;
    const int64_t acked = now_ns();
    pb::Frame f;
    if (!f.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return;
    for (const pb::AuthorSeq& h : f.ack().heads())
      if (DeviceKey::from_string(h.author()) == a_key)
        for (; a_acked < h.seq(); ++a_acked)
          if (const int64_t t = writer.committed_ns(a_acked + 1)) ack_ms.push_back((acked - t) / 1e6);
  };
  std::thread thread_a([&] { io_a.run(); });  // A's io_context: the writer and A's connection
  asio::post(io_a, [&] { writer.start(); });
  const SchedTimes node2 = node.sched(), self2 = sched_times(getpid());
  const auto live_start = Clock::now();
  run_until(
      io_b, [&] { return writer.done() && latency_ms.size() >= edits; }, period * edits + 30s);
  const double live_wall = seconds_since(live_start);
  const SchedTimes live_node = node.sched() - node2, live_self = sched_times(getpid()) - self2;
  const bool writer_done = writer.done();
  io_a.stop();
  thread_a.join();
  io_a.restart();
  if (!writer_done) die("live: the writer did not finish");
  if (latency_ms.size() < edits) say("   live: B received %zu of %zu edits in time", latency_ms.size(), edits);
  const double p99 = percentile(latency_ms, 0.99);
  report("live_edits_per_s", writer.achieved_rate(), "edits/s", 0, "", std::nullopt,
         std::to_string(latency_ms.size()) + " of " + std::to_string(edits) + " edits received by B; A's commit p50 " +
             fixed(percentile(writer.commit_ms(), 0.5), 2) + " ms; over " + fixed(live_wall, 1) +
             " s: " + sched_note("node", live_node) + "; " + sched_note("clients A and B", live_self));
  report("live_latency_p50_ms", percentile(latency_ms, 0.5), "ms", 2);
  report("live_latency_p99_ms", p99, "ms", 2, "< 50 ms", p99 < 50 && latency_ms.size() == edits);
  report("live_latency_max_ms", latency_ms.empty() ? 0 : *std::max_element(latency_ms.begin(), latency_ms.end()), "ms",
         2);
  report("live_node_ack_p50_ms", percentile(ack_ms, 0.5), "ms", 2, "", std::nullopt,
         "A's commit -> the node's Ack at A (the change durably stored on the node)");
  report("live_node_ack_p99_ms", percentile(ack_ms, 0.99), "ms", 2);

  close_all(io_a, {ca});
  close_all(io_b, {cb});
}

// ---------------------------------------------------------------- 3: ingest

// A writer whose changes are serialized ahead into Changes frames of at most
// the session's batch size, to be pushed by a Client over an empty replica
// (so that its session sends nothing of its own).
struct IngestSource {
  std::unique_ptr<Replica> writer;
  Identity signer;
  SpaceId space;
  std::vector<Bytes> frames;
  uint64_t changes = 0, envelope_bytes = 0;
};

IngestSource build_ingest_source(const fs::path& path, size_t changes) {
  Identity id = Identity::generate(system_env());
  IngestSource s{nullptr, copy_identity(id), {}, {}};
  s.writer = open_client_replica(path, std::move(id));
  s.space = must(s.writer->create_space("ingest"), "create space");
  for (size_t done = 0; done + 1 < changes;) {  // + the genesis
    std::vector<Transaction> group;
    for (; group.size() < 500 && done + 1 < changes; ++done) {
      Transaction tx = s.writer->begin(s.space);
      tx.set(tx.create("task"), "n", static_cast<int64_t>(done));  // one op
      group.push_back(std::move(tx));
    }
    must(s.writer->commit_group(group), "commit_group");
  }
  const std::vector<Bytes> log = must(s.writer->changes_since(s.space, {}), "changes_since");
  s.changes = log.size();
  s.envelope_bytes = total_bytes(log);
  const size_t max_batch = sync::SessionOptions{}.max_batch_bytes;
  for (size_t i = 0; i < log.size();) {
    pb::Frame f;
    auto* c = f.mutable_changes();
    c->set_space(wire(s.space));
    size_t bytes = 0;
    for (; i < log.size() && (bytes == 0 || bytes + log[i].size() <= max_batch); ++i) {
      bytes += log[i].size();
      c->add_envelopes(log[i].data(), log[i].size());
    }
    Bytes frame(f.ByteSizeLong());
    f.SerializeToArray(frame.data(), static_cast<int>(frame.size()));
    s.frames.push_back(std::move(frame));
  }
  return s;
}

struct IngestResult {
  double changes_per_s = 0, changes_per_cpu_s = 0, wall_s = 0;
  uint64_t changes = 0;
  SchedTimes node;
};

// `clients` connections, each pushing its own source's frames into its own
// space with the session's window (4 frames unacknowledged), all at once.
IngestResult run_ingest(NodeProcess& node, std::vector<IngestSource>& sources, const fs::path& dir) {
  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  auto empty = open_client_replica(dir / ("ingest-empty-" + std::to_string(sources.size()) + ".db"), std::nullopt);
  const size_t window = sync::SessionOptions{}.max_batches_in_flight;
  std::vector<std::shared_ptr<Client>> clients;
  std::vector<size_t> next(sources.size(), 0);
  for (size_t k = 0; k < sources.size(); ++k) {
    clients.push_back(std::make_shared<Client>(io, *empty, sync::Signer::of(sources[k].signer),
                                               std::vector<SpaceId>{sources[k].space}));
    clients.back()->start(node.port());
  }
  // Handshakes first (the node does not hold these spaces yet: they are seeded).
  run_until(
      io, [&] { return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->live() || c->ended(); }); },
      30s);
  for (auto& c : clients)
    if (!c->live()) die("ingest: handshake failed: " + c->error());
  const HttpResult m0 = http_get(node.port(), "/metrics");
  Clock::time_point last_ack{};
  for (size_t k = 0; k < sources.size(); ++k) {
    clients[k]->on_frame = [&, k](Client& c, ByteView frame) {
      if (frame.empty() || frame[0] != kAckTag) return;
      last_ack = Clock::now();
      if (next[k] < sources[k].frames.size()) c.send({sources[k].frames[next[k]++]});
    };
  }
  const SchedTimes node0 = node.sched();
  const auto start = Clock::now();
  for (size_t k = 0; k < sources.size(); ++k)
    for (; next[k] < std::min(window, sources[k].frames.size()); ++next[k])
      clients[k]->send({sources[k].frames[next[k]]});
  const bool done = run_until(
      io,
      [&] {
        bool all_acked = true;
        for (size_t k = 0; k < sources.size(); ++k) {
          if (clients[k]->ended()) return true;
          all_acked &= clients[k]->acks_in() >= sources[k].frames.size();
        }
        return all_acked;
      },
      300s);
  const SchedTimes used = node.sched() - node0;
  const double cpu = used.cpu_s;
  for (auto& c : clients)
    if (!done || c->ended()) die("ingest: did not complete: " + c->error());
  IngestResult r;
  for (auto& s : sources) r.changes += s.changes;
  const double wall = std::chrono::duration<double>(last_ack - start).count();
  r.changes_per_s = r.changes / wall;
  r.changes_per_cpu_s = cpu > 0 ? r.changes / cpu : 0;
  const HttpResult m1 = http_get(node.port(), "/metrics");
  const double stored = metric(m1.body, "urbis_changes_received_total").value_or(0) -
                        metric(m0.body, "urbis_changes_received_total").value_or(0);
  if (static_cast<uint64_t>(stored) != r.changes)
    die("ingest: the node reports " + std::to_string(stored) + " changes stored, expected " +
        std::to_string(r.changes));
  r.node = used;
  r.wall_s = wall;
  say("   %zu client(s): %" PRIu64 " changes in %.2f s, %s", sources.size(), r.changes, wall,
      sched_note("node", used).c_str());
  close_all(io, clients);
  return r;
}

void bench_ingest(const fs::path& dir, NodeProcess& node) {
  const size_t total = scaled(40000);
  for (size_t n_clients : {size_t{1}, size_t{4}}) {
    say("3. ingest: building %zu changes of 1 op for %zu client(s)...", total, n_clients);
    std::vector<IngestSource> sources;
    uint64_t bytes = 0, changes = 0;
    for (size_t k = 0; k < n_clients; ++k) {
      sources.push_back(build_ingest_source(
          dir / ("ingest-" + std::to_string(n_clients) + "-" + std::to_string(k) + ".db"), total / n_clients));
      bytes += sources.back().envelope_bytes;
      changes += sources.back().changes;
    }
    const IngestResult r = run_ingest(node, sources, dir);
    const std::string suffix = n_clients == 1 ? "1_client" : std::to_string(n_clients) + "_clients";
    report("ingest_changes_per_s_" + suffix, r.changes_per_s, "changes/s", 0, "", std::nullopt,
           std::to_string(r.changes) + " changes of 1 op (" + std::to_string(bytes / changes) + " B each) into " +
               std::to_string(n_clients) + " space(s)");
    report("ingest_changes_per_node_cpu_s_" + suffix, r.changes_per_cpu_s, "changes/s", 0, ">= 20k per core",
           r.changes_per_cpu_s >= 20000,
           "changes / node CPU seconds; in " + fixed(r.wall_s, 2) + " s: " + sched_note("node", r.node));
  }
}

// ---------------------------------------------------------------- 4: connections held

void bench_held(const fs::path& dir, NodeProcess& node, size_t wanted, rlim_t nofile) {
  size_t n = wanted;
  if (nofile < n + 100) {
    n = nofile > 200 ? nofile - 100 : 100;
    say("   RLIMIT_NOFILE is %llu: holding %zu connections instead of %zu", static_cast<unsigned long long>(nofile), n,
        wanted);
  }
  say("4. held: %zu devices joining one space...", n);
  // Every connection is a distinct device, a member (viewer) of one space;
  // one client replica that holds the space serves all their sessions, so a
  // handshake moves no changes (Want, Want, Live, Live).
  Identity admin_id = Identity::generate(system_env());
  Identity admin_signer = copy_identity(admin_id);
  auto admin = open_client_replica(dir / "crowd.db", std::move(admin_id));
  const SpaceId space = must(admin->create_space("crowd"), "create space");
  std::vector<Identity> devices;
  devices.reserve(n + 1);  // never reallocated: Signer::of borrows them
  const auto t0 = Clock::now();
  for (size_t i = 0; i <= n; ++i) {
    devices.push_back(Identity::generate(system_env()));
    must(admin->add_member(space, devices.back().device(), Role::Viewer), "add member");
  }
  say("   %zu members added in %.1f s", n + 1, seconds_since(t0));

  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  {
    auto seed = std::make_shared<Client>(io, *admin, sync::Signer::of(admin_signer), std::vector<SpaceId>{space});
    seed->start(node.port());
    run_until(
        io, [&] { return seed->caught_up() || seed->ended(); }, 120s);
    require_caught_up(*seed, "held: pushing the space");
    close_all(io, {seed});
  }
  std::this_thread::sleep_for(500ms);
  const uint64_t rss0 = node.rss_kib();

  std::vector<std::shared_ptr<Client>> clients;
  clients.reserve(n);
  size_t live = 0, failed = 0;
  std::vector<Client*> connecting;   // started, neither live nor failed yet
  const size_t max_connecting = 64;  // handshakes in flight: each waits less than its 10 s timeout
  const auto open_start = Clock::now();
  const SchedTimes node0 = node.sched();
  run_until(
      io,
      [&] {
        std::erase_if(connecting, [&](Client* c) {
          if (c->live()) return ++live, true;
          if (c->ended() || c->live_without_space()) return ++failed, true;
          return false;
        });
        while (clients.size() < n && connecting.size() < max_connecting) {
          clients.push_back(std::make_shared<Client>(io, *admin, sync::Signer::of(devices[clients.size()]),
                                                     std::vector<SpaceId>{space}));
          clients.back()->start(node.port());
          connecting.push_back(clients.back().get());
        }
        return live + failed == n;
      },
      600s);
  const double open_s = seconds_since(open_start);
  const SchedTimes opening = node.sched() - node0;
  std::string first_error;
  for (auto& c : clients)
    if (!c->error().empty()) {
      first_error = c->error();
      break;
    }
  say("   %zu live, %zu failed, %zu pending after %.1f s%s%s", live, failed, n - live - failed, open_s,
      first_error.empty() ? "" : "; first error: ", first_error.c_str());
  io.run_for(500ms);  // let the node settle (its last writes, its log lines)
  const uint64_t rss1 = node.rss_kib();
  const HttpResult health = http_get(node.port(), "/healthz");
  const HttpResult metrics = http_get(node.port(), "/metrics");
  const double node_connections = metric(metrics.body, "urbis_connections").value_or(-1);

  // A fresh member with an empty store syncs the space while the others stay.
  auto fresh_replica = open_client_replica(dir / "fresh.db", std::nullopt);
  auto fresh = std::make_shared<Client>(io, *fresh_replica, sync::Signer::of(devices[n]), std::vector<SpaceId>{space});
  fresh->start(node.port());
  run_until(
      io, [&] { return fresh->caught_up() || fresh->ended(); }, 60s);
  const bool fresh_ok = fresh->caught_up() &&
                        must(fresh_replica->version_vector(space), "vv") == must(admin->version_vector(space), "vv");
  const double fresh_s =
      fresh->caught_up_at() ? std::chrono::duration<double>(*fresh->caught_up_at() - fresh->started_at()).count() : -1;
  size_t still_live = 0;
  for (auto& c : clients) still_live += c->live() && !c->ended();

  report("held_connections", static_cast<double>(still_live), "connections", 0, ">= 5,000", still_live >= 5000,
         "distinct member devices, each Live on one space; node reports " +
             std::to_string(static_cast<long long>(node_connections)) + " connections; opened in " + fixed(open_s, 1) +
             " s (" + sched_note("node", opening) + ", " + fixed(live ? opening.cpu_s * 1000 / live : 0, 1) +
             " ms of node CPU per handshake)");
  report("held_node_rss_per_connection_kib", live ? (static_cast<double>(rss1) - rss0) / live : 0, "KiB", 1, "",
         std::nullopt,
         "node VmRSS " + std::to_string(rss0 / 1024) + " MiB before, " + std::to_string(rss1 / 1024) + " MiB after");
  report("held_healthz_ms", health.ms, "ms", 1, "answers", health.status == 200 && health.body == "ok\n",
         "HTTP " + std::to_string(health.status));
  report("held_fresh_sync_s", fresh_s, "s", 2, "syncs", fresh_ok,
         "an empty member device catches up the space (" + std::to_string(n + 2) + " membership changes)");
  if (!fresh_ok) say("   fresh sync failed: %s", fresh->error().c_str());

  // One edit by the admin, pushed live by the node to every member held.
  // (The held sessions share the admin's replica, so on the client side each
  // push is a cheap duplicate; the cost measured is the node's fan-out.)
  say("   one edit fanned out to %zu held members...", still_live);
  size_t pushed = 0;
  std::optional<Clock::time_point> last_push;
  for (auto& c : clients)
    c->on_frame = [&](Client&, ByteView frame) {
      if (frame.empty() || frame[0] != kChangesTag) return;
      ++pushed;
      last_push = Clock::now();
    };
  auto writer = std::make_shared<Client>(io, *admin, sync::Signer::of(admin_signer), std::vector<SpaceId>{space});
  writer->start(node.port());
  run_until(
      io, [&] { return writer->caught_up() || writer->ended(); }, 60s);
  require_caught_up(*writer, "held: the admin's connection");
  Transaction tx = admin->begin(space);
  tx.set(tx.create("project"), "stage", "idea");
  must(admin->commit(tx), "commit");
  const SchedTimes node_f0 = node.sched();
  const auto edit_at = Clock::now();
  writer->send(writer->session().on_local_change(space));
  HttpResult health_during;  // is the node still answering while it fans out?
  std::thread probe([&] {
    std::this_thread::sleep_for(500ms);
    health_during = http_get(node.port(), "/healthz");
  });
  const bool all_pushed = run_until(
      io, [&] { return pushed >= still_live; }, 180s);
  probe.join();
  const SchedTimes fanout = node.sched() - node_f0;
  const double fanout_s = last_push ? std::chrono::duration<double>(*last_push - edit_at).count() : -1;
  report("held_fanout_one_edit_s", fanout_s, "s", 2, "", std::nullopt,
         "one edit reaches " + std::to_string(pushed) + " of " + std::to_string(still_live) +
             " held members (the last one after this" + (all_pushed ? "" : "; stopped waiting after 180 s") + "); " +
             sched_note("node", fanout));
  report("held_healthz_during_fanout_ms", health_during.ms, "ms", 0, "", std::nullopt,
         health_during.status == 200 ? "HTTP 200, asked 0.5 s after the edit"
                                     : "no answer (5 s timeout), asked 0.5 s after the edit");

  // The members' Acks keep the node busy after the last push: let it finish
  // (bounded) so that the next figures and its shutdown do not inherit that work.
  const auto settle_start = Clock::now();
  for (SchedTimes before = node.sched();;) {
    io.run_for(500ms);
    const SchedTimes now = node.sched();
    if (now.cpu_s - before.cpu_s < 0.05 || Clock::now() - settle_start > 180s) break;
    before = now;
  }
  say("   the node settled %.1f s after the fan-out", seconds_since(settle_start));

  say("   dropping the connections...");
  writer->abort();
  for (auto& c : clients) c->abort();
  fresh->abort();
  run_until(
      io, [&] { return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->ended(); }); }, 30s);
}

// ---------------------------------------------------------------- 5: bytes on the wire

// What one-field edits (a short value) cost on the wire through the node, in
// whole Changes frames: pushed live by A (one frame per edit), relayed live to
// B, and per change when C, offline meanwhile, catches up on all of them. In
// the compact form (sync.proto, CompactEnvelope) and, with every client
// offering only the plain form (as a peer that predates it), the plain one.
void bench_wire(const fs::path& dir, NodeProcess& node) {
  const size_t edits = std::max<size_t>(scaled(200), 10);
  say("5. wire bytes: %zu one-field edits, A -> node -> B live, then C catching up...", edits);
  for (const bool compact : {false, true}) {
    const std::string form = compact ? "compact" : "plain";
    sync::SessionOptions options;
    options.compact_changes = compact;
    Identity a_id = Identity::generate(system_env()), b_id = Identity::generate(system_env()),
             c_id = Identity::generate(system_env());
    const DeviceKey a_key = a_id.device(), b_key = b_id.device(), c_key = c_id.device();
    Identity a_signer = copy_identity(a_id), b_signer = copy_identity(b_id), c_signer = copy_identity(c_id);
    auto a = open_client_replica(dir / ("wire-" + form + "-a.db"), std::move(a_id));
    auto b = open_client_replica(dir / ("wire-" + form + "-b.db"), std::move(b_id));
    auto c = open_client_replica(dir / ("wire-" + form + "-c.db"), std::move(c_id));
    const SpaceId space = must(a->create_space("wire " + form), "create space");
    must(a->add_member(space, b_key, Role::Editor), "add member");
    must(a->add_member(space, c_key, Role::Editor), "add member");
    EntityId task;
    {
      Transaction tx = a->begin(space);
      task = tx.create("task");
      tx.set(task, "status", "new");
      must(a->commit(tx), "commit");
    }
    asio::io_context io(1);
    auto guard = asio::make_work_guard(io);
    auto connect = [&](Replica& r, Identity& signer) {
      auto client = std::make_shared<Client>(io, r, sync::Signer::of(signer), std::vector<SpaceId>{space}, options);
      client->start(node.port());
      run_until(
          io, [&] { return client->caught_up() || client->ended(); }, 30s);
      require_caught_up(*client, "wire: connect");
      return client;
    };
    auto ca = connect(*a, a_signer);
    auto cb = connect(*b, b_signer);
    close_all(io, {connect(*c, c_signer)});  // C holds the space, then goes offline
    auto head = [&](Replica& r) {
      const VersionVector vv = must(r.version_vector(space), "vv");
      const auto it = vv.find(a_key);
      return it == vv.end() ? uint64_t{0} : it->second;
    };
    const uint64_t a_out0 = ca->changes_bytes_out(), b_in0 = cb->changes_bytes_in();
    size_t envelope = 0;
    for (size_t i = 0; i < edits; ++i) {
      Transaction tx = a->begin(space);
      tx.set(task, "status", i % 2 ? "open" : "done");
      const CommitInfo info = must(a->commit(tx), "commit");
      ca->send(ca->session().on_local_change(space));
      if (!run_until(
              io, [&] { return head(*b) >= info.seq || cb->ended(); }, 10s) ||
          cb->ended())
        die("wire: B did not receive edit " + std::to_string(i));
    }
    {
      VersionVector before = must(a->version_vector(space), "vv");
      before[a_key] -= 1;
      envelope = total_bytes(must(a->changes_since(space, before), "log"));  // the last edit's envelope
    }
    run_until(
        io, [&] { return ca->caught_up(); }, 10s);
    const double pushed = static_cast<double>(ca->changes_bytes_out() - a_out0) / edits;
    const double relayed = static_cast<double>(cb->changes_bytes_in() - b_in0) / edits;
    auto cc = connect(*c, c_signer);
    if (cc->session().counters().changes_received != edits)
      die("wire: C caught up on " + std::to_string(cc->session().counters().changes_received) + " changes, expected " +
          std::to_string(edits));
    if (must(c->state_hash(space), "hash") != must(a->state_hash(space), "hash")) die("wire: C diverged from A");
    const double caught_up = static_cast<double>(cc->changes_bytes_in()) / edits;
    close_all(io, {ca, cb, cc});
    const std::string suffix = compact ? "" : "_plain";
    const std::string note = compact ? "" : "the plain form (a peer without FEATURE_COMPACT_CHANGES)";
    report("wire_envelope_bytes_one_field_edit" + suffix, static_cast<double>(envelope), "B", 0, "", std::nullopt,
           compact ? "as stored and signed (either form)" : note);
    report("wire_bytes_per_one_field_edit" + suffix, pushed, "B", 1, compact ? "<= 220 B" : "",
           compact ? std::optional<bool>(pushed <= 220) : std::nullopt,
           compact ? "A's live push: one Changes frame per edit" : note);
    report("wire_bytes_per_one_field_edit_relayed" + suffix, relayed, "B", 1, "", std::nullopt,
           compact ? "the node's live push to B" : note);
    report("wire_bytes_per_change_catchup" + suffix, caught_up, "B", 1, compact ? "<= 220 B" : "",
           compact ? std::optional<bool>(caught_up <= 220) : std::nullopt,
           compact ? "C catching up on " + std::to_string(edits) + " edits" : note);
  }
}

// Whether URBIS_BENCH_ONLY (a comma-separated list) is unset or names `part`.
bool selected(const std::string& part) {
  const char* only = std::getenv("URBIS_BENCH_ONLY");
  if (!only || !*only) return true;
  std::stringstream list(only);
  for (std::string item; std::getline(list, item, ',');)
    if (item == part) return true;
  return false;
}

}  // namespace
}  // namespace urbis::bench

int main() {
  using namespace urbis::bench;
  alarm(1800);  // a last resort: the bench never outlives half an hour (nor does the node)
  std::atexit(kill_node_at_exit);
  signal(SIGPIPE, SIG_IGN);
  const rlim_t nofile = raise_nofile_limit();  // before the node starts: it inherits the limit
  size_t held = 5000;
  if (const char* n = std::getenv("URBIS_BENCH_CLIENTS")) held = std::max(1, std::atoi(n));
  std::printf("urbis node benchmark (scale %.3g, %zu connections to hold, RLIMIT_NOFILE %llu)\n", scale(), held,
              static_cast<unsigned long long>(nofile));
  std::fflush(stdout);

  TempDir dir;
  say("node and client stores in %s", dir.path().c_str());
  {
    NodeProcess node(dir.path());
    say("node pid %d on 127.0.0.1:%u", static_cast<int>(node.pid()), static_cast<unsigned>(node.port()));
    if (selected("catchup")) bench_catch_up_and_live(dir.path(), node);
    if (selected("catchup1")) bench_catch_up_one_op(dir.path(), node);
    if (selected("ingest")) bench_ingest(dir.path(), node);
    if (selected("held")) bench_held(dir.path(), node, held, nofile);
    if (selected("wire")) bench_wire(dir.path(), node);
    if (!node.alive()) die("the node died; its log:\n" + node.log().substr(0, 4000));
    if (node.stop() != std::optional<int>(0)) say("the node did not exit cleanly on SIGTERM");
  }

  std::printf("\n| benchmark | value | budget (DESIGN.md) | notes |\n|---|---:|---|---|\n");
  for (const Row& r : rows) {
    std::string verdict = r.budget;
    if (r.met) verdict += *r.met ? " — met" : " — **missed**";
    std::printf("| %s | %.*f %s | %s | %s |\n", r.name.c_str(), r.decimals, r.value, r.unit.c_str(), verdict.c_str(),
                r.note.c_str());
  }
  return 0;
}
