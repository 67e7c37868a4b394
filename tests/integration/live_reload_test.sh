#!/usr/bin/env bash
# Live reload and core drain (issue 17) against a running SBC with two Kamailio cores and
# tests/tools/sip_ua as the user agents, through `sbc ctl` (SIGHUP runs the same reload:
# reload_test.sh):
# - relay.token_keys rotate: with the new key first and the old one second, a user registered
#   before the rotation is still reached through its Path; with the old key gone, such a user is
#   not (the key did matter) and one registered after the rotation is;
# - core.targets: a core added by SIGHUP takes the new calls;
# - `sbc ctl core drain` moves new requests to the other core while a call in progress on the
#   drained one completes (its BYE reaches it); `core enable` brings it back;
# - capture and log.level change live; a changed listener is reported as needing a restart and
#   keeps serving as it was; a broken file changes nothing.
# usage: live_reload_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 36000 1500)
sbc_port=$base a_port=$((base + 1)) b_port=$((base + 2)) metrics_port=$((base + 3))
kamailio_core_cfg "$a_port" >a.cfg
kamailio_core_cfg "$b_port" >b.cfg
start_kamailio a
start_kamailio b
key1="1:000102030405060708090a0b0c0d0e0f" key2="2:f0e0d0c0b0a090807060504030201000"
socket="$work/admin.sock"
mkdir -p cap

# write_config TARGETS KEYS [EXTRA]: the SBC's configuration with core.targets TARGETS (a YAML
# flow list) and relay.token_keys KEYS, then EXTRA lines.
write_config() {
  cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: ${listen_port:-$sbc_port}}
core:
  targets: $1
  probe_interval_ms: 300
relay: {token_keys: $2}
metrics: {port: $metrics_port}
admin: {socket: "$socket"}
${3:-}
YAML
}
target_a="{uri: \"sip:127.0.0.1:$a_port\"}" target_b="{uri: \"sip:127.0.0.1:$b_port\"}"
write_config "[$target_a]" "[\"$key1\"]"
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got OPTIONS" a.log && break; sleep 0.1; done

ctl() { "$sbc" ctl --socket "$socket" "$@"; }
hup() {  # hup: SIGHUP, then wait until the log says what became of it
  local before
  before=$(grep -c 'msg="configuration reloaded"\|reload refused' sbc.log || true)
  kill -HUP "$sbc_pid"
  for _ in $(seq 50); do
    [ "$(grep -c 'msg="configuration reloaded"\|reload refused' sbc.log || true)" -gt "$before" ] && break
    sleep 0.1
  done
}
ua() { "$ua" udp 127.0.0.1 "$sbc_port" "$@"; }
got() { grep -c "core got $2 " "$1.log" || true; }  # got CORE METHOD: how many CORE received

# --- token keys rotate without losing registrations
ua bob register serve 40 >bob.out 2>&1 &
ua carol register serve 40 >carol.out 2>&1 &
sleep 1
write_config "[$target_a]" "[\"$key2\", \"$key1\"]"
hup
check "SIGHUP applies the new token keys" \
  grep -q 'msg="configuration reloaded".*applied=".*relay.token_keys (2 keys, key 2 seals)' sbc.log
ua dave register serve 40 >dave.out 2>&1 &
sleep 1
ua alice call sip:bob@example.com >call-bob.out 2>&1 || true
check "bob, registered under the old key, is reached after the rotation (INVITE 200, BYE 200)" \
  bash -c 'grep -qx "INVITE 200" call-bob.out && grep -qx "BYE 200" call-bob.out'
write_config "[$target_a]" "[\"$key2\"]"
ctl reload >retire.out 2>&1 || true
check "reload retires the old key" grep -q "relay.token_keys (1 keys, key 2 seals)" retire.out
ua alice call sip:carol@example.com >call-carol.out 2>&1 || true
check "with the old key gone, carol's old registration no longer reaches her (the keys matter)" \
  bash -c '! grep -qx "INVITE 200" call-carol.out'
ua alice call sip:dave@example.com >call-dave.out 2>&1 || true
check "dave, registered under the new key, is reached" grep -qx "INVITE 200" call-dave.out

# --- a core added by SIGHUP takes the new calls (it comes first: priority 1)
write_config "[{uri: \"sip:127.0.0.1:$a_port\", priority: 2}, $target_b]" "[\"$key2\"]"
hup
check "SIGHUP applies core.targets" \
  grep -q 'msg="configuration reloaded".*applied=".*core.targets (2 targets)' sbc.log
ua gina register serve 20 >gina.out 2>&1 &
sleep 1
ua alice call sip:gina@example.com >call-gina.out 2>&1 || true
check "a call reaches its callee through the added core (INVITE 200, BYE 200)" \
  bash -c 'grep -qx "INVITE 200" call-gina.out && grep -qx "BYE 200" call-gina.out'
check "through the added core" grep -q "core got INVITE sip:gina@" b.log
check "and not the first one" bash -c '! grep -q "core got INVITE sip:gina@" a.log'
# Both in rotation from here on.
write_config "[$target_a, $target_b]" "[\"$key2\"]"
ctl reload >add.out 2>&1 || true
check "reload re-weights them (core.targets)" grep -q "core.targets (2 targets)" add.out
ctl cores >cores.out 2>&1 || true
check "with the probes' answers" grep -qE "sip:127.0.0.1:$a_port +up .* s ago, [0-9.]+ ms" cores.out
check "sbc ctl cores lists both" \
  bash -c "grep -q 'sip:127.0.0.1:$a_port ' cores.out && grep -q 'sip:127.0.0.1:$b_port ' cores.out"

# --- drain: a call in progress on the drained core completes; new requests go to the other
ctl core drain "sip:127.0.0.1:$b_port" >drain-b.out 2>&1 || true
check "core drain by URI" grep -q "drained: no new transactions" drain-b.out
"$ua" udp 127.0.0.1 "$sbc_port" alice hold 4000 call sip:dave@example.com >held.out 2>&1 &
held=$!
for _ in $(seq 50); do grep -q "^INVITE" held.out && break; sleep 0.1; done
check "a call through core A is up (INVITE 200)" grep -qx "INVITE 200" held.out
a_bye=$(got a BYE) a_message=$(got a MESSAGE) b_message=$(got b MESSAGE)
ctl core enable "sip:127.0.0.1:$b_port" >enable-b.out 2>&1 || true
ctl core drain "127.0.0.1:$a_port" >drain-a.out 2>&1 || true
check "core drain by IP:PORT" grep -q "drained" drain-a.out
for _ in 1 2 3 4 5 6; do ua frank request MESSAGE sip:nobody@example.com >>message.out 2>&1 || true; done
check "new requests go to the other core only (A: $(got a MESSAGE) MESSAGEs, was $a_message)" \
  test "$(got a MESSAGE)" = "$a_message"
check "... and reach it ($(got b MESSAGE), was $b_message)" \
  test "$(got b MESSAGE)" -ge $((b_message + 6))
ctl cores >cores-drained.out 2>&1 || true
check "sbc ctl cores shows the drain" grep -qE "sip:127.0.0.1:$a_port +drained" cores-drained.out
wait "$held" || true
check "the call in progress on the drained core ends (BYE 200)" grep -qx "BYE 200" held.out
check "its BYE went through the drained core" test "$(got a BYE)" -gt "$a_bye"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/readyz" >ready.out || true
check "still ready with one core in rotation ($(cat ready.out))" grep -qx 200 ready.out
set +e
ctl core drain sip:192.0.2.1:5060 >drain-none.out 2>&1
none=$?
set -e
check "draining a core that is not one is an error (exit $none)" \
  bash -c "[ $none = 1 ] && grep -q 'no core is' drain-none.out"
ctl core enable "127.0.0.1:$a_port" >/dev/null 2>&1 || true

# --- capture, log level; what needs a restart is named and left as it runs
write_config "[$target_a, $target_b]" "[\"$key2\"]" \
  "capture: {enabled: true, directory: $work/cap, what: all}"
ctl reload >capture.out 2>&1 || true
check "reload starts the capture" grep -q "capture (all messages to $work/cap)" capture.out
ua frank request MESSAGE sip:nobody@example.com >/dev/null 2>&1 || true
sleep 1.5
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt || true
written=$(metric 'sbc_capture_packets_total{result="written"}')
check "messages are captured (${written:-none} written)" test "${written:-0}" -gt 0
check "into a pcap file" bash -c "ls cap/*.pcap >/dev/null 2>&1"
listen_port=$((base + 10)) write_config "[$target_a, $target_b]" "[\"$key2\"]" "log: {level: warn}"
ctl reload >restart.out 2>&1 || true
check "a changed listener is reported as needing a restart" \
  grep -q "needs a restart: listeners: changed" restart.out
check "the capture stops and the log level changes" \
  bash -c 'grep -q "capture (off)" restart.out && grep -q "log.level (warn)" restart.out'
ua frank request OPTIONS "sip:127.0.0.1:$sbc_port" >old-port.out 2>&1 || true
check "the running listener still serves" grep -qx "OPTIONS 200" old-port.out
infos=$(grep -c 'level=info' sbc.log || true)
ctl reload >/dev/null 2>&1 || true
check "at level warn no info line is written" test "$(grep -c 'level=info' sbc.log || true)" = "$infos"

# --- a broken file changes nothing
ctl cores >cores-before.out 2>&1 || true
write_config "[$target_b]" "[\"$key1\"]" "policy: {chain: [nonsense]}"
set +e
ctl reload >broken.out 2>&1
broken=$?
set -e
check "a broken file is refused (exit $broken)" \
  bash -c "[ $broken = 1 ] && grep -q 'reload refused, the running configuration stays' broken.out"
ctl cores >cores-after.out 2>&1 || true
check "and the cores stay as they were" \
  bash -c "grep -q 'sip:127.0.0.1:$a_port ' cores-after.out && diff <(cut -c1-55 cores-before.out) <(cut -c1-55 cores-after.out) >/dev/null"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log call-bob.out call-gina.out call-carol.out call-dave.out add.out held.out \
    cores-drained.out capture.out restart.out broken.out; do
    echo "--- $f"
    cat "$f" 2>/dev/null || true
  done
  exit 1
fi
echo "live_reload_test: all checks passed"
