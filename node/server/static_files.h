// The node's HTTP request path without sockets (server.cc serves it): which
// route a request target names, which file under the --web root a static
// path names, and its type and cache lifetime. Pure functions of their
// arguments and the file system, so tests/fuzz/http_fuzz.cc drives them with
// hostile targets and tests/node/server_unit_test.cc checks containment.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace urbis::server {

enum class HttpRoute { Healthz, Readyz, Metrics, Sync, Static };

// A request target's route and its path (the target without "?query").
struct HttpTarget {
  HttpRoute route = HttpRoute::Static;
  std::string path;
};
HttpTarget route_target(std::string_view target);

// Decodes %XX escapes; nullopt on a bad escape or a NUL.
std::optional<std::string> percent_decode(std::string_view in);

// A file a static path resolved to, and the path relative to the root as
// requested ("index.html" appended to a directory), for Cache-Control.
struct StaticFile {
  std::filesystem::path file;
  std::string rel;
  // FILE.gz beside it (the web app's build writes them), under the root like
  // the file itself: sent instead to clients that accept gzip.
  std::optional<std::filesystem::path> gzipped;
};

// The regular file `raw_path` (percent-encoded, starting with '/') names
// under `root`, or nullopt (404). What holds: the file lies under
// canonical(root) after following every symlink; no decoded segment starts
// with '.' (no "..", no hidden files); no backslash, NUL or bad escape; a
// directory (or a path ending in '/') serves its index.html.
std::optional<StaticFile> resolve_static_path(const std::filesystem::path& root, std::string_view raw_path);

// Whether an Accept-Encoding value lists gzip (without q=0).
bool accepts_gzip(std::string_view accept_encoding);

// The Content-Type of a file, by its extension (application/octet-stream
// for one not listed).
std::string_view mime_type(const std::filesystem::path& path);

// How long browsers may keep a file (Cache-Control), `rel` being its path
// under the root as requested: pages, the manifest and the service worker
// are revalidated every time; Vite's content-hashed assets/ kept forever;
// the rest an hour.
std::string_view cache_control(std::string_view rel, const std::filesystem::path& file);

}  // namespace urbis::server
