#!/usr/bin/env bash
# SIGHUP reloads the policy section of the configuration (and the credentials file it names)
# without a restart, with Kamailio as the core and tests/tools/sip_ua as the user agents:
# - a new chain takes effect (Digest authentication switched on), the credentials file is
#   re-read (a user added), bans survive the reload, counters keep counting;
# - a configuration that does not validate is refused with a message and the running policy
#   stays.
# usage: reload_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 33000 1500)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

"$sbc" ha1 alice example.com <<<"alice-secret" >users.txt
write_config() {  # write_config POLICY_YAML
  cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
  - {transport: tcp, address: 127.0.0.1, port: $sbc_port}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {port: $metrics_port}
$1
YAML
}
write_config "policy: {chain: [acl, scanner, rate_limit, sips, methods]}"
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
for _ in $(seq 50); do grep -q "core got OPTIONS" core.log && break; sleep 0.1; done

ua() { SIP_UA_LOCAL_ADDRESS=127.0.0.2 "$ua" "$1" 127.0.0.1 "$sbc_port" "${@:2}"; }
reloads() {  # reloads RESULT: the value of sbc_config_reloads_total{result=RESULT}
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
    metric "sbc_config_reloads_total{result=\"$1\"}" -
}
hup() {  # hup: SIGHUP, then wait until the log says what became of it
  local before
  before=$(grep -c "policy reloaded\|reload refused" sbc.log || true)
  kill -HUP "$sbc_pid"
  for _ in $(seq 50); do
    [ "$(grep -c "policy reloaded\|reload refused" sbc.log || true)" -gt "$before" ] && break
    sleep 0.1
  done
  sleep 0.3  # the workers swap between two messages
}

ua udp alice register >before.out 2>&1 || true
check "without auth in the chain alice registers with no password" grep -qx "REGISTER 200" before.out
# A scanner from 127.0.0.1 gets banned.
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKscan;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: scan@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n' "$sbc_port" >scan.sip
"$probe" udp 127.0.0.1 "$sbc_port" scan.sip 500 >/dev/null 2>&1 || true

# --- reload: Digest authentication switched on
write_config "policy:
  chain: [acl, scanner, rate_limit, sips, methods, auth]
  auth: {realm: example.com, credentials_file: $work/users.txt}"
hup
check "SIGHUP reloads the policy (log)" grep -q 'msg="policy reloaded".*chain=acl,scanner,rate_limit,sips,methods,auth' sbc.log
check "and counts it (sbc_config_reloads_total{result=\"ok\"} = $(reloads ok))" test "$(reloads ok)" = 1
ua udp alice register >no-password.out 2>&1 || true
check "after the reload a REGISTER without credentials is challenged (401)" \
  grep -qx "REGISTER 401" no-password.out
SIP_UA_PASSWORD=alice-secret ua udp alice register >password.out 2>&1 || true
check "and alice registers with her password" \
  bash -c 'grep -qx "AUTH SHA-256 REGISTER" password.out && grep -qx "REGISTER 200" password.out'
banned=$(SIP_PROBE_LOCAL_PORT=5999 "$probe" udp 127.0.0.1 "$sbc_port" scan.sip 800 || true)
check "the scanner's ban survived the reload ($banned)" test "$banned" = timeout
signature=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  metric 'sbc_policy_decisions_total{stage="scanner",reason="signature"}' -)
check "the counters of the replaced chains are kept (scanner signature: ${signature:-0})" \
  test "${signature:-0}" -ge 1

# --- the credentials file reloads with the configuration
SIP_UA_PASSWORD=bob-secret ua udp bob register >bob-before.out 2>&1 || true
check "bob is not a user yet" grep -qx "REGISTER 401" bob-before.out
"$sbc" ha1 bob example.com <<<"bob-secret" >>users.txt
hup
SIP_UA_PASSWORD=bob-secret ua udp bob register >bob-after.out 2>&1 || true
check "after a SIGHUP bob, added to the credentials file, registers" grep -qx "REGISTER 200" bob-after.out

# --- a broken configuration is refused; the running policy stays
write_config "policy: {chain: [acl, firewall]}"
hup
check "a configuration that does not validate is refused with the reason" \
  grep -q 'reload refused, the running configuration stays: .*unknown stage' sbc.log
check "and counted (failed: $(reloads failed))" test "$(reloads failed)" = 1
SIP_UA_PASSWORD=bob-secret ua udp bob register >bob-still.out 2>&1 || true
ua udp alice register >alice-still.out 2>&1 || true
check "the running policy stays: bob still registers, alice without a password is still challenged" \
  bash -c 'grep -qx "REGISTER 200" bob-still.out && grep -qx "REGISTER 401" alice-still.out'
check "the SBC is still running" kill -0 "$sbc_pid"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log before.out no-password.out password.out bob-after.out; do
    echo "--- $f"; tail -n 20 "$f"
  done
fi
exit $((failures > 0))
