// The structured log and sd_notify (log.h).
#include "log.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace urbis::net {

namespace {

// Levels in order, with their syslog priorities (sd-daemon(3)).
struct Level {
  const char* name;
  int priority;
};
constexpr Level kLevels[] = {{"debug", 7}, {"info", 6}, {"warn", 4}, {"error", 3}};
size_t log_threshold = 1;  // info

size_t level_index(const char* level) {
  for (size_t i = 0; i < std::size(kLevels); ++i)
    if (std::strcmp(kLevels[i].name, level) == 0) return i;
  return 1;
}

}  // namespace

bool set_log_level(const std::string& level) {
  for (size_t i = 0; i < std::size(kLevels); ++i)
    if (level == kLevels[i].name) {
      log_threshold = i;
      return true;
    }
  return false;
}

void notify_systemd(const char* state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t n = std::strlen(where);
  if (n >= sizeof addr.sun_path || (where[0] != '/' && where[0] != '@')) return;
  std::memcpy(addr.sun_path, where, n);
  if (where[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  (void)::sendto(fd, state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
}

void log_event(const char* level, const char* event, nlohmann::json fields) {
  const size_t index = level_index(level);
  if (index < log_threshold) return;
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  nlohmann::json line = {{"ts", ms}, {"level", level}, {"event", event}};
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) line[k] = std::move(v);
  std::string text;
  if (journal) {
    text += '<';
    text += std::to_string(kLevels[index].priority);
    text += '>';
  }
  text += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace urbis::net
