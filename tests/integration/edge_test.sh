#!/usr/bin/env bash
# The edge against real clients on loopback: sipsak (UDP, TCP, TLS), openssl s_client (TLS
# versions, SNI, mutual TLS, certificate reload), and sip_probe (invalid messages over every
# transport, 1000 idle connections, a slowloris client).
# usage: edge_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

work=$(mktemp -d)
sbc_pid=""
cleanup() {
  [ -n "$sbc_pid" ] && kill "$sbc_pid" 2>/dev/null || true
  jobs -p | xargs -r kill 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Ports: four free ones from a range no service here uses; loopback only.
base=$(free_port_base 20000 2000)
udp_port=$base tcp_port=$base tls_port=$((base + 1)) mtls_port=$((base + 2)) metrics_port=$((base + 3))

# --- certificates: a CA, two server certificates for SNI, a client one, an unknown client one
cd "$work"
gen_key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=sbc test CA" -days 2 -out ca.pem 2>/dev/null
issue a "/CN=a.test" "DNS:a.test"
issue b "/CN=b.test" "DNS:b.test"
issue a2 "/CN=a.test/O=reloaded" "DNS:a.test"
issue client "/CN=trunk.test" "DNS:trunk.test"
gen_key rogue.key
openssl req -x509 -new -key rogue.key -subj "/CN=rogue" -days 2 -out rogue.pem 2>/dev/null
cp a.pem served.pem
cp a.key served.key

cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $udp_port}
  - {transport: tcp, address: 127.0.0.1, port: $tcp_port}
  - transport: tls
    address: 127.0.0.1
    port: $tls_port
    tls:
      certificates:
        - {chain: $work/served.pem, key: $work/served.key}
        - {chain: $work/b.pem, key: $work/b.key}
  - transport: tls
    address: 127.0.0.1
    port: $mtls_port
    tls:
      certificates: [{chain: $work/a.pem, key: $work/a.key}]
      client_ca: $work/ca.pem
      require_client_certificate: true
transport:
  first_byte_timeout_ms: 3000
  message_timeout_ms: 2000
  max_connections_per_source: 3000
  shutdown_grace_ms: 1500
  certificate_poll_ms: 0
metrics: {address: 127.0.0.1, port: $metrics_port}
YAML
"$sbc" check-config sbc.yaml >/dev/null
start_sbc sbc
for _ in $(seq 50); do grep -q "sbc started" sbc.log && break; sleep 0.1; done
grep -q "sbc started" sbc.log || { cat sbc.log; echo "FAIL - sbc did not start"; exit 1; }

options() {  # options TRANSPORT: a valid OPTIONS to the SBC itself
  printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:5999;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$1" "$RANDOM$RANDOM" "$RANDOM"
}
tls_send() {  # tls_send PORT FILE [openssl options...]: first line of the answer (within 5 s)
  local port=$1 file=$2
  shift 2
  tls_first_line 5 -connect "127.0.0.1:$port" "$@" <"$file" || true
}
served_subject() {  # served_subject PORT [openssl options...]
  local port=$1
  shift
  timeout 5 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null || true
}
export -f served_subject

# --- OPTIONS pings from sipsak over each transport
export GNUTLS_SYSTEM_PRIORITY_FILE=$work/gnutls.cfg  # sipsak reads no TLS 1.3 replies
printf '[overrides]\ndisabled-version = tls1.3\n' >"$GNUTLS_SYSTEM_PRIORITY_FILE"
check "sipsak OPTIONS over UDP gets 200" timeout 10 sipsak -s "sip:127.0.0.1:$udp_port"
check "sipsak OPTIONS over TCP gets 200" timeout 10 sipsak --transport=tcp -s "sip:127.0.0.1:$tcp_port"
check "sipsak OPTIONS over TLS gets 200" timeout 10 sipsak --transport=tls --tls-ignore-cert-failure \
  -s sip:127.0.0.1 -r "$tls_port"

# --- TLS versions: 1.0 and 1.1 refused, 1.2 and 1.3 accepted
for v in tls1 tls1_1; do
  check "openssl s_client -$v is refused" \
    bash -c "! timeout 5 openssl s_client -connect 127.0.0.1:$tls_port -$v </dev/null >/dev/null 2>&1"
done
for v in tls1_2 tls1_3; do
  want=$([ $v = tls1_2 ] && echo TLSv1.2 || echo TLSv1.3)
  check "openssl s_client -$v is accepted ($want)" \
    bash -c "timeout 5 openssl s_client -brief -connect 127.0.0.1:$tls_port -$v </dev/null 2>&1 | grep -q 'Protocol version: $want'"
done

# --- session resumption: a second connection resumes the first one's session (ticket or cache)
for v in tls1_2 tls1_3; do
  # sleep: TLS 1.3 tickets arrive after the handshake, the client must still be reading
  sleep 1 | timeout 5 openssl s_client -connect "127.0.0.1:$tls_port" -$v -sess_out "sess_$v.pem" >/dev/null 2>&1 || true
  check "TLS session resumption ($v)" bash -c "timeout 5 openssl s_client -connect 127.0.0.1:$tls_port -$v -sess_in $work/sess_$v.pem </dev/null 2>/dev/null | grep -q '^Reused'"
done

# --- SNI picks the certificate
check "SNI a.test gets a.test" bash -c "[[ \"\$(served_subject $tls_port -servername a.test)\" == *CN*=*a.test* ]]"
check "SNI b.test gets b.test" bash -c "[[ \"\$(served_subject $tls_port -servername b.test)\" == *CN*=*b.test* ]]"
check "no SNI gets the default (a.test)" bash -c "[[ \"\$(served_subject $tls_port -noservername)\" == *CN*=*a.test* ]]"

# --- mutual TLS
options TLS >opt_tls.sip
answer=$(tls_send "$mtls_port" opt_tls.sip -cert client.pem -key client.key)
check "mutual TLS with a client certificate from the CA is served ($answer)" [ "$answer" = "SIP/2.0 200 OK" ]
answer=$(tls_send "$mtls_port" opt_tls.sip -cert rogue.pem -key rogue.key || true)
check "mutual TLS rejects an unknown client certificate" [ -z "$answer" ]
answer=$(tls_send "$mtls_port" opt_tls.sip || true)
check "mutual TLS rejects a client without certificate" [ -z "$answer" ]

# --- invalid messages get the right status over every transport
for case in badvers:505 unkscm:416 bext01:420 mismatch01:400 escruri:400 zeromf:483; do
  name=${case%%:*} status=${case##*:}
  file="$corpus/rfc4475/$name.dat"
  got=$("$probe" udp 127.0.0.1 "$udp_port" "$file" | cut -d' ' -f2)
  check "$name over UDP gets $status" [ "$got" = "$status" ]
  got=$("$probe" tcp 127.0.0.1 "$tcp_port" "$file" | head -n 1 | cut -d' ' -f2)
  check "$name over TCP gets $status" [ "$got" = "$status" ]
  got=$(tls_send "$tls_port" "$file" | cut -d' ' -f2)
  check "$name over TLS gets $status" [ "$got" = "$status" ]
done
got=$("$probe" udp 127.0.0.1 "$udp_port" "$corpus/rfc4475/bigcode.dat" 500 || true)
check "an invalid response over UDP is dropped silently" [ "$got" = "timeout" ]
# Over a stream, a message without Content-Length cannot be framed: 400, then the server closes.
printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKncl\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ncl@probe\r\nCSeq: 1 OPTIONS\r\n\r\n' >no_length.sip
got=$("$probe" tcp 127.0.0.1 "$tcp_port" no_length.sip | tr '\n' '|')
check "TCP without Content-Length gets 400 and is closed ($got)" [ "$got" = "SIP/2.0 400 Missing Content-Length (required over TCP and TLS)|closed|" ]

# --- 1000 idle connections do not stop a legitimate client; the first-byte deadline closes them
"$probe" idle 127.0.0.1 "$tcp_port" 1000 5 >idle.out &
idle_pid=$!
for _ in $(seq 50); do grep -q "^open" idle.out && break; sleep 0.1; done
check "1000 idle connections were accepted ($(head -n 1 idle.out))" grep -q "^open 1000$" idle.out
sleep 1.1  # the connection gauge is refreshed every second
open_tcp=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  metric 'sbc_connections_active{transport="tcp"}' -)
check "the open connections are counted by transport (tcp: ${open_tcp:-none})" \
  test "${open_tcp:-0}" -ge 900
check "a TCP client is served while 1000 connections idle" timeout 10 sipsak --transport=tcp -s "sip:127.0.0.1:$tcp_port"
check "a UDP client is served while 1000 connections idle" timeout 10 sipsak -s "sip:127.0.0.1:$udp_port"
wait "$idle_pid" || true
check "the first-byte deadline closed the idle connections ($(tail -n 1 idle.out))" grep -q "^alive 0$" idle.out

# --- a slowloris client is cut off at the message deadline (2 s), not kept forever
got=$("$probe" slow 127.0.0.1 "$tcp_port" 150 || true)
ms=${got##* }
check "a slowloris client is closed at the message deadline ($got)" \
  bash -c "[[ '$got' == closed* ]] && [ $ms -ge 1500 ] && [ $ms -le 4000 ]"

# --- certificate reload: a new connection sees the new certificate, an old one keeps working
mkfifo old_in
(timeout 20 openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername a.test <old_in >old_out 2>/dev/null) &
exec 7>old_in
options TLS >&7
for _ in $(seq 30); do grep -q "SIP/2.0 200" old_out 2>/dev/null && break; sleep 0.1; done
cp a2.pem served.pem
cp a2.key served.key
kill -HUP "$sbc_pid"
for _ in $(seq 30); do grep -q "certificates reloaded" sbc.log && break; sleep 0.1; done
check "SIGHUP reloads the certificates" grep -q "SIGHUP: certificates reloaded" sbc.log
check "a new connection sees the new certificate" \
  bash -c "[[ \"\$(served_subject $tls_port -servername a.test)\" == *reloaded* ]]"
options TLS >&7
for _ in $(seq 30); do [ "$(grep -c "SIP/2.0 200" old_out)" -ge 2 ] && break; sleep 0.1; done
check "the old connection keeps working after the reload" [ "$(grep -c "SIP/2.0 200" old_out)" -eq 2 ]
exec 7>&-

# A broken certificate file keeps the old certificate and says why.
echo "not a certificate" >served.pem
kill -HUP "$sbc_pid"
for _ in $(seq 30); do grep -q "reload failed" sbc.log && break; sleep 0.1; done
check "a bad new certificate is refused and logged" grep -q "certificate reload failed, keeping the old certificates" sbc.log
check "after a refused reload the old certificate still serves" \
  bash -c "[[ \"\$(served_subject $tls_port -servername a.test)\" == *reloaded* ]]"

# --- metrics and health endpoints, checked by promtool and against the traffic above
metrics_url=http://127.0.0.1:$metrics_port
logged_url=$(grep -o 'metrics on http://[^ "]*' sbc.log | head -n 1 | cut -d' ' -f3)
check "the start-up log names the metrics URL as curl takes it ($logged_url)" \
  bash -c "[ '$logged_url' = '$metrics_url/metrics' ] && curl -fsS -o /dev/null '$logged_url'"
check "/healthz answers 200" curl -fsS -o /dev/null "$metrics_url/healthz"
check "/readyz answers 200 while serving" curl -fsS -o /dev/null "$metrics_url/readyz"
curl -fsS "$metrics_url/metrics" >metrics.txt
check "promtool check metrics accepts the exposition" bash -c "promtool check metrics <metrics.txt"
check "invalid messages answered are counted ($(metric 'sbc_invalid_messages_total{action="answered"}'))" \
  awk -v v="$(metric 'sbc_invalid_messages_total{action="answered"}')" 'BEGIN { exit !(v >= 18) }'
check "TLS messages are counted ($(metric 'sbc_messages_received_total{transport="tls"}'))" \
  awk -v v="$(metric 'sbc_messages_received_total{transport="tls"}')" 'BEGIN { exit !(v >= 6) }'
check "OPTIONS answered are counted ($(metric sbc_options_answered_total))" \
  awk -v v="$(metric sbc_options_answered_total)" 'BEGIN { exit !(v >= 5) }'
check "the certificate expiry is exported" grep -q "^sbc_tls_certificate_expiry_timestamp_seconds{listener=\"127.0.0.1:$tls_port\",port=\"$tls_port\"}" metrics.txt
ok13=$(metric 'sbc_tls_handshakes_total{result="ok",version="TLSv1.3"}')
ok12=$(metric 'sbc_tls_handshakes_total{result="ok",version="TLSv1.2"}')
refused=$(metric 'sbc_tls_handshakes_total{result="failed",version="none"}')
check "TLS handshakes are counted by version (1.3: $ok13, 1.2: $ok12)" \
  awk -v a="${ok13:-0}" -v b="${ok12:-0}" 'BEGIN { exit !(a >= 1 && b >= 1) }'
check "refused handshakes (TLS 1.0/1.1, unknown client certificates) are counted ($refused)" \
  awk -v v="${refused:-0}" 'BEGIN { exit !(v >= 2) }'

# --- SIGTERM drains (not ready any more) and exits 0
kill -TERM "$sbc_pid"
sleep 0.3
code=$(curl -s -o /dev/null -w '%{http_code}' "$metrics_url/readyz" || true)
check "/readyz answers 503 while draining (got $code)" [ "$code" = "503" ]
status=0
wait "$sbc_pid" || status=$?
sbc_pid=""
check "SIGTERM stops the SBC with exit status 0 (got $status)" [ "$status" -eq 0 ]

if [ "$failures" -ne 0 ]; then
  echo "--- sbc log"
  cat sbc.log
  echo "edge_test: $failures checks failed"
  exit 1
fi
echo "edge_test: all checks passed"
