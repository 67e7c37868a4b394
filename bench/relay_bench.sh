#!/usr/bin/env bash
# The relay under call load, next to Kamailio configured as a transaction-stateful relay (tm,
# record_route, loose_route) with the same worker count, in the same run. call_load's UAC sends
# INVITE-200-ACK-BYE-200 calls through each relay to call_load's UAS: over UDP, or with
# TRANSPORT=tcp|tls over one TCP or TLS connection on the outside; the inside (relay to UAS) is
# UDP, or with INSIDE=tcp|tls the UAS listens on TCP or TLS and both relays send to it over that.
# For each relay it steps the call rate up until a step fails, and prints the highest rate that
# passed, and the CPU seconds the relay used per 1000 calls (from /proc, all its processes) at the
# highest rate both passed. A step passes when no call failed and the calls completed at 95 % of
# the offered rate or better (an overloaded relay that only keeps up through retransmissions,
# seconds late, does not pass).
# usage: [TRANSPORT=udp|tcp|tls] [INSIDE=udp|tcp|tls] [POLICY=on] bench/relay_bench.sh [BUILD_DIR]
#          [SECONDS_PER_STEP] [RATES...]
#        INSIDE=tls: neither relay checks the UAS's test certificate (core.tls.verify: false).
#        POLICY=on runs the SBC with its full default policy chain (rate limits raised so that the
#        load, which comes from one address, is not a flood): compare with a run without it.
#        CLUSTER=on (implies POLICY=on) also runs a second SBC with the same policy sharing a
#        redis-server (cluster.redis) and measures it in the same run ("fleet" column): the cost
#        of the fleet per call.
#        (defaults: build/release 5 "1000 2000 4000 6000 8000 10000 12000 14000 16000")
# Loopback only; everything it starts, it stops. The load tool and the UAS run on the same
# machine and take CPU too: compare the ratios, not the absolute numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/ports.sh
source scripts/lib/ports.sh
build=$(readlink -f "${1:-build/release}")
seconds=${2:-5}
shift 2 2>/dev/null || shift $#
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 2000 4000 6000 8000 10000 12000 14000 16000)
sbc=$build/sbc/app/sbc
load=$build/bench/call_load
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

transport=${TRANSPORT:-udp}
case $transport in udp | tcp | tls) ;; *) echo "TRANSPORT must be udp, tcp or tls"; exit 2 ;; esac
inside=${INSIDE:-udp}
case $inside in udp | tcp | tls) ;; *) echo "INSIDE must be udp, tcp or tls"; exit 2 ;; esac
base=$(free_port_base 32000 1000)
sbc_port=$base sbc_tls=$((base + 1)) kam_port=$((base + 2)) kam_tls=$((base + 3))
fleet_port=$((base + 4)) fleet_tls=$((base + 5)) redis_port=$((base + 6))
cluster=${CLUSTER:-off}
[ "$cluster" = off ] || POLICY=on
uas_port=$base
while [ "$uas_port" = "$base" ]; do uas_port=$(free_port_base 32000 1000); done
if [ "$transport" = tls ]; then
  sbc_target=$sbc_tls kam_target=$kam_tls fleet_target=$fleet_tls
else
  sbc_target=$sbc_port kam_target=$kam_port fleet_target=$fleet_port
fi
uas_uri="sip:127.0.0.1:$uas_port"
[ "$inside" = udp ] || uas_uri="$uas_uri;transport=$inside"
core_tls=""  # the UAS has a test certificate
[ "$inside" != tls ] || core_tls=$'\n  tls: {verify: false}'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.test \
  -days 1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat >"$work/tls.cfg" <<CFG
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $work/key.pem
certificate = $work/cert.pem
[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
CFG

cat >"$work/sbc.yaml" <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
  - transport: tls
    address: 127.0.0.1
    port: $sbc_tls
    tls: {certificates: [{chain: $work/cert.pem, key: $work/key.pem}]}
core:
  targets: [{uri: "$uas_uri"}]
  probe_interval_ms: 0$core_tls
relay:
  max_transactions: 262144
metrics: {enabled: false}
YAML
if [ "${POLICY:-off}" = on ]; then
  cat >>"$work/sbc.yaml" <<YAML
policy:
  rate_limit:
    register: {rate: 1000000, burst: 1000000}
    invite: {rate: 1000000, burst: 1000000}
    other: {rate: 1000000, burst: 1000000}
YAML
else
  # Kamailio runs no policies here either: this measures the edge/relay itself.
  echo "policy: {enabled: false}" >>"$work/sbc.yaml"
fi
cat >"$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
children=2
tcp_children=2
enable_tls=yes
dns=no
rev_dns=no
listen=udp:127.0.0.1:$kam_port
listen=tcp:127.0.0.1:$kam_port
listen=tls:127.0.0.1:$kam_tls
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "tls.so"
modparam("tls", "config", "$work/tls.cfg")
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (is_method("INVITE|SUBSCRIBE")) record_route();
  \$du = "$uas_uri";
  t_relay();
}
CFG

if [ "$cluster" = on ]; then
  sed -e "s/port: $sbc_port}/port: $fleet_port}/" -e "s/port: $sbc_tls\$/port: $fleet_tls/" \
    "$work/sbc.yaml" >"$work/fleet.yaml"
  echo "cluster: {redis: {address: \"127.0.0.1:$redis_port\"}}" >>"$work/fleet.yaml"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$work/redis.log" 2>&1 &
  pids+=($!)
fi
if ! "$sbc" check-config "$work/sbc.yaml" >"$work/check.log" 2>&1; then
  cat "$work/check.log"
  exit 1
fi

uas_args=()
[ "$inside" = udp ] || uas_args=("$inside")
[ "$inside" != tls ] || uas_args+=("$work/cert.pem" "$work/key.pem")
"$load" uas 127.0.0.1 "$uas_port" "${uas_args[@]}" &
pids+=($!)
"$sbc" run --config "$work/sbc.yaml" >"$work/sbc.log" 2>&1 &
sbc_pid=$!
pids+=($sbc_pid)
if [ "$cluster" = on ]; then
  "$sbc" run --config "$work/fleet.yaml" >"$work/fleet.log" 2>&1 &
  fleet_pid=$!
  pids+=($fleet_pid)
fi
kamailio -f "$work/kamailio.cfg" -DD -E -m 1024 -M 64 >"$work/kamailio.log" 2>&1 &
kam_pid=$!
pids+=($kam_pid)
sleep 2
grep -q "sbc started" "$work/sbc.log" || { cat "$work/sbc.log"; exit 1; }
if [ "$cluster" = on ]; then
  grep -q "cluster store connected" "$work/fleet.log" || { cat "$work/fleet.log"; exit 1; }
fi
kill -0 "$kam_pid" || { cat "$work/kamailio.log"; exit 1; }

# CPU seconds (user + system) of a process tree: the SBC is one process, Kamailio several.
cpu_of() {
  local total=0 p
  for p in $1; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}
sbc_pids() { echo "$sbc_pid"; }
fleet_pids() { echo "$fleet_pid"; }
kam_pids() { pgrep -f "kamailio -f $work"; }

declare -A best cpu_at
step() {  # step NAME PORT RATE: prints "ok|fail completed cpu_seconds"
  local before after out
  before=$(cpu_of "$("$2_pids")")
  out=$("$load" uac 127.0.0.1 "$3" call "$4" $(($4 * seconds)) 100000 "$seconds" "$transport" || true)
  after=$(cpu_of "$("$2_pids")")
  local completed failed achieved
  completed=$(sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$out")
  achieved=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
  awk -v a="${achieved:-0}" -v r="$4" 'BEGIN { exit !(a >= 0.95 * r) }' || failed=${failed:-0}+slow
  printf '  %-9s %6s calls/s: %s cpu=%.3fs\n' "$1" "$4" "$out" "$(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')" >&2
  echo "$([ "${failed:-1}" = 0 ] && echo ok || echo fail) ${completed:-0} $(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')"
}

echo "relay benchmark: calls over $transport$([ "$inside" = udp ] || echo ", $inside inside"), ${seconds}s per step, rates ${rates[*]}" >&2
relays=(sbc kam)
[ "$cluster" = off ] || relays+=(fleet)
for relay in "${relays[@]}"; do
  port_var=${relay}_target
  port=${!port_var}
  best[$relay]=0
  for r in "${rates[@]}"; do
    read -r verdict completed cpu < <(step "$relay" "$relay" "$port" "$r")
    cpu_at[$relay,$r]="$cpu $completed"
    [ "$verdict" = ok ] || break
    best[$relay]=$r
    sleep 1  # let the last transactions of the step end
  done
done

common=$(( best[sbc] < best[kam] ? best[sbc] : best[kam] ))
per_1000() {  # CPU seconds per 1000 calls at the common rate
  read -r cpu completed <<<"${cpu_at[$1,$common]:-0 0}"
  awk -v c="$cpu" -v n="$completed" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / n; else print "n/a" }'
}
sbc_cpu=$(per_1000 sbc)
kam_cpu=$(per_1000 kam)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "n/a" && b != "n/a") printf "%.2fx", a / b; else print "n/a" }'; }
echo
echo "relay benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, 2 workers each, $transport outside, ${inside^^} inside, ${seconds}s per step)"
printf '%-44s %10s %10s %10s\n' "measure" "sbc" "kamailio" "sbc/kam"
printf '%-44s %10s %10s %10s\n' "highest call rate passed (calls/s)" "${best[sbc]}" "${best[kam]}" "$(ratio "${best[sbc]}" "${best[kam]}")"
printf '%-44s %10s %10s %10s\n' "CPU seconds per 1000 calls at $common calls/s" "$sbc_cpu" "$kam_cpu" "$(ratio "$sbc_cpu" "$kam_cpu")"
if [ "$cluster" = on ]; then
  fleet_cpu=$(per_1000 fleet)
  printf '%-44s %10s %10s %10s\n' "with cluster.redis (same policy): rate passed" "${best[fleet]}" "" "$(ratio "${best[fleet]}" "${best[sbc]}") of sbc"
  printf '%-44s %10s %10s %10s\n' "  CPU seconds per 1000 calls at $common calls/s" "$fleet_cpu" "" "$(ratio "$fleet_cpu" "$sbc_cpu") of sbc"
fi
if [ "${best[sbc]}" = "${rates[-1]}" ] || [ "${best[kam]}" = "${rates[-1]}" ]; then
  echo "(a relay passed the highest step: add higher rates to find its limit)"
fi
