#!/usr/bin/env bash
# The C++ tree is formatted as .clang-format says: clang-format --dry-run
# over every .cc and .h under core/ sync/ node/ wasm/src/ tests/ (build
# output and node_modules aside). Exit 1 with the files and lines that
# differ; run with --fix to format them in place.
#   bash toolchains/check-format.sh [--fix]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FORMAT=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
if [[ -z "$FORMAT" ]]; then
  echo "check-format: clang-format not found (bootstrap.sh deps installs clang-format-14)" >&2
  exit 2
fi
mapfile -t files < <(cd "$ROOT" && find core sync node wasm/src tests \
  \( -name build -o -name node_modules \) -prune -o \( -name '*.cc' -o -name '*.h' \) -type f -print | sort)
cd "$ROOT"
if [[ "${1:-}" == "--fix" ]]; then
  "$FORMAT" --style=file -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
if ! "$FORMAT" --style=file --dry-run --Werror "${files[@]}" 2>/tmp/check-format.$$; then
  grep -oE '^[^: ]+:[0-9]+' /tmp/check-format.$$ | cut -d: -f1 | sort | uniq -c | head -50
  rm -f /tmp/check-format.$$
  echo "check-format: these files are not formatted; run: bash toolchains/check-format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/check-format.$$
echo "check-format: ${#files[@]} files formatted"
