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
echo "lint: clang-tidy on $(wc -w <<<"$files") files"
# shellcheck disable=SC2086
clang-tidy -p build/release --quiet $files
echo "lint: clean"
