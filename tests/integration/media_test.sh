#!/usr/bin/env bash
# Media anchoring (the `media` section) through a real rtpengine, user space, on loopback: its
# interface "outside" on 127.0.0.2, "inside" on 127.0.0.3; Kamailio is the core; the SBC runs
# two workers; tests/tools/sip_ua are the user agents (alice on 127.0.0.21, bob on 127.0.0.22,
# each naming its own address in its SDP: bob answers with SDP, SIP_UA_ANSWER_SDP=1).
# - alice -> SBC -> core -> SBC -> bob is two call legs through the SBC: while the call is up,
#   rtpengine lists two sessions, CALLID~o (the leg from the outside) and CALLID~i (the leg
#   from the core);
# - the SDP bob receives names rtpengine's outside address (127.0.0.2), never alice's; the SDP of
#   the 200 alice receives names 127.0.0.2, never bob's; the core sees only the inside address
#   (127.0.0.3) in the offer and the answer (its log prints their c= lines);
# - on the wire (tcpdump on lo during that call, read by tshark): every SIP message with SDP the
#   SBC sends from its listener names only 127.0.0.2 in its c= and o= lines, every one it sends to
#   the core only 127.0.0.3; an offer and an answer are seen each way;
# - RTP sent from alice's and bob's media ports to the ports their SDP named reaches the other
#   side through both sessions, and `ng_ctl query` counts packets from both tags of each;
# - after the BYE the sessions are deleted (list no longer shows them); the metrics count
#   offer, answer and delete ok (two each at least) and sbc_media_sessions_active is 0;
# - rtpengine down, on_failure: reject: a new call gets "503 Service Unavailable (media relay
#   unavailable)" and never reaches bob; a second SBC with on_failure: pass lets the call
#   through unanchored (bob's SDP names alice's own address), counted in
#   sbc_media_unanchored_total.
# usage: media_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua PATH/TO/ng_ctl
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")
ng_ctl=$(readlink -f "$5")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 39000 500)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2)) ng_port=$((base + 3))
rtp_min=$(free_port_base 54000 300)  # rtpengine's ports, on its own addresses: rtp_min..+19
ng_addr=127.0.0.1:$ng_port
alice_ip=127.0.0.21 bob_ip=127.0.0.22 outside_ip=127.0.0.2 inside_ip=127.0.0.3


# --- 1. rtpengine, the core (its log also shows the c= line of every SDP it gets), the SBC
start_rtpengine "$ng_addr" "$rtp_min" "$outside_ip" "$inside_ip"
check "rtpengine answers ng ping" ng_ping

kamailio_core_cfg "$core_port" |
  sed -e 's/^  xlog("L_INFO", "core via .*/&\n  if (has_body("application\/sdp")) xlog("L_INFO", "core sdp $rm $(rb{line.sw,c=})\\n");/' \
    >core.cfg
printf 'onreply_route {\n  if (has_body("application/sdp")) xlog("L_INFO", "core sdp reply $rs $(rb{line.sw,c=})\\n");\n}\n' >>core.cfg
start_kamailio core

# sbc_config NAME SIP_PORT METRICS_PORT ON_FAILURE: an SBC with media anchoring on.
sbc_config() {
  cat >"$1.yaml" <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $2}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {address: 127.0.0.1, port: $3}
admin: {socket: "$work/$1.sock"}
media:
  enabled: true
  rtpengine: [{address: "$ng_addr", weight: 1}]
  timeout_ms: 500
  retries: 1
  on_failure: $4
  interfaces: {outside: outside, inside: inside}
YAML
}
sbc_config sbc "$sbc_port" "$metrics_port" reject
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
wait_for 5 grep -q "core got OPTIONS" core.log || true

# Every sip_ua run is bounded; ua_bg runs one in the background, $! the PID of `timeout`.
ua() { timeout 30 "$ua" udp 127.0.0.1 "$@"; }
ua_bg() { timeout 30 "$ua" udp 127.0.0.1 "$@" & }
scrape() {  # scrape METRICS_PORT
  curl -fsS "http://127.0.0.1:$1/metrics" >metrics.txt 2>/dev/null || : >metrics.txt
}
media_requests() {  # media_requests COMMAND RESULT (from metrics.txt)
  v=$(metric "sbc_media_requests_total{command=\"$1\",result=\"$2\"}")
  echo "${v:-0}"
}
# sdp_c FILE FIRST_LINE_REGEX: the c= lines of the bodies of the messages in a sip_ua dump whose
# first line matches.
sdp_c() {
  awk -v first="$2" '/^----$/ {started = 0; next} !started {started = 1; m = ($0 ~ first)}
    m && /^c=/ {sub(/\r$/, ""); print}' "$1" 2>/dev/null || true
}

# The SBC's SIP on both sides (its listener, and the core's port it sends to from its inside
# sockets) is captured from before the first call until after its BYE (checked in section 5).
capturing=0
if command -v tcpdump >/dev/null; then
  tcpdump -i lo -n -s 0 -U -B 32768 -w sip.pcap "udp port $sbc_port or udp port $core_port" \
    >tcpdump.log 2>&1 &
  capture=$!
  pids+=("$capture")
  if wait_for 5 grep -q "listening on" tcpdump.log; then capturing=1; fi
fi
check "tcpdump captures the SBC's SIP (scripts/install-deps.sh installs it)" test $capturing = 1

# --- 2. bob registers and answers with SDP; alice calls him and holds the call 5 s
SIP_UA_LOCAL_ADDRESS=$bob_ip SIP_UA_ANSWER_SDP=1 SIP_UA_DUMP=bob.dump \
  ua_bg "$sbc_port" bob register serve 25 >bob.out 2>&1
bob=$!
wait_for 5 grep -q "^REGISTER" bob.out || true
check "bob registers through the SBC" grep -qx "REGISTER 200" bob.out
SIP_UA_LOCAL_ADDRESS=$alice_ip SIP_UA_DUMP=alice.dump \
  ua_bg "$sbc_port" alice hold 5000 call sip:bob@example.com >alice.out 2>&1
alice=$!
wait_for 10 grep -qx "INVITE 200" alice.out || true
check "alice's call is answered (INVITE 200)" grep -qx "INVITE 200" alice.out
touch alice.dump bob.dump
call_id=$(awk '/^SIP\/2.0 200/ {m = 1} m && tolower($0) ~ /^call-id:/ {sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit}' alice.dump)
echo "  (Call-ID ${call_id:-none})"

# --- 3. during the call: two sessions, and the addresses each side sees
"$ng_ctl" "$ng_addr" list >list-during.out || true
check "rtpengine lists the leg from the outside: ${call_id}~o" \
  grep -qx "instance 0 call ${call_id}~o" list-during.out
check "and the leg from the core: ${call_id}~i" grep -qx "instance 0 call ${call_id}~i" list-during.out
bob_c=$(sdp_c bob.dump '^INVITE ')
alice_c=$(sdp_c alice.dump '^SIP/2.0 200')
echo "  (bob's INVITE: ${bob_c:-no c=}; alice's 200: ${alice_c:-no c=})"
check "the SDP offer bob received names rtpengine's outside address" \
  grep -qx "c=IN IP4 $outside_ip" <<<"$bob_c"
check "and not alice's address" bash -c "! grep -q '$alice_ip' bob.dump"
check "the SDP answer in the 200 alice received names rtpengine's outside address" \
  grep -qx "c=IN IP4 $outside_ip" <<<"$alice_c"
check "and not bob's address" bash -c "! grep -q '$bob_ip' alice.dump"
grep -o 'core sdp .*' core.log | tr -d '\r' >core-sdp.txt || true
core_c=$(cat core-sdp.txt)
echo "  (the core got: $(tr '\n' ';' <<<"$core_c"))"
check "the core got the offer with rtpengine's inside address" \
  grep -q "^core sdp INVITE c=IN IP4 $inside_ip\$" <<<"$core_c"
check "and the answer (200) with the inside address" \
  grep -q "^core sdp reply 200 c=IN IP4 $inside_ip\$" <<<"$core_c"
check "the core never saw an address of the UAs or of rtpengine's outside" \
  bash -c "! grep -qE 'c=IN IP4 ($alice_ip|$bob_ip|$outside_ip)\$' core-sdp.txt"

# --- 4. RTP both ways: from each UA's media port (40000) to the port its SDP names
alice_rtp=$(awk '/^SIP\/2.0 200/ {m = 1} m && /^m=audio/ {print $2; exit}' alice.dump)
bob_rtp=$(awk '/^INVITE / {m = 1} m && /^m=audio/ {print $2; exit}' bob.dump)
timeout 20 python3 - "$alice_ip" "$bob_ip" "$outside_ip" "${alice_rtp:-0}" "${bob_rtp:-0}" \
  >rtp.out 2>&1 <<'EOF' || true
import socket, struct, sys, time
alice_ip, bob_ip, outside, alice_to, bob_to = sys.argv[1:4] + [int(p) for p in sys.argv[4:6]]
alice = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); alice.bind((alice_ip, 40000))
bob = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); bob.bind((bob_ip, 40000))
for s in (alice, bob): s.setblocking(False)
got = {"alice": 0, "bob": 0}
def drain():
    for name, s in (("alice", alice), ("bob", bob)):
        try:
            while True: s.recv(2048); got[name] += 1
        except BlockingIOError: pass
for seq in range(30):
    alice.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1111) + bytes(160), (outside, alice_to))
    bob.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x2222) + bytes(160), (outside, bob_to))
    time.sleep(0.01); drain()
time.sleep(0.2); drain()
print("to_bob %d to_alice %d" % (got["bob"], got["alice"]))
EOF
echo "  (RTP: $(cat rtp.out); alice sent to $outside_ip:${alice_rtp:-?}, bob to $outside_ip:${bob_rtp:-?})"
check "RTP from alice reaches bob through both sessions" awk '$1 == "to_bob" {ok = $2 >= 20} END {exit !ok}' rtp.out
check "RTP from bob reaches alice through both sessions" awk '$1 == "to_bob" {ok = $4 >= 20} END {exit !ok}' rtp.out
for leg in o i; do
  "$ng_ctl" "$ng_addr" query "${call_id}~$leg" >"query-$leg.out" || true
  echo "  (query ${call_id}~$leg: $(tr '\n' ';' <"query-$leg.out"))"
  check "query of ${call_id}~$leg counts packets from both tags" \
    awk '$1 == "tag" && $4 > 0 {n++} END {exit !(n >= 2)}' "query-$leg.out"
done

# --- 5. the BYE ends both sessions; the metrics
wait_for 15 bash -c "! kill -0 $alice 2>/dev/null" || true
check "alice's call ends with BYE 200" grep -qx "BYE 200" alice.out
no_sessions() {
  "$ng_ctl" "$ng_addr" list >list-after.out 2>&1 && grep -q '^ok' list-after.out &&
    ! grep -q "$call_id" list-after.out
}
wait_for 5 no_sessions || true
check "after the BYE rtpengine lists no session of the call" no_sessions
scrape "$metrics_port"
grep -E '^sbc_media_(requests_total|sessions_active|unanchored_total)' metrics.txt | sed 's/^/  /' || true
check "offers ok >= 2 ($(media_requests offer ok))" test "$(media_requests offer ok)" -ge 2
check "answers ok >= 2 ($(media_requests answer ok))" test "$(media_requests answer ok)" -ge 2
check "deletes ok >= 2 ($(media_requests delete ok))" test "$(media_requests delete ok)" -ge 2
check "sbc_media_sessions_active is 0 ($(metric sbc_media_sessions_active))" \
  test "$(metric sbc_media_sessions_active)" = 0

# On the wire: each SDP the SBC sent names only rtpengine's address of the side it went to.
if [ $capturing = 1 ]; then
  sleep 1.5  # tcpdump hands packets over in blocks
  kill -INT "$capture" 2>/dev/null || true
  wait "$capture" 2>/dev/null || true
fi
tshark -r sip.pcap -d "udp.port==$sbc_port,sip" -d "udp.port==$core_port,sip" -Y 'sip && sdp' \
  -T fields -e ip.src -e udp.srcport -e ip.dst -e udp.dstport -e sip.Request-Line \
  -e sdp.connection_info.address -e sdp.owner.address >sdp-wire.txt 2>tshark.err || true
sed 's/^/  (wire) /' sdp-wire.txt
# wire_sdp out|core WANT: "REQUESTS RESPONSES [OTHER...]" of the messages with SDP the SBC sent
# from its listener (out) or to the core's port (core); OTHER each c=/o= address that is not WANT.
wire_sdp() {
  awk -F'\t' -v dir="$1" -v sbc="$sbc_port" -v core="$core_port" -v want="$2" '
    {m = dir == "out" ? ($2 == sbc && $4 != core) : ($3 == "127.0.0.1" && $4 == core && $2 != core)}
    m {if ($5 != "") req++; else resp++
       k = split($6 "," $7, a, ",")
       for (i = 1; i <= k; i++) if (a[i] != want) bad = bad " " (a[i] == "" ? "(none)" : a[i])}
    END {print req + 0, resp + 0 bad}' sdp-wire.txt
}
read -r out_req out_resp out_bad <<<"$(wire_sdp out "$outside_ip")"
read -r core_req core_resp core_bad <<<"$(wire_sdp core "$inside_ip")"
check "on the wire the SBC sent the outside an offer ($out_req) and an answer ($out_resp) with SDP" \
  test "$out_req" -ge 1 -a "$out_resp" -ge 1
check "each naming only rtpengine's outside address in c= and o= (others:${out_bad:- none})" \
  test -z "$out_bad"
check "and the core an offer ($core_req) and an answer ($core_resp) with SDP" \
  test "$core_req" -ge 1 -a "$core_resp" -ge 1
check "each naming only rtpengine's inside address in c= and o= (others:${core_bad:- none})" \
  test -z "$core_bad"

# --- 6. rtpengine down: reject gives 503; a second SBC with on_failure pass lets the call through
kill "$rtpengine_pid"
wait "$rtpengine_pid" 2>/dev/null || true
started=$(date +%s%N)
SIP_UA_LOCAL_ADDRESS=$alice_ip SIP_UA_DUMP=alice2.dump ua "$sbc_port" alice call sip:bob@example.com \
  >alice2.out 2>&1 || true
touch alice2.dump
check "with rtpengine down (reject) alice's call gets INVITE 503 in $((($(date +%s%N) - started) / 1000000)) ms" \
  grep -qx "INVITE 503" alice2.out
check "reason phrase: Service Unavailable (media relay unavailable)" \
  grep -q "^SIP/2.0 503 Service Unavailable (media relay unavailable)" alice2.dump
check "and bob (still serving) never got that INVITE ($(grep -c 'INVITE received' bob.out || true) in all)" \
  test "$(grep -c 'INVITE received' bob.out || true)" = 1
scrape "$metrics_port"
check "counted as a failed offer ($(media_requests offer failed))" test "$(media_requests offer failed)" -ge 1
kill "$bob" 2>/dev/null || true
wait "$bob" 2>/dev/null || true

base2=$(free_port_base 44000 500)  # drawn now: the ports the first SBC holds are seen as taken
sbc2_port=$base2 metrics2_port=$((base2 + 1))
sbc_config sbc2 "$sbc2_port" "$metrics2_port" pass
start_sbc sbc2 "http://127.0.0.1:$metrics2_port/readyz"
check "the second SBC (on_failure: pass) is ready" curl -fsS -o /dev/null "http://127.0.0.1:$metrics2_port/readyz"
# bob moves to the second SBC: his old binding (through the first) removed, a new one made.
SIP_UA_LOCAL_ADDRESS=$bob_ip SIP_UA_ANSWER_SDP=1 SIP_UA_DUMP=bob3.dump \
  ua_bg "$sbc2_port" bob unregister register serve 20 >bob3.out 2>&1
bob=$!
wait_for 5 grep -q "^REGISTER" bob3.out || true
check "bob registers through the second SBC" grep -qx "REGISTER 200" bob3.out
started=$(date +%s%N)
SIP_UA_LOCAL_ADDRESS=$alice_ip SIP_UA_DUMP=alice3.dump ua "$sbc2_port" alice call sip:bob@example.com \
  >alice3.out 2>&1 || true
touch alice3.dump bob3.dump
check "with on_failure: pass the call completes ($(tr '\n' ' ' <alice3.out)in $((($(date +%s%N) - started) / 1000000)) ms)" \
  bash -c 'grep -qx "INVITE 200" alice3.out && grep -qx "BYE 200" alice3.out'
bob3_c=$(sdp_c bob3.dump '^INVITE ')
echo "  (bob's INVITE, unanchored: ${bob3_c:-no c=})"
check "unanchored: bob's SDP names alice's own address" grep -qx "c=IN IP4 $alice_ip" <<<"$bob3_c"
end_serve "$bob" bob3.out
scrape "$metrics2_port"
unanchored=$(metric sbc_media_unanchored_total)
check "sbc_media_unanchored_total >= 1 (${unanchored:-absent})" test "${unanchored:-0}" -ge 1

if [ "$failures" -ne 0 ]; then
  for f in sbc.log sbc2.log alice.out bob.out alice2.out alice3.out bob3.out rtpengine.log; do
    echo "--- $f"; tail -n 20 "$f" || true
  done
  echo "--- core.log"; grep "core got\|core sdp" core.log | grep -v OPTIONS | tail -n 20 || true
  echo "$failures check(s) failed"
  exit 1
fi
echo "all media checks passed"
