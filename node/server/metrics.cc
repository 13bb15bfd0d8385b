// Prometheus text (metrics.h).
#include "metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace urbis::server {

namespace {

std::string number(double value) {
  std::ostringstream v;
  v.precision(15);
  v << value;
  return v.str();
}

}  // namespace

std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void PrometheusText::family(const char* name, const char* type, const char* help) {
  out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::metric(const char* name, const char* type, const char* help, uint64_t value) {
  family(name, type, help);
  out_ += std::string(name) + " " + std::to_string(value) + "\n";
}

void PrometheusText::metric(const char* name, const char* type, const char* help, double value) {
  family(name, type, help);
  out_ += std::string(name) + " " + number(value) + "\n";
}

void PrometheusText::sample(const char* name, const char* label, const std::string& value_of_label, double value) {
  out_ += std::string(name) + "{" + label + "=\"" + label_value(value_of_label) + "\"} " + number(value) + "\n";
}

void PrometheusText::histogram(const char* name, const char* help, const Histogram& h) {
  family(name, "histogram", help);
  for (size_t i = 0; i < std::size(Histogram::kBounds); ++i)
    out_ += std::string(name) + "_bucket{le=\"" + number(Histogram::kBounds[i]) + "\"} " + std::to_string(h.counts[i]) +
            "\n";
  out_ += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n" + name + "_sum " +
          number(h.sum) + "\n" + name + "_count " + std::to_string(h.count) + "\n";
}

void PrometheusText::process() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    metric("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
           static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  if (std::ifstream statm("/proc/self/statm"); statm) {
    uint64_t size = 0, resident = 0;
    if (statm >> size >> resident)
      metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  std::error_code ec;
  size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
  if (!ec) metric("process_open_fds", "gauge", "Open file descriptors.", static_cast<double>(fds));
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    metric("process_max_fds", "gauge", "The limit on open file descriptors.", static_cast<double>(rl.rlim_cur));
}

}  // namespace urbis::server
