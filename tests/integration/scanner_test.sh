#!/usr/bin/env bash
# The real attacker: SIPVicious (svmap, svwar, svcrack) against the SBC with its default
# policies, on loopback (always -b/-x 127.0.0.1 and a free -P, see ../shared/TEST-PEERS.md; the
# tools exit 0 whatever happens, so the test reads their output). A defended server makes them
# find nothing: the scanner stage recognises them, drops without an answer and bans the source on
# every worker. Meanwhile a legitimate client (sipsak) from another address keeps being answered.
# A scanner that renames itself is caught by its behaviour (many users from one source; against
# a core that does not know the users it asks for, nothing but refusals for answers).
# usage: scanner_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
here=$(dirname "$(readlink -f "$0")")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 28000 1500)
sbc_port=$base metrics_port=$((base + 1)) scan_port=$((base + 2))
answers_port=$((base + 6)) answers_metrics=$((base + 7)) answers_scan_port=$((base + 8))
core_port=$((base + 9))
# The attacker scans from 127.0.0.1; the legitimate client talks from 127.0.0.2.
cat >sbc.yaml <<YAML
workers: 2
listeners: [{transport: udp, address: 0.0.0.0, port: $sbc_port}]
metrics: {port: $metrics_port}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"

timeout 60 svmap -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 -P "$scan_port" >svmap.out 2>&1 || true
timeout 60 svwar -e100-110 -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 \
  -P "$((scan_port + 1))" >svwar.out 2>&1 || true
timeout 90 svcrack -u100 -r1000-1010 -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 \
  -P "$scan_port" >svcrack.out 2>&1 || true
check "svmap finds no SIP device" grep -q "found nothing" svmap.out
check "svwar finds no extension" grep -q "found nothing" svwar.out
check "svcrack cracks no password" grep -q "found nothing" svcrack.out
# A legitimate client elsewhere is still answered while the scanner's address is banned.
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKlegit1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:ok@127.0.0.2>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: legit@127.0.0.2\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Linphone/5.2\r\nContent-Length: 0\r\n\r\n' "$sbc_port" >options.sip
legit=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.2 "$probe" udp 127.0.0.1 "$sbc_port" options.sip 2000 || true)
check "a legitimate client from another address is answered ($legit)" grep -q "SIP/2.0 200" <<<"$legit"
banned_probe=$("$probe" udp 127.0.0.1 "$sbc_port" options.sip 1000 || true)
check "the same request from the scanner's address gets nothing ($banned_probe)" test "$banned_probe" = timeout
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
signature=$(metric 'sbc_policy_decisions_total{stage="scanner",reason="signature"}')
banned=$(metric 'sbc_policy_banned_dropped_total')
sleep 1.2  # the active-ban gauge is refreshed every second
active=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | metric 'sbc_policy_bans_active' -)
check "the scanner was recognised (signature drops: $signature)" test "${signature:-0}" -ge 1
check "its later packets died before parsing (banned drops: $banned)" test "${banned:-0}" -ge 2
check "its address is banned on every worker (active bans: $active)" test "${active:-0}" = 1
answered=$(metric 'sbc_responses_sent_total{class="2xx"}')
check "the only answer sent was to the legitimate client (2xx: $answered)" test "${answered:-0}" = 1

# A scanner that renames itself (User-Agent of a softphone) and counts through extensions from
# one socket, as svwar does: its behaviour gives it away after about
# policy.scanner.max_users_per_window (30) users.
answers=0 silent=0
for ext in $(seq 2000 2059); do
  printf 'OPTIONS sip:%s@127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:%s;branch=z9hG4bKsweep%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.3>;tag=%s\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: sweep%s@127.0.0.3\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Zoiper rev.11137\r\nContent-Length: 0\r\n\r\n' \
    "$ext" "$sbc_port" "$((scan_port + 3))" "$ext" "$ext" "$ext" "$ext" >sweep.sip
  got=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.3 SIP_PROBE_LOCAL_PORT=$((scan_port + 3)) \
    "$probe" udp 127.0.0.1 "$sbc_port" sweep.sip 300 || true)
  if [ "$got" = timeout ]; then silent=$((silent + 1)); else answers=$((answers + 1)); fi
done
enumeration=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  metric 'sbc_policy_decisions_total{stage="scanner",reason="enumeration"}' -)
check "a renamed scanner sweeping extensions is recognised by its behaviour (enumeration: ${enumeration:-0})" \
  test "${enumeration:-0}" -ge 1
check "it got answers for at most the first 40 extensions ($answers) and then silence ($silent)" \
  bash -c "[ $answers -ge 10 ] && [ $answers -le 40 ] && [ $silent -ge 20 ]"

# Answer classes: svwar, renamed (no signature of it is configured) and sweeping fewer users than
# the enumeration score needs, asks a real core (Kamailio) for extensions by INVITE: every final
# answer it gets is the core's 404, a share of refusals no client gets. After
# policy.scanner.min_answers (20) such answers it is banned (svwar itself reports nothing: a
# uniform 404 is its "no such user").
modules=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio/modules*' | head -n1)")
sed -e "s/@PORT@/$core_port/" -e "s#@MODULES@#$modules#" "$here/kamailio/core.cfg.in" >core.cfg
start_kamailio core
cat >answers.yaml <<YAML
workers: 2
listeners: [{transport: udp, address: 127.0.0.1, port: $answers_port}]
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {port: $answers_metrics}
policy:
  chain: [acl, scanner]
  scanner: {user_agents: [not-this-scanner], max_users_per_window: 128}
YAML
start_sbc answers "http://127.0.0.1:$answers_metrics/readyz"
timeout 60 svwar -m INVITE -e100-159 -p "$answers_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 \
  -P "$answers_scan_port" >svwar-renamed.out 2>&1 || true
curl -fsS "http://127.0.0.1:$answers_metrics/metrics" >answers-metrics.txt
refusals=$(metric 'sbc_policy_decisions_total{stage="scanner",reason="refusals"}' answers-metrics.txt)
relayed=$(metric 'sbc_relay_responses_total{direction="to_outside"}' answers-metrics.txt)
core_404=$(grep -c "core got INVITE" core.log || true)
answers_banned=$(metric 'sbc_policy_banned_dropped_total' answers-metrics.txt)
check "a renamed svwar getting nothing but the core's 404s is recognised (refusals: ${refusals:-0})" \
  test "${refusals:-0}" -ge 1
check "the core saw about min_answers (20) of its 61 INVITEs ($core_404; relayed answers: ${relayed:-0})" \
  bash -c "[ $core_404 -ge 20 ] && [ $core_404 -le 24 ]"
check "its later packets died before parsing (banned drops: ${answers_banned:-0})" \
  test "${answers_banned:-0}" -ge 1

if [ "$failures" -ne 0 ]; then
  for f in sbc.log svmap.out svwar.out svcrack.out metrics.txt answers.log core.log \
    svwar-renamed.out answers-metrics.txt; do echo "--- $f"; tail -n 30 "$f"; done
fi
exit $((failures > 0))
