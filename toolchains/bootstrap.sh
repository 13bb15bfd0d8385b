#!/usr/bin/env bash
# toolchains/bootstrap.sh — the one script that sets up and drives Urbis on a
# fresh Debian 12 (bookworm) machine, as root. Idempotent: a second run only
# checks and rebuilds what changed.
#
#   deps   apt-get install the native toolchain and libraries (only if one is
#          missing; Chromium for the browser tests too), then build SQLite,
#          libsodium and protobuf-lite for wasm32 from the Debian source
#          packages pinned in toolchains/wasm-deps.lock, into a cache outside
#          the repo (one stamp per dependency), and SQLite's amalgamation,
#          which the native presets compile in; npm ci in wasm/ (the browser
#          tests' packages, pinned by wasm/package-lock.json); the Node.js
#          the web build and the JavaScript tests run under, pinned in
#          toolchains/node.lock (fetched once from the npm registry, checked
#          by SHA-512: Debian 12's own nodejs is 18, too old for both).
#   test   deps + build presets native-release, native-fuzz and wasm-release,
#          run ctest in each (native-fuzz: the libFuzzer targets of tests/fuzz
#          only, each fuzzed URBIS_FUZZ_SECONDS, default 45; wasm tests run
#          under node; the wasm preset also runs the JS unit tests and the
#          Chromium tests against the native `urbis node`), end with
#          "N passed, N failed".
#   run    deps + build native-release and the web app (wasm-release, target
#          urbis_webapp), then toolchains/demo.sh: a sync node on
#          127.0.0.1:8080 serving the web app, with a space of fictional demo
#          data, made on the first run in ~/.local/share/urbis-demo and reused
#          after; prints the app's address and a join link (URBIS_LISTEN,
#          URBIS_DEMO_DIR, URBIS_PASSPHRASE; `run --seed-only` seeds and exits).
#   bench  deps + build both release presets, run target `bench` in each and
#          in a Chromium worker (wasm/test/browser/bench.mjs, which also prints
#          the browser client's figures), and compare their
#          "BENCH <name> <value> <unit>" lines; then the web app's benchmark
#          (web/test/bench.mjs: sizes, cold offline start, search as you type
#          over the demo space, in Chromium) and the node benchmarks, natively
#          only (target `net-bench`: a real `urbis node` on 127.0.0.1), and
#          the history-growth benchmark natively and in wasm (target
#          `history-bench`; URBIS_HISTORY_MAX, default 1M natively, 100k in
#          wasm), which print their own tables.
#   env    print the exports a shell needs to use the presets by hand (the
#          wasm prefix, the SQLite amalgamation of the native ones):
#          eval "$(toolchains/bootstrap.sh env)"
#
# Environment: URBIS_CACHE (default ~/.cache/urbis), URBIS_JOBS (default nproc),
# URBIS_FUZZ_SECONDS (per fuzz target in `test`, default 45).
# Facts behind the recipes: shared/TOOLCHAIN.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${URBIS_CACHE:-$HOME/.cache/urbis}/wasm-deps
JOBS=${URBIS_JOBS:-$(nproc)}
LOCK_FILE=$ROOT/toolchains/wasm-deps.lock

APT_PACKAGES=(build-essential cmake ninja-build pkg-config emscripten node-acorn
  libsodium-dev libsqlite3-dev protobuf-compiler libprotobuf-dev nlohmann-json3-dev
  doctest-dev libboost-dev libssl-dev openssl autoconf automake libtool dpkg-dev tcl chromium
  clang-14 libclang-rt-14-dev  # the native-fuzz preset: clang and its libFuzzer/sanitizer runtimes
  clang-format-14  # format.cxx: the C++ tree is formatted (toolchains/check-format.sh)
  fonts-wqy-microhei  # Chinese and Korean glyphs for the browser tests' screenshots (1.6 MB)
  systemd)  # systemd-analyze: the package test verifies the node's unit

# Build flags. They are part of the cache key: changing one rebuilds the prefix.
# Bump RECIPE_REV when a build recipe below changes in a way the flags do not show.
RECIPE_REV=1
COMMON_FLAGS="-fwasm-exceptions"
SQLITE_FLAGS="-Oz -DSQLITE_ENABLE_FTS5 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_TEMP_STORE=2 $COMMON_FLAGS"
SODIUM_FLAGS="-O2 $COMMON_FLAGS"
PROTOBUF_FLAGS="-O2 -DNDEBUG $COMMON_FLAGS"
SODIUM_CONFIGURE=(--host=wasm32-unknown-emscripten --disable-shared --enable-static
  --without-pthreads --disable-ssp --disable-asm --disable-pie)

# Emscripten 3.1.6 under Node 18/20: acorn lives in /usr/share/nodejs, and the
# loader's fetch() of a file path must be off for configure-time runs.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
export NODE_OPTIONS="--no-experimental-fetch${NODE_OPTIONS:+ $NODE_OPTIONS}"
# Debian's emcc wrapper runs the first python3 on PATH; a pyenv shim there costs
# ~0.5 s per compiler call (libsodium's configure makes hundreds). Use Debian's.
[[ -x /usr/bin/python3 ]] && export EMSDK_PYTHON=${EMSDK_PYTHON:-/usr/bin/python3}

say() { printf '==> %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# --- native packages ---------------------------------------------------------

install_apt_packages() {
  local installed missing=() pkg
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
  for pkg in "${APT_PACKAGES[@]}"; do
    grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing apt packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# npm packages, from each lock file: wasm/ (the browser client's tests) and
# web/ (the web app's build and its browser tests). A directory is reinstalled
# only when its lock file changes.
install_npm_packages() {
  command -v npm >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
  local dir
  for dir in "$ROOT/wasm" "$ROOT/web"; do
    if [[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
      continue
    fi
    say "npm ci in ${dir#"$ROOT"/}/"
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline) ||
      die "npm ci in ${dir#"$ROOT"/}/ failed (is the npm registry reachable?)"
  done
}

# --- Node.js ---------------------------------------------------------------------

NODE_LOCK=$ROOT/toolchains/node.lock
NODE_CACHE=${URBIS_CACHE:-$HOME/.cache/urbis}/node

# The pinned Node.js (toolchains/node.lock), unpacked once into NODE_CACHE
# from the npm registry's node-linux-<arch> package after its SHA-512 is
# checked; put first on PATH and named by URBIS_NODE_BIN, which every build
# and test below uses, whatever `node` the machine has.
ensure_node() {
  [[ -f $NODE_LOCK ]] || die "missing $NODE_LOCK"
  local key val extra version="" arch want="" want_bin="" dir tmp tgz got
  case $(dpkg --print-architecture 2>/dev/null || uname -m) in
    amd64 | x86_64) arch=x64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) die "no Node.js is pinned for this architecture ($(uname -m)) in $NODE_LOCK" ;;
  esac
  while read -r key val extra; do
    [[ -z $key || $key == \#* ]] && continue
    [[ -n $val && -z $extra ]] || die "$NODE_LOCK: bad line '$key $val $extra'"
    [[ $key == version ]] && version=$val
    [[ $key == "$arch" ]] && want=$val
    [[ $key == "$arch-bin" ]] && want_bin=$val
  done <"$NODE_LOCK"
  [[ -n $version && -n $want && -n $want_bin ]] || die "$NODE_LOCK names no version or no checksums for $arch"
  dir=$NODE_CACHE/node-v$version-linux-$arch
  if [[ ! -x $dir/bin/node ]]; then
    command -v npm >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
    say "fetching Node.js $version (package node-linux-$arch from the npm registry; once)"
    mkdir -p "$NODE_CACHE"
    tmp=$(mktemp -d "$NODE_CACHE/.fetch.XXXXXX")
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null) ||
      { rm -rf "$tmp"; die "npm pack node-linux-$arch@$version failed (is the npm registry reachable?)"; }
    tgz=$tmp/node-linux-$arch-$version.tgz
    got=$(sha512sum "$tgz" | cut -d' ' -f1)
    [[ $got == "$want" ]] ||
      { rm -rf "$tmp"; die "node-linux-$arch@$version: SHA-512 $got is not the one pinned in $NODE_LOCK"; }
    tar -xzf "$tgz" -C "$tmp"
    rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
  fi
  # Checked on every run: the cache may be shared, or older than the lock.
  got=$(sha512sum "$dir/bin/node" | cut -d' ' -f1)
  [[ $got == "$want_bin" ]] || die "$dir/bin/node is not the binary pinned in $NODE_LOCK (SHA-512 $got); remove $dir to fetch it again"
  [[ $("$dir/bin/node" --version) == "v$version" ]] || die "$dir/bin/node is not Node.js $version"
  export URBIS_NODE_BIN=$dir/bin/node
  export PATH=$dir/bin:$PATH
}

# --- nginx, for the reverse-proxy test -----------------------------------------

NGINX_CACHE=${URBIS_CACHE:-$HOME/.cache/urbis}/nginx

# Debian's nginx, which webapp.proxy runs with docs/nginx-urbis.conf:
# downloaded (apt checks it against the archive's signed index) and unpacked
# into NGINX_CACHE once, never installed (installing starts a system nginx
# on port 80). Named by URBIS_NGINX_BIN.
ensure_nginx() {
  local version dir tmp
  version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [[ -z $version || $version == "(none)" ]]; then
    as_root apt-get update -q
    version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
  fi
  [[ -n $version && $version != "(none)" ]] || die "Debian's archive offers no nginx package"
  dir=$NGINX_CACHE/$version
  if [[ ! -x $dir/usr/sbin/nginx ]]; then
    say "fetching Debian's nginx $version (unpacked for the proxy test, not installed; once)"
    mkdir -p "$NGINX_CACHE"
    tmp=$(mktemp -d "$NGINX_CACHE/.fetch.XXXXXX")
    (cd "$tmp" && apt-get download -q "nginx=$version" 2>&1 | grep -v "unsandboxed as root" >&2) ||
      { rm -rf "$tmp"; die "apt-get download nginx=$version failed"; }
    dpkg-deb -x "$tmp"/nginx_*.deb "$tmp/root" || { rm -rf "$tmp"; die "cannot unpack nginx $version"; }
    rm -rf "$dir" && mv "$tmp/root" "$dir" && rm -rf "$tmp"
  fi
  "$dir/usr/sbin/nginx" -v 2>/dev/null || die "$dir/usr/sbin/nginx does not run (remove $dir to fetch it again)"
  export URBIS_NGINX_BIN=$dir/usr/sbin/nginx
}

# --- wasm32 dependencies -----------------------------------------------------

declare -A PIN=()
read_lock() {
  [[ -f $LOCK_FILE ]] || die "missing $LOCK_FILE"
  local pkg ver extra
  while read -r pkg ver extra; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    [[ -n $ver && -z $extra ]] || die "$LOCK_FILE: bad line '$pkg $ver $extra'"
    PIN[$pkg]=$ver
  done <"$LOCK_FILE"
  for pkg in sqlite3 libsodium protobuf; do
    [[ -n ${PIN[$pkg]:-} ]] || die "$LOCK_FILE has no version for $pkg"
  done
}

# The prefix path encodes the Emscripten version and a hash of every input that
# changes the produced libraries; manifest.txt in the prefix lists them in clear.
compute_prefix() {
  local emver # the Debian package version also covers Debian's patches; asking emcc costs ~1 s
  emver=$(dpkg-query -W -f='${Version}' emscripten 2>/dev/null) || emver=$(emcc -dumpversion) ||
    die "emscripten is not installed (run: $0 deps)"
  MANIFEST=$(printf '%s\n' \
    "recipe $RECIPE_REV" "emscripten $emver" \
    "sqlite3 ${PIN[sqlite3]}" "libsodium ${PIN[libsodium]}" "protobuf ${PIN[protobuf]}" \
    "sqlite_flags $SQLITE_FLAGS" "sodium_flags $SODIUM_FLAGS" \
    "sodium_configure ${SODIUM_CONFIGURE[*]}" "protobuf_flags $PROTOBUF_FLAGS")
  PREFIX=$CACHE/wasm32-em${emver%%[~+-]*}-$(sha256sum <<<"$MANIFEST" | cut -c1-12)
  export URBIS_WASM_PREFIX=$PREFIX
}

# Adds deb-src entries mirroring the machine's deb entries, once.
ensure_deb_src() {
  [[ -n $(apt-cache showsrc --only-source sqlite3 2>/dev/null) ]] && return 0
  local deb822=/etc/apt/sources.list.d/debian.sources
  if [[ -f $deb822 ]]; then
    sed 's/^Types:.*$/Types: deb-src/' "$deb822" |
      as_root tee /etc/apt/sources.list.d/urbis-deb-src.sources >/dev/null
  elif grep -qs '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list |
      as_root tee /etc/apt/sources.list.d/urbis-deb-src.list >/dev/null
  else
    die "no Debian apt sources found to mirror as deb-src"
  fi
  say "added deb-src entries; apt-get update"
  as_root apt-get update -q >/dev/null || die "apt-get update failed (is the Debian archive reachable?)"
}

# Prints the path of the pinned .dsc in the source cache, downloading it once.
fetch_source() {
  local pkg=$1 ver=$2 dir=$CACHE/src
  local dsc=$dir/${pkg}_${ver#*:}.dsc
  if [[ ! -f $dsc ]]; then
    ensure_deb_src >&2 # stdout carries only the path
    local have
    have=$(apt-cache showsrc --only-source "$pkg" | sed -n 's/^Version: //p' | sort -u)
    grep -qxF -- "$ver" <<<"$have" ||
      die "$pkg $ver (pinned in toolchains/wasm-deps.lock) is no longer in the Debian archive; available: $(tr '\n' ' ' <<<"${have:-none}")- update the lock file to one of these."
    mkdir -p "$dir"
    local tmp
    tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
    (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root source --download-only "$pkg=$ver") >"$tmp.log" 2>&1 ||
      { cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; die "apt-get source $pkg=$ver failed"; }
    rm -f "$tmp.log"
    mv "$tmp"/* "$dir"/ && rmdir "$tmp"   # the .dsc moves with the tarballs: no half downloads
  fi
  printf '%s\n' "$dsc"
}

# build_dep NAME SOURCE_PACKAGE HINT FUNCTION [FOR]: runs FUNCTION in a fresh copy of
# the Debian source tree (patches applied), logs to the build dir, stamps on success.
build_dep() {
  local name=$1 srcpkg=$2 hint=$3 fn=$4 target=${5:-for wasm32}
  local stamp=$PREFIX/.stamps/$name
  [[ -f $stamp ]] && return 0
  say "building $name $target (first run only, $hint)"
  local dsc work=$CACHE/build/$name log=$CACHE/build/$name.log start=$SECONDS rc
  dsc=$(fetch_source "$srcpkg" "${PIN[$srcpkg]}")
  rm -rf "$work" && mkdir -p "$work" "$PREFIX/.stamps"
  : >"$log"
  set +e
  (
    set -euo pipefail
    dpkg-source -x "$dsc" "$work/src"
    cd "$work/src"
    "$fn"
  ) >>"$log" 2>&1
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log" >&2
    die "building $name failed (full log: $log)"
  fi
  rm -rf "$work"
  printf '%s %s\n' "$srcpkg" "${PIN[$srcpkg]}" >"$stamp"
  say "built $name in $((SECONDS - start)) s"
}

recipe_sqlite() {
  # The amalgamation is generated on the host (needs tclsh), then compiled by emcc.
  ./configure --disable-tcl
  make sqlite3.c
  # shellcheck disable=SC2086  # flag strings split on purpose
  emcc $SQLITE_FLAGS -c sqlite3.c -o sqlite3.o
  mkdir -p "$PREFIX/lib" "$PREFIX/include"
  rm -f "$PREFIX/lib/libsqlite3.a"
  emar rcs "$PREFIX/lib/libsqlite3.a" sqlite3.o
  cp sqlite3.h sqlite3ext.h "$PREFIX/include/"
}

# The native presets compile SQLite themselves from the same pinned source
# (toolchains/deps.cmake, URBIS_SQLITE_AMALGAMATION): Debian's libsqlite3 is
# built without lookaside memory, and every small allocation of a statement
# goes to malloc (measured: the apply and commit rows 1.3-1.9x faster with
# the amalgamation; docs/BENCHMARKS.md, "SQLite compiled in"). Kept here:
# the amalgamation and what configure found of this machine (sqlite_cfg.h:
# usleep for the busy handler's short waits, fdatasync, localtime_r...).
recipe_sqlite_amalgamation() {
  ./configure --disable-tcl
  make sqlite3.c
  mkdir -p "$PREFIX/native-sqlite"
  cp sqlite3.c sqlite3.h sqlite_cfg.h "$PREFIX/native-sqlite/"
}

# SQLite is compiled into the native binaries: a Debian security update of
# libsqlite3-0 reaches them only through the pin in toolchains/wasm-deps.lock.
check_sqlite_pin() {
  local have
  have=$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null) || return 0
  if dpkg --compare-versions "$have" gt "${PIN[sqlite3]}"; then
    say "warning: this machine's libsqlite3-0 is $have, newer than the SQLite compiled into urbis (${PIN[sqlite3]}, toolchains/wasm-deps.lock): it may carry a security fix; bump the pin and rebuild"
  fi
}

recipe_sodium() {
  # The Debian tarball has no configure; flags follow libsodium's dist-build/emscripten.sh.
  # Each configure check costs an emcc run (~1 s); LDFLAGS=-O0 skips binaryen's
  # optimizer in link checks (same answers, ~40% faster) and never reaches the .a.
  autoreconf -fi
  emconfigure ./configure --prefix="$PREFIX" "${SODIUM_CONFIGURE[@]}" CFLAGS="$SODIUM_FLAGS" LDFLAGS=-O0
  emmake make -j"$JOBS" install
  rm -f "$PREFIX/lib/libsodium.la"
}

recipe_protobuf() {
  cmake -S . -B build -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE=/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake \
    -DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="$PROTOBUF_FLAGS" \
    -DCMAKE_C_FLAGS_RELEASE="$PROTOBUF_FLAGS" \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
    -Dprotobuf_BUILD_LIBPROTOC=OFF -Dprotobuf_BUILD_SHARED_LIBS=OFF \
    -Dprotobuf_WITH_ZLIB=OFF -Dprotobuf_BUILD_EXAMPLES=OFF
  cmake --build build --target libprotobuf-lite -j "$JOBS"
  cmake --install build --component libprotobuf-lite
  cmake --install build --component protobuf-headers
}

# Header-only libraries: em++ never searches /usr/include, so copy them in.
# Re-copied whenever the Debian package version changes.
copy_header_libs() {
  local want
  want=$(dpkg-query -W -f='${Package} ${Version}\n' nlohmann-json3-dev doctest-dev)
  [[ -f $PREFIX/.stamps/headers && $(<"$PREFIX/.stamps/headers") == "$want" ]] && return 0
  mkdir -p "$PREFIX/include" "$PREFIX/.stamps"
  rm -rf "$PREFIX/include/nlohmann" "$PREFIX/include/doctest"
  cp -r /usr/include/nlohmann /usr/include/doctest "$PREFIX/include/"
  printf '%s\n' "$want" >"$PREFIX/.stamps/headers"
}

build_wasm_deps() {
  read_lock
  compute_prefix
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # two bootstraps at once (two checkouts) must not build into one prefix together
  # Fetch (and so check every pin) before building anything.
  local dep
  for dep in sqlite3:sqlite3 libsodium:libsodium protobuf-lite:protobuf; do
    [[ -f $PREFIX/.stamps/${dep%:*} ]] || fetch_source "${dep#*:}" "${PIN[${dep#*:}]}" >/dev/null
  done
  build_dep sqlite3 sqlite3 "~30 s" recipe_sqlite
  [[ -f $PREFIX/native-sqlite/sqlite3.c ]] || rm -f "$PREFIX/.stamps/sqlite3-native" # removed by hand: again
  build_dep sqlite3-native sqlite3 "~20 s" recipe_sqlite_amalgamation "for the native presets"
  check_sqlite_pin
  build_dep libsodium libsodium "~2 min" recipe_sodium
  build_dep protobuf-lite protobuf "~1 min" recipe_protobuf
  copy_header_libs
  [[ -f $PREFIX/manifest.txt ]] || printf '%s\n' "$MANIFEST" >"$PREFIX/manifest.txt"
  exec 9>&-
}

cmd_deps() {
  install_apt_packages
  ensure_node
  ensure_nginx
  install_npm_packages
  build_wasm_deps
  say "wasm32 dependencies ready in $PREFIX"
}

# --- building and testing ----------------------------------------------------

# configure_and_build PRESET [TARGET...]: configures (wasm presets get the
# prefix) and builds everything, or the TARGETs.
configure_and_build() {
  local preset=$1 extra=() targets=()
  shift
  [[ $# -gt 0 ]] && targets=(--target "$@")
  [[ $preset == wasm-* ]] &&
    extra=(-DURBIS_WASM_PREFIX="$PREFIX" -DURBIS_NODE="$URBIS_NODE_BIN" -DURBIS_NGINX="$URBIS_NGINX_BIN")
  # The fuzz preset keeps the system SQLite: compiling it with the fuzzer's
  # instrumentation would spend the fuzzing time inside SQLite.
  [[ $preset == native-* ]] && extra=(-DURBIS_SQLITE_AMALGAMATION="$PREFIX/native-sqlite")
  [[ $preset == native-fuzz ]] && extra=(-DURBIS_SQLITE_AMALGAMATION=)
  say "configure + build $preset${targets:+ (${*})}"
  (cd "$ROOT" && cmake --preset "$preset" "${extra[@]}" >/dev/null &&
    cmake --build --preset "$preset" --parallel "$JOBS" "${targets[@]}")
}

PASSED=0 FAILED=0
# run_ctest PRESET: runs the preset's tests and adds them to PASSED/FAILED.
run_ctest() {
  local preset=$1 out rc summary f t
  say "ctest $preset"
  out=$(mktemp)
  set +e
  (cd "$ROOT" && ctest --preset "$preset") 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  summary=$(sed -nE 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+)$/\1 \2/p' "$out" | tail -n 1)
  rm -f "$out"
  if [[ -n $summary ]]; then
    read -r f t <<<"$summary"
    PASSED=$((PASSED + t - f)) FAILED=$((FAILED + f))
  elif [[ $rc -ne 0 ]]; then
    FAILED=$((FAILED + 1)) # ctest itself failed before running tests
  fi
}

cmd_test() {
  cmd_deps
  local preset broken=()
  for preset in native-release native-fuzz wasm-release; do
    if configure_and_build "$preset"; then
      run_ctest "$preset"
    else
      broken+=("$preset")
      FAILED=$((FAILED + 1)) # a build that fails counts as one failure
    fi
  done
  [[ ${#broken[@]} -eq 0 ]] || say "FAILED to build: ${broken[*]} (each counted as one failure)"
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

cmd_run() {
  cmd_deps
  configure_and_build native-release
  configure_and_build wasm-release urbis_webapp # -> build/wasm-release/web/dist, which demo.sh serves
  local urbis=$ROOT/build/native-release/node/urbis
  [[ -x $urbis ]] || die "$urbis was not built (does node/ define target urbis?)"
  exec bash "$ROOT/toolchains/demo.sh" "$urbis" "$@"
}

cmd_bench() {
  cmd_deps
  configure_and_build native-release
  configure_and_build wasm-release
  local native wasm browser
  native=$(mktemp) wasm=$(mktemp) browser=$(mktemp)
  say "bench native"
  (cd "$ROOT" && cmake --build --preset native-release --target bench) 2>&1 | tee "$native"
  say "bench wasm (node)"
  (cd "$ROOT" && cmake --build --preset wasm-release --target bench) 2>&1 | tee "$wasm"
  say "bench wasm (chromium worker) and the browser client"
  # NODE_OPTIONS empty: playwright-core needs the fetch globals.
  (cd "$ROOT" && URBIS_BINARY=$ROOT/build/native-release/node/urbis-test NODE_OPTIONS= \
    URBIS_WEB_ROOT=$ROOT/build/wasm-release/wasm/web node wasm/test/browser/bench.mjs) 2>&1 | tee "$browser" ||
    say "browser bench failed"
  if grep -q '^BENCH ' "$native" && grep -q '^BENCH ' "$wasm"; then
    echo
    echo "| name | native | wasm (node) | wasm (chromium) | node/native | chromium/native |"
    echo "| --- | --- | --- | --- | --- | --- |"
    awk '
      FNR == 1 { file++ }
      $1 == "BENCH" && NF >= 4 {
        if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
        val[file, $2] = $3; unit[file, $2] = $4
      }
      function cell(f, k) { return ((f, k) in val) ? val[f, k] " " unit[f, k] : "-" }
      function ratio(f, k) {
        return ((1, k) in val && (f, k) in val && val[1, k] + 0 != 0) ? sprintf("%.2f", val[f, k] / val[1, k]) : "-"
      }
      END {
        for (i = 1; i <= n; i++) {
          k = order[i]
          printf "| %s | %s | %s | %s | %s | %s |\n", k, cell(1, k), cell(2, k), cell(3, k), ratio(2, k), ratio(3, k)
        }
      }' "$native" "$wasm" "$browser"
  fi
  rm -f "$native" "$wasm" "$browser"
  say "bench web app (chromium: sizes, cold offline start, search as you type over the demo space)"
  (cd "$ROOT" && URBIS_BINARY=$ROOT/build/native-release/node/urbis-test NODE_OPTIONS= \
    URBIS_WEBAPP=$ROOT/build/wasm-release/web/dist node web/test/bench.mjs) ||
    say "web app bench failed"
  say "bench node (native only: urbis node on 127.0.0.1, clients in-process)"
  (cd "$ROOT" && cmake --build --preset native-release --target net-bench)
  # One space grown to 1M one-op changes natively (~10 min here), 100k in wasm
  # (MEMFS holds the stores in the wasm heap); URBIS_HISTORY_MAX lowers both.
  say "bench history growth, native"
  (cd "$ROOT" && cmake --build --preset native-release --target history-bench)
  say "bench history growth, wasm (node)"
  (cd "$ROOT" && cmake --build --preset wasm-release --target history-bench)
}

cmd_env() {
  read_lock
  compute_prefix
  [[ -f $PREFIX/.stamps/protobuf-lite ]] || echo "# not built yet: run toolchains/bootstrap.sh deps" >&2
  local node
  node=$(sed -n 's/^version //p' "$NODE_LOCK")
  node=$NODE_CACHE/node-v$node-linux-$(case $(uname -m) in aarch64) echo arm64 ;; *) echo x64 ;; esac)/bin
  if [[ -x $node/node ]]; then
    printf 'export %s=%q\n' PATH "$node:$PATH"
  else
    echo "# the pinned Node.js is not fetched yet: run toolchains/bootstrap.sh deps" >&2
  fi
  printf 'export %s=%q\n' URBIS_WASM_PREFIX "$PREFIX" URBIS_SQLITE_AMALGAMATION "$PREFIX/native-sqlite" \
    NODE_PATH "$NODE_PATH" \
    NODE_OPTIONS "$NODE_OPTIONS" EMSDK_PYTHON "${EMSDK_PYTHON:-python3}"
}

case ${1:-} in
  deps) cmd_deps ;;
  test) cmd_test ;;
  run) shift; cmd_run "$@" ;;
  bench) cmd_bench ;;
  env) cmd_env ;;
  *) echo "usage: $0 deps|test|run [--seed-only]|bench|env" >&2; exit 2 ;;
esac
