#!/usr/bin/env bash
# The admin API and `sbc ctl` against a running SBC with a Kamailio core: status names the
# configuration file's SHA-256; a scanner gets its address banned, `sbc ctl bans` lists it with
# its stage and reason, `sbc ctl unban` lets the same address in again (OPTIONS 200); `cores`
# shows the core up; `reload` applies a good file and refuses a broken one; a user without
# permission on the socket is refused by the kernel; bad requests get errors, not silence.
# usage: admin_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 32000 2000)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

socket="$work/admin.sock"
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
  probe_interval_ms: 300
metrics: {address: 127.0.0.1, port: $metrics_port}
admin: {socket: "$socket"}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
ctl() { "$sbc" ctl --socket "$socket" "$@"; }

check "the socket is the SBC user's alone (0600)" bash -c "[ \"\$(stat -c %a '$socket')\" = 600 ]"
ctl status >status.out 2>&1 || true
check "status names the configuration file's SHA-256" \
  grep -qx "config_sha256 $(sha256sum sbc.yaml | cut -d' ' -f1)" status.out
check "and the workers" grep -qx "workers 2" status.out

# --- a scanner's address is banned; the operator sees why and lifts it
printf 'OPTIONS sip:100@127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKscan1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: scan1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n' "$sbc_port" >scan.sip
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5998;branch=z9hG4bKok%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:ok@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ok%s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$sbc_port" "$RANDOM" "$RANDOM" >options.sip
"$probe" udp 127.0.0.1 "$sbc_port" scan.sip 500 >/dev/null || true
sleep 0.3
banned=$("$probe" udp 127.0.0.1 "$sbc_port" options.sip 800 || true)
check "the scanner's address gets nothing now ($banned)" test "$banned" = timeout
ctl bans >bans.out 2>&1 || true
check "sbc ctl bans lists it with its stage and reason" \
  grep -qE '^127\.0\.0\.1 +udp +scanner signature +[0-9]+ s +[0-9]+ s +1$' bans.out
ctl --json bans >bans.json 2>&1 || true
check "and --json gives the same as JSON" \
  python3 -c 'import json,sys; b=json.load(open("bans.json"))["bans"]; sys.exit(not (b and b[0]["source"]=="127.0.0.1" and b[0]["reason"]=="signature"))'
ctl unban 127.0.0.1 >unban.out 2>&1 || true
check "sbc ctl unban lifts it" grep -qx "127.0.0.1: ban lifted" unban.out
answered=$("$probe" udp 127.0.0.1 "$sbc_port" options.sip 2000 || true)
check "the same address is answered again ($answered)" grep -q "SIP/2.0 200" <<<"$answered"
ctl bans >bans2.out 2>&1 || true
check "and is no longer listed" grep -qx "no source is banned" bans2.out
set +e
ctl unban 127.0.0.1 >again.out 2>&1
again=$?
ctl unban not-an-address >bad.out 2>&1
bad=$?
set -e
check "a second unban says there was none (exit $again)" \
  bash -c "[ $again = 0 ] && grep -qx '127.0.0.1: was not banned' again.out"
check "a source that is no address is refused (exit $bad)" \
  bash -c "[ $bad = 1 ] && grep -q 'is not an IPv4 or IPv6 address' bad.out"

# --- the cores
ctl cores >cores.out 2>&1 || true
check "sbc ctl cores shows the core up" grep -qE "^sip:127\.0\.0\.1:$core_port +up " cores.out

# --- reload: a good file applies, a broken one changes nothing
ctl reload >reload.out 2>&1 || true
check "sbc ctl reload applies the policy" grep -q "^reloaded from .*: policy (chain" reload.out
cp sbc.yaml good.yaml
printf 'policy: {chain: [nonsense]}\n' >>sbc.yaml
set +e
ctl reload >broken.out 2>&1
broken=$?
set -e
cp good.yaml sbc.yaml
check "a broken file is refused with the reason (exit $broken)" \
  bash -c "[ $broken = 1 ] && grep -q 'reload refused' broken.out"

# --- who may use it: the socket's mode, enforced by the kernel
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups "$sbc" ctl --socket "$socket" status >denied.out 2>&1
denied=$?
set -e
check "a user without permission on the socket is refused (exit $denied)" \
  bash -c "[ $denied = 3 ] && grep -q 'Permission denied' denied.out"
printf 'not json\n' | timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode())' "$socket" >garbage.out 2>&1 || true
check "a request that is not JSON gets an error reply" grep -q '"ok":false' garbage.out

kill "$sbc_pid"
for _ in $(seq 50); do kill -0 "$sbc_pid" 2>/dev/null || break; sleep 0.1; done
check "the socket is removed when the SBC stops" test ! -e "$socket"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log status.out bans.out cores.out reload.out broken.out denied.out garbage.out; do
    echo "--- $f"
    cat "$f" 2>/dev/null || true
  done
  exit 1
fi
echo "admin_test: all checks passed"
