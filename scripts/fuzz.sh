#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan) and runs each for a bounded time, seeded
# from the conformance corpus in ../shared/corpus. Exits non-zero on any crash, leak, timeout or
# sanitizer report; the input that triggered it is left in build/fuzz/findings/.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
corpus=${SBC_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

work=build/fuzz/work
findings=build/fuzz/findings
rm -rf "$work"
mkdir -p "$findings"
for target in fuzz_sip_message fuzz_sip_uri fuzz_edge fuzz_relay; do
  seeds="$work/$target"
  mkdir -p "$seeds"
  # The corpus is referenced, not copied into the project: seeds go to a scratch directory.
  find "$corpus" -name '*.dat' -exec cp {} "$seeds/" \;
  find "$corpus" -path '*/archive/*' -type f -exec sh -c 'cp "$1" "$2/archive-$(basename "$1")"' _ {} "$seeds" \;
  if [ "$target" = fuzz_relay ]; then
    # Its input is a sequence of tagged messages: each corpus message from the outside (tag 0)
    # and from the core (tag 2).
    for f in "$seeds"/*; do
      { printf '\x00'; cat "$f"; printf '\xff\x02'; cat "$f"; } >"$f.seq" && rm "$f"
    done
  fi
  if [ -d tests/fuzz/regressions ]; then cp tests/fuzz/regressions/* "$seeds/" 2>/dev/null || true; fi
  echo "fuzz: $target for ${seconds}s with $(ls "$seeds" | wc -l) seeds"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/fuzz/tests/fuzz/$target" "$seeds" -dict=tests/fuzz/sip.dict \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$findings/$target-" -print_final_stats=1 2>"build/fuzz/$target.log" \
    || { tail -n 60 "build/fuzz/$target.log"; echo "fuzz: $target FAILED" >&2; exit 1; }
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "build/fuzz/$target.log" | sed "s/^/fuzz: $target /"
done
echo "fuzz: all targets ran clean"
