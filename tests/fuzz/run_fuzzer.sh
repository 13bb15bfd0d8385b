#!/usr/bin/env bash
# run_fuzzer.sh BINARY WORKDIR CORPUS_DIR...: one bounded libFuzzer run (the
# ctest fuzz.<target>, tests/fuzz/CMakeLists.txt). New inputs go to
# WORKDIR/corpus (never into the source tree; kept between runs, so a later
# run starts where this one stopped), a crashing input to WORKDIR/crash-<sha1>,
# printed with the command that replays it.
#   URBIS_FUZZ_SECONDS  how long to fuzz (default 45)
#   URBIS_FUZZ_ARGS     more libFuzzer flags (e.g. "-jobs=2 -workers=2")
set -euo pipefail
bin=$1 work=$2
shift 2
mkdir -p "$work/corpus"
seconds=${URBIS_FUZZ_SECONDS:-45}
# Each input opens a fresh SQLite replica, which allocates much: without
# ASan's fill of new blocks and with a smaller quarantine, and without the
# entropic scheduler's bookkeeping (a quarter of the time at ~13k features per
# input), the replica targets run 2.5x as many inputs in the same time.
export ASAN_OPTIONS=${ASAN_OPTIONS:-max_malloc_fill_size=0:quarantine_size_mb=16}
# -timeout: an input that runs this long counts as a hang; -rss_limit_mb: a
# leak or blow-up; -max_len: inputs stay small enough to mutate well (the
# largest seed is under 4 KB).
set +e
# shellcheck disable=SC2086  # URBIS_FUZZ_ARGS splits on purpose
"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=16384 \
  -entropic=0 -print_final_stats=1 -artifact_prefix="$work/" ${URBIS_FUZZ_ARGS:-} "$work/corpus" "$@"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [[ -e $f ]] && echo "fuzz: finding kept in $f; replay it: $bin $f" >&2
  done
fi
exit "$rc"
