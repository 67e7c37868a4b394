#!/usr/bin/env bash
# The relay against a real core: Kamailio from Debian as registrar and proxy (Path stored,
# Record-Route followed), and tests/tools/sip_ua as user agents over UDP and TCP. Covers
# registration through the SBC, calls in both directions (the core's INVITE reaches the callee
# over the flow it registered on, via Path), CANCEL, a flow that is gone (430), a core that does
# not answer (408), retransmissions absorbed, the core's Via never shown to the outside, Call-ID
# masking (relay.mask_call_id), a tcpdump capture of the outside port in which neither the core's
# address:port nor the SBC's inside sockets appear, failover from a dead core to a live one, and
# 503 with /readyz false when no core is up.
# usage: relay_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 22000 2000)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
relay:
  timers: {t1_ms: 100}    # 64*T1 = 6.4 s: the timeout test stays short
  mask_call_id: true
metrics: {port: $metrics_port}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got\|main(): processes" core.log && break; sleep 0.1; done
sleep 0.3

# Everything that crosses the SBC's outside port (UDP and TCP) is captured until the last
# exchange with this SBC, the proof on the wire of topology hiding (checked below).
capturing=0
if command -v tcpdump >/dev/null; then
  tcpdump -i lo -n -s 0 -U -B 32768 -w outside.pcap "port $sbc_port" >tcpdump.log 2>&1 &
  capture=$!
  pids+=("$capture")
  for _ in $(seq 50); do
    grep -q "listening on" tcpdump.log && capturing=1 && break
    sleep 0.1
  done
fi
check "tcpdump captures the outside port (scripts/install-deps.sh installs it)" test $capturing = 1

ua() { "$ua" "$1" 127.0.0.1 "$sbc_port" "${@:2}"; }

# --- a call from a TCP user to a UDP user, both registered through the SBC
SIP_UA_DUMP=bob.dump ua udp bob register serve 6 >bob.out 2>&1 &
sleep 0.5
SIP_UA_DUMP=alice.dump ua tcp alice register call sip:bob@example.com request MESSAGE sip:bob@example.com >alice.out 2>&1 || true
wait $! 2>/dev/null || true
touch alice.dump bob.dump  # empty if nothing reached them: the checks below fail, the logs show why
check "alice registers over TCP through the SBC" grep -qx "REGISTER 200" alice.out
check "bob registers over UDP through the SBC" grep -qx "REGISTER 200" bob.out
check "alice's call reaches bob through SBC and core, and he answers" grep -qx "INVITE 200" alice.out
check "bob gets the INVITE, the ACK and the BYE" \
  bash -c 'grep -qx "INVITE received" bob.out && grep -qx "ACK received" bob.out && grep -qx "BYE received" bob.out'
check "the BYE crosses SBC, core and SBC again (spiral, not a loop) and is answered 200" grep -qx "BYE 200" alice.out
check "a MESSAGE reaches bob over his registered flow" grep -qx "MESSAGE 200" alice.out
# Topology hiding: what bob got from the core has one Via (ours), never the core's.
invite_vias=$(awk '/^INVITE /{f=1} f && /^Via:/{n++} f && /^----/{print n; exit}' bob.dump 2>/dev/null || true)
check "the INVITE bob receives carries one Via, the SBC's (got ${invite_vias:-none})" test "${invite_vias:-0}" = 1
check "no Via of the core ($core_port) reaches the outside" \
  bash -c "! grep -E '^Via:.*:$core_port' bob.dump"
# Topology hiding: the core's address and port appear nowhere in what either side received
# (its Record-Route entries and the Contacts it relays travel sealed in our URIs).
check "the core's address:port appears in nothing the callee received" \
  bash -c "! grep -q '127.0.0.1:$core_port' bob.dump"
check "nor in anything the caller received" bash -c "! grep -q '127.0.0.1:$core_port' alice.dump"
check "the caller's route set is one sealed entry of the SBC" \
  bash -c "grep -qE '^Record-Route: <sip:sbc-[A-Za-z0-9_-]+@127.0.0.1:$sbc_port;transport=tcp;lr>.?$' alice.dump"
check "our Path is not shown to the outside" bash -c "! grep -qi '^Path:' bob.dump"
# Call-ID masking: the core relays alice's Call-ID unchanged (a proxy), so bob's leg is a new one
# the SBC masks; alice's own leg keeps hers; every message of bob's dialog carries one mask.
call_id_of() {  # call_id_of METHOD DUMP: the Call-ID of the first METHOD request in DUMP
  awk -v m="$1" '$1 == m && /SIP\/2.0/ {f=1} f && /^Call-ID:/ {sub(/\r$/, ""); print $2; exit}' "$2"
}
bob_invite_call_id=$(call_id_of INVITE bob.dump)
check "bob's leg of the call carries a masked Call-ID (${bob_invite_call_id:-none})" \
  grep -q '^sbc-' <<<"$bob_invite_call_id"
check "the ACK and BYE bob receives carry the same masked Call-ID" \
  test "$(call_id_of ACK bob.dump)" = "$bob_invite_call_id" -a \
  "$(call_id_of BYE bob.dump)" = "$bob_invite_call_id"
check "alice's answers keep her own Call-ID" bash -c "! grep -q '^Call-ID: sbc-' alice.dump"

# --- the other direction: the core's INVITE reaches a TCP user over her connection (Path)
ua tcp carol register serve 5 >carol.out 2>&1 &
carol=$!
sleep 0.5
ua udp dave register call sip:carol@example.com >dave.out 2>&1 || true
wait $carol 2>/dev/null || true
check "a call to a TCP user goes down the connection she registered on" grep -qx "INVITE 200" dave.out
check "and is torn down" grep -qx "BYE 200" dave.out
check "carol receives INVITE, ACK and BYE over TCP" \
  bash -c 'grep -qx "INVITE received" carol.out && grep -qx "BYE received" carol.out'

# --- CANCEL before the answer
ua udp erin ringonly register serve 4 >erin.out 2>&1 &
erin=$!
sleep 0.5
ua tcp frank ring sip:erin@example.com >frank.out 2>&1 || true
wait $erin 2>/dev/null || true
check "the caller hears ringing" grep -qx "INVITE 180" frank.out
check "CANCEL is answered 200" grep -qx "CANCEL 200" frank.out
check "the INVITE ends 487 after CANCEL" grep -qx "INVITE 487" frank.out
check "the callee got the CANCEL through SBC and core" grep -qx "CANCEL received" erin.out

# --- a registration whose connection is gone: 430 Flow Failed (RFC 5626)
ua tcp gina register >gina.out 2>&1 || true
sleep 0.3
ua udp hank request MESSAGE sip:gina@example.com >hank.out 2>&1 || true
check "a request for a user whose flow is gone gets 430" grep -qx "MESSAGE 430" hank.out

# --- the core does not answer: the SBC answers 408 itself (64*T1)
ua udp ivan request OPTIONS sip:slow@example.com >ivan.out 2>&1 || true
check "a request the core never answers ends 408 from the SBC" grep -qx "OPTIONS 408" ivan.out

# --- a UDP retransmission is absorbed: the core sees the REGISTER once
cat >register.sip <<SIP
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKretrans1;rport
Max-Forwards: 70
From: <sip:judy@example.com>;tag=j1
To: <sip:judy@example.com>
Call-ID: retransmitted-register@test
CSeq: 1 REGISTER
Contact: <sip:judy@127.0.0.1:5999>
Expires: 60
Content-Length: 0

SIP
sed -i 's/$/\r/' register.sip
# From one source port, as a UDP client retransmits.
export SIP_PROBE_LOCAL_PORT=$((base + 3))
first=$("$probe" udp 127.0.0.1 "$sbc_port" register.sip 3000 || true)
second=$("$probe" udp 127.0.0.1 "$sbc_port" register.sip 3000 || true)
unset SIP_PROBE_LOCAL_PORT
check "the REGISTER is answered 200 ($first)" grep -q "200" <<<"$first"
check "its retransmission gets the same answer from the SBC ($second)" grep -q "200" <<<"$second"
sleep 0.3
core_registers=$(grep -c "core got REGISTER" core.log || true)
metrics=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")
absorbed=$(metric 'sbc_relay_retransmissions_total{kind="absorbed"}' - <<<"$metrics")
check "the SBC counts the absorbed retransmission (absorbed=$absorbed)" test "${absorbed:-0}" -ge 1
to_core=$(metric 'sbc_relay_requests_total{direction="to_core"}' - <<<"$metrics")
to_outside=$(metric 'sbc_relay_requests_total{direction="to_outside"}' - <<<"$metrics")
check "requests relayed both ways are counted (to_core=$to_core to_outside=$to_outside)" \
  test "${to_core:-0}" -ge 10 -a "${to_outside:-0}" -ge 3
established=$(metric 'sbc_relay_dialogs_total{event="established"}' - <<<"$metrics")
ended=$(metric 'sbc_relay_dialogs_total{event="ended"}' - <<<"$metrics")
check "calls set up and torn down are counted (established=$established ended=$ended)" \
  test "${established:-0}" -ge 1 -a "${ended:-0}" -ge 1
for direction in outside_to_core core_to_outside; do
  timed=$(metric "sbc_relay_processing_seconds_count{direction=\"$direction\"}" - <<<"$metrics")
  check "relayed messages are timed $direction (count=$timed)" test "${timed:-0}" -ge 1
done
promtool_status=0
promtool check metrics <<<"$metrics" >promtool.out 2>&1 || promtool_status=$?
check "promtool check metrics accepts /metrics with traffic (status $promtool_status)" \
  test "$promtool_status" = 0
timeouts=$(metric 'sbc_relay_rejections_total{reason="timeout"}' - <<<"$metrics")
check "the timeout is counted (timeout=$timeouts)" test "${timeouts:-0}" -ge 1
# 6 users registered through the SBC, and judy once: a retransmission never reaches the core.
check "the core saw each REGISTER once ($core_registers)" test "$core_registers" = 7

# --- dialog protection: a BYE for alice's dialog from a third party (another address) gets 481
cat >bye.sip <<SIP
BYE sip:bob@127.0.0.1:5999 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKmallory1;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=forged
To: <sip:bob@example.com>;tag=forged
Call-ID: some-call@127.0.0.1
CSeq: 99 BYE
User-Agent: Linphone/5.2
Content-Length: 0

SIP
sed -i 's/$/\r/' bye.sip
third=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.2 "$probe" udp 127.0.0.1 "$sbc_port" bye.sip 2000 || true)
check "a third party's BYE is refused 481 ($third)" grep -q "SIP/2.0 481" <<<"$third"

# --- topology hiding on the wire: no message that crossed the outside port names the core's
# address:port or one of the SBC's inside sockets (its Via, Path and Record-Route carry them on
# the inside). The inside ports are the SBC's UDP sockets other than its listener.
inside_ports=$(ss -Hunap | awk -v pid="pid=$sbc_pid," -v own=":$sbc_port" \
  'index($0, pid) && substr($4, length($4) - length(own) + 1) != own {n = split($4, a, ":"); print a[n]}' |
  sort -u | tr '\n' ' ')
check "the SBC's inside sockets are known (${inside_ports:-none})" test -n "$inside_ports"
if [ $capturing = 1 ]; then
  sleep 1.5  # tcpdump hands packets over in blocks (TEST-PEERS.md)
  kill -INT "$capture" 2>/dev/null || true
  wait "$capture" 2>/dev/null || true
fi
tcpdump -n -A -r outside.pcap >outside.txt 2>/dev/null || true
sip_lines=$(grep -cE '(^|[^A-Za-z])(INVITE|ACK|BYE|CANCEL|REGISTER|MESSAGE|OPTIONS) sip:[^ ]* SIP/2\.0|SIP/2\.0 [1-6][0-9][0-9] ' outside.txt || true)
check "the capture holds the test's SIP traffic ($sip_lines start lines)" test "${sip_lines:-0}" -ge 30
# Ports of the outside peers (a user agent's TCP port may have an inside port's number).
peer_ports=$(sed -nE 's/^[0-9:.]+ IP 127\.0\.0\.1\.([0-9]+) > 127\.0\.0\.1\.([0-9]+):.*/\1\n\2/p' outside.txt |
  sort -u | grep -vx "$sbc_port" || true)
for port in $core_port $inside_ports; do
  if grep -qx "$port" <<<"$peer_ports"; then
    echo "note - port $port is also a user agent's: not checked on the wire"
    continue
  fi
  check "no message on the outside wire names 127.0.0.1:$port" \
    bash -c "! grep -qE '127\.0\.0\.1:$port([^0-9]|\$)|rport=$port([^0-9]|\$)' outside.txt"
done

# --- failover: a second SBC whose first core is dead (nothing listens on its port)
base2=$base
while [ "$base2" = "$base" ]; do base2=$(free_port_base 22000 2000); done
sbc2_port=$base2 metrics2_port=$((base2 + 1)) sbc3_port=$((base2 + 2)) dead_port=$((base2 + 3))
cat >sbc2.yaml <<YAML
workers: 1
listeners: [{transport: udp, address: 127.0.0.1, port: $sbc2_port}]
core:
  targets:
    - {uri: "sip:127.0.0.1:$dead_port", priority: 1}
    - {uri: "sip:127.0.0.1:$core_port", priority: 2}
  probe_interval_ms: 60000      # one probe at start: the dead core is found by the request
  failover_timeout_ms: 500
relay: {token_keys: ["3:000102030405060708090a0b0c0d0e0f"]}
metrics: {port: $metrics2_port}
YAML
start_sbc sbc2 "http://127.0.0.1:$metrics2_port/healthz"
"$ua" udp 127.0.0.1 "$sbc2_port" kim register >kim.out 2>&1 || true
check "a REGISTER whose first core is dead is answered by the second" grep -qx "REGISTER 200" kim.out
curl -fsS "http://127.0.0.1:$metrics2_port/metrics" >metrics2.txt || true
failovers=$(metric 'sbc_relay_failovers_total' metrics2.txt)
check "the failover is counted (failovers=$failovers)" test "${failovers:-0}" -ge 1
check "the dead core is marked down" grep -qx 'sbc_core_up{core="0"} 0' metrics2.txt
check "the live core is up" grep -qx 'sbc_core_up{core="1"} 1' metrics2.txt

# --- no core up: a third SBC with only the dead core and quick probes
cat >sbc3.yaml <<YAML
workers: 1
listeners: [{transport: udp, address: 127.0.0.1, port: $sbc3_port}]
core:
  targets: [{uri: "sip:127.0.0.1:$dead_port"}]
  probe_interval_ms: 200
metrics: {port: $((base + 3))}
YAML
start_sbc sbc3
sleep 1.2   # two probes unanswered
"$ua" udp 127.0.0.1 "$sbc3_port" lou register >lou.out 2>&1 || true
check "with no core up a request gets 503 from the SBC at once" grep -qx "REGISTER 503" lou.out
ready3=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 3))/readyz")
check "/readyz says not ready while no core is up ($ready3)" test "$ready3" = 503
ready1=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/readyz")
check "/readyz of the SBC with a live core says ready ($ready1)" test "$ready1" = 200

if [ "$failures" -ne 0 ]; then
  for f in sbc*.log; do echo "--- $f"; cat "$f"; done
  echo "--- core.log (tail)"; tail -n 40 core.log
  for f in *.out; do echo "--- $f"; cat "$f"; done
fi
exit $((failures > 0))
