#!/usr/bin/env bash
# A legitimate client under attack: while sipsak floods the SBC (-F, OPTIONS as fast as it can
# send, over UDP) and sends randomly mutated messages (-R), two users of tests/tools/sip_ua from
# other addresses keep registering and calling through the SBC to a Kamailio core. The default
# policies must ban the flooder and answer or drop the garbage without harm, and the legitimate
# calls must go through: the test prints their success rate and requires 95%.
# usage: flood_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 32000 1500)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {port: $metrics_port}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got OPTIONS" core.log && break; sleep 0.1; done

# The attacker, from 127.0.0.1 (bounded in time and count): first randomly mutated messages
# (each sipsak -R run goes on until a mutation is not answered: the SBC drops what it cannot
# answer), then the flood, which gets the address banned.
(
  end=$((SECONDS + 6))
  for i in $(seq 300); do
    [ "$SECONDS" -lt "$end" ] || break
    timeout 5 sipsak -R -e 50 -s "sip:random@127.0.0.1:$sbc_port" >"random-$((i % 3)).out" 2>&1 || true
  done
  end=$((SECONDS + 8))
  for _ in $(seq 200); do
    [ "$SECONDS" -lt "$end" ] || break
    timeout 5 sipsak -F -e 20000 -s "sip:flood@127.0.0.1:$sbc_port" >/dev/null 2>&1 || true
  done
) &
attacker=$!

# The legitimate users, from other addresses.
SIP_UA_LOCAL_ADDRESS=127.0.0.3 "$ua" udp 127.0.0.1 "$sbc_port" bob register serve 17 >bob.out 2>&1 &
bob=$!
sleep 0.5
attempts=0 ok=0
end=$((SECONDS + 14))
while [ "$SECONDS" -lt "$end" ] && [ "$attempts" -lt 40 ]; do
  attempts=$((attempts + 1))
  SIP_UA_LOCAL_ADDRESS=127.0.0.2 "$ua" tcp 127.0.0.1 "$sbc_port" alice register call \
    sip:bob@example.com >"alice-$attempts.out" 2>&1 || true
  if grep -qx "REGISTER 200" "alice-$attempts.out" && grep -qx "INVITE 200" "alice-$attempts.out" &&
    grep -qx "BYE 200" "alice-$attempts.out"; then
    ok=$((ok + 1))
  fi
done
wait "$attacker" 2>/dev/null || true
wait "$bob" 2>/dev/null || true

rate=$((100 * ok / (attempts > 0 ? attempts : 1)))
echo "legitimate registrations + calls under attack: $ok of $attempts succeeded ($rate%)"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
banned=$(metric sbc_policy_banned_dropped_total)
received=$(metric 'sbc_messages_received_total{transport="udp"}')
invalid=$(awk '/^sbc_invalid_messages_total/{s += $2} END {print s + 0}' metrics.txt)
echo "udp messages received: ${received:-0}; dropped unread from the banned flooder: ${banned:-0}; invalid (answered or dropped): $invalid"
check "at least 10 legitimate attempts ran ($attempts)" test "$attempts" -ge 10
check "95% or more of the legitimate registrations and calls succeeded ($rate%)" test "$rate" -ge 95
check "the flooder was banned and its packets dropped unread (${banned:-0})" test "${banned:-0}" -ge 1000
check "the random mutations were seen as invalid ($invalid)" test "$invalid" -ge 1
check "the SBC is still running" kill -0 "$sbc_pid"
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.4:5999;branch=z9hG4bKafter;rport\r\nMax-Forwards: 70\r\nFrom: <sip:ok@127.0.0.4>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: after@127.0.0.4\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$sbc_port" >options.sip
answer=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.4 "$probe" udp 127.0.0.1 "$sbc_port" options.sip 2000 || true)
check "and still answers a keep-alive from a fresh address ($answer)" test "$answer" = "SIP/2.0 200 OK"
if [ "$failures" -ne 0 ]; then
  for f in sbc.log bob.out alice-1.out "alice-$attempts.out" random-0.out; do
    echo "--- $f"; tail -n 20 "$f"
  done
fi
exit $((failures > 0))
