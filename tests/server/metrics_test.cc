// node/server/metrics.h: the Prometheus text the node's /metrics serves.
#include <doctest/doctest.h>

#include <string>

#include "metrics.h"

using namespace urbis::server;

TEST_CASE("prometheus text: families, escaped labels and cumulative histograms") {
  PrometheusText out;
  out.metric("urbis_connections", "gauge", "Open connections.", uint64_t{3});
  out.family("urbis_refusals_total", "counter", "Refusals.");
  out.sample("urbis_refusals_total", "code", "Bad\"Sig\\na\ntu\\re", 2);
  Histogram h;
  h.observe(0.002);   // in every bucket from 0.0025 up
  h.observe(0.5);     // from 0.5 up
  h.observe(1000.0);  // in none: only +Inf
  out.histogram("urbis_catchup_seconds", "Catch-up.", h);
  const std::string text = out.take();
  CHECK(text.find(
            "# HELP urbis_connections Open connections.\n# TYPE urbis_connections gauge\nurbis_connections 3\n") == 0);
  CHECK(text.find("urbis_refusals_total{code=\"Bad\\\"Sig\\\\na\\ntu\\\\re\"} 2\n") != std::string::npos);
  CHECK(text.find("# TYPE urbis_catchup_seconds histogram\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"0.001\"} 0\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"0.0025\"} 1\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"0.25\"} 1\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"0.5\"} 2\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"60\"} 2\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_count 3\n") != std::string::npos);
  CHECK(text.find("urbis_catchup_seconds_sum 1000.502\n") != std::string::npos);
  // Every line is a comment or NAME[{labels}] VALUE: no line breaks from a label.
  size_t lines = 0;
  for (size_t at = 0; at < text.size(); at = text.find('\n', at) + 1) {
    ++lines;
    const std::string line = text.substr(at, text.find('\n', at) - at);
    CHECK((line.rfind("# ", 0) == 0 || line.rfind("urbis_", 0) == 0));
  }
  CHECK(lines == 3 + 3 + (2 + 15 + 3));  // metric; family and sample; histogram: HELP, TYPE, buckets, +Inf, sum, count
}

TEST_CASE("prometheus text: the process's own figures") {
  PrometheusText out;
  out.process();
  const std::string text = out.take();
  CHECK(text.find("\nprocess_cpu_seconds_total ") != std::string::npos);
  CHECK(text.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(text.find("\nprocess_open_fds ") != std::string::npos);
}
