// node/server/static_files.h: what a request path may serve from the web
// root. Real files and symlinks in a temporary directory; every way out of
// the root is tried and must give nothing (the node answers 404).
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "static_files.h"

namespace fs = std::filesystem;
using namespace urbis::server;

namespace {

struct WebRoot {
  fs::path base, root;
  WebRoot() {
    base = fs::temp_directory_path() / ("urbis-static-" + std::to_string(::getpid()));
    fs::remove_all(base);
    root = base / "web";
    write(root / "index.html", "home");
    write(root / "assets" / "app-1a2b.js", "js");
    write(root / "docs" / "index.html", "docs");
    write(root / "sw.js", "sw");
    write(root / ".git" / "config", "hidden");
    write(root / "a b.txt", "space");
    write(base / "secret.txt", "outside");
    write(base / "outside" / "index.html", "outside dir");
    fs::create_symlink(base / "secret.txt", root / "leak.txt");
    fs::create_symlink(base / "outside", root / "outdir");
    fs::create_directories(root / "trap");
    fs::create_symlink(base / "secret.txt", root / "trap" / "index.html");  // a directory's index leading out
    fs::create_symlink(root / "assets" / "app-1a2b.js", root / "inside-link.js");
    write(root / "assets" / "app-1a2b.js.gz", "gzipped js");
    write(base / "leak.gz", "outside gz");
    fs::create_symlink(base / "leak.gz", root / "docs" / "index.html.gz");  // a sibling leading out
  }
  ~WebRoot() { fs::remove_all(base); }
  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  std::string served(std::string_view raw) {
    auto f = resolve_static_path(root, raw);
    if (!f) return "404";
    std::ifstream in(f->file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

}  // namespace

TEST_CASE("static files: what lies under the root is served, directories by their index.html") {
  WebRoot w;
  CHECK(w.served("/") == "home");
  CHECK(w.served("/index.html") == "home");
  CHECK(w.served("/assets/app-1a2b.js") == "js");
  CHECK(w.served("/docs/") == "docs");
  CHECK(w.served("/docs") == "docs");
  CHECK(w.served("/a%20b.txt") == "space");
  CHECK(w.served("/inside-link.js") == "js");  // a symlink that stays inside
  auto f = resolve_static_path(w.root, "/docs/");
  REQUIRE(f);
  CHECK(f->rel == "docs/index.html");
  CHECK(w.served("/missing.html") == "404");
}

TEST_CASE("static files: a precompressed sibling is served only from under the root") {
  WebRoot w;
  auto js = resolve_static_path(w.root, "/assets/app-1a2b.js");
  REQUIRE(js);
  REQUIRE(js->gzipped);
  CHECK(js->gzipped->filename() == "app-1a2b.js.gz");
  auto docs = resolve_static_path(w.root, "/docs/");
  REQUIRE(docs);
  CHECK_FALSE(docs->gzipped);  // docs/index.html.gz is a symlink out of the root
  auto home = resolve_static_path(w.root, "/");
  REQUIRE(home);
  CHECK_FALSE(home->gzipped);  // none written
}

TEST_CASE("static files: no way out of the root, no hidden file") {
  WebRoot w;
  for (const char* raw : {"/../secret.txt",
                          "/%2e%2e/secret.txt",
                          "/%2E%2E/secret.txt",
                          "/docs/../../secret.txt",
                          "/docs/%2e%2e/%2e%2e/secret.txt",
                          "/..%2fsecret.txt",
                          "/%2e%2e%2fsecret.txt",
                          "/..\\secret.txt",
                          "/%5c..%5csecret.txt",
                          "/leak.txt",
                          "/outdir/",
                          "/outdir/index.html",
                          "/trap/",
                          "/trap",
                          "/.git/config",
                          "/%2egit/config",
                          "/docs/.hidden",
                          "/index.html%00.js",
                          "/%zz",
                          "/%4",
                          "",
                          "index.html",
                          "//etc/passwd"})
    CHECK_MESSAGE(w.served(raw) == "404", raw);
  // A root that does not exist serves nothing.
  CHECK_FALSE(resolve_static_path(w.base / "nowhere", "/index.html"));
}

TEST_CASE("static files: routes, percent-decoding, gzip, types and cache lifetimes") {
  CHECK(route_target("/healthz").route == HttpRoute::Healthz);
  CHECK(route_target("/readyz?x").route == HttpRoute::Readyz);
  CHECK(route_target("/metrics").route == HttpRoute::Metrics);
  CHECK(route_target("/sync?space=1").route == HttpRoute::Sync);
  CHECK(route_target("/sync/").route == HttpRoute::Static);
  CHECK(route_target("/app.js?v=2").path == "/app.js");
  CHECK(percent_decode("/a%20b%2F") == std::optional<std::string>("/a b/"));
  CHECK_FALSE(percent_decode("/a%00b"));
  CHECK_FALSE(percent_decode("/a%g0"));
  CHECK_FALSE(percent_decode("/a%2"));
  CHECK(accepts_gzip("gzip, deflate, br"));
  CHECK(accepts_gzip("br;q=1.0, gzip;q=0.8"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("br, deflate"));
  CHECK(mime_type("x/app.wasm") == "application/wasm");
  CHECK(mime_type("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type("a.mjs") == "text/javascript");
  CHECK(mime_type("noext") == "application/octet-stream");
  CHECK(cache_control("index.html", "index.html") == "no-cache");
  CHECK(cache_control("sw.js", "/w/sw.js") == "no-cache");
  CHECK(cache_control("manifest.webmanifest", "manifest.webmanifest") == "no-cache");
  CHECK(cache_control("assets/app-1a2b.js", "/w/assets/app-1a2b.js") == "public, max-age=31536000, immutable");
  CHECK(cache_control("icon.png", "/w/icon.png") == "public, max-age=3600");
}
