// The node's HTTP request path without sockets (static_files.h).
#include "static_files.h"

#include <algorithm>
#include <sstream>
#include <system_error>

namespace urbis::server {

namespace fs = std::filesystem;

HttpTarget route_target(std::string_view target) {
  HttpTarget out;
  out.path = std::string(target.substr(0, target.find('?')));
  if (out.path == "/healthz")
    out.route = HttpRoute::Healthz;
  else if (out.path == "/readyz")
    out.route = HttpRoute::Readyz;
  else if (out.path == "/metrics")
    out.route = HttpRoute::Metrics;
  else if (out.path == "/sync")
    out.route = HttpRoute::Sync;
  return out;
}

std::optional<std::string> percent_decode(std::string_view in) {
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::optional<StaticFile> resolve_static_path(const fs::path& web_root, std::string_view raw_path) {
  auto path = percent_decode(raw_path);
  if (!path || path->empty() || (*path)[0] != '/' || path->find('\\') != std::string::npos) return std::nullopt;
  // No segment may climb: "..", and (after decoding) nothing hidden like ".git".
  std::string rel = path->substr(1);
  std::stringstream segments(rel);
  for (std::string seg; std::getline(segments, seg, '/');)
    if (!seg.empty() && seg[0] == '.') return std::nullopt;
  if (rel.empty() || rel.back() == '/') rel += "index.html";
  std::error_code ec;
  const fs::path root = fs::canonical(web_root, ec);
  if (ec) return std::nullopt;
  // Symlinks may not lead out of the root either (a directory's index.html
  // included: it is resolved again once appended).
  auto contained = [&](const fs::path& p) -> std::optional<fs::path> {
    fs::path file = fs::weakly_canonical(p, ec);
    if (ec) return std::nullopt;
    auto [r, f] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
    if (r != root.end()) return std::nullopt;
    return file;
  };
  auto file = contained(root / rel);
  if (file && fs::is_directory(*file, ec)) file = contained(*file / "index.html");
  if (!file || !fs::is_regular_file(*file, ec)) return std::nullopt;
  StaticFile out{std::move(*file), std::move(rel), std::nullopt};
  // Its precompressed sibling, held to the same rule (a FILE.gz symlinked
  // out of the root is no sibling).
  fs::path gz = out.file;
  gz += ".gz";
  if (auto sibling = contained(gz); sibling && fs::is_regular_file(*sibling, ec)) out.gzipped = std::move(*sibling);
  return out;
}

bool accepts_gzip(std::string_view accept) {
  for (size_t at = 0; (at = accept.find("gzip", at)) != std::string_view::npos; at += 4) {
    const std::string_view rest = accept.substr(at + 4, accept.find(',', at) - (at + 4));
    if (rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos) return true;
  }
  return false;
}

std::string_view mime_type(const fs::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".webmanifest") return "application/manifest+json";
  if (ext == ".css") return "text/css";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// How long browsers may keep a file without asking again. Pages, the web app
// manifest and the service worker: revalidate every time (an update must be
// seen). Vite's content-hashed assets/NAME-HASH.ext: forever. The rest: an hour.
std::string_view cache_control(std::string_view rel, const fs::path& file) {
  const std::string ext = file.extension().string();
  const std::string name = file.filename().string();
  if (ext == ".html" || ext == ".webmanifest" || name == "sw.js") return "no-cache";
  if (rel.starts_with("assets/")) return "public, max-age=31536000, immutable";
  return "public, max-age=3600";
}

}  // namespace urbis::server
