#!/usr/bin/env bash
# The relay toward a core over TCP and over TLS: Kamailio from Debian as registrar and proxy
# listening on UDP, TCP and TLS, the SBC configured with `;transport=tcp` and `;transport=tls`
# core URIs. Users register through the SBC, calls go both ways (the core's INVITE reaches the
# callee through the SBC's Path over the connection to the core), all requests of a worker share
# one connection per core, and Kamailio sees everything over TCP/TLS. A core that refuses the
# connection makes the relay fail over to the next at once (RFC 3261 17.1.4: a transport error
# counts as a 503) and, with no other core, answer 503; a TLS core whose certificate does not
# verify is never used, and a core that demands a client certificate gets the SBC's
# (core.tls.certificate). A TLS core found by DNS name (dnsmasq, SRV _sips._tcp) must show that
# name in its certificate, not its address.
# usage: core_stream_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 26000 2000)
sbc_port=$base core_port=$((base + 1)) core_tls=$((base + 2)) metrics_port=$((base + 3))
dead_port=$((base + 4)) sbc2_port=$((base + 5)) sbc3_port=$((base + 6)) sbc4_port=$((base + 7))

# A certificate for the core's address (an IP SAN: the SBC checks the address it connects to)
# and for its DNS name (core.test: a core configured by name must show that name, RFC 5922).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=core.test \
  -addext "subjectAltName=IP:127.0.0.1,DNS:core.test" -days 1 -keyout core.key -out core.pem \
  2>/dev/null
# The core demands a client certificate over TLS (mutual TLS): the SBC's, self-signed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=sbc-inside.test \
  -days 1 -keyout client.key -out client.pem 2>/dev/null
kamailio_core_cfg "$core_port" "$core_tls" "$work/core.pem" "$work/core.key" "$work/client.pem" \
  >core.cfg
start_kamailio core

cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port;transport=tcp"}]
metrics: {port: $metrics_port}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got OPTIONS" core.log && break; sleep 0.1; done

ua() { "$ua" "$1" 127.0.0.1 "$2" "${@:3}"; }

# --- over TCP: a call from a TCP user to a UDP user, and one the other way
ua udp "$sbc_port" bob register serve 6 >bob.out 2>&1 &
bob=$!
wait_line bob.out "REGISTER 200"
ua tcp "$sbc_port" alice register call sip:bob@example.com >alice.out 2>&1 || true
end_serve $bob bob.out
check "alice registers through the SBC and a TCP core" grep -qx "REGISTER 200" alice.out
check "bob registers too" grep -qx "REGISTER 200" bob.out
check "alice's call reaches bob through SBC, core (TCP) and SBC, and he answers" grep -qx "INVITE 200" alice.out
check "bob gets the INVITE, the ACK and the BYE" \
  bash -c 'grep -qx "INVITE received" bob.out && grep -qx "ACK received" bob.out && grep -qx "BYE received" bob.out'
check "the BYE is answered 200" grep -qx "BYE 200" alice.out
# The call's own requests (2 REGISTERs, INVITE, ACK, BYE), counted without the OPTIONS probes:
# how many probes came in meanwhile depends on how long the test took (every 5 s).
inside_tcp=$(grep -c "core got \(REGISTER\|INVITE\|ACK\|BYE\) .* over tcp" core.log || true)
inside_udp=$(grep -c "core got .* over udp" core.log || true)
check "the core got every request over TCP ($inside_tcp), none over UDP ($inside_udp)" \
  test "$inside_tcp" -ge 5 -a "$inside_udp" = 0
check "the core sees the SBC's TCP Via" grep -q "core via SIP/2.0/TCP 127.0.0.1:" core.log

ua tcp "$sbc_port" carol register serve 5 >carol.out 2>&1 &
carol=$!
wait_line carol.out "REGISTER 200"
ua udp "$sbc_port" dave register call sip:carol@example.com >dave.out 2>&1 || true
end_serve $carol carol.out
check "a call to a TCP user: the core's INVITE comes back over its connection to the SBC" grep -qx "INVITE 200" dave.out
check "carol receives INVITE, ACK and BYE" \
  bash -c 'grep -qx "INVITE received" carol.out && grep -qx "BYE received" carol.out'

curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt || true
opened=$(metric 'sbc_core_connections_total{event="opened"}')
failed=$(metric 'sbc_core_connections_total{event="failed"}')
check "connections are reused: at most one per worker opened to the core (${opened:-none})" \
  test "${opened:-0}" -ge 1 -a "${opened:-0}" -le 2
check "no connection failed (${failed:-none})" test "${failed:-1}" = 0
invites=$(metric 'sbc_relay_transaction_seconds_count{direction="outside_to_core",method="invite"}')
core_invites=$(metric 'sbc_relay_transaction_seconds_count{direction="core_to_outside",method="invite"}')
check "the transaction time of the INVITEs both ways is measured (${invites:-none}, ${core_invites:-none})" \
  test "${invites:-0}" -ge 2 -a "${core_invites:-0}" -ge 2

# --- a core that refuses connections: fail over at once, or 503 when it is the only one
cat >sbc2.yaml <<YAML
workers: 1
listeners: [{transport: udp, address: 127.0.0.1, port: $sbc2_port}]
core:
  targets:
    - {uri: "sip:127.0.0.1:$dead_port;transport=tcp", priority: 1}
    - {uri: "sip:127.0.0.1:$core_port;transport=tcp", priority: 2}
  probe_interval_ms: 0
  failover_timeout_ms: 600000   # only the transport error can move the request on
metrics: {port: $((base + 8))}
YAML
start_sbc sbc2 "http://127.0.0.1:$((base + 8))/readyz"
ua udp "$sbc2_port" erin register >erin.out 2>&1 || true
check "a refused connection sends the REGISTER to the next core" grep -qx "REGISTER 200" erin.out
curl -fsS "http://127.0.0.1:$((base + 8))/metrics" >metrics2.txt || true
errors=$(metric 'sbc_relay_transport_errors_total' metrics2.txt)
failovers=$(metric 'sbc_relay_failovers_total' metrics2.txt)
check "the transport error is counted (${errors:-none}) and caused the failover (${failovers:-none})" \
  test "${errors:-0}" -ge 1 -a "${failovers:-0}" -ge 1
check "the refusing core is marked down" grep -qx 'sbc_core_up{core="0"} 0' metrics2.txt

cat >sbc3.yaml <<YAML
workers: 1
listeners: [{transport: udp, address: 127.0.0.1, port: $sbc3_port}]
core:
  targets: [{uri: "sip:127.0.0.1:$dead_port;transport=tcp"}]
  probe_interval_ms: 0
metrics: {port: $((base + 9))}
YAML
start_sbc sbc3 "http://127.0.0.1:$((base + 9))/readyz"
ua udp "$sbc3_port" frank register >frank.out 2>&1 || true
check "with the only core refusing connections the SBC answers 503" grep -qx "REGISTER 503" frank.out

# --- over TLS: the core's certificate is checked against core.tls.ca_file and its address
cat >sbc4.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc4_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc4_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_tls;transport=tls"}]
  tls: {ca_file: $work/core.pem, certificate: {chain: $work/client.pem, key: $work/client.key}}
metrics: {port: $((base + 10))}
YAML
start_sbc sbc4 "http://127.0.0.1:$((base + 10))/readyz"
ua udp "$sbc4_port" gina register serve 6 >gina.out 2>&1 &
gina=$!
wait_line gina.out "REGISTER 200"
ua tcp "$sbc4_port" hank register call sip:gina@example.com >hank.out 2>&1 || true
end_serve $gina gina.out
check "hank registers through a TLS core" grep -qx "REGISTER 200" hank.out
check "his call reaches gina through SBC, core (TLS) and SBC" grep -qx "INVITE 200" hank.out
check "and ends with BYE 200" grep -qx "BYE 200" hank.out
check "the core got requests from the SBC over TLS" grep -q "core got INVITE .* over tls" core.log

# The same TLS core, but the SBC trusts another CA: nothing is sent to it. This SBC and the next
# ones whose only core must fail are waited for on /healthz (listening), not /readyz: /readyz
# turns 503 as soon as the first probe fails, often before it is first asked, and waiting for it
# then ran out wait_http's 15 s.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other.test \
  -days 1 -keyout other.key -out other.pem 2>/dev/null
sed -e "s#$work/core.pem#$work/other.pem#" -e "s/port: $sbc4_port/port: $((base + 11))/" \
  -e "s/port: $((base + 10))/port: $((base + 12))/" sbc4.yaml >sbc5.yaml
start_sbc sbc5 "http://127.0.0.1:$((base + 12))/healthz"
ua udp "$((base + 11))" ivan register >ivan.out 2>&1 || true
check "a core whose certificate does not verify gets nothing: 503" grep -qx "REGISTER 503" ivan.out
curl -fsS "http://127.0.0.1:$((base + 12))/metrics" >metrics5.txt || true
handshake_failed=$(metric 'sbc_core_connections_total{event="failed"}' metrics5.txt)
check "the failed handshake is counted" \
  awk -v v="${handshake_failed:-0}" 'BEGIN { exit !(v >= 1) }'

# The right CA but no client certificate: the core refuses the handshake.
sed -e "s#, certificate: {chain: $work/client.pem, key: $work/client.key}##" \
  -e "s/port: $sbc4_port/port: $((base + 13))/" -e "s/port: $((base + 10))/port: $((base + 14))/" \
  sbc4.yaml >sbc6.yaml
start_sbc sbc6 "http://127.0.0.1:$((base + 14))/healthz"
ua udp "$((base + 13))" judy register >judy.out 2>&1 || true
check "without its client certificate the SBC cannot reach a core that demands one: 503" \
  grep -qx "REGISTER 503" judy.out

# --- a TLS core by DNS name (dnsmasq): SRV _sips._tcp.core.test points at tlshost.test, and the
# certificate must carry the URI's name, core.test (RFC 5922), not the SRV target's nor the
# address's. wrong.test resolves to the same core, whose certificate does not carry that name.
dns_port=$((base + 15))
dnsmasq --no-daemon --port="$dns_port" --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --conf-file=/dev/null --user=root --pid-file= \
  --host-record=tlshost.test,127.0.0.1 --host-record=wrong.test,127.0.0.1 \
  --srv-host=_sips._tcp.core.test,tlshost.test,"$core_tls",10,1 >dns.log 2>&1 &
pids+=($!)
by_name() {  # by_name N URI: an SBC config on ports base+N, base+N+1 with that one TLS core
  cat <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $((base + $1))}
core:
  targets: [{uri: "$2"}]
  local_address: 127.0.0.1
  tls: {ca_file: $work/core.pem, certificate: {chain: $work/client.pem, key: $work/client.key}}
dns: {servers: ["127.0.0.1:$dns_port"], timeout_ms: 300}
metrics: {port: $((base + $1 + 1))}
YAML
}
by_name 16 "sip:core.test;transport=tls" >sbc7.yaml
start_sbc sbc7 "http://127.0.0.1:$((base + 17))/readyz"
# The name resolved (logged just before the workers get its address; 0.2 s for them to have it).
for _ in $(seq 100); do grep -q "core name core.test: " sbc7.log && break; sleep 0.05; done
sleep 0.2
ua udp "$((base + 16))" kate register >kate.out 2>&1 || true
check "a TLS core found by SRV (_sips._tcp) whose certificate names the URI's domain: 200" \
  grep -qx "REGISTER 200" kate.out
by_name 18 "sip:wrong.test:$core_tls;transport=tls" >sbc8.yaml
start_sbc sbc8 "http://127.0.0.1:$((base + 19))/healthz"
for _ in $(seq 100); do grep -q "core name wrong.test: " sbc8.log && break; sleep 0.05; done
sleep 0.2
ua udp "$((base + 18))" liam register >liam.out 2>&1 || true
check "the same core by a name its certificate does not carry gets nothing: 503" \
  grep -qx "REGISTER 503" liam.out

if [ "$failures" -ne 0 ]; then
  echo "--- dns.log"; cat dns.log 2>/dev/null || true
  for f in sbc*.log; do echo "--- $f"; cat "$f"; done
  echo "--- core.log (tail)"; tail -n 60 core.log
  for f in *.out; do echo "--- $f"; cat "$f"; done
fi
exit $((failures > 0))
