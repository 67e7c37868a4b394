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
#        MEDIA=on also runs a second SBC identical to the first plus the media section (media
#        anchoring: every INVITE's SDP offer and the 200's answer through rtpengine's ng protocol,
#        the session deleted at BYE), with an rtpengine in user space (no kernel forwarding, its
#        interfaces on 127.0.0.2 and 127.0.0.3, warnings only in its log), and measures it in the
#        same run ("media" column): its rate and CPU per call, and rtpengine's own CPU per call in
#        the same steps. No RTP flows: this is the signalling cost of anchoring. rtpengine's
#        threads share the cores with everything else.
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
media_port=$((base + 7)) media_tls=$((base + 8)) ng_port=$((base + 9))
cluster=${CLUSTER:-off}
media=${MEDIA:-off}
case $media in on | off) ;; *) echo "MEDIA must be on or off"; exit 2 ;; esac
# rtpengine's RTP ports (on 127.0.0.2 and 127.0.0.3 only): 4 per call leg, legs deleted at BYE
# (--delete-delay=0), so 2000 cover 500 calls in progress at once.
rtp_min=$(free_port_base 50000 300)
[ "$cluster" = off ] || POLICY=on
uas_port=$base
while [ "$uas_port" = "$base" ]; do uas_port=$(free_port_base 32000 1000); done
if [ "$transport" = tls ]; then
  sbc_target=$sbc_tls kam_target=$kam_tls fleet_target=$fleet_tls media_target=$media_tls
else
  sbc_target=$sbc_port kam_target=$kam_port fleet_target=$fleet_port media_target=$media_port
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
if [ "$media" = on ]; then
  sed -e "s/port: $sbc_port}/port: $media_port}/" -e "s/port: $sbc_tls\$/port: $media_tls/" \
    "$work/sbc.yaml" >"$work/media.yaml"
  cat >>"$work/media.yaml" <<YAML
media:
  enabled: true
  rtpengine: [{address: "127.0.0.1:$ng_port"}]
  interfaces: {outside: outside, inside: inside}
YAML
  rtpengine --config-file=none --foreground --table=-1 --delete-delay=0 \
    --listen-ng="127.0.0.1:$ng_port" --interface=outside/127.0.0.2 --interface=inside/127.0.0.3 \
    --port-min="$rtp_min" --port-max=$((rtp_min + 1999)) --log-stderr --log-level=4 \
    >"$work/rtpengine.log" 2>&1 &
  rtpengine_pid=$!
  pids+=("$rtpengine_pid")
  for _ in $(seq 50); do  # its ng socket, before the SBC pings it
    ss -Hlun "sport = :$ng_port" | grep -q . && break
    sleep 0.1
  done
  ss -Hlun "sport = :$ng_port" | grep -q . || { cat "$work/rtpengine.log"; exit 1; }
fi
for f in sbc $([ "$media" = off ] || echo media); do
  if ! "$sbc" check-config "$work/$f.yaml" >"$work/check.log" 2>&1; then
    cat "$work/check.log"
    exit 1
  fi
done

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
if [ "$media" = on ]; then
  "$sbc" run --config "$work/media.yaml" >"$work/media.log" 2>&1 &
  media_pid=$!
  pids+=("$media_pid")
fi
kamailio -f "$work/kamailio.cfg" -DD -E -m 1024 -M 64 >"$work/kamailio.log" 2>&1 &
kam_pid=$!
pids+=($kam_pid)
sleep 2
# A busy machine starts them more slowly: up to 10 s more for the SBCs.
for _ in $(seq 100); do
  grep -q "sbc started" "$work/sbc.log" && { [ "$media" = off ] || grep -q "sbc started" "$work/media.log"; } && break
  sleep 0.1
done
grep -q "sbc started" "$work/sbc.log" || { cat "$work/sbc.log"; exit 1; }
if [ "$cluster" = on ]; then
  grep -q "cluster store connected" "$work/fleet.log" || { cat "$work/fleet.log"; exit 1; }
fi
if [ "$media" = on ]; then
  grep -q "sbc started" "$work/media.log" || { cat "$work/media.log"; exit 1; }
  kill -0 "$rtpengine_pid" || { cat "$work/rtpengine.log"; exit 1; }
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
media_pids() { echo "$media_pid"; }
kam_pids() { pgrep -f "kamailio -f $work"; }

declare -A best cpu_at
# step NAME RELAY PORT RATE: prints "ok|fail completed cpu_seconds rtpengine_cpu_seconds" (the
# last 0 but for the media relay)
step() {
  local before after out rtp_before=0 rtp_after=0 rtp_note=""
  [ "$2" != media ] || rtp_before=$(cpu_of "$rtpengine_pid")
  before=$(cpu_of "$("$2_pids")")
  out=$("$load" uac 127.0.0.1 "$3" call "$4" $(($4 * seconds)) 100000 "$seconds" "$transport" || true)
  after=$(cpu_of "$("$2_pids")")
  [ "$2" != media ] || rtp_after=$(cpu_of "$rtpengine_pid")
  local rtp_cpu
  rtp_cpu=$(awk -v a="$rtp_after" -v b="$rtp_before" 'BEGIN{print a-b}')
  [ "$2" != media ] || rtp_note=" rtpengine_cpu=${rtp_cpu}s"
  local completed failed achieved
  completed=$(sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$out")
  achieved=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
  awk -v a="${achieved:-0}" -v r="$4" 'BEGIN { exit !(a >= 0.95 * r) }' || failed=${failed:-0}+slow
  printf '  %-9s %6s calls/s: %s cpu=%.3fs%s\n' "$1" "$4" "$out" "$(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')" "$rtp_note" >&2
  echo "$([ "${failed:-1}" = 0 ] && echo ok || echo fail) ${completed:-0} $(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}') $rtp_cpu"
}

echo "relay benchmark: calls over $transport$([ "$inside" = udp ] || echo ", $inside inside"), ${seconds}s per step, rates ${rates[*]}" >&2
relays=(sbc kam)
[ "$cluster" = off ] || relays+=(fleet)
[ "$media" = off ] || relays+=(media)
for relay in "${relays[@]}"; do
  port_var=${relay}_target
  port=${!port_var}
  best[$relay]=0
  for r in "${rates[@]}"; do
    read -r verdict completed cpu rtp_cpu < <(step "$relay" "$relay" "$port" "$r")
    cpu_at[$relay,$r]="$cpu $completed"
    [ "$relay" != media ] || cpu_at[rtpengine,$r]="$rtp_cpu $completed"
    [ "$verdict" = ok ] || break
    best[$relay]=$r
    sleep 1  # let the last transactions of the step end
  done
done

common=$(( best[sbc] < best[kam] ? best[sbc] : best[kam] ))
per_1000() {  # per_1000 RELAY [RATE]: CPU seconds per 1000 calls at RATE (the common rate)
  read -r cpu completed <<<"${cpu_at[$1,${2:-$common}]:-0 0}"
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
if [ "$media" = on ]; then
  # At the common rate, or at the media SBC's highest if it passed less (compared with the SBC
  # at that rate, which it passed too).
  at=$(( best[media] < common ? best[media] : common ))
  media_cpu=$(per_1000 media "$at") rtp_cpu=$(per_1000 rtpengine "$at") plain_cpu=$(per_1000 sbc "$at")
  both_cpu=$(awk -v a="$media_cpu" -v b="$rtp_cpu" 'BEGIN { if (a != "n/a" && b != "n/a") printf "%.3f", a + b; else print "n/a" }')
  printf '%-44s %10s %10s %10s\n' "with media anchoring (rtpengine): rate passed" "${best[media]}" "" "$(ratio "${best[media]}" "${best[sbc]}") of sbc"
  printf '%-44s %10s %10s %10s\n' "  CPU seconds per 1000 calls at $at calls/s" "$media_cpu" "" "$(ratio "$media_cpu" "$plain_cpu") of sbc"
  printf '%-44s %10s %10s %10s\n' "  rtpengine's own, same steps" "$rtp_cpu" "" "$(ratio "$rtp_cpu" "$plain_cpu") of sbc"
  printf '%-44s %10s %10s %10s\n' "  SBC + rtpengine" "$both_cpu" "" "$(ratio "$both_cpu" "$plain_cpu") of sbc"
  [ "$at" = "$common" ] || printf '%-44s %10s\n' "  (sbc at $at calls/s)" "$plain_cpu"
  # What went wrong with rtpengine, if anything (the SBC logs at most one line per 10 s per worker).
  grep -h "media: " "$work/media.log" >&2 || true
  grep -hv "^\s*$" "$work/rtpengine.log" | tail -5 >&2 || true
fi
if [ "${best[sbc]}" = "${rates[-1]}" ] || [ "${best[kam]}" = "${rates[-1]}" ]; then
  echo "(a relay passed the highest step: add higher rates to find its limit)"
fi
