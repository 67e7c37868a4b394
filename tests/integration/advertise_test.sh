#!/usr/bin/env bash
# listeners[].advertise on every transport, from the environment: the SBC binds 127.0.0.1 but
# its configuration says `advertise: ${SBC_TEST_ADVERTISE}` (as the Helm chart passes a pod's
# status.podIP / status.hostIP), and `core.local_address: ${SBC_TEST_INSIDE}`. User agents
# over UDP, TCP (tests/tools/sip_ua) and TLS (openssl s_client) call each other through the SBC
# and a Kamailio core: every Via, Record-Route and hidden Contact the outside receives names the
# advertised address, never the bound one, and the advertised port where `advertise` names one
# (UDP and TCP here, as with a NodePort: ${SBC_TEST_ADVERTISE}:PORT), the listener's otherwise
# (TLS); an unset variable stops `sbc check-config` naming it and the key.
# usage: advertise_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 28000 2000)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2)) tls_port=$((base + 3))
node_port=$((base + 10))  # what UDP and TCP advertise (never bound: a NodePort's stand-in)
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

# shellcheck disable=SC2016  # ${...} is for the SBC to expand, not the shell
advertise='${SBC_TEST_ADVERTISE}' inside='${SBC_TEST_INSIDE}'
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port, advertise: "$advertise:$node_port"}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port, advertise: "$advertise:$node_port"}
  - {transport: tls, address: 127.0.0.1, port: $tls_port, advertise: "$advertise"}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
  local_address: "$inside"
metrics: {port: $metrics_port}
YAML

# --- an unset variable is a configuration error naming the variable and the key
unset SBC_TEST_ADVERTISE SBC_TEST_INSIDE
unset_out=$("$sbc" check-config sbc.yaml 2>&1 || true)
check "an unset variable fails the check, naming it and the key ($unset_out)" \
  grep -q 'listeners\[0\].advertise: environment variable SBC_TEST_ADVERTISE is not set' <<<"$unset_out"

export SBC_TEST_ADVERTISE=203.0.113.7 SBC_TEST_INSIDE=127.0.0.1
check "with the variables set the file is valid" "$sbc" check-config sbc.yaml
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got\|main(): processes" core.log && break; sleep 0.1; done
sleep 0.3

ua() { "$ua" "$1" 127.0.0.1 "$sbc_port" "${@:2}"; }
shown="203.0.113.7"

# --- a TCP caller, a UDP callee
SIP_UA_DUMP=bob.dump ua udp bob register serve 5 >bob.out 2>&1 &
sleep 0.5
SIP_UA_DUMP=alice.dump ua tcp alice register call sip:bob@example.com >alice.out 2>&1 || true
wait $! 2>/dev/null || true
touch alice.dump bob.dump
check "the TCP caller's call reaches the UDP callee and is answered" grep -qx "INVITE 200" alice.out
check "the INVITE bob receives has our Via with the advertised address (UDP)" \
  grep -qE "^Via: SIP/2.0/UDP $shown:$node_port;" bob.dump
check "and a Record-Route naming it" \
  grep -qE "^Record-Route: <sip:[^>]*@$shown:$node_port;transport=udp;lr>" bob.dump
check "the caller's route set names the advertised address over TCP" \
  grep -qE "^Record-Route: <sip:sbc-[A-Za-z0-9_-]+@$shown:$node_port;transport=tcp;lr>" alice.dump
check "the callee's Contact reaches the caller hidden behind the advertised address" \
  grep -qE "^Contact: <sip:sbc-[A-Za-z0-9_-]+@$shown:$node_port;transport=tcp>" alice.dump

# --- a UDP caller, a TCP callee: the INVITE goes down carol's connection with our TCP Via
SIP_UA_DUMP=carol.dump ua tcp carol register serve 5 >carol.out 2>&1 &
carol=$!
sleep 0.5
ua udp dave register call sip:carol@example.com >dave.out 2>&1 || true
wait $carol 2>/dev/null || true
touch carol.dump
check "the call to the TCP callee is answered" grep -qx "INVITE 200" dave.out
check "the INVITE carol receives has our Via with the advertised address (TCP)" \
  grep -qE "^Via: SIP/2.0/TCP $shown:$node_port;" carol.dump
check "and a Record-Route naming it over TCP" \
  grep -qE "^Record-Route: <sip:[^>]*@$shown:$node_port;transport=tcp;lr>" carol.dump

# --- a TLS caller (openssl s_client) to a UDP callee: the 200 it gets names the TLS listener
SIP_UA_DUMP=erin.dump ua udp erin register serve 5 >erin.out 2>&1 &
erin=$!
sleep 0.5
{
  printf 'INVITE sip:erin@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:trunk@example.com>;tag=%s\r\nTo: <sip:erin@example.com>\r\nCall-ID: %s@advertise.test\r\nCSeq: 1 INVITE\r\nContact: <sip:trunk@127.0.0.1:5999;transport=tls>\r\nContent-Length: 0\r\n\r\n' \
    "$RANDOM$RANDOM" "$RANDOM" "$RANDOM$RANDOM"
  sleep 3
} | timeout 8 openssl s_client -connect "127.0.0.1:$tls_port" -quiet 2>/dev/null | tr -d '\r' >tls.out || true
wait $erin 2>/dev/null || true
check "the TLS caller's INVITE is answered 200" grep -q '^SIP/2.0 200' tls.out
check "its route set names the advertised address over TLS" \
  grep -qE "^Record-Route: <sip:sbc-[A-Za-z0-9_-]+@$shown:$tls_port;transport=tls;lr>" tls.out

# --- the bound address is never shown: no message any client received names 127.0.0.1 with one
# of the SBC's ports (their own Vias name their own ports)
check "no client saw the bound address 127.0.0.1:$sbc_port or :$tls_port" \
  bash -c "! grep -hE '127\.0\.0\.1:($sbc_port|$tls_port)\b' alice.dump bob.dump carol.dump erin.dump tls.out"
check "nor the advertised address with the bound UDP/TCP port $sbc_port" \
  bash -c "! grep -hE '$shown:$sbc_port\b' alice.dump bob.dump carol.dump erin.dump tls.out"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log core.log alice.out bob.out carol.out dave.out tls.out; do
    echo "--- $f"
    tail -n 40 "$f" 2>/dev/null || true
  done
  exit 1
fi
echo "advertise_test: all checks passed"
