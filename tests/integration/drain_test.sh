#!/usr/bin/env bash
# A drain that loses nothing: calls at a steady pace through the SBC (two callers over UDP, two
# over TCP, each call held a second) with a Kamailio core, and SIGTERM in the middle. Every call
# either completes (INVITE 200, then BYE 200; calls up at SIGTERM hang up during the grace
# period and their BYE still crosses SBC, core and SBC) or is refused before it starts with 503
# and Retry-After; none hangs or times out. While draining: /readyz answers 503, a REGISTER and
# an OPTIONS ping of the SBC get 503, a TCP connection is closed after its 503, the refusals are
# counted (sbc_relay_rejections_total{reason="draining"}); at the end of the grace period the SBC
# exits 0.
# usage: drain_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 36000 2000)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

grace_ms=4000
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
  probe_interval_ms: 300
transport: {shutdown_grace_ms: $grace_ms}
metrics: {address: 127.0.0.1, port: $metrics_port}
admin: {socket: "$work/admin.sock"}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got\|main(): processes" core.log && break; sleep 0.1; done
sleep 0.3

ua() { timeout 40 "$ua" "$1" 127.0.0.1 "$sbc_port" "${@:2}"; }

# The callees: bob over UDP, carol over TCP, registered through the SBC; they answer every call
# (a bounded time: they outlast the test's calls).
ua udp bob register serve 16 >bob.out 2>&1 &
ua tcp carol register serve 16 >carol.out 2>&1 &
for _ in $(seq 50); do
  grep -q "REGISTER" bob.out && grep -q "REGISTER" carol.out && break
  sleep 0.1
done
check "the callees registered through the SBC" \
  bash -c 'grep -qx "REGISTER 200" bob.out && grep -qx "REGISTER 200" carol.out'

# The callers: one call after another (held 1 s each), 15 at most, until one is refused.
callers=(alice1 alice2 alice3 alice4)
ua udp alice1 hold 1000 calls sip:carol@example.com 15 >alice1.out 2>&1 &
caller_pids=($!)
ua udp alice2 hold 1000 calls sip:bob@example.com 15 >alice2.out 2>&1 &
caller_pids+=($!)
ua tcp alice3 hold 1000 calls sip:bob@example.com 15 >alice3.out 2>&1 &
caller_pids+=($!)
ua tcp alice4 hold 1000 calls sip:carol@example.com 15 >alice4.out 2>&1 &
caller_pids+=($!)

# SIGTERM in the middle of the calls.
sleep 3
sigterm_at=$(date +%s%3N)
kill -TERM "$sbc_pid"
sleep 1.5

# --- while draining
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/readyz" || true)
check "/readyz answers 503 while draining (got $ready)" test "$ready" = 503
ua udp dave register >dave.out 2>&1 || true
check "a REGISTER while draining gets 503" grep -qx "REGISTER 503" dave.out
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5998;branch=z9hG4bKping%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:lb@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping%s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$sbc_port" "$RANDOM" "$RANDOM" >ping.sip
ping_answer=$("$probe" udp 127.0.0.1 "$sbc_port" ping.sip 1000 || true)
check "an OPTIONS ping of the SBC gets 503 while draining ($ping_answer)" \
  grep -q "SIP/2.0 503" <<<"$ping_answer"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt 2>/dev/null || true
draining=$(metric 'sbc_relay_rejections_total{reason="draining"}')
check "refusals while draining are counted (${draining:-absent})" test "${draining:-0}" -ge 1

# --- the end of the grace period: the SBC exits 0 on its own
exited=0
for _ in $(seq 60); do
  kill -0 "$sbc_pid" 2>/dev/null || { exited=1; break; }
  sleep 0.1
done
status=0
[ $exited = 1 ] && { wait "$sbc_pid" || status=$?; }
stopped_at=$(date +%s%3N)
check "the SBC exits at the end of the grace period ($((stopped_at - sigterm_at)) ms after SIGTERM)" \
  test $exited = 1
check "with status 0 (got $status)" test "$status" = 0

for p in "${caller_pids[@]}"; do wait "$p" 2>/dev/null || true; done

# --- every call completed, or was refused with 503 and Retry-After before it started
completed=0 refused=0 bye_after_sigterm=0
for c in "${callers[@]}"; do
  invites=$(grep -cE '^INVITE ([2-6][0-9][0-9]|timeout)$' "$c.out" || true)  # final answers
  ok=$(grep -cx 'INVITE 200' "$c.out" || true)
  byes=$(grep -cx 'BYE 200' "$c.out" || true)
  refusals=$(grep -cx 'INVITE 503' "$c.out" || true)
  retry=$(grep -c '^RETRY-AFTER [0-9]' "$c.out" || true)
  completed=$((completed + byes)) refused=$((refused + refusals))
  late=$(awk -v t="$sigterm_at" '/^BYE sent at /{s = ($4 > t)} /^BYE 200$/ && s {n++} END {print n + 0}' "$c.out")
  bye_after_sigterm=$((bye_after_sigterm + late))
  check "$c: every INVITE got 200 or 503 ($ok + $refusals of $invites)" \
    test "$invites" -gt 0 -a $((ok + refusals)) = "$invites"
  check "$c: every answered call hung up with BYE 200 ($byes of $ok)" test "$byes" = "$ok"
  check "$c: nothing timed out" bash -c "! grep -q timeout '$c.out'"
  check "$c: the refusal carries Retry-After ($retry of $refusals)" test "$retry" = "$refusals"
  check "$c: refused once, after SIGTERM (the caller then stops)" test "$refusals" = 1
done
for c in alice3 alice4; do
  check "$c: its TCP connection was closed after the 503" grep -qx 'CONNECTION closed' "$c.out"
done
check "calls completed before and during the drain ($completed)" test "$completed" -ge 4
check "calls up at SIGTERM hung up during the grace period, BYE 200 ($bye_after_sigterm)" \
  test "$bye_after_sigterm" -ge 2
check "the SBC logged the drain" grep -q "received SIGTERM, draining for $grace_ms ms" sbc.log

if [ "$failures" -ne 0 ]; then
  for f in sbc.log alice1.out alice3.out bob.out carol.out; do
    echo "--- $f"
    tail -n 40 "$f" || true
  done
  echo "$failures check(s) failed"
  exit 1
fi
echo "all drain checks passed"
