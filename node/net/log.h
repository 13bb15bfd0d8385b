// The node's structured log and its word to systemd, shared by the server
// (node/server), the peer links and `urbis sync`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace urbis::net {

// One JSON line on stderr: {"ts": <ms>, "level": ..., "event": ..., fields...}
// (level: "debug", "info", "warn" or "error"). Lines below the threshold
// (set_log_level) are dropped. Under systemd (stderr is the journal:
// $JOURNAL_STREAM set) each line starts with its syslog priority, "<6>" for
// info, which journald takes as the entry's priority. Invalid UTF-8 in a
// field is replaced, never thrown on (fields carry what peers sent).
void log_event(const char* level, const char* event, nlohmann::json fields = nlohmann::json::object());
// "debug", "info" (the default), "warn" or "error"; false for another word.
bool set_log_level(const std::string& level);

// Tells systemd how the service is (sd_notify(3): "READY=1",
// "STOPPING=1"), when $NOTIFY_SOCKET names its socket; else does nothing.
void notify_systemd(const char* state);

}  // namespace urbis::net
