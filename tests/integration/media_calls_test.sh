#!/usr/bin/env bash
# The events of an anchored call (the `media` section) through a real rtpengine, user space, on
# loopback (interface "outside" 127.0.0.2, "inside" 127.0.0.3), Kamailio as the core and
# tests/tools/sip_ua as the user agents: alice 127.0.0.21 calls bob 127.0.0.22 (who answers with
# SDP), carol 127.0.0.23 (who only rings) and dave 127.0.0.24 (who is busy):
# - hold and resume: two re-INVITEs (a=sendonly, then a=sendrecv) get 200; both sessions of the
#   call (CALLID~o, CALLID~i) stay; bob gets each offer from rtpengine's outside address with its
#   direction, the core sees only the inside one; every INVITE is offered on both legs (6 offers
#   ok for the call); RTP flows both ways after the resume; after the BYE the sessions are gone;
# - CANCEL while carol rings: CANCEL 200 and INVITE 487, both legs were offered, their sessions
#   are deleted and sbc_media_sessions_active is 0 again; likewise for dave's 486 Busy Here;
# - a late offer (an INVITE without SDP: the offer in the 200, the answer in the ACK): alice's 200
#   and bob's ACK name rtpengine's outside address, the core sees only the inside one, RTP flows
#   both ways; the sessions are deleted after the BYE;
# - a caller behind NAT: alice's SDP names 10.255.0.21 (SIP_UA_SDP_ADDRESS, where nothing
#   answers), her SIP comes from 127.0.0.21; only bob sends RTP, and a socket on 127.0.0.21:40000
#   gets it from rtpengine (SIP-source-address, received-from her SIP's source); neither the core
#   nor bob ever sees 10.255.0.21.
# usage: media_calls_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua PATH/TO/ng_ctl
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")
ng_ctl=$(readlink -f "$5")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 41000 500)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2)) ng_port=$((base + 3))
rtp_min=$(free_port_base 57000 200)  # rtpengine's ports, on its own addresses: rtp_min..+19
ng_addr=127.0.0.1:$ng_port
alice_ip=127.0.0.21 bob_ip=127.0.0.22 carol_ip=127.0.0.23 dave_ip=127.0.0.24
outside_ip=127.0.0.2 inside_ip=127.0.0.3


# --- rtpengine; the core, whose log prints the c= line of every SDP it relays (ACKs too), by
# Call-ID; the SBC
start_rtpengine "$ng_addr" "$rtp_min" "$outside_ip" "$inside_ip"
check "rtpengine answers ng ping" ng_ping
kamailio_core_cfg "$core_port" |
  sed -e 's/^  xlog("L_INFO", "core via .*/&\n  if (has_body("application\/sdp")) xlog("L_INFO", "core sdp $ci $rm $(rb{line.sw,c=})\\n");/' \
    >core.cfg
printf 'onreply_route {\n  if (has_body("application/sdp")) xlog("L_INFO", "core sdp $ci reply $rs $(rb{line.sw,c=})\\n");\n}\n' >>core.cfg
start_kamailio core
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
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
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"

# Every sip_ua run is bounded; NAME.out its output, NAME.dump what it received.
# ua_bg NAME IP USER ACTION...: one in the background, over UDP (or $UA_TRANSPORT); $! is its
# PID (of `timeout`).
ua_bg() {
  SIP_UA_LOCAL_ADDRESS=$2 SIP_UA_DUMP=$1.dump \
    timeout 90 "$ua" "${UA_TRANSPORT:-udp}" 127.0.0.1 "$sbc_port" "${@:3}" >"$1.out" 2>&1 &
}
scrape() {
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt 2>/dev/null || : >metrics.txt
}
requests() {  # requests COMMAND: media requests ok (from metrics.txt)
  v=$(metric "sbc_media_requests_total{command=\"$1\",result=\"ok\"}")
  echo "${v:-0}"
}
active() { scrape; test "$(metric sbc_media_sessions_active)" = 0; }
call_id_of() {  # call_id_of DUMP: the Call-ID of the first message in a dump
  awk 'tolower($0) ~ /^(call-id|i):/ {sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit}' "$1" \
    2>/dev/null || true
}
# sdp DUMP CALL_ID FIRST_LINE_REGEX: one line per message of the call in DUMP whose first line
# matches: its c=, m= and direction lines, joined ("-" for a message without them).
sdp() {
  awk -v RS='----\n' -v id="$2" -v first="$3" '{
    n = split($0, l, "\r?\n"); if (l[1] !~ first) next; hit = 0; out = ""
    for (i = 2; i <= n; i++) {
      if (tolower(l[i]) ~ /^(call-id|i):/) { v = l[i]; sub(/^[^:]*: */, "", v); hit = (v == id) }
      if (l[i] ~ /^(c=|m=|a=(sendonly|recvonly|sendrecv|inactive))/)
        out = out (out == "" ? "" : " ") l[i]
    }
    if (hit) print (out == "" ? "-" : out) }' "$1" 2>/dev/null || true
}
port_of() { awk '{for (i = 1; i < NF; i++) if ($i == "m=audio") {print $(i + 1); exit}}' <<<"$1"; }
sessions() { "$ng_ctl" "$ng_addr" list >list.out 2>&1 && grep -q "^ok" list.out; }
listed() { sessions && grep -qx "instance 0 call $1" list.out; }  # listed SESSION
gone() { sessions && ! grep -qF "$1" list.out; }  # gone CALL_ID: no session of the call
core_sdp() { grep -o "core sdp $1 .*" core.log | tr -d '\r' || true; }
rtp() {  # rtp ALICE_TO_PORT BOB_TO_PORT: 30 packets each way through rtpengine's outside address
  timeout 20 python3 - "$alice_ip" "$bob_ip" "$outside_ip" "${1:-0}" "${2:-0}" <<'EOF' || true
import socket, struct, sys, time
alice_ip, bob_ip, outside, alice_to, bob_to = sys.argv[1:4] + [int(p) for p in sys.argv[4:6]]
socks = {}
for name, ip in (("alice", alice_ip), ("bob", bob_ip)):
    s = socks[name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 40000)); s.setblocking(False)
got = {"alice": 0, "bob": 0}
def drain():
    for name, s in socks.items():
        try:
            while True: s.recv(2048); got[name] += 1
        except BlockingIOError: pass
def packet(seq, ssrc): return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes(160)
for seq in range(30):
    socks["alice"].sendto(packet(seq, 0x1111), (outside, alice_to))
    socks["bob"].sendto(packet(seq, 0x2222), (outside, bob_to))
    time.sleep(0.01); drain()
time.sleep(0.2); drain()
print("to_bob %d to_alice %d" % (got["bob"], got["alice"]))
EOF
}
rtp_ok() { awk '$1 == "to_bob" {ok = ($2 >= 20 && $4 >= 20)} END {exit !ok}' <<<"$1"; }

SIP_UA_ANSWER_SDP=1 ua_bg bob $bob_ip bob register serve 80
ua_bg carol $carol_ip carol register ringonly serve 80
ua_bg dave $dave_ip dave register busy serve 80
for u in bob carol dave; do
  wait_line $u.out "REGISTER 200" 5
  check "$u registers through the SBC" grep -qx "REGISTER 200" $u.out
done

# --- 1. hold and resume: alice re-INVITEs bob with a=sendonly, then a=sendrecv
ua_bg alice $alice_ip alice reinvite hold 3000 call sip:bob@example.com
alice=$!
wait_for 15 bash -c '[ "$(grep -c "^REINVITE" alice.out)" -ge 2 ]' || true
echo "  (alice: $(tr '\n' ';' <alice.out))"
check "alice's call is answered (INVITE 200)" grep -qx "INVITE 200" alice.out
check "both re-INVITEs (hold, resume) get 200" test "$(grep -cx "REINVITE 200" alice.out)" = 2
call_id=$(call_id_of alice.dump)
check "after them rtpengine still lists the leg from the outside: ${call_id}~o" \
  listed "${call_id}~o"
check "and the leg from the core: ${call_id}~i" listed "${call_id}~i"
sdp bob.dump "$call_id" '^INVITE ' >bob-invites.txt
sdp alice.dump "$call_id" '^SIP/2.0 200 .*' >alice-200s.txt
echo "  (bob's INVITEs: $(tr '\n' ';' <bob-invites.txt))"
echo "  (alice's 200s: $(tr '\n' ';' <alice-200s.txt))"
check "bob got three INVITEs, all naming rtpengine's outside address" \
  test "$(grep -c "c=IN IP4 $outside_ip\b" bob-invites.txt)" = 3
check "the first re-INVITE holds (a=sendonly), the second resumes (a=sendrecv)" \
  bash -c "sed -n 2p bob-invites.txt | grep -q a=sendonly &&
    sed -n 3p bob-invites.txt | grep -q a=sendrecv"
check "bob's answer to the hold (a=recvonly) reaches alice from the outside address" \
  bash -c "grep 'a=recvonly' alice-200s.txt | grep -q 'c=IN IP4 $outside_ip\b'"
check "neither saw the other's address" \
  bash -c "! grep -q $alice_ip bob-invites.txt && ! grep -q $bob_ip alice-200s.txt"
core_sdp "$call_id" >core-hold.txt
echo "  (the core got: $(tr '\n' ';' <core-hold.txt))"
check "the core got 3 offers and 3 answers, all with rtpengine's inside address" bash -c \
  "[ \$(grep -c '^core sdp [^ ]* INVITE c=IN IP4 $inside_ip\$' core-hold.txt) = 3 ] &&
   [ \$(grep -c '^core sdp [^ ]* reply 200 c=IN IP4 $inside_ip\$' core-hold.txt) = 3 ] &&
   ! grep -qv 'c=IN IP4 $inside_ip\$' core-hold.txt"
rtp_hold=$(rtp "$(port_of "$(tail -n 1 alice-200s.txt)")" \
  "$(port_of "$(tail -n 1 bob-invites.txt)")")
check "after the resume RTP flows both ways through rtpengine ($rtp_hold)" rtp_ok "$rtp_hold"
wait_for 15 bash -c "! kill -0 $alice 2>/dev/null" || true
check "the call ends with BYE 200" grep -qx "BYE 200" alice.out
wait_for 3 gone "$call_id" || true
check "after the BYE rtpengine lists no session of the call" gone "$call_id"
scrape
offers=$(requests offer) answers=$(requests answer)
check "the call made 6 offers ok (3 INVITEs x 2 legs): $offers; answers ok $answers" \
  bash -c "[ $offers -ge 6 ] && [ $answers -ge 6 ]"
check "sbc_media_sessions_active is 0 again" active

# --- 2. CANCEL while carol rings, 3. dave busy: 486
ended_call() {  # ended_call NAME WHAT: the checks after a call that ended without an answer
  local id offers_before=$offers
  id=$(call_id_of "$1.dump")
  scrape
  offers=$(requests offer)
  check "$2: both legs were offered (offers ok $offers_before -> $offers)" \
    test "$offers" -ge $((offers_before + 2))
  wait_for 3 gone "${id:-none}" || true
  check "$2: rtpengine lists no session of ${id:-?} within 3 s" gone "${id:-none}"
  wait_for 3 active || true
  check "$2: sbc_media_sessions_active is 0 ($(metric sbc_media_sessions_active))" active
}
# Over UDP without Digest at the edge: the relay's anti-amplification budget (3x the INVITE)
# leaves room for the 180 with the SBC's Record-Route and Contact tokens (it did not at 2x).
ua_bg ring $alice_ip alice ring sip:carol@example.com
wait $! || true
echo "  (alice: $(tr '\n' ';' <ring.out))"
check "carol rings, alice cancels: CANCEL 200 and INVITE 487" \
  bash -c "grep -qx 'CANCEL 200' ring.out && grep -qx 'INVITE 487' ring.out"
ended_call ring "CANCEL"
ua_bg busy $alice_ip alice call sip:dave@example.com
wait $! || true
check "dave is busy: INVITE 486 at alice" grep -qx "INVITE 486" busy.out
ended_call busy "486"

# --- 4. a late offer: alice's INVITE has no SDP, bob's 200 the offer, alice's ACK the answer
ua_bg late $alice_ip alice lateoffer hold 2000 call sip:bob@example.com
late=$!
wait_line late.out "INVITE 200" 10
wait_for 3 grep -q "ACK received" bob.out || true
sleep 0.3  # the ACK through the SBC, the core and the SBC again
check "the late-offer call is answered (INVITE 200)" grep -qx "INVITE 200" late.out
late_id=$(call_id_of late.dump)
late_200=$(sdp late.dump "$late_id" '^SIP/2.0 200 .*' | tail -n 1)
late_ack=$(sdp bob.dump "$late_id" '^ACK ' | tail -n 1)
echo "  (alice's 200: ${late_200:-none}; bob's ACK: ${late_ack:-none})"
check "the offer in the 200 alice got names rtpengine's outside address" \
  grep -q "c=IN IP4 $outside_ip\b" <<<"$late_200"
check "and not bob's" bash -c "! grep -q '$bob_ip' <<<'$late_200'"
check "the answer in the ACK bob got names rtpengine's outside address" \
  grep -q "c=IN IP4 $outside_ip\b" <<<"$late_ack"
check "and not alice's" bash -c "! grep -q '$alice_ip' <<<'$late_ack'"
core_sdp "$late_id" >core-late.txt
echo "  (the core got: $(tr '\n' ';' <core-late.txt))"
check "the core got the 200 and the ACK with rtpengine's inside address only" bash -c \
  "grep -q '^core sdp [^ ]* reply 200 c=IN IP4 $inside_ip\$' core-late.txt &&
   grep -q '^core sdp [^ ]* ACK c=IN IP4 $inside_ip\$' core-late.txt &&
   ! grep -qv 'c=IN IP4 $inside_ip\$' core-late.txt"
check "during the call rtpengine lists the leg from the outside: ${late_id}~o" listed "${late_id}~o"
check "and the leg from the core: ${late_id}~i" listed "${late_id}~i"
rtp_late=$(rtp "$(port_of "$late_200")" "$(port_of "$late_ack")")
check "RTP flows both ways through rtpengine ($rtp_late)" rtp_ok "$rtp_late"
wait_for 15 bash -c "! kill -0 $late 2>/dev/null" || true
check "the late-offer call ends with BYE 200" grep -qx "BYE 200" late.out
wait_for 3 gone "${late_id:-none}" || true
check "after the BYE rtpengine lists no session of the call" gone "${late_id:-none}"
check "sbc_media_sessions_active is 0" active

# --- 5. a caller behind NAT: her SDP names a private address nothing answers on, her SIP comes
# from 127.0.0.21; the SBC tells rtpengine SIP-source-address and received-from that source, so
# rtpengine sends bob's media to 127.0.0.21 (the port from the SDP) before she sends any RTP
nat_ip=10.255.0.21
# rtp_in RTPENGINE_PORT RECEIVER_IP: 30 packets from bob (only) to rtpengine's outside address;
# counts those a socket on RECEIVER_IP:40000 gets from that address (sip_ua binds no media port).
rtp_in() {
  timeout 20 python3 - "$bob_ip" "$2" "$outside_ip" "${1:-0}" <<'EOF' || true
import socket, struct, sys, time
bob_ip, receiver_ip, outside, bob_to = sys.argv[1:4] + [int(sys.argv[4])]
bob = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
bob.bind((bob_ip, 40000))
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind((receiver_ip, 40000)); rx.setblocking(False)
got = other = 0
def drain():
    global got, other
    try:
        while True:
            _, src = rx.recvfrom(2048)
            if src[0] == outside: got += 1
            else: other += 1
    except BlockingIOError: pass
def packet(seq, ssrc): return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes(160)
for seq in range(30):
    bob.sendto(packet(seq, 0x2222), (outside, bob_to))
    time.sleep(0.01); drain()
time.sleep(0.2); drain()
print("to_alice %d from_elsewhere %d" % (got, other))
EOF
}
rtp_in_ok() { awk '$1 == "to_alice" {ok = ($2 >= 20)} END {exit !ok}' <<<"$1"; }
SIP_UA_SDP_ADDRESS=$nat_ip ua_bg nat $alice_ip alice hold 3000 call sip:bob@example.com
nat=$!
wait_line nat.out "INVITE 200" 10
check "the call from behind NAT is answered (INVITE 200)" grep -qx "INVITE 200" nat.out
nat_id=$(call_id_of nat.dump)
nat_invite=$(sdp bob.dump "$nat_id" '^INVITE ' | tail -n 1)
echo "  (bob's INVITE: ${nat_invite:-none})"
check "bob's INVITE names rtpengine's outside address" \
  grep -q "c=IN IP4 $outside_ip\b" <<<"$nat_invite"
check "bob never saw $nat_ip (nothing in bob.dump)" bash -c "! grep -qF '$nat_ip' bob.dump"
core_sdp "$nat_id" >core-nat.txt
echo "  (the core got: $(tr '\n' ';' <core-nat.txt))"
check "the core got the offer and the answer with rtpengine's inside address only" bash -c \
  "grep -q '^core sdp [^ ]* INVITE c=IN IP4 $inside_ip\$' core-nat.txt &&
   grep -q '^core sdp [^ ]* reply 200 c=IN IP4 $inside_ip\$' core-nat.txt &&
   ! grep -qv 'c=IN IP4 $inside_ip\$' core-nat.txt"
check "the core never saw $nat_ip (nothing in core.log)" bash -c "! grep -qF '$nat_ip' core.log"
rtp_nat=$(rtp_in "$(port_of "$nat_invite")" "$alice_ip")
check "only bob sends: rtpengine relays it to $alice_ip:40000, not $nat_ip (${rtp_nat:-none})" \
  rtp_in_ok "$rtp_nat"
wait_for 15 bash -c "! kill -0 $nat 2>/dev/null" || true
check "the call from behind NAT ends with BYE 200" grep -qx "BYE 200" nat.out
wait_for 3 gone "${nat_id:-none}" || true
check "after the BYE rtpengine lists no session of the call" gone "${nat_id:-none}"
check "sbc_media_sessions_active is 0" active
scrape
grep -E '^sbc_media_' metrics.txt | sed 's/^/  /' || true

if [ "$failures" -ne 0 ]; then
  for f in sbc.log alice.out ring.out busy.out late.out nat.out bob.out carol.out dave.out rtpengine.log; do
    echo "--- $f"; tail -n 20 "$f" || true
  done
  echo "--- core.log"; grep "core got\|core sdp" core.log | grep -v OPTIONS | tail -n 30 || true
  echo "$failures check(s) failed"
  exit 1
fi
echo "all media call checks passed"
