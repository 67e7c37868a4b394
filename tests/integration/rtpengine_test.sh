#!/usr/bin/env bash
# The ng client (sbc/media/ng_client) against real rtpengine daemons on loopback (user space, no
# kernel module), through tests/tools/ng_ctl:
# - ping answers pong (and the round trip of 200 pings is printed);
# - an offer from the outside (c=127.0.0.50) comes back naming rtpengine's inside address
#   (127.0.0.3), the core's answer (c=127.0.0.60) comes back naming its outside one (127.0.0.2);
# - RTP sent both ways through the ports allocated (python3) arrives at the other side, and query
#   counts packets from both tags; delete removes the call (list and query no longer know it);
# - two instances: calls spread over both, each call's query and delete go where its offer went;
#   with the first killed, new calls fail over to the second; with only dead instances a request
#   ends in a timeout after timeout x (retries + 1).
# usage: rtpengine_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/ng_ctl
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ng_ctl=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 37000 1000)
ng_a=$base ng_b=$((base + 1)) media_port=$((base + 2))
ports_a=$(free_port_base 47000 400)
ports_b=$(free_port_base 52000 400)
ng_a_addr=127.0.0.1:$ng_a ng_b_addr=127.0.0.1:$ng_b

# start_rtpengine NAME NG_PORT PORT_MIN: one daemon in the foreground, its log in NAME.log, its
# PID in NAME_pid; returns when it answers a ping (at most 5 s).
start_rtpengine() {
  rtpengine --config-file=none --foreground --table=-1 --delete-delay=0 --listen-ng="127.0.0.1:$2" \
    --interface=outside/127.0.0.2 --interface=inside/127.0.0.3 \
    --port-min="$3" --port-max=$(($3 + 9)) --log-stderr --log-level=6 >"$1.log" 2>&1 &
  pids+=($!)
  printf -v "$1_pid" %s $!
  for _ in $(seq 50); do
    "$ng_ctl" --timeout-ms 100 --retries 0 "127.0.0.1:$2" ping >/dev/null && return 0
    sleep 0.1
  done
}
start_rtpengine engine_a "$ng_a" "$ports_a"

# 1. ping
"$ng_ctl" "$ng_a_addr" ping 200 >ping.out || true
cat ping.out
check "ping answers pong" grep -q '^ok pong count=200' ping.out

# 2. offer from the outside, answer from the core
sdp() {  # sdp ADDRESS PORT
  printf 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %s RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' "$1" "$1" "$2"
}
sdp 127.0.0.50 "$media_port" >caller.sdp
sdp 127.0.0.60 "$media_port" >callee.sdp
"$ng_ctl" "$ng_a_addr" offer call-1 ft caller.sdp offer-out.sdp outside inside | tee offer.out || true
check "the offer is accepted" grep -q '^ok instance=0' offer.out
check "the offer going inside names rtpengine's inside address" grep -q 'c=IN IP4 127.0.0.3' offer-out.sdp
"$ng_ctl" "$ng_a_addr" answer call-1 ft tt callee.sdp answer-out.sdp | tee answer.out || true
check "the answer is accepted" grep -q '^ok instance=0' answer.out
check "the answer going outside names rtpengine's outside address" grep -q 'c=IN IP4 127.0.0.2' answer-out.sdp
inside_port=$(awk '/^m=audio/ {print $2}' offer-out.sdp)
outside_port=$(awk '/^m=audio/ {print $2}' answer-out.sdp)

# 3. RTP both ways: the caller sends to the outside port, the core to the inside one.
timeout 20 python3 - "$media_port" "${inside_port:-0}" "${outside_port:-0}" >rtp.out <<'EOF' || true
import socket, struct, sys, time
port, inside, outside = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); caller.bind(("127.0.0.50", port))
core = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); core.bind(("127.0.0.60", port))
for s in (caller, core): s.setblocking(False)
got = {"caller": 0, "core": 0}
def drain():
    for name, s in (("caller", caller), ("core", core)):
        try:
            while True: s.recv(2048); got[name] += 1
        except BlockingIOError: pass
for seq in range(50):
    header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
    caller.sendto(header + bytes(160), ("127.0.0.2", outside))
    core.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5678) + bytes(160), ("127.0.0.3", inside))
    time.sleep(0.01); drain()
time.sleep(0.2); drain()
print("to_core %d to_caller %d" % (got["core"], got["caller"]))
EOF
cat rtp.out
check "RTP from the caller reaches the core through rtpengine" \
  awk '$1 == "to_core" {ok = $2 >= 40} END {exit !ok}' rtp.out
check "RTP from the core reaches the caller through rtpengine" \
  awk '$1 == "to_core" {ok = $4 >= 40} END {exit !ok}' rtp.out
"$ng_ctl" "$ng_a_addr" query call-1 | tee query.out || true
check "query counts packets from the caller's tag" awk '$1 == "tag" && $2 == "ft" && $4 >= 40 {f = 1} END {exit !f}' query.out
check "query counts packets from the core's tag" awk '$1 == "tag" && $2 == "tt" && $4 >= 40 {f = 1} END {exit !f}' query.out

# 4. delete
"$ng_ctl" "$ng_a_addr" list >list-before.out || true
check "list shows the call" grep -q '^instance 0 call call-1$' list-before.out
check "delete removes the call" "$ng_ctl" "$ng_a_addr" delete call-1
"$ng_ctl" "$ng_a_addr" list >list-after.out || true
check "list no longer shows it" bash -c '! grep -q "call-1" list-after.out && grep -q "^ok" list-after.out'
"$ng_ctl" "$ng_a_addr" query call-1 >query-gone.out || true
check "query of the deleted call is refused by rtpengine" grep -q '^error refused' query-gone.out

# 5. two instances: spread and stickiness, then failover
start_rtpengine engine_b "$ng_b" "$ports_b"
"$ng_ctl" "$ng_a_addr,$ng_b_addr" spread 8 caller.sdp | tee spread.out || true
check "calls spread over both instances, each call's commands on its own" \
  bash -c 'grep -q "^instance 0 calls" spread.out && grep -q "^instance 1 calls" spread.out && grep -q "^ok sticky failovers=0" spread.out'
kill "$engine_a_pid"
wait "$engine_a_pid" 2>/dev/null || true
"$ng_ctl" --timeout-ms 200 --retries 1 "$ng_a_addr,$ng_b_addr" spread 8 caller.sdp | tee failover.out || true
check "with the first instance dead, new calls go to the second" \
  bash -c '! grep -q "^instance 0" failover.out && grep -q "^instance 1 calls 8" failover.out'
check "at least one of them failed over" grep -Eq '^ok sticky failovers=[1-9]' failover.out

# 6. only dead instances: a timeout after timeout x (retries + 1) = 300 ms x 3
"$ng_ctl" --timeout-ms 300 --retries 2 "$ng_a_addr" offer call-2 ft caller.sdp dead.sdp | tee dead.out || true
check "a request to a dead instance ends in the timeout error" grep -q '^error timeout' dead.out
elapsed=$(sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p' dead.out)
check "after timeout x (retries + 1): 900 ms <= ${elapsed:-?} ms < 1400 ms" \
  test "${elapsed:-0}" -ge 900 -a "${elapsed:-0}" -lt 1400

if [ "$failures" -ne 0 ]; then
  tail -n 20 engine_a.log engine_b.log
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
