#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this script):
#   dependencies -> format check -> release build (-Werror) + tests -> instruction budgets
#   (callgrind; fails the run when a figure exceeds bench/budgets.tsv by more than 2 %) ->
#   clang-tidy -> Helm chart checks -> the container image built (buildah, no registry) and
#   started -> ASan+UBSan build + tests -> libFuzzer targets for a bounded time, side by side ->
#   benchmark smoke runs.
# usage: scripts/test.sh        (env: SBC_FUZZ_SECONDS, default 30 per target)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Each phase's start and the end print the seconds elapsed since the script began, so a CI log
# shows where the time goes.
phase() { echo "== $1 (t=${SECONDS} s)"; }

phase "dependencies"
scripts/install-deps.sh

phase "format: clang-format --dry-run on all sources"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

phase "release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs" --no-tests=error

phase "instruction budgets (callgrind, deterministic: asserted)"
bench/instructions.sh build/release

phase "lint: clang-tidy"
scripts/lint.sh

phase "Helm chart: lint, render, schema, Kubernetes models, yamllint, sbc check-config"
scripts/helm-check.sh build/release/sbc/app/sbc

phase "container image: the Dockerfile built by buildah from a debootstrap base, started as uid 10001"
scripts/image-check.sh

phase "ASan+UBSan build and tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j "$jobs" --no-tests=error

phase "fuzzing"
scripts/fuzz.sh "${SBC_FUZZ_SECONDS:-30}"

phase "benchmark smoke runs (figures are informative, not asserted)"
build/release/bench/bench_sip_parse --benchmark_min_time=0.05
build/release/bench/metrics_bench --benchmark_min_time=0.05
bench/edge_bench.sh build/release 1000 1
bench/relay_bench.sh build/release 1 500 2000
POLICY=on TRANSPORT=tls bench/relay_bench.sh build/release 1 500 2000
bench/fleet_bench.sh build/release 500 1 2
build/release/bench/policy_bench --benchmark_min_time=0.05
build/release/bench/capture_bench --benchmark_min_time=0.05
echo "test.sh: all checks passed (t=${SECONDS} s)"
