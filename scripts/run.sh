#!/usr/bin/env bash
# Installs what is missing, builds the release binary and runs the SBC with its embedded default
# configuration (or with the arguments given, e.g. `scripts/run.sh --config my.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target sbc
exec build/release/sbc/app/sbc run "$@"
