// Fuzz target `session`: hostile frames into sync::Session::receive, on the
// server role (a node's session with a client) and the client role (a
// device's session with a node), over real replicas.
//
// Input: a mode byte, then frames separated by fuzz::kSeparator.
//   bit 0: 1 client role, 0 server role; bit 1: discovery (client) or
//   open_spaces (server). See session_harness.h for who holds what.
#include "session_harness.h"

using namespace urbis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  fuzz::SessionHarness h(data[0] & 1, data[0] & 2);
  for (const Bytes& frame : fuzz::split(data + 1, size - 1)) {
    const bool failed = h.session->state() == sync::SessionState::Failed;
    sync::Reply reply = h.session->receive(frame);
    // A failed session refuses every later frame.
    if (failed && reply.status.is_ok()) fuzz::broken("a failed session accepted a frame");
    if (!reply.status.is_ok() && h.session->state() != sync::SessionState::Failed)
      fuzz::broken("receive failed but the session is not Failed");
    (void)h.session->poll();
    if (fuzz::verbose())
      std::fprintf(stderr, "frame: %s -> %s, %zu frames back\n", reply.status.to_string().c_str(),
                   std::string(sync::state_name(h.session->state())).c_str(), reply.frames.size());
  }
  (void)h.session->synced_spaces();
  fuzz::read_back(*h.peer.replica);
  return 0;
}
