// See tcp_counters.h. Includes only <linux/tcp.h>, never <netinet/tcp.h>.
#include "tcp_counters.h"

#include <linux/tcp.h>
#include <netinet/in.h>  // IPPROTO_TCP (only <netinet/tcp.h> clashes)
#include <sys/socket.h>

#include <cstddef>

namespace urbis::bench {

bool read_tcp_counters(int fd, TcpCounters& out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  // Older kernels return a shorter struct; the fields we read must be inside it.
  if (len < offsetof(tcp_info, tcpi_segs_in) + sizeof info.tcpi_segs_in) return false;
  out.bytes_sent = info.tcpi_bytes_acked;
  out.bytes_received = info.tcpi_bytes_received;
  out.segments_out = info.tcpi_segs_out;
  out.segments_in = info.tcpi_segs_in;
  return true;
}

}  // namespace urbis::bench
