#!/usr/bin/env bash
# SIPS and TLS rules (policy.sips, relay.sips_end_to_end) with real peers: openssl s_client as a
# TLS client (with and without a client certificate), tests/tools/sip_ua over UDP, and Kamailio
# as the core over TLS. A domain that requires TLS is refused over UDP (403) and relayed over
# TLS; a sips: Request-URI over UDP gets 416, over TLS it reaches the core over TLS (RFC 5630: TLS
# on every hop), and an SBC whose core is not reached over TLS answers it 416; a trunk's address
# must show a verified client certificate (403 without one).
# usage: sips_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 28000 2000)
sbc_port=$base sbc_tls=$((base + 1)) core_port=$((base + 2)) core_tls=$((base + 3))
metrics_port=$((base + 4)) sbc2_port=$((base + 5)) sbc2_tls=$((base + 6))

# A CA; the SBC's and the core's certificates, and a trunk's client certificate, from it.
gen_key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=sips test CA" -days 2 -out ca.pem 2>/dev/null
issue sbc "/CN=sbc.test" "IP:127.0.0.1"
issue core "/CN=core.test" "IP:127.0.0.1"
issue trunk "/CN=trunk.test" "DNS:trunk.test"

kamailio_core_cfg "$core_port" "$core_tls" "$work/core.pem" "$work/core.key" >core.cfg
start_kamailio core

# 127.0.0.1 is the trunk here (client certificate required); user agents come from 127.0.0.2.
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: udp, address: 127.0.0.2, port: $sbc_port}
  - transport: tls
    address: 127.0.0.1
    port: $sbc_tls
    tls: {certificates: [{chain: $work/sbc.pem, key: $work/sbc.key}], client_ca: $work/ca.pem}
core:
  targets: [{uri: "sip:127.0.0.1:$core_tls;transport=tls"}]
  tls: {ca_file: $work/ca.pem}
policy:
  sips:
    domains: [secure.example.com]
    client_certificate_from: [127.0.0.1/32]
metrics: {port: $metrics_port}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got OPTIONS" core.log && break; sleep 0.1; done

# tls_request PORT REQUEST_URI [openssl options]: one OPTIONS over a TLS connection opened by
# openssl s_client (checking the SBC's certificate); prints the status line of the answer as soon
# as it arrives (within 8 s).
tls_request() {
  local port=$1 uri=$2
  shift 2
  printf 'OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:trunk@trunk.test>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s@trunk.test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$uri" "$RANDOM$RANDOM" "$RANDOM" "$uri" "$RANDOM$RANDOM" |
    tls_first_line 8 -connect "127.0.0.1:$port" -CAfile ca.pem -verify_return_error "$@" || true
}
trunk_cert=(-cert trunk.pem -key trunk.key)

# --- a domain that requires TLS
udp_domain=$(SIP_UA_LOCAL_ADDRESS=127.0.0.2 "$ua" udp 127.0.0.2 "$sbc_port" bob \
  request OPTIONS sip:bob@secure.example.com 2>&1 || true)
check "over UDP a request for a TLS-only domain gets 403 ($udp_domain)" grep -qx "OPTIONS 403" <<<"$udp_domain"
tls_domain=$(tls_request "$sbc_tls" sip:bob@secure.example.com "${trunk_cert[@]}")
check "over TLS it passes and the core answers (bob is not registered: 404) ($tls_domain)" \
  grep -q "^SIP/2.0 404" <<<"$tls_domain"

# --- sips: Request-URIs
udp_sips=$(SIP_UA_LOCAL_ADDRESS=127.0.0.2 "$ua" udp 127.0.0.2 "$sbc_port" bob \
  request OPTIONS sips:bob@example.com 2>&1 || true)
check "a sips: Request-URI over UDP gets 416 ($udp_sips)" grep -qx "OPTIONS 416" <<<"$udp_sips"
before=$(grep -c "core got OPTIONS sips:bob@example.com .* over tls" core.log || true)
tls_sips=$(tls_request "$sbc_tls" sips:bob@example.com "${trunk_cert[@]}")
check "over TLS it is relayed and answered by the core ($tls_sips)" grep -q "^SIP/2.0 404" <<<"$tls_sips"
after=$(grep -c "core got OPTIONS sips:bob@example.com .* over tls" core.log || true)
check "and reached the core over TLS (end to end)" test "$after" -gt "$before"

# --- the trunk's address must show a verified client certificate
no_cert=$(tls_request "$sbc_tls" sip:bob@example.com)
check "from the trunk's address without a client certificate: 403 ($no_cert)" grep -q "^SIP/2.0 403" <<<"$no_cert"
with_cert=$(tls_request "$sbc_tls" sip:bob@example.com "${trunk_cert[@]}")
check "with its certificate the request passes ($with_cert)" grep -q "^SIP/2.0 404" <<<"$with_cert"

# --- an SBC whose core is reached over UDP cannot keep a sips: promise: 416
cat >sbc2.yaml <<YAML
workers: 1
listeners:
  - transport: tls
    address: 127.0.0.1
    port: $sbc2_tls
    tls: {certificates: [{chain: $work/sbc.pem, key: $work/sbc.key}]}
  - {transport: udp, address: 127.0.0.1, port: $sbc2_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
metrics: {port: $((base + 7))}
YAML
start_sbc sbc2 "http://127.0.0.1:$((base + 7))/readyz"
udp_core=$(tls_request "$sbc2_tls" sips:bob@example.com)
check "sips: toward a UDP core gets 416 ($udp_core)" \
  grep -q "^SIP/2.0 416 Unsupported URI Scheme (no TLS path to the core)" <<<"$udp_core"
plain=$(tls_request "$sbc2_tls" sip:bob@example.com)
check "a sip: request through the same SBC is relayed ($plain)" grep -q "^SIP/2.0 404" <<<"$plain"
curl -fsS "http://127.0.0.1:$((base + 7))/metrics" >metrics2.txt || true
check "the 416 is counted" grep -qx 'sbc_relay_rejections_total{reason="sips_no_tls"} 1' metrics2.txt

if [ "$failures" -ne 0 ]; then
  for f in sbc*.log; do echo "--- $f"; cat "$f"; done
  echo "--- core.log (tail)"; tail -n 40 core.log
fi
exit $((failures > 0))
