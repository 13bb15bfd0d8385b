// The node's counters and their Prometheus text form (text format 0.0.4):
// no sockets, so the rendering is tested directly.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <string>

namespace urbis::server {

// A Prometheus histogram of durations in seconds (cumulative buckets).
struct Histogram {
  static constexpr double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  uint64_t counts[std::size(kBounds)] = {};
  uint64_t count = 0;
  double sum = 0;
  void observe(double seconds) {
    for (size_t i = 0; i < std::size(kBounds); ++i)
      if (seconds <= kBounds[i]) counts[i] += 1;
    count += 1;
    sum += seconds;
  }
};

struct Metrics {
  // A Changes frame from a session: stored (or held or refused) and its
  // Ack queued, in the node's loop.
  Histogram changes_frame_seconds;
  // A session from the WebSocket upgrade until it is live (its catch-up
  // done both ways).
  Histogram catchup_seconds;
  uint64_t connections = 0;
  uint64_t sessions_total = 0;
  uint64_t changes_received = 0;
  uint64_t changes_sent = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t http_requests = 0;
  uint64_t connections_refused = 0;          // at max_connections (503, or closed unanswered)
  uint64_t reads_throttled = 0;              // reads delayed by max_bytes_per_second
  uint64_t reads_paused = 0;                 // reads delayed while the peer did not read
  uint64_t tls_handshakes_failed = 0;        // with --tls-cert: connections whose TLS handshake failed
  std::map<std::string, uint64_t> refusals;  // by error code name
};

// Writes Prometheus' text format: each family's HELP and TYPE lines, then
// its samples.
class PrometheusText {
 public:
  // One unlabelled sample.
  void metric(const char* name, const char* type, const char* help, uint64_t value);
  void metric(const char* name, const char* type, const char* help, double value);
  // A family's HELP and TYPE lines; its samples follow with sample().
  void family(const char* name, const char* type, const char* help);
  // NAME{LABEL="VALUE"} value, the label's value escaped.
  void sample(const char* name, const char* label, const std::string& label_value, double value);
  void histogram(const char* name, const char* help, const Histogram& h);
  // The process's own figures in Prometheus' standard names (Linux /proc):
  // CPU seconds, resident memory, open and maximum file descriptors.
  void process();
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& text);

}  // namespace urbis::server
