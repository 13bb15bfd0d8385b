#!/usr/bin/env bash
# toolchains/demo.sh — the demo `bootstrap.sh run` starts: a sync node on an
# embedded SQLite store holding a space of fictional demo data.
#
#   toolchains/demo.sh URBIS_BINARY [--seed-only]
#
# In $URBIS_DEMO_DIR (default ~/.local/share/urbis-demo) the first run makes
#   admin/   a device home whose identity administers the demo space, with the
#            space "Urbis demo — fictional cities" filled by `urbis demo-data`
#            (built in admin.partial/ and renamed when complete, so an
#            interrupted first run starts over and a finished one is reused)
#   node/    the node's home: a key-less store and its transport key
# Every run then starts `urbis node` on $URBIS_LISTEN (default 127.0.0.1:8080,
# serving the web app build/wasm-release/web/dist when it is built), syncs the
# space into it, prints the app's address, a join link and how to connect a
# device with the CLI, and keeps the node in the foreground until Ctrl-C.
# --seed-only stops the node after the sync and prints one JSON line instead
# (what the process test runs).
#
# Environment: URBIS_DEMO_DIR, URBIS_LISTEN, URBIS_PASSPHRASE (default: the
# public demo passphrase, printed), URBIS_DEMO_ARGS (extra `urbis demo-data`
# options, e.g. "--projects 300"), URBIS_PWHASH (passed on to urbis).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPACE_NAME="Urbis demo — fictional cities"
DEMO_PASSPHRASE=urbis-demo

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 URBIS_BINARY [--seed-only]"
URBIS=$1
shift
SEED_ONLY=false
case ${1:-} in
  "") ;;
  --seed-only) SEED_ONLY=true ;;
  *) die "unknown option '$1' (usage: $0 URBIS_BINARY [--seed-only])" ;;
esac
[[ -x $URBIS ]] || die "$URBIS is not an executable"

DIR=${URBIS_DEMO_DIR:-$HOME/.local/share/urbis-demo}
LISTEN=${URBIS_LISTEN:-127.0.0.1:8080}
ADMIN=$DIR/admin
NODE_HOME=$DIR/node
SPACE_FILE=$ADMIN/demo-space.id   # inside the admin home: renamed with it
if [[ -n ${URBIS_PASSPHRASE:-} ]]; then
  PASSPHRASE_NOTE="(from URBIS_PASSPHRASE)"
else
  export URBIS_PASSPHRASE=$DEMO_PASSPHRASE
  PASSPHRASE_NOTE="$DEMO_PASSPHRASE   <- DEMO ONLY: public, like the fictional data it guards; set URBIS_PASSPHRASE for your own"
fi

# urbis with JSON output; fails the script with urbis's own message.
urbis() { "$URBIS" --json "$@"; }
# The string value of "KEY" in JSON on stdin (urbis prints one key per line).
json_string() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
json_number() { sed -n "s/.*\"$1\": *\\([0-9][0-9]*\\).*/\\1/p" | head -n 1; }

mkdir -p "$DIR"
chmod 700 "$DIR"
trap 'exit 130' INT TERM
# One run per demo directory: a second would seed over the first's partial
# admin home, or find the port taken.
exec 8>"$DIR/.lock"
flock -n 8 || die "another demo run is using $DIR (stop it first, or set URBIS_DEMO_DIR)"

# --- seed: the admin home and its filled space, once --------------------------

CREATED=false
if [[ ! -d $ADMIN ]]; then
  partial=$DIR/admin.partial
  rm -rf "$partial"
  say "first run: creating the demo admin device and space in $DIR"
  urbis --home "$partial" init --name "Urbis demo admin" >/dev/null
  space=$(urbis --home "$partial" space create "$SPACE_NAME" | json_string space)
  [[ -n $space ]] || die "urbis space create printed no space id"
  say "filling the space with demo data (urbis demo-data ${URBIS_DEMO_ARGS:-})"
  # shellcheck disable=SC2086  # URBIS_DEMO_ARGS is a list of options on purpose
  urbis --home "$partial" demo-data "$space" ${URBIS_DEMO_ARGS:-} >"$DIR/demo-data.json"
  printf '%s\n' "$space" >"$partial/demo-space.id"
  mv "$partial" "$ADMIN"
  CREATED=true
fi
[[ -f $SPACE_FILE ]] || die "$ADMIN has no demo-space.id; remove $DIR to start over"
SPACE=$(<"$SPACE_FILE")
if ! err=$(urbis --home "$ADMIN" space list 2>&1 >/dev/null); then
  die "cannot open the demo admin home $ADMIN: $err (made with another URBIS_PASSPHRASE? or remove $DIR to start over)"
fi

# --- the node -------------------------------------------------------------------

NODE_PID=
stop_node() {
  if [[ -n $NODE_PID ]]; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
    NODE_PID=
  fi
}
trap stop_node EXIT  # also on Ctrl-C while starting: INT/TERM exit through it

WEB_DIR=$ROOT/build/wasm-release/web/dist   # the CMake target urbis_webapp
web=()
[[ -f $WEB_DIR/index.html ]] && web=(--web "$WEB_DIR")
mkdir -p "$NODE_HOME"
chmod 700 "$NODE_HOME"
NODE_KEY=$(urbis --home "$NODE_HOME" node key | json_string node)
# The node takes new spaces only from the devices it is told (--space-creator):
# here the demo admin, who created the demo space (an admin of it, listed by
# `space members` one key per line, its role on the next).
ADMIN_KEY=$(urbis --home "$ADMIN" space members "$SPACE" | grep -B1 '"role": *"admin"' | json_string device)
[[ -n $ADMIN_KEY ]] || die "cannot read the demo admin's device key from $ADMIN"
node_out=$DIR/node.out
: >"$node_out"
# The node's log (JSON lines) goes to a file: the terminal is for the reader.
NODE_LOG=$DIR/node.log
"$URBIS" --home "$NODE_HOME" node --listen "$LISTEN" --space-creator "$ADMIN_KEY" "${web[@]}" >"$node_out" 2>>"$NODE_LOG" 8>&- &
NODE_PID=$!
ADDRESS=
for _ in $(seq 1 100); do
  ADDRESS=$(json_string listening <"$node_out")
  [[ -n $ADDRESS ]] && break
  kill -0 "$NODE_PID" 2>/dev/null || { NODE_PID=; die "urbis node did not start on $LISTEN (is the port in use? set URBIS_LISTEN): $(tail -n 3 "$NODE_LOG")"; }
  sleep 0.1
done
[[ -n $ADDRESS ]] || die "urbis node printed no address within 10 s"
URL=ws://$ADDRESS/sync

sync_out=$(urbis --home "$ADMIN" sync "$URL" --space "$SPACE")
SENT=$(json_number sent <<<"$sync_out")

# An invite for an editor, when this urbis has invites. A code works once: the
# one kept in $DIR/invite.json is reused while the space still lists it as
# pending (matched by its expiry time, to the second; the sync above brought
# in any redemption) and it has more than a day to live. Otherwise a new one
# is made and synced to the node, so every run prints a code that works.
INVITE=
INVITE_FILE=$DIR/invite.json
help=$("$URBIS" --help 2>/dev/null || true)
if grep -q 'space invite' <<<"$help"; then
  if [[ -f $INVITE_FILE ]]; then
    expires=$(json_string expires <"$INVITE_FILE")
    if [[ -n $expires ]] && (( $(date -d "$expires" +%s 2>/dev/null || echo 0) > $(date +%s) + 86400 )); then
      members=$(urbis --home "$ADMIN" space members "$SPACE")
      grep -q "\"expires\": *\"$expires\"" <<<"$members" && INVITE=$(json_string invite <"$INVITE_FILE")
    fi
  fi
  if [[ -z $INVITE ]]; then
    if invite_out=$(urbis --home "$ADMIN" space invite "$SPACE" --role editor); then
      INVITE=$(json_string invite <<<"$invite_out")
      printf '%s\n' "$invite_out" >"$INVITE_FILE"
      sent=$(urbis --home "$ADMIN" sync "$URL" --space "$SPACE" | json_number sent)
      SENT=$(( ${SENT:-0} + ${sent:-0} ))
    else
      say "warning: urbis space invite failed; use the add-member route below"
    fi
  fi
fi

if $SEED_ONLY; then
  stop_node
  printf '{"dir": "%s", "space": "%s", "node": "%s", "address": "%s", "created": %s, "sent": %s, "invite": "%s"}\n' \
    "$DIR" "$SPACE" "$NODE_KEY" "$ADDRESS" "$CREATED" "${SENT:-0}" "$INVITE"
  exit 0
fi

# --- foreground -------------------------------------------------------------------

# From here Ctrl-C is the way to stop: it reaches the node too (same process
# group); either way, stop it, wait for it and exit 0.
trap 'stop_node; exit 0' INT TERM
# shellcheck disable=SC2088  # printed for the reader to type, not expanded here
me='~/urbis-me'
cat <<EOF

  Urbis demo node (fictional demo data)
  -------------------------------------
  address      http://$ADDRESS   (sync: $URL, /healthz, /metrics)
  node log     $NODE_LOG
  web app      $([[ ${#web[@]} -gt 0 ]] && echo "http://$ADDRESS/   (from ${WEB_DIR#"$ROOT"/})" || echo "not built ($WEB_DIR is missing: bootstrap.sh run builds it)")
  node key     $NODE_KEY
  space        $SPACE  "$SPACE_NAME"
  admin home   $ADMIN   (sent $SENT changes to the node just now)
  passphrase   $PASSPHRASE_NOTE

EOF
if [[ ${#web[@]} -gt 0 && -n $INVITE ]]; then
  cat <<EOF
  Join in a browser: open the join link
    http://$ADDRESS/#/join/$INVITE
  and choose your own passphrase there: it protects that browser's key.
  The code works once (browser or CLI); the next run prints a new one.

EOF
fi
cat <<EOF
  Connect a device with the CLI, in another terminal while this node runs:
EOF
if [[ -n $INVITE ]]; then
  cat <<EOF
    urbis --home $me init
    urbis --home $me space join $INVITE $URL
    urbis --home $me find $SPACE --text 스마트
EOF
else
  cat <<EOF
    urbis --home $me init                       # prints {"device": KEY}
    URBIS_PASSPHRASE=... urbis --home $ADMIN space add-member $SPACE KEY --role editor
    URBIS_PASSPHRASE=... urbis --home $ADMIN sync $URL
    urbis --home $me sync $URL --space $SPACE
    urbis --home $me find $SPACE --text 스마트
EOF
fi
cat <<EOF
  (urbis is $URBIS)

  Ctrl-C stops the node; the next run reuses $DIR.

EOF

rc=0
wait "$NODE_PID" || rc=$?
NODE_PID=
[[ $rc -eq 0 ]] || die "urbis node stopped with status $rc"
