#!/usr/bin/env bash
# The edge under load, next to Kamailio answering the same OPTIONS in the same run:
#   - OPTIONS round trips per second over UDP and over one TLS connection (edge_load);
#   - memory per idle TLS connection with N of them open (proportional set size, all processes).
# usage: bench/edge_bench.sh [BUILD_DIR] [IDLE_CONNECTIONS] [SECONDS]
#        (defaults: build/release 10000 5). Loopback only; everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/ports.sh
source scripts/lib/ports.sh
build=$(readlink -f "${1:-build/release}")
idle_count=${2:-10000}
seconds=${3:-5}
sbc=$build/sbc/app/sbc
load=$build/bench/edge_load
[ -x "$sbc" ] && [ -x "$load" ] || { echo "build first: cmake --build --preset release"; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "kamailio -f $work" 2>/dev/null || true
  [ -n "${KEEP_BENCH_DIR:-}" ] && echo "kept $work" && return
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.test \
  -days 1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

base=$(free_port_base 30000 1000)
sbc_udp=$base sbc_tls=$((base + 1)) kam_udp=$((base + 2)) kam_tls=$((base + 3))

cat >"$work/sbc.yaml" <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_udp}
  - transport: tls
    address: 127.0.0.1
    port: $sbc_tls
    tls: {certificates: [{chain: $work/cert.pem, key: $work/key.pem}]}
transport:
  first_byte_timeout_ms: 600000
  idle_timeout_ms: 600000
  max_connections: $((idle_count + 100))
  max_connections_per_source: $((idle_count + 100))
  shutdown_grace_ms: 100
metrics: {enabled: false}
# Kamailio runs no policies here either: this measures the edge/relay itself.
policy: {enabled: false}
YAML
cat >"$work/tls.cfg" <<CFG
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $work/key.pem
certificate = $work/cert.pem
CFG
cat >"$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
children=2
tcp_children=2
dns=no
rev_dns=no
enable_tls=yes
tcp_max_connections=$((idle_count + 100))
tls_max_connections=$((idle_count + 100))
tcp_connection_lifetime=600
open_files_limit=$(ulimit -Hn)
listen=udp:127.0.0.1:$kam_udp
listen=tls:127.0.0.1:$kam_tls
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "tls.so"
modparam("tls", "config", "$work/tls.cfg")
request_route {
  if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }
  sl_send_reply("503", "Service Unavailable");
}
CFG

"$sbc" run --config "$work/sbc.yaml" >"$work/sbc.log" 2>&1 &
pids+=($!)
kamailio -f "$work/kamailio.cfg" -DD -E -m 1024 -M 64 -P "$work/kamailio.pid" >"$work/kamailio.log" 2>&1 &
pids+=($!)
kam_pid=$!
sleep 2
grep -q "sbc started" "$work/sbc.log" || { cat "$work/sbc.log"; exit 1; }
kill -0 "$kam_pid" || { cat "$work/kamailio.log"; exit 1; }

# Proportional set size, in KiB, of the processes whose command line matches a pattern (Kamailio
# is several processes sharing memory: PSS counts each shared page once in the sum).
pss() {
  local total=0 p
  for p in $(pgrep -f "$1"); do
    [ -r "/proc/$p/smaps_rollup" ] || continue
    total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  echo "$total"
}
rate() { "$load" "$1" 127.0.0.1 "$2" "$seconds" 32 | awk '{print $2}'; }
idle_memory() {  # idle_memory PATTERN PORT: bytes per idle TLS connection
  local before after fifo=$work/hold.$2
  before=$(pss "$1")
  mkfifo "$fifo"
  "$load" idle 127.0.0.1 "$2" "$idle_count" <"$fifo" >"$work/idle.$2" &
  local loader=$!
  exec 8>"$fifo"
  for _ in $(seq 120); do grep -q ready "$work/idle.$2" && break; sleep 0.5; done
  sleep 1
  after=$(pss "$1")
  local ready
  ready=$(awk '{print $2}' "$work/idle.$2")
  exec 8>&-
  wait "$loader" || true
  echo "$(( (after - before) * 1024 / (ready > 0 ? ready : 1) )) $ready"
}

sbc_udp_rate=$(rate udp "$sbc_udp")
kam_udp_rate=$(rate udp "$kam_udp")
sbc_tls_rate=$(rate tls "$sbc_tls")
kam_tls_rate=$(rate tls "$kam_tls")
read -r sbc_idle sbc_ready < <(idle_memory "sbc run --config $work" "$sbc_tls")
read -r kam_idle kam_ready < <(idle_memory "kamailio -f $work" "$kam_tls")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
echo
echo "edge benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, 2 workers each, ${seconds}s per rate, window 32)"
printf '%-38s %14s %14s %10s\n' "measure" "sbc" "kamailio" "sbc/kam"
printf '%-38s %14s %14s %10s\n' "OPTIONS over UDP (answers/s)" "$sbc_udp_rate" "$kam_udp_rate" "$(ratio "$sbc_udp_rate" "$kam_udp_rate")"
printf '%-38s %14s %14s %10s\n' "OPTIONS over TLS (answers/s)" "$sbc_tls_rate" "$kam_tls_rate" "$(ratio "$sbc_tls_rate" "$kam_tls_rate")"
# A server that did not hold all the connections gives no comparable memory figure.
[ "$kam_ready" -eq "$idle_count" ] || kam_idle="n/a"
[ "$sbc_ready" -eq "$idle_count" ] || sbc_idle="n/a"
printf '%-38s %14s %14s %10s\n' "memory per idle TLS connection (B)" "$sbc_idle" "$kam_idle" \
  "$( [ "$kam_idle" = n/a ] || [ "$sbc_idle" = n/a ] && echo n/a || ratio "$sbc_idle" "$kam_idle")"
printf '%-38s %14s %14s\n' "idle TLS connections held" "$sbc_ready" "$kam_ready"
