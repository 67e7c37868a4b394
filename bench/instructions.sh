#!/usr/bin/env bash
# Instruction budgets: counts the instructions of each operation of bench/instr/ under callgrind
# and compares them with bench/budgets.tsv. Instruction counts are deterministic (a wall-clock
# benchmark on a shared machine moves by 20 %), so a small regression shows.
#
# usage: bench/instructions.sh [--report] BUILD_DIR
#   BUILD_DIR   a release build with the instr_harness and instr_peers targets built
#   --report    print the figures without gating (exit 0 whatever they are), and budgets.tsv
#               lines with the figures measured + 1 % (to fill or lower the budgets)
# env: SBC_CORPUS_DIR (the RFC 4475 corpus; default: the build's), INSTR_ITERATIONS (N, default
#      200; each figure runs N and 11*N iterations), INSTR_BUDGETS (default bench/budgets.tsv)
#
# Instructions per operation = (Ir(11N) - Ir(N)) / (10N), so start-up (loading, configuration
# parsing, warm-up) cancels out. Exit status: 0 when every figure with a budget is within it + 2 %,
# 1 when one is over (or a budgeted figure was not measured, or a figure has no budget), 2 when the
# measurement itself failed (no valgrind, a harness missing or failing). The whole table is
# printed either way. The figures depend on the compiler and its flags: both are printed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
budgets=${INSTR_BUDGETS:-$here/budgets.tsv}
tolerance=2  # percent over budget that still passes
report=0

die() {
  echo "instructions.sh: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --report) report=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'
      exit 0
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
  shift
done
[ $# -eq 1 ] || die "usage: bench/instructions.sh [--report] BUILD_DIR"
build=$1
iterations=${INSTR_ITERATIONS:-200}
[[ "$iterations" =~ ^[1-9][0-9]*$ ]] || die "INSTR_ITERATIONS must be a positive integer"

command -v valgrind >/dev/null || die "valgrind is not installed (scripts/install-deps.sh)"
[ -f "$budgets" ] || die "no $budgets"
binaries=()
for b in instr_harness instr_peers; do
  [ -x "$build/bench/$b" ] || die "no $build/bench/$b: build it (cmake --build $build --target $b)"
  binaries+=("$build/bench/$b")
done

# What the figures depend on.
cache="$build/CMakeCache.txt"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache" 2>/dev/null | head -n 1; }
cxx=$(cache_value CMAKE_CXX_COMPILER)
build_type=$(cache_value CMAKE_BUILD_TYPE)
flags_var="CMAKE_CXX_FLAGS_$(echo "${build_type:-none}" | tr '[:lower:]' '[:upper:]')"
echo "== instruction budgets (callgrind), N=$iterations and $((11 * iterations)) iterations"
echo "compiler: ${cxx:-?} ($("${cxx:-c++}" --version 2>/dev/null | head -n 1 || echo unknown))"
echo "build:    $build_type; CMAKE_CXX_FLAGS='$(cache_value CMAKE_CXX_FLAGS)'" \
  "$flags_var='$(cache_value "$flags_var")'"
# The flags the parser was really compiled with (without includes, warnings and file names).
if [ -f "$build/compile_commands.json" ]; then
  parser_flags=$(grep -o '"command": "[^"]*/sbc/sip/message\.cpp"' "$build/compile_commands.json" |
    head -n 1 | tr ' ' '\n' | grep -E '^-([Ofgmx]|std|D|flto)' | grep -vE '^-(o|c)$' |
    tr '\n' ' ' || true)
  echo "flags:    sbc/sip/message.cpp compiled with: ${parser_flags:-?}"
fi
echo "valgrind: $(valgrind --version)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run under callgrind: the instructions it executed on stdout; the harness's own output in
# $work/NAME.out and .err. A failing harness (non-zero exit, no count) stops everything.
count() {
  local bin=$1 figure=$2 n=$3
  local log="$work/$figure.$n"
  if ! valgrind --tool=callgrind --callgrind-out-file=/dev/null --error-exitcode=3 \
    "$bin" "$figure" "$n" >"$log.out" 2>"$log.err"; then
    sed 's/^/    /' "$log.out" "$log.err" >&2
    echo "instructions.sh: $figure with $n iterations failed (above)" >&2
    return 1
  fi
  local ir
  ir=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$log.err")
  [ -n "$ir" ] || {
    echo "instructions.sh: no instruction count in callgrind's output for $figure" >&2
    return 1
  }
  echo "$ir"
}

# figure -> instructions per operation, and the description, for every figure the builds have.
declare -A measured describe
order=()
start=$SECONDS
for bin in "${binaries[@]}"; do
  list=$("$bin" --list) || die "$bin --list failed"
  while IFS=$'\t' read -r figure what; do
    [ -n "$figure" ] || continue
    order+=("$figure")
    describe[$figure]=$what
    # The two runs at once (two cores); each writes its count to a file.
    count "$bin" "$figure" "$iterations" >"$work/$figure.ir1" &
    p1=$!
    count "$bin" "$figure" "$((11 * iterations))" >"$work/$figure.ir11" &
    p11=$!
    wait "$p1" || die "measuring $figure failed"
    wait "$p11" || die "measuring $figure failed"
    ops1=$(sed -n 's/.* ops_per_iteration=\([0-9]*\) .*/\1/p' "$work/$figure.$iterations.out")
    ops11=$(sed -n 's/.* ops_per_iteration=\([0-9]*\) .*/\1/p' \
      "$work/$figure.$((11 * iterations)).out")
    if [ -z "$ops1" ] || [ "$ops1" != "$ops11" ] || [ "$ops1" -eq 0 ]; then
      die "$figure: the harness did not report its operations per iteration"
    fi
    measured[$figure]=$(awk -v a="$(cat "$work/$figure.ir1")" -v b="$(cat "$work/$figure.ir11")" \
      -v n="$iterations" -v k="$ops1" 'BEGIN { printf "%.1f", (b - a) / (10 * n * k) }')
  done <<<"$list"
done
elapsed=$((SECONDS - start))

# budgets.tsv: figure, budget (instructions per operation, or "-" for a reference without one),
# description. Lines starting with # are comments.
declare -A budget
while IFS=$'\t' read -r figure value _; do
  [[ -z "$figure" || "$figure" == \#* ]] && continue
  budget[$figure]=$value
done <"$budgets"

failed=0
printf '\n%-22s %12s %12s %8s  %s\n' figure measured budget delta status
for figure in "${order[@]}"; do
  m=${measured[$figure]}
  b=${budget[$figure]-}
  if [ -z "$b" ]; then
    status="NO BUDGET (add it to bench/budgets.tsv)"
    failed=1
    printf '%-22s %12.0f %12s %8s  %s\n' "$figure" "$m" - - "$status"
  elif [ "$b" = "-" ]; then
    printf '%-22s %12.0f %12s %8s  %s\n' "$figure" "$m" - - "reference"
  else
    delta=$(awk -v m="$m" -v b="$b" 'BEGIN { printf "%+.1f", 100 * (m - b) / b }')
    if awk -v d="$delta" -v t="$tolerance" 'BEGIN { exit !(d > t) }'; then
      status="OVER BUDGET (> +$tolerance %)"
      failed=1
    elif awk -v d="$delta" 'BEGIN { exit !(d < -5) }'; then
      status="ok (well under: lower the budget)"
    else
      status="ok"
    fi
    printf '%-22s %12.0f %12s %7s%%  %s\n' "$figure" "$m" "$b" "$delta" "$status"
  fi
done
# A budgeted figure that was not measured would let a regression through unseen.
for figure in "${!budget[@]}"; do
  [ -n "${measured[$figure]-}" ] && continue
  if [ "${budget[$figure]}" = "-" ]; then
    echo "note: reference figure $figure not in this build"
  else
    echo "MISSING: $figure has a budget but no harness measured it"
    failed=1
  fi
done
echo "(instructions per operation; ${elapsed}s under callgrind)"

if [ "$report" -eq 1 ]; then
  echo
  echo "# budgets.tsv lines at the figures measured + 1 %:"
  for figure in "${order[@]}"; do
    awk -v f="$figure" -v m="${measured[$figure]}" -v d="${describe[$figure]}" \
      'BEGIN { printf "%s\t%d\t%s\n", f, int(m * 1.01 + 0.999), d }'
  done
  exit 0
fi
if [ "$failed" -ne 0 ]; then
  echo "instructions.sh: FAILED: a figure is over its budget or has none (table above)" >&2
  exit 1
fi
echo "instructions.sh: every figure within its budget (+$tolerance %)"
