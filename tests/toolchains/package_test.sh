#!/usr/bin/env bash
# The Debian package of the sync node (issue 15, item 2), end to end: ctest
# package.deb (wasm-release preset: it runs after the native build and the
# web app exist). Usage: package_test.sh NATIVE_BUILD_DIR
#
# Builds the package with cpack in the native build; checks its control data
# and contents; installs it with dpkg into a scratch root (--root, no
# maintainer scripts to run); verifies the systemd unit there
# (systemd-analyze verify --root: the binary it names exists, the directives
# parse); starts the installed binary as the unit does (its ExecStart with
# the installed node.conf, the home and the port moved into the scratch);
# checks /readyz and the web app over HTTP; stops it with SIGTERM (exit 0);
# removes the package. What runs it as a service (systemd as PID 1) is not
# possible here: no test starts the unit itself.
set -euo pipefail
native=${1:?usage: package_test.sh NATIVE_BUILD_DIR}
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }

(cd "$native" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$work"/out/urbis_*.deb)
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

info=$(dpkg-deb -I "$deb")
for dep in libsodium23 libprotobuf-lite32 libssl3 procps; do
  grep -q "Depends:.*$dep" <<<"$info" || fail "Depends lacks $dep"
done
# SQLite is compiled in (toolchains/deps.cmake): the binary needs no
# libsqlite3, and the package must not depend on one.
! grep -q "Depends:.*libsqlite3" <<<"$info" || fail "Depends names libsqlite3, which urbis does not load"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/urbis ./usr/lib/systemd/system/urbis-node.service ./etc/urbis/node.conf \
  ./usr/share/doc/urbis/operations.md ./usr/share/urbis/web/index.html; do
  grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done
[[ $(dpkg-deb -f "$deb" Package) == urbis ]] || fail "package name"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/urbis/node.conf || fail "node.conf is not a conffile"

root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb" >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
dpkg --root="$root" -s urbis | grep -q '^Status: install ok installed' || fail "not installed"
[[ -x $root/usr/bin/urbis ]] || fail "no /usr/bin/urbis after dpkg -i"

unit=$root/usr/lib/systemd/system/urbis-node.service
for directive in Type=notify DynamicUser=yes StateDirectory=urbis LimitNOFILE= ProtectSystem=strict \
  NoNewPrivileges=yes Restart=on-failure; do
  grep -q "^$directive" "$unit" || fail "the unit lacks $directive"
done
# The targets the unit's default dependencies name, from this machine.
cp -n /usr/lib/systemd/system/*.target "$root/usr/lib/systemd/system/"
# The unit's ExecReload names /bin/kill, which the procps dependency
# provides on a real system.
mkdir -p "$root/bin" && cp /bin/kill "$root/bin/kill"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "the unit cannot reload (ExecReload)"
systemd-analyze verify --man=no --root="$root" urbis-node.service || fail "systemd-analyze verify"

# Start it as the unit does: its ExecStart, with the home, the port and the
# web root moved into the scratch (flags win over the configuration file).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == '/usr/bin/urbis --home /var/lib/urbis node --config /etc/urbis/node.conf' ]] ||
  fail "ExecStart changed: update this test ($exec_start)"
conf=$root/etc/urbis/node.conf
grep -qx 'web = /usr/share/urbis/web' "$conf" || fail "node.conf does not serve the packaged web app"
settings=$("$root/usr/bin/urbis" --home "$work/home" node --config "$conf" --web "$root/usr/share/urbis/web" --print-config --json)
grep -q '"listen": "127.0.0.1:8080"' <<<"$settings" || fail "node.conf's listen: $settings"
grep -qF "\"web\": \"$root/usr/share/urbis/web\"" <<<"$settings" || fail "--web over node.conf's: $settings"
"$root/usr/bin/urbis" --home "$work/home" node --config "$conf" --listen 127.0.0.1:0 --web "$root/usr/share/urbis/web" \
  >"$work/node.out" 2>"$work/node.err" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*"listening":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$work/node.out")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { cat "$work/node.err" >&2; fail "the installed node did not start"; }
get() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  reply=$(timeout 10 cat <&3 | tr -d '\r')
  exec 3<&-
  printf '%s' "$reply"
}
ready=$(get /readyz)
grep -q '^HTTP/1.[01] 200' <<<"$ready" || fail "/readyz: $ready"
grep -qx ready <<<"$ready" || fail "/readyz body"
index=$(get /)
grep -q '^HTTP/1.[01] 200' <<<"$index" || fail "GET / (the web app)"
kill -TERM "$pid"
rc=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" || rc=$?
pid=
[[ $rc -eq 0 ]] || fail "the node exited $rc on SIGTERM"
grep -q '"event":"stopped"' "$work/node.err" || fail "no stopped event"

dpkg --root="$root" --force-script-chrootless -r urbis >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
[[ ! -e $root/usr/bin/urbis ]] || fail "/usr/bin/urbis left after dpkg -r"
[[ -f $root/etc/urbis/node.conf ]] || fail "dpkg -r removed the configuration (only purge should)"
echo "package.deb: built, installed, verified, started, ready, stopped, removed"
