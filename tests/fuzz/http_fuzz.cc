// Fuzz target `http`: the node's HTTP request path (node/server/static_files.h,
// as node/server/http.cc uses it) over a web root of real files, with symlinks
// that lead out of it.
//
// Input: starting with '/', a request target alone (the static path logic
// gets every byte); otherwise raw HTTP/1.1 request bytes, parsed by the same
// Boost.Beast parser the node reads with, then routed.
// What holds: a file resolved lies under the canonical root after following
// every symlink, is a regular file, and no decoded segment of the path
// starts with '.'; the outside file is never served.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fuzz_util.h"
#include "static_files.h"

using namespace urbis;
namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

fs::path g_root, g_base;

void write_file(const fs::path& p, std::string_view text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void remove_base() {
  std::error_code ec;
  fs::remove_all(g_base, ec);
}

void check_target(std::string_view target) {
  const server::HttpTarget t = server::route_target(target);
  if (t.path.find('?') != std::string::npos) fuzz::broken("a routed path holds a query");
  if (t.route != server::HttpRoute::Static) return;
  auto found = server::resolve_static_path(g_root, t.path);
  if (!found) return;
  std::error_code ec;
  const fs::path real = fs::canonical(found->file, ec);
  if (ec) fuzz::broken("a resolved file has no canonical path");
  auto [r, f] = std::mismatch(g_root.begin(), g_root.end(), real.begin(), real.end());
  if (r != g_root.end()) fuzz::broken("a resolved file lies outside the web root");
  if (!fs::is_regular_file(real, ec)) fuzz::broken("a resolved file is not a regular file");
  if (real.filename() == "secret.txt") fuzz::broken("the file outside the root was served");
  auto decoded = server::percent_decode(t.path);
  if (!decoded) fuzz::broken("a path that does not decode was served");
  for (size_t at = 0; at < decoded->size();) {
    const size_t slash = decoded->find('/', at);
    const size_t end = slash == std::string::npos ? decoded->size() : slash;
    if (end > at && (*decoded)[at] == '.') fuzz::broken("a dot segment was served");
    at = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::error_code ec;
  g_base = fs::temp_directory_path() / ("urbis-http-fuzz-" + std::to_string(::getpid()));
  fs::remove_all(g_base, ec);
  write_file(g_base / "secret.txt", "outside\n");
  const fs::path root = g_base / "web";
  write_file(root / "index.html", "<!doctype html>\n");
  write_file(root / "sw.js", "self;\n");
  write_file(root / "assets" / "app-1a2b.js", "app;\n");
  write_file(root / "assets" / "app-1a2b.js.gz", "gz");
  write_file(root / "sub" / "index.html", "sub\n");
  write_file(root / ".hidden" / "key", "hidden\n");
  fs::create_directory_symlink(g_base, root / "up", ec);                // leads out
  fs::create_symlink(g_base / "secret.txt", root / "secret-link", ec);  // leads out
  fs::create_directory_symlink(root / "assets", root / "inside", ec);   // stays in
  g_root = fs::canonical(root);
  std::atexit(remove_base);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (!in.empty() && in[0] == '/') {
    check_target(in);
    return 0;
  }
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < in.size() && !parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(in.data() + used, in.size() - used), ec);
    if (ec || n == 0) break;
    used += n;
  }
  if (!parser.is_header_done()) return 0;
  const auto& req = parser.get();
  const auto accept = req[http::field::accept_encoding];
  (void)server::accepts_gzip(std::string_view(accept.data(), accept.size()));
  if (req.method() != http::verb::get && req.method() != http::verb::head) return 0;
  check_target(std::string_view(req.target().data(), req.target().size()));
  return 0;
}
