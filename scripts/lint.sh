#!/usr/bin/env bash
# clang-tidy (checks in .clang-tidy) over the product sources, using the release build's
# compile_commands.json; includes point only down the layers (scripts/check-layers.sh); every
# relative link of the Markdown documentation resolves.
# usage: scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check-layers.sh
scripts/check-doc-links.sh
[ -f build/release/compile_commands.json ] || cmake --preset release >/dev/null
files=$(git ls-files 'sbc/*.cpp' 'policy/*.cpp' 'tls/*.cpp' 'metrics/*.cpp')
jobs=$(nproc)
echo "lint: clang-tidy on $(wc -w <<<"$files") files, $jobs processes side by side"
# One clang-tidy per core, 4 files each. Each batch's report is held until the batch ends, then
# printed whole under a lock (the "N warnings generated." counts left out), so two batches never
# interleave their lines. xargs exits 123 when any batch failed (a finding: WarningsAsErrors).
lock=$(mktemp)
trap 'rm -f "$lock"' EXIT
# shellcheck disable=SC2016  # the batch script is expanded by its own sh
if ! xargs -P "$jobs" -n 4 sh -c '
  log=$(mktemp); rc=0
  clang-tidy -p build/release --quiet "$@" >"$log" 2>&1 || rc=$?
  grep -Ev "^[0-9]+ warnings? generated\.$" "$log" | flock "$0" cat
  rm -f "$log"
  exit "$rc"' "$lock" <<<"$files"; then
  echo "lint: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "lint: clean"
