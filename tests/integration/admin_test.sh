#!/usr/bin/env bash
# The admin API and `sbc ctl` against a running SBC with a Kamailio core: status names the
# configuration file's SHA-256; a scanner gets its address banned, `sbc ctl bans` lists it with
# its stage and reason, `sbc ctl unban` lets the same address in again (OPTIONS 200); `cores`
# shows the core up; `reload` applies a good file and refuses a broken one; a user without
# permission on the socket is refused by the kernel; bad requests get errors, not silence.
# Bans filtered by source prefix, stage and reason; `unban PREFIX` lifts every ban inside it and
# no other; `flows` counts a connection that registered over TCP, and the registrations (TCP,
# UDP, none authenticated); `config` shows the running
# configuration with its secrets redacted, and says when the file on disk differs.
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
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
relay:
  token_keys: ["7:0badc0ffee0badc0ffee0badc0ffee77"]
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
  probe_interval_ms: 300
metrics: {address: 127.0.0.1, port: $metrics_port}
admin: {socket: "$socket"}
policy:
  auth: {nonce_key: "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"}
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
check "sipsak from it gets 200" timeout 15 sipsak -s "sip:127.0.0.1:$sbc_port"
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
  bash -c "[ $bad = 1 ] && grep -q 'is not an address or a prefix' bad.out"

# --- filters, and a prefix lifted at once: three scanners, 127.0.0.2, .3 and .5
for a in 2 3 5; do
  SIP_PROBE_LOCAL_ADDRESS=127.0.0.$a "$probe" udp 127.0.0.1 "$sbc_port" scan.sip 300 >/dev/null || true
done
sleep 0.3
ctl bans --source 127.0.0.3 >f-one.out 2>&1 || true
check "bans --source ADDRESS lists that source only" \
  bash -c "[ \"\$(grep -c '^127\.0\.0\.' f-one.out)\" = 1 ] && grep -q '^127\.0\.0\.3 ' f-one.out"
ctl bans --source 127.0.0.0/30 >f-prefix.out 2>&1 || true
check "bans --source PREFIX lists the sources inside it (.2 and .3, not .5)" \
  bash -c "grep -q '^127\.0\.0\.2 ' f-prefix.out && grep -q '^127\.0\.0\.3 ' f-prefix.out && ! grep -q '^127\.0\.0\.5 ' f-prefix.out"
ctl bans --source 10.0.0.0/8 >f-none.out 2>&1 || true
check "bans --source elsewhere lists none" grep -qx "no source is banned" f-none.out
ctl bans --stage scanner --reason signature >f-stage.out 2>&1 || true
check "bans --stage scanner --reason signature lists the three" \
  bash -c "[ \"\$(grep -c '^127\.0\.0\.' f-stage.out)\" = 3 ]"
ctl bans --stage auth >f-auth.out 2>&1 || true
check "bans --stage auth lists none" grep -qx "no source is banned" f-auth.out
ctl --json bans --reason flood >f-reason.json 2>&1 || true
check "bans --reason flood --json: an empty list" \
  python3 -c 'import json,sys; sys.exit(json.load(open("f-reason.json"))["bans"] != [])'
ctl unban 127.0.0.0/30 >u-prefix.out 2>&1 || true
check "unban 127.0.0.0/30 lifts the two bans inside it" grep -qx "127.0.0.0/30: 2 bans lifted" u-prefix.out
answered=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.2 "$probe" udp 127.0.0.1 "$sbc_port" options.sip 2000 || true)
check "127.0.0.2 is answered again ($answered)" grep -q "SIP/2.0 200" <<<"$answered"
ctl bans >u-left.out 2>&1 || true
check "127.0.0.5, outside the prefix, is still banned" \
  bash -c "[ \"\$(grep -c '^127\.0\.0\.' u-left.out)\" = 1 ] && grep -q '^127\.0\.0\.5 ' u-left.out"
ctl --json unban 127.0.0.0/24 >u-json.out 2>&1 || true
check "unban --json says how many were lifted" \
  python3 -c 'import json,sys; r=json.load(open("u-json.out")); sys.exit(not (r["lifted"] == 1 and r["source"] == "127.0.0.0/24"))'
set +e
ctl unban 10.0.0.0/33 >u-bad.out 2>&1
u_bad=$?
ctl bans --source 10.0.0/8 >f-bad.out 2>&1
f_bad=$?
ctl bans --stage >f-usage.out 2>&1
f_usage=$?
set -e
check "a prefix that is none is refused (exit $u_bad)" \
  bash -c "[ $u_bad = 1 ] && grep -q '\"10.0.0.0/33\" is not an address or a prefix' u-bad.out"
check "and as a filter too (exit $f_bad)" \
  bash -c "[ $f_bad = 1 ] && grep -q '\"10.0.0/8\" is not an address or a prefix' f-bad.out"
check "a filter without its value is a usage error (exit $f_usage)" \
  bash -c "[ $f_usage = 2 ] && grep -q '^usage: sbc ctl' f-usage.out"

# --- flows: a user agent registered over TCP, its connection still open
printf 'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5997;branch=z9hG4bKreg%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=%s\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: reg%s@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:5997;transport=tcp>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n' "$RANDOM" "$RANDOM" "$RANDOM" >register.sip
timeout 20 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open("register.sip", "rb").read())
s.settimeout(5)
reply = b""
while b"\r\n\r\n" not in reply:
    reply += s.recv(4096)
print(reply.split(b"\r\n")[0].decode(), flush=True)
time.sleep(6)' "$sbc_port" >register.out 2>&1 &
for _ in $(seq 50); do [ -s register.out ] && break; sleep 0.1; done
check "alice registers over TCP ($(head -n1 register.out))" grep -q "^SIP/2.0 200" register.out
sed -e 's/TCP 127.0.0.1:5997/UDP 127.0.0.1:5996/' -e 's/alice/bob/g' -e 's/;transport=tcp//' \
  -e 's/z9hG4bKreg/z9hG4bKudp/' register.sip >register-udp.sip
bob=$("$probe" udp 127.0.0.1 "$sbc_port" register-udp.sip 2000 || true)
check "bob registers over UDP ($bob)" grep -q "SIP/2.0 200" <<<"$bob"
ctl flows >flows.out 2>&1 || true
check "sbc ctl flows counts her connection" grep -qE "^tcp +1$" flows.out
check "and lists it" grep -qE "^tcp +127\.0\.0\.1:[0-9]+ " flows.out
ctl --json flows >flows.json 2>&1 || true
check "flows --json: tcp 1, tls 0, bob's UDP peer held, the total and the entries" \
  python3 -c 'import json,sys; f=json.load(open("flows.json")); sys.exit(not (f["tcp"] == 1 and f["tls"] == 0 and f["udp"] >= 1 and f["udp_held"] >= 1 and f["total"] == f["tcp"] + f["tls"] + f["udp"] and len(f["flows"]) == f["total"] and any(e["transport"] == "udp" and e["held"] for e in f["flows"])))'
check "flows --json counts the two registrations by transport, neither authenticated" \
  python3 -c 'import json,sys; r=json.load(open("flows.json"))["registrations"]; sys.exit(not (r["total"] == 2 and r["tcp"] == 1 and r["udp"] == 1 and r["tls"] == 0 and r["unauthenticated"] == 2 and r["users"] == []))'
check "and sbc ctl flows says so" grep -qE "^registrations +2 " flows.out
ctl --json flows --limit 1 >flows1.json 2>&1 || true
check "flows --limit 1: one entry, the total still whole" \
  python3 -c 'import json,sys; f=json.load(open("flows1.json")); sys.exit(not (len(f["flows"]) == 1 and f["total"] >= 2))'

# --- the running configuration, secrets redacted
ctl config >config.out 2>&1 || true
check "sbc ctl config shows the running configuration" grep -q "port: $sbc_port" config.out
check "with the running file's SHA-256" \
  grep -qx "# running configuration sbc.yaml, SHA-256 $(sha256sum sbc.yaml | cut -d' ' -f1)" config.out
check "and no secret: the token key and the nonce key are redacted" \
  bash -c "grep -q '<redacted>' config.out && ! grep -qi -e 0badc0ffee -e 5ec7e75ec config.out"
ctl --json config >config.json 2>&1 || true
check "nor in --json" bash -c "grep -q 'redacted' config.json && ! grep -qi -e 0badc0ffee -e 5ec7e75ec config.json"
cp sbc.yaml kept.yaml
echo "# edited after the start" >>sbc.yaml
ctl config >config2.out 2>&1 || true
check "a file edited since says so" grep -q "^# the file on disk differs" config2.out
cp kept.yaml sbc.yaml

# --- the cores
ctl cores >cores.out 2>&1 || true
check "sbc ctl cores shows the core up" grep -qE "^sip:127\.0\.0\.1:$core_port +up " cores.out

# --- reload: a good file applies, a broken one changes nothing
ctl reload >reload.out 2>&1 || true
check "sbc ctl reload applies the policy" grep -q "^reloaded from .*: policy (chain" reload.out
cp sbc.yaml good.yaml
printf '  chain: [nonsense]\n' >>sbc.yaml  # policy is the file's last section
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
