// The browser module's export list: a flat C ABI over one process-wide client
// (identity, replica, sync session) that the worker's JavaScript drives.
//
// Conventions:
//  - API calls are JSON: urbis_call({"method": M, "params": {...}}) returns a
//    NUL-terminated JSON string {"result": ...} or {"error": {"code": N,
//    "codeName": "...", "message": "..."}} (codes from
//    core/include/urbis/error_codes.def). The caller frees it with urbis_free.
//  - Sync frames and change envelopes are binary (pointer + length), never
//    base64: urbis_receive takes one frame from the node; frames to send and
//    envelopes to persist wait in two outboxes the caller drains after every
//    call (urbis_outbox_*), in order.
//  - Every change the replica stores (a local commit, a membership change, a
//    change applied from the node) appears exactly once in the log outbox, in
//    an order in which it applies; the host appends it to durable storage.
//    Feeding the stored log back with urbis_restore after a reload rebuilds
//    the replica (duplicates are no-ops, so replaying too much is harmless).
//
// Thread-safety: none. The module is single-threaded and owned by one worker.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The outboxes.
enum { URBIS_OUTBOX_FRAMES = 0, URBIS_OUTBOX_LOG = 1, URBIS_OUTBOX_JOIN = 2 };

// Runs one JSON request (see wasm/README.md for the methods). Never NULL.
char* urbis_call(const char* request_json);
// Frees a string returned by this module.
void urbis_free(void* p);

// Hands the open session one frame received from the node. Returns 0 while
// the session goes on, else the code of the failure (send the frames in the
// outbox, then close the connection).
int urbis_receive(const uint8_t* frame, size_t size);

// Hands the join session (method joinOpen) one frame from the node; frames
// to send wait in URBIS_OUTBOX_JOIN. Returns 0 while it goes on, else a code.
int urbis_join_receive(const uint8_t* frame, size_t size);

// Applies stored log entries: `packed` is a sequence of
// [uint32 little-endian length][envelope bytes]. Returns JSON
// {"applied", "duplicate", "held", "refused"} (free with urbis_free).
char* urbis_restore(const uint8_t* packed, size_t size);

// Outbox access: number of entries, and each entry's bytes; clear after copying.
uint32_t urbis_outbox_count(int box);
const uint8_t* urbis_outbox_data(int box, uint32_t index);
uint32_t urbis_outbox_size(int box, uint32_t index);
void urbis_outbox_clear(int box);

#ifdef __cplusplus
}
#endif
