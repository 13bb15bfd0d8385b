// TCP byte and segment counters of one connected socket, from the kernel's
// TCP_INFO (Linux >= 4.2). In its own translation unit because glibc's
// <netinet/tcp.h> (pulled in by Boost.Asio) declares an older, shorter
// struct tcp_info than <linux/tcp.h>, and the two cannot be included together.
#pragma once

#include <cstdint>

namespace urbis::bench {

struct TcpCounters {
  uint64_t bytes_sent = 0;      // payload bytes the peer acknowledged
  uint64_t bytes_received = 0;  // payload bytes received
  uint64_t segments_out = 0;
  uint64_t segments_in = 0;
};

// Reads the counters of socket `fd`; false when the kernel does not report them.
bool read_tcp_counters(int fd, TcpCounters& out);

}  // namespace urbis::bench
