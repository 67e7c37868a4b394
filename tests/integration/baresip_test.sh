#!/usr/bin/env bash
# Real user agents over TLS: two baresip instances register through the SBC's TLS listener to a
# Kamailio core (Path stored), then alice calls bob: the INVITE goes SBC -> core -> SBC and down
# bob's own TLS connection (Path), bob answers automatically, media flows between them, alice
# hangs up and bob gets the BYE. baresip cannot dial sips: URIs, so sip:...;transport=tls is what
# it uses (see ../shared/TEST-PEERS.md for its traps). The edge authenticates both users with
# Digest (401 for REGISTER, 407 for INVITE) and asserts their identity to the core.
# usage: baresip_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 26000 1500)
sbc_udp=$base sbc_tls=$((base + 1)) core_port=$((base + 2)) metrics_port=$((base + 3))
ua_base=$base
while [ "$ua_base" = "$base" ]; do ua_base=$(free_port_base 26000 1500); done
rtp_base=$base
while [ "$rtp_base" = "$base" ] || [ "$rtp_base" = "$ua_base" ]; do
  rtp_base=$(free_port_base 44000 1500)
done

kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core
# The users' credentials as operators make them: HA1 lines from `sbc ha1`, no passwords stored.
"$sbc" ha1 alice example.com <<<"alice-secret" >users.txt
"$sbc" ha1 bob example.com <<<"bob-secret" >>users.txt
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_udp}
  - {transport: tls, address: 127.0.0.1, port: $sbc_tls}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {port: $metrics_port}
policy:
  chain: [acl, scanner, rate_limit, sips, methods, auth]
  # baresip 1.0 (libre) gives up on the first challenge whose algorithm it lacks instead of
  # taking the next one (RFC 8760 2.4): it only does MD5, so only MD5 is offered here.
  # baresip's accounts are sip:USER@127.0.0.1 (the SBC's address as the domain): an alias.
  auth: {realm: example.com, credentials_file: $work/users.txt, algorithms: [MD5],
         domains: [example.com, 127.0.0.1]}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"

baresip_modules=$(dirname "$(find /usr/lib -name account.so -path '*baresip*' | head -n1)")
make_ua() {  # make_ua NAME SIP_PORT RTP_PORT EXTRA_ACCOUNT_PARAMS (TLS listens on SIP_PORT+1)
  mkdir -p "$1"
  cat >"$1/config" <<CFG
poll_method epoll
sip_listen 127.0.0.1:$2
net_interface 127.0.0.1
dns_server 127.0.0.1:53
audio_player aubridge,$1
audio_source ausine,440
audio_alert aubridge,$1
rtp_ports $3-$(($3 + 9))
module_path $baresip_modules
module g711.so
module opus.so
module ausine.so
module aubridge.so
module_tmp account.so
module_app menu.so
CFG
  echo "<sip:$1@127.0.0.1;transport=tls>;auth_user=$1;auth_pass=$1-secret;regint=60;audio_codecs=opus/48000/2;$4outbound=\"sip:127.0.0.1:$sbc_tls;transport=tls\"" >"$1/accounts"
}
make_ua bob "$ua_base" "$rtp_base" "answermode=auto;"
make_ua alice "$((ua_base + 2))" "$((rtp_base + 10))" ""

baresip -s -f bob -t 12 </dev/null >bob.log 2>&1 &
bob=$!
for _ in $(seq 50); do grep -q "bob@127.0.0.1: {0/TLS/v4} 200 OK" bob.log && break; sleep 0.1; done
baresip -f alice -t 5 -e "/dial sip:bob@127.0.0.1" </dev/null >alice.log 2>&1 || true
wait "$bob" || true
tr -d '\r' <bob.log >bob.txt

check "bob registers over TLS through the SBC" grep -q "bob@127.0.0.1: {0/TLS/v4} 200 OK" bob.log
check "alice registers over TLS through the SBC" grep -q "alice@127.0.0.1: {0/TLS/v4} 200 OK" alice.log
check "alice's call is established" grep -q "Call established: sip:bob@127.0.0.1;transport=tls" alice.log
check "bob's side is established (the core's INVITE came down his TLS connection)" \
  grep -q "bob@127.0.0.1: Call established: sip:alice@127.0.0.1" bob.log
check "media flowed (bob received RTP)" grep -q "incoming rtp for 'audio' established" bob.log
check "bob got the BYE through SBC and core when alice hung up" grep -q "^BYE sip:bob" bob.txt
check "and the call ended on both sides" \
  bash -c 'grep -q "terminated (duration" alice.log && grep -q "terminated (duration" bob.log'
check "the core saw the INVITE, ACK and BYE from the SBC" \
  bash -c 'grep -q "core got INVITE sip:bob" core.log && grep -q "core got ACK" core.log && grep -q "core got BYE" core.log'
# What bob received never shows the core's address:port (topology hiding).
check "nothing bob received shows the core (127.0.0.1:$core_port)" \
  bash -c "! grep -q '127.0.0.1:$core_port' bob.txt"
check "the core got each user's identity from the SBC, not their credentials" \
  bash -c 'grep -q "core identity REGISTER pai=<sip:bob@example.com> authorization=<null>" core.log &&
           grep -q "core identity INVITE pai=<sip:alice@example.com> authorization=<null> proxy-authorization=<null>" core.log'
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
successes=$(metric 'sbc_auth_successes_total')
challenges=$(metric 'sbc_policy_decisions_total{stage="auth",reason="challenge"}')
check "the edge challenged (${challenges:-0}) and accepted (${successes:-0}) their Digest answers" \
  bash -c "[ '${challenges:-0}' -ge 3 ] && [ '${successes:-0}' -ge 3 ]"
tls=$(metric 'sbc_messages_received_total{transport="tls"}')
check "the SBC counted the TLS traffic (tls=$tls)" test "${tls:-0}" -ge 8

if [ "$failures" -ne 0 ]; then
  for f in sbc.log alice.log bob.txt; do echo "--- $f"; tail -n 60 "$f"; done
  echo "--- core.log"; grep "core got" core.log || true
fi
exit $((failures > 0))
