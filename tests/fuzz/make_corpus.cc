// Writes the generated seeds of the fuzz targets into DIR (the committed
// ones are tests/fuzz/corpus): `urbis_fuzz_make_corpus tests/fuzz/corpus`.
//   envelope/  the world's log and later changes (fuzz_util.h), in the
//              input format of envelope_fuzz.cc, on each kind of replica;
//   session/   every frame a real peer sends the session under fuzz
//              (session_harness.h), for each role and variant;
//   invite/    the world's invite code, and it retyped as people do.
// Deterministic: the same build writes the same bytes. The CSV and HTTP
// seeds are hand-written files in the same directory.
#include <deque>
#include <filesystem>
#include <fstream>

#include "session_harness.h"

using namespace urbis;
namespace fs = std::filesystem;

namespace {

fs::path g_out;

void write_seed(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void envelope_seed(const std::string& name, uint8_t mode, const std::vector<Bytes>& envelopes) {
  write_seed("envelope", name, std::string(1, static_cast<char>(mode)) + fuzz::join(envelopes));
}

// Runs the harness session against `other` until both are quiet and writes
// the frames the harness received.
void session_seed(const std::string& name, uint8_t mode, sync::Session& other, std::vector<Bytes> to_other) {
  fuzz::SessionHarness h(mode & 1, mode & 2);
  std::vector<Bytes> received;
  std::deque<Bytes> to_harness;
  for (Bytes& f : other.start()) to_harness.push_back(std::move(f));
  std::deque<Bytes> to_peer(h.started.begin(), h.started.end());
  for (Bytes& f : to_other) to_peer.push_back(std::move(f));
  for (int round = 0; round < 1000 && (!to_harness.empty() || !to_peer.empty()); ++round) {
    while (!to_harness.empty()) {
      received.push_back(std::move(to_harness.front()));
      to_harness.pop_front();
      sync::Reply r = h.session->receive(received.back());
      for (Bytes& f : r.frames) to_peer.push_back(std::move(f));
      for (Bytes& f : h.session->poll()) to_peer.push_back(std::move(f));
    }
    while (!to_peer.empty()) {
      sync::Reply r = other.receive(to_peer.front());
      to_peer.pop_front();
      for (Bytes& f : r.frames) to_harness.push_back(std::move(f));
      for (Bytes& f : other.poll()) to_harness.push_back(std::move(f));
    }
  }
  std::fprintf(stderr, "session %s: %zu frames, harness state %s\n", name.c_str(), received.size(),
               std::string(sync::state_name(h.session->state())).c_str());
  write_seed("session", name, std::string(1, static_cast<char>(mode)) + fuzz::join(received));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  const fuzz::World& w = fuzz::world();
  const auto preload = [](size_t n) { return static_cast<uint8_t>(n << 2); };
  constexpr uint8_t kResign = 2;

  envelope_seed("log-device", 0, w.log);
  envelope_seed("log-node", 1, w.log);
  envelope_seed("extra-device", preload(w.log.size()), w.extra);
  envelope_seed("extra-node", 1 | preload(w.log.size()), w.extra);
  std::vector<Bytes> reversed = {w.log.front()};  // the genesis, then the rest held until the gap fills
  reversed.insert(reversed.end(), w.log.rbegin(), w.log.rend() - 1);
  envelope_seed("log-reversed-device", 0, reversed);
  std::vector<Bytes> twice = w.log;
  twice.insert(twice.end(), w.log.begin(), w.log.end());
  envelope_seed("log-twice-node", 1, twice);
  for (size_t i = 0; i < w.log.size(); ++i)
    envelope_seed("change-" + std::to_string(i) + "-device", preload(i), {w.log[i]});
  // Re-signed (bit 1): the same bytes, but their mutations stay signed.
  envelope_seed("log-resign-node", 1 | kResign, w.log);
  envelope_seed("extra-resign-device", kResign | preload(w.log.size()), w.extra);
  for (size_t i = 0; i < w.log.size(); ++i)
    envelope_seed("change-" + std::to_string(i) + "-resign-node", 1 | kResign | preload(i), {w.log[i]});

  {  // server role: the editor's device with the log and its later change
    Identity editor = fuzz::identity_of(fuzz::kEditorSeed);
    fuzz::Peer device(fuzz::kEditorSeed, 300, fuzz::kFuzzClockMs);
    for (const Bytes& e : w.log) fuzz::must(device->apply(e), "device log");
    for (const Bytes& e : w.extra) (void)device->apply(e);
    // Each in the plain form of Changes frames (a peer that predates the
    // compact one) and in the compact form (sync.proto, CompactEnvelope).
    for (bool compact : {false, true})
      for (uint8_t mode : {0, 2}) {
        sync::SessionOptions options;
        options.discover = mode == 2;
        options.compact_changes = compact;
        sync::Session client(*device.replica, *device.env, sync::Signer::of(editor), sync::SessionRole::Client,
                             {w.space}, options);
        session_seed(std::string(mode ? "server-open-spaces" : "server") + (compact ? "-compact" : ""), mode, client,
                     {});
      }
  }
  {  // client role: a node holding the log and the later changes
    Identity node_key = fuzz::identity_of(fuzz::kNodeSeed);
    fuzz::Peer node(0, 301, fuzz::kFuzzClockMs);
    for (const Bytes& e : w.log) fuzz::must(node->apply(e), "node log");
    for (const Bytes& e : w.extra) (void)node->apply(e);
    for (bool compact : {false, true})
      for (uint8_t mode : {1, 3}) {
        sync::SessionOptions options;
        options.compact_changes = compact;
        sync::Session server(*node.replica, *node.env, sync::Signer::of(node_key), sync::SessionRole::Server, {},
                             options);
        session_seed(std::string(mode == 3 ? "client-discover" : "client") + (compact ? "-compact" : ""), mode, server,
                     {});
      }
  }

  write_seed("invite", "code", w.invite_code);
  std::string spaced;
  for (size_t i = 0; i < w.invite_code.size(); ++i) {
    if (i > 7 && i % 8 == 0) spaced += ' ';
    spaced += static_cast<char>(std::toupper(static_cast<unsigned char>(w.invite_code[i])));
  }
  write_seed("invite", "code-retyped", "urbis1-" + spaced.substr(7) + "\n");
  std::string cut = w.invite_code;
  cut.pop_back();
  write_seed("invite", "code-truncated", cut);
  return 0;
}
