#!/usr/bin/env bash
# The cost of the fleet per call: two SBCs with the same policy chain, one standalone (A) and one
# sharing a redis-server (B, cluster.redis), take the same call load (call_load's UAC, INVITE-200-
# ACK-BYE-200 over UDP, to call_load's UAS) in turns, ROUNDS times each, A then B. The turns
# interleave so that the machine's noise falls on both alike. Prints the CPU seconds (user +
# system, from /proc) each used per 1000 calls, and B/A (issue 16's target: at most 1.05).
# usage: bench/fleet_bench.sh [BUILD_DIR] [RATE] [SECONDS] [ROUNDS]
#        (defaults: build/release 2000 5 4)
# Loopback only; everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/ports.sh
source scripts/lib/ports.sh
build=$(readlink -f "${1:-build/release}")
rate=${2:-2000} seconds=${3:-5} rounds=${4:-4}
sbc=$build/sbc/app/sbc
load=$build/bench/call_load
[ -x "$sbc" ] && [ -x "$load" ] || { echo "build first: cmake --build --preset release"; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

base=$(free_port_base 34000 1000)
a_port=$base b_port=$((base + 1)) uas_port=$((base + 2)) redis_port=$((base + 3))
for n in a b; do
  port_var=${n}_port
  cat >"$work/$n.yaml" <<YAML
workers: 2
listeners: [{transport: udp, address: 127.0.0.1, port: ${!port_var}}]
core: {targets: [{uri: "sip:127.0.0.1:$uas_port"}], probe_interval_ms: 0}
relay: {max_transactions: 262144}
metrics: {enabled: false}
admin: {socket: ""}
policy:
  rate_limit:
    register: {rate: 1000000, burst: 1000000}
    invite: {rate: 1000000, burst: 1000000}
    other: {rate: 1000000, burst: 1000000}
YAML
done
echo "cluster: {redis: {address: \"127.0.0.1:$redis_port\"}}" >>"$work/b.yaml"

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
"$load" uas 127.0.0.1 "$uas_port" >"$work/uas.log" 2>&1 &
pids+=($!)
sleep 0.5
"$sbc" run --config "$work/a.yaml" >"$work/a.log" 2>&1 &
a_pid=$!
pids+=($a_pid)
"$sbc" run --config "$work/b.yaml" >"$work/b.log" 2>&1 &
b_pid=$!
pids+=($b_pid)
# Both must be up (A alone may start after B: a slow machine binds one worker at a time).
for _ in $(seq 100); do
  grep -q "cluster store connected" "$work/b.log" && grep -q "sbc started" "$work/a.log" && break
  sleep 0.1
done
grep -q "cluster store connected" "$work/b.log" || { cat "$work/b.log"; exit 1; }
grep -q "sbc started" "$work/a.log" || { cat "$work/a.log"; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A cpu=([a]=0 [b]=0) calls=([a]=0 [b]=0)
for round in $(seq "$rounds"); do
  for n in a b; do
    pid_var=${n}_pid port_var=${n}_port
    before=$(ticks "${!pid_var}")
    out=$("$load" uac 127.0.0.1 "${!port_var}" call "$rate" $((rate * seconds)) 100000 "$seconds" udp || true)
    after=$(ticks "${!pid_var}")
    completed=$(sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$out")
    cpu[$n]=$((cpu[$n] + after - before))
    calls[$n]=$((calls[$n] + ${completed:-0}))
    echo "  round $round $n: $out ticks=$((after - before))" >&2
  done
done
hz=$(getconf CLK_TCK)
per_1000() { awk -v t="${cpu[$1]}" -v n="${calls[$1]}" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.4f", t / hz * 1000 / n; else print "n/a" }'; }
a=$(per_1000 a) b=$(per_1000 b)
echo
echo "fleet benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, 2 workers each, $rate calls/s, ${seconds}s x $rounds rounds each)"
printf '%-48s %10s\n' "standalone (A): CPU seconds per 1000 calls" "$a"
printf '%-48s %10s\n' "with cluster.redis (B): CPU seconds per 1000 calls" "$b"
printf '%-48s %10s\n' "B/A" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "n/a" }')"
