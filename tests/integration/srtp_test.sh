#!/usr/bin/env bash
# SDES-SRTP at the border (media.srtp), through a real rtpengine in user space on loopback (its
# interface "outside" on 127.0.0.2, "inside" on 127.0.0.3), Kamailio as the core. The SBC's TLS
# listener requires SRTP; its UDP listener does not.
# 1. alice (srtp_ua.py over TLS, 127.0.0.21) calls bob (sip_ua over UDP, 127.0.0.22) with an SDES
#    offer: the core and bob get plain RTP/AVP without a=crypto (the core rtpengine's inside
#    address, bob its outside one); alice's 200 is RTP/SAVP with rtpengine's own a=crypto and
#    outside address; SRTP from alice (her key) reaches bob's media socket as RTP with the same
#    payload, RTP from bob reaches alice as SRTP that authenticates and decrypts with the key of
#    her 200; BYE 200 and rtpengine forgets the call.
# 2. alice offers plain RTP/AVP on that listener: "488 Not Acceptable Here (SRTP required)",
#    never at the core nor at rtpengine, counted in sbc_media_srtp_refused_total.
# 3. carol, registered over TLS (srtp_ua.py serve, 127.0.0.23), is called by alice over UDP
#    (sip_ua): carol's offer is RTP/SAVP with rtpengine's a=crypto, her RTP/SAVP answer with her
#    own completes the call, alice's 200 is RTP/AVP without a=crypto; RTP both ways as in 1.
# srtp_ua.py checks its own SRTP against RFC 3711's test vectors first ("SRTP self-test ok").
# usage: srtp_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua PATH/TO/ng_ctl
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")
ng_ctl=$(readlink -f "$5")
srtp_ua=$(dirname "$(readlink -f "$0")")/srtp_ua.py

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 37000 500)
sbc_port=$base tls_port=$((base + 1)) core_port=$((base + 2)) metrics_port=$((base + 3))
ng_base=$base
while [ "$ng_base" = "$base" ]; do ng_base=$(free_port_base 37000 500); done
ng_addr=127.0.0.1:$ng_base
rtp_min=$(free_port_base 54000 300)  # rtpengine's ports, on its own addresses: rtp_min..+19
alice_ip=127.0.0.21 bob_ip=127.0.0.22 carol_ip=127.0.0.23 outside_ip=127.0.0.2 inside_ip=127.0.0.3


# --- rtpengine, the core (it logs the c= and m= lines of every SDP it gets, and whether it has a
# crypto attribute), the SBC
start_rtpengine "$ng_addr" "$rtp_min" "$outside_ip" "$inside_ip"
check "rtpengine answers ng ping" ng_ping

kamailio_core_cfg "$core_port" | sed -e 's/^  xlog("L_INFO", "core via .*/&\n  route(SDP);/' >core.cfg
cat >>core.cfg <<'CFG'
route[SDP] {
  $var(crypto) = "no";
  if (search_body("a=crypto")) $var(crypto) = "yes";
  if (has_body("application/sdp")) xlog("L_INFO", "core sdp $rm $(rb{line.sw,c=}) | $(rb{line.sw,m=}) | crypto=$var(crypto)\n");
}
onreply_route {
  $var(crypto) = "no";
  if (search_body("a=crypto")) $var(crypto) = "yes";
  if (has_body("application/sdp")) xlog("L_INFO", "core sdp reply $rs $(rb{line.sw,c=}) | $(rb{line.sw,m=}) | crypto=$var(crypto)\n");
}
CFG
start_kamailio core

cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tls, address: 127.0.0.1, port: $tls_port}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {address: 127.0.0.1, port: $metrics_port}
admin: {socket: "$work/sbc.sock"}
media:
  enabled: true
  rtpengine: [{address: "$ng_addr", weight: 1}]
  timeout_ms: 500
  retries: 1
  on_failure: reject
  interfaces: {outside: outside, inside: inside}
  srtp: [{port: $tls_port, mode: required}]
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
check "the SBC is ready with media.srtp configured" curl -fsS -o /dev/null "http://127.0.0.1:$metrics_port/readyz"
wait_for 5 grep -q "core got OPTIONS" core.log || true

# Every user agent run is bounded; the _bg ones run in the background, $! the PID of `timeout`.
ua_bg() { timeout 30 "$ua" udp 127.0.0.1 "$@" & }
srtp_call() {  # srtp_call NAME ARGS...: alice over TLS, her output in NAME.out, dump in NAME.dump
  local name=$1
  shift
  timeout 30 /usr/bin/python3 "$srtp_ua" call 127.0.0.1 "$tls_port" sip:bob@example.com \
    --local $alice_ip --dump "$name.dump" "$@" >"$name.out" 2>&1
}
core_sdp() { grep -o 'core sdp .*' core.log | tr -d '\r' || true; }
# dump_part FILE FIRST_LINE_REGEX: the messages of a dump whose first line matches, CR removed.
dump_part() {
  awk -v first="$2" '/^----$/ {started = 0; next} !started {started = 1; m = ($0 ~ first)}
    m {sub(/\r$/, ""); print}' "$1" 2>/dev/null || true
}
rtp_ok() {  # rtp_ok FILE: at least 20 of 30 packets through each way, intact
  awk '$1 == "srtp_to_plain" {a = $7 >= 20} $1 == "plain_to_srtp" {b = $7 >= 20 && $9 >= 20}
    END {exit !(a && b)}' "$1"
}
call_id_of() {  # call_id_of DUMP: the Call-ID of the first message in a dump
  awk 'tolower($0) ~ /^(call-id|i):/ {sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit}' "$1"
}
# lacks FILE REGEX: FILE has something (so the check cannot pass on nothing) but no line matching.
lacks() { test -s "$1" && ! grep -qE "$2" "$1"; }
answered() { grep -q '^INVITE [2-6]' "$1"; }  # a user agent's output shows a final answer

# --- 1. alice (SDES over TLS) calls bob (plain RTP over UDP)
SIP_UA_LOCAL_ADDRESS=$bob_ip SIP_UA_ANSWER_SDP=1 SIP_UA_DUMP=bob.dump \
  ua_bg "$sbc_port" bob register serve 25 >bob.out 2>&1
bob=$!
wait_for 5 grep -q "^REGISTER" bob.out || true
check "bob registers over UDP" grep -qx "REGISTER 200" bob.out
srtp_call alice --plain-media $bob_ip:40000 --plain-dump bob.dump --hold 2 &
alice=$!
wait_for 15 grep -q "^INVITE [2-6]\|^CONNECT" alice.out || true  # then 2.6 s of call at least
"$ng_ctl" "$ng_addr" list >list-during.out 2>&1 || true
wait "$alice" || true
touch alice.dump bob.dump
call_id=$(call_id_of alice.dump)
echo "  (alice: $(tr '\n' ';' <alice.out))"
check "srtp_ua.py's SRTP passes RFC 3711's test vectors" grep -qx "SRTP self-test ok" alice.out
check "alice's SDES call over TLS is answered (INVITE 200)" grep -qx "INVITE 200" alice.out
check "rtpengine lists the leg from the outside during the call: ${call_id:-?}~o" \
  grep -qx "instance 0 call ${call_id:-none}~o" list-during.out
core_sdp >core-sdp.txt
echo "  (the core got: $(tr '\n' ';' <core-sdp.txt))"
check "the core got the offer as RTP/AVP, without a=crypto, at rtpengine's inside address" \
  grep -qE "^core sdp INVITE c=IN IP4 $inside_ip \| m=audio [0-9]+ RTP/AVP 0 \| crypto=no\$" core-sdp.txt
check "and the answer (200) likewise" \
  grep -qE "^core sdp reply 200 c=IN IP4 $inside_ip \| m=audio [0-9]+ RTP/AVP 0 \| crypto=no\$" core-sdp.txt
check "the core never saw SAVP nor a=crypto" lacks core-sdp.txt 'SAVP|crypto=yes'
dump_part bob.dump '^INVITE ' >bob-invite.txt
echo "  (bob's offer: $(grep -E '^(c|m|a)=' bob-invite.txt | tr '\n' ';'))"
check "bob's offer is RTP/AVP" grep -qE '^m=audio [0-9]+ RTP/AVP 0$' bob-invite.txt
check "without a=crypto" lacks bob-invite.txt '^a=crypto'
check "at rtpengine's outside address" grep -qx "c=IN IP4 $outside_ip" bob-invite.txt
check "naming neither alice nor rtpengine's inside address" lacks bob-invite.txt "$alice_ip|$inside_ip"
check "alice's 200 is RTP/SAVP" grep -qE '^ANSWER m=audio [0-9]+ RTP/SAVP 0$' alice.out
dump_part alice.dump '^SIP/2.0 200' >alice-200.txt
check "with rtpengine's a=crypto AES_CM_128_HMAC_SHA1_80" \
  grep -qE '^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/=]{40}' alice-200.txt
check "its key is not alice's own" grep -qx "ANSWER KEY other" alice.out
check "at rtpengine's outside address" grep -qx "ANSWER c=IN IP4 $outside_ip" alice.out
check "SRTP from alice reaches bob as RTP, RTP from bob reaches alice as SRTP that authenticates, same payloads" \
  rtp_ok alice.out
check "alice's call ends with BYE 200" grep -qx "BYE 200" alice.out
no_call() {
  [ -n "$call_id" ] && "$ng_ctl" "$ng_addr" list >calls.out 2>&1 && ! grep -qF "call $call_id~" calls.out
}
wait_for 5 no_call || true
check "after the BYE rtpengine lists no session of the call" no_call

# --- 2. a plain RTP/AVP offer on the TLS listener (SRTP required): 488
offers() { grep -c "Received command 'offer'" rtpengine.log || true; }
invites_before=$(grep -c "core got INVITE" core.log || true) offers_before=$(offers)
srtp_call alice2 --no-srtp || true
touch alice2.dump
echo "  (alice2: $(tr '\n' ';' <alice2.out))"
check "a plain offer over TLS gets INVITE 488" grep -qx "INVITE 488" alice2.out
check "reason phrase: Not Acceptable Here (SRTP required)" \
  grep -q "^SIP/2.0 488 Not Acceptable Here (SRTP required)" alice2.dump
sleep 0.3  # anything sent on to the core would have reached it by now
invites_after=$(grep -c "core got INVITE" core.log || true) offers_after=$(offers)
# unchanged BEFORE AFTER: alice2 got an answer (not the silence of an SBC that is not there) and
# the count did not move.
unchanged() { answered alice2.out && [ "$1" = "$2" ]; }
check "the core never got that INVITE ($invites_before INVITEs before, $invites_after after)" \
  unchanged "$invites_before" "$invites_after"
check "nor did rtpengine ($offers_before offers before, $offers_after after)" \
  unchanged "$offers_before" "$offers_after"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt 2>/dev/null || : >metrics.txt
refused=$(awk '$1 ~ /^sbc_media_srtp_refused_total($|\{)/ {n += $2} END {print n + 0}' metrics.txt)
grep '^sbc_media_srtp' metrics.txt | sed 's/^/  /' || true
check "counted in sbc_media_srtp_refused_total ($refused)" test "$refused" -ge 1
kill "$bob" 2>/dev/null || true
wait "$bob" 2>/dev/null || true

# --- 3. toward the outside: carol, registered over TLS, is called by alice over UDP
timeout 30 /usr/bin/python3 "$srtp_ua" serve 127.0.0.1 "$tls_port" carol 20 --local $carol_ip \
  --dump carol.dump --plain-media $alice_ip:40000 --plain-dump alice3.dump >carol.out 2>&1 &
carol=$!
wait_for 5 grep -q "^REGISTER" carol.out || true
check "carol registers over TLS" grep -qx "REGISTER 200" carol.out
touch alice3.out
if grep -qx "REGISTER 200" carol.out; then  # (else the call would only wait out its timeout)
  SIP_UA_LOCAL_ADDRESS=$alice_ip SIP_UA_DUMP=alice3.dump \
    timeout 30 "$ua" udp 127.0.0.1 "$sbc_port" alice hold 3000 call sip:carol@example.com >alice3.out 2>&1 || true
fi
wait "$carol" || true
touch alice3.dump
echo "  (carol: $(tr '\n' ';' <carol.out); alice3: $(tr '\n' ';' <alice3.out))"
check "alice's plain call to carol is answered (INVITE 200)" grep -qx "INVITE 200" alice3.out
check "carol's offer is RTP/SAVP" grep -qE '^OFFER m=audio [0-9]+ RTP/SAVP 0$' carol.out
dump_part carol.dump '^INVITE ' >carol-invite.txt
check "with rtpengine's a=crypto AES_CM_128_HMAC_SHA1_80" \
  grep -qE '^a=crypto:[0-9]+ AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/=]{40}' carol-invite.txt
check "at rtpengine's outside address" grep -qx "OFFER c=IN IP4 $outside_ip" carol.out
check "offering no suite without encryption (NULL) nor F8, and no DTLS" \
  bash -c "test -s carol-invite.txt && ! grep -qE 'NULL_HMAC|F8_128|^a=fingerprint|^a=setup' carol-invite.txt"
dump_part alice3.dump '^SIP/2.0 200' >alice3-200.txt
echo "  (alice's 200: $(grep -E '^(c|m|a)=' alice3-200.txt | tr '\n' ';'))"
check "alice's 200 is RTP/AVP" grep -qE '^m=audio [0-9]+ RTP/AVP 0$' alice3-200.txt
check "without a=crypto" lacks alice3-200.txt '^a=crypto'
check "RTP from alice reaches carol as SRTP that authenticates, SRTP from carol reaches alice as RTP" \
  rtp_ok carol.out
check "the call ends with BYE 200 at alice" grep -qx "BYE 200" alice3.out
check "and carol got the BYE" grep -qx "BYE received" carol.out
core_sdp >core-sdp.txt
check "the core never saw SAVP nor a=crypto in either call" lacks core-sdp.txt 'SAVP|crypto=yes'

if [ "$failures" -ne 0 ]; then
  for f in sbc.log alice.out bob.out alice2.out carol.out alice3.out rtpengine.log; do
    echo "--- $f"; tail -n 20 "$f" || true
  done
  echo "--- core.log"; grep "core got\|core sdp" core.log | grep -v OPTIONS | tail -n 20 || true
  echo "$failures check(s) failed"
  exit 1
fi
echo "all SRTP checks passed"
