#!/usr/bin/env bash
# Cores by DNS name (RFC 3263) against a real DNS server: dnsmasq serves SRV records
# (_sip._udp.core.test: core1.test priority 10, core2.test priority 20) and A records from a
# hosts file it rereads on SIGHUP; Kamailio cores answer behind the names. The SBC, configured
# with `sip:core.test` only, registers users through the SRV target of the best priority, follows
# a changed A record without a restart, keeps serving from its cache while the DNS server is
# gone, and fails over to the next SRV target when the first core dies. A name that does not
# resolve at start does not stop the start: requests get 503 until it does. A reload (SIGHUP)
# that names another core resolves the new name and sends the requests there.
# usage: dns_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 30000 2000)
sbc_port=$base metrics_port=$((base + 1)) dns_port=$((base + 2))
core1_port=$((base + 3)) core2_port=$((base + 4))

# Three Kamailio cores: core A (127.0.0.1) and core C (127.0.0.2) on core1's port, core B on
# core2's port. core1.test names A first, C after the record changes.
kamailio_core_cfg "$core1_port" >coreA.cfg
kamailio_core_cfg "$core1_port" | sed "s/^listen=udp:127.0.0.1:/listen=udp:127.0.0.2:/" >coreC.cfg
kamailio_core_cfg "$core2_port" >coreB.cfg
start_kamailio coreA
coreA=${pids[-1]}
start_kamailio coreB
start_kamailio coreC
coreC=${pids[-1]}

printf '127.0.0.1 core1.test\n127.0.0.1 core2.test\n' >hosts
start_dns() {
  dnsmasq --no-daemon --port="$dns_port" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --conf-file=/dev/null --user=root --pid-file= --local-ttl=1 \
    --addn-hosts="$PWD/hosts" --log-queries --log-facility=- \
    --srv-host=_sip._udp.core.test,core1.test,"$core1_port",10,1 \
    --srv-host=_sip._udp.core.test,core2.test,"$core2_port",20,1 >>dns.log 2>&1 &
  dns_pid=$!
  pids+=("$dns_pid")
}

cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:core.test"}]
  local_address: 127.0.0.1
  probe_interval_ms: 500
  failover_timeout_ms: 500
dns:
  servers: ["127.0.0.1:$dns_port"]
  min_ttl_seconds: 1
  max_ttl_seconds: 2
  timeout_ms: 300
metrics: {port: $metrics_port}
YAML

ua() { "$ua" udp 127.0.0.1 "$sbc_port" "$@"; }
scrape() { curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt 2>/dev/null || : >metrics.txt; }
registered_at() {  # registered_at CORE_LOG USER: the core logged USER's REGISTER
  grep -q "core got REGISTER .*from 127.0.0.1" "$1" && grep -c "REGISTER" "$1" >/dev/null
}
count() { grep -c "core got REGISTER" "$1" 2>/dev/null || true; }

# --- no DNS server yet: the SBC starts anyway and answers 503 until the name resolves
start_sbc sbc
sleep 1.5
check "the SBC runs while its core's name does not resolve" kill -0 "$sbc_pid"
early=$(ua early request OPTIONS sip:early@example.com 2>&1 || true)
check "a request meanwhile gets 503 ($early)" grep -qx "OPTIONS 503" <<<"$early"
check "the log says why" grep -q "core name core.test did not resolve" sbc.log
scrape
check "sbc_core_targets{state=\"unresolved\"} is 1" test "$(metric 'sbc_core_targets{state="unresolved"}')" = 1

# --- the DNS server comes: SRV, then A records; the best priority (core1 = core A) gets it
start_dns
wait_http "http://127.0.0.1:$metrics_port/readyz"
check "the SBC is ready once a resolved core answers its probes" \
  curl -fsS "http://127.0.0.1:$metrics_port/readyz" -o /dev/null
ua alice register >alice.out 2>&1 || true
check "alice registers through the SRV target of the best priority" grep -qx "REGISTER 200" alice.out
check "core A (core1.test -> 127.0.0.1) got it" test "$(count coreA.log)" -ge 1
check "core B (priority 20) did not" test "$(count coreB.log)" = 0
scrape
check "both SRV targets are cores (sbc_core_targets{state=\"resolved\"} = 2)" \
  test "$(metric 'sbc_core_targets{state="resolved"}')" = 2
check "and resolutions succeeded (sbc_core_resolution_total{result=\"ok\"} > 0)" \
  test "$(metric 'sbc_core_resolution_total{result="ok"}')" -gt 0
check "the log names the addresses" grep -q "core name core.test: 127.0.0.1:$core1_port" sbc.log

# --- the A record changes (dnsmasq rereads its hosts file on SIGHUP): core C takes over
printf '127.0.0.2 core1.test\n127.0.0.1 core2.test\n' >hosts
kill -HUP "$dns_pid"
for _ in $(seq 60); do
  grep -q "core name core.test: 127.0.0.2:$core1_port" sbc.log && break
  sleep 0.1
done
check "the SBC follows the changed record without a restart" \
  grep -q "core name core.test: 127.0.0.2:$core1_port" sbc.log
sleep 1.2  # a probe round: core C is up
before_a=$(count coreA.log)
ua bob register >bob.out 2>&1 || true
check "bob registers" grep -qx "REGISTER 200" bob.out
check "through core C (127.0.0.2), the new address of core1.test" test "$(count coreC.log)" -ge 1
check "and no more through core A" test "$(count coreA.log)" = "$before_a"

# --- the DNS server is gone: the cached addresses keep serving
kill "$dns_pid"
wait "$dns_pid" 2>/dev/null || true
sleep 3  # past max_ttl: refreshes fail
ua carol register >carol.out 2>&1 || true
check "carol registers while the DNS server is gone (served from cache)" grep -qx "REGISTER 200" carol.out
scrape
failed=$(awk '/^sbc_core_resolution_total\{result="(timeout|error|not_found)"\}/ {s += $2} END {print s + 0}' metrics.txt)
check "the failed refreshes are counted ($failed)" test "$failed" -gt 0
check "the cores stay (sbc_core_targets{state=\"resolved\"} = 2)" \
  test "$(metric 'sbc_core_targets{state="resolved"}')" = 2

# --- the best SRV target's core dies: failover to the next priority (core B)
kill "$coreC"
wait "$coreC" 2>/dev/null || true
sleep 1.5  # two unanswered probes
ua dave register >dave.out 2>&1 || true
check "dave registers after core C died" grep -qx "REGISTER 200" dave.out
check "through core B, the SRV target of the next priority" test "$(count coreB.log)" -ge 1

# --- a reload names another core: the new name is resolved and takes the requests
printf '127.0.0.1 core1.test\n127.0.0.1 core2.test\n' >hosts
start_dns
sed -i "s|targets: \[{uri: \"sip:core.test\"}\]|targets: [{uri: \"sip:core2.test:$core2_port\"}]|" sbc.yaml
kill -HUP "$sbc_pid"
for _ in $(seq 60); do
  grep -q "core name core2.test: 127.0.0.1:$core2_port" sbc.log && break
  sleep 0.1
done
check "SIGHUP applies the new core name" \
  grep -q 'msg="configuration reloaded".*applied=".*core.targets (1 targets)' sbc.log
check "and resolves it" grep -q "core name core2.test: 127.0.0.1:$core2_port" sbc.log
sleep 1.2  # a probe round
before_a=$(count coreA.log) before_b=$(count coreB.log)
ua erin register >erin.out 2>&1 || true
check "erin registers" grep -qx "REGISTER 200" erin.out
check "through the core the new name gives (core B)" test "$(count coreB.log)" -gt "$before_b"
check "not the old name's best target (core A, back in DNS)" test "$(count coreA.log)" = "$before_a"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log dns.log; do echo "--- $f"; tail -n 40 "$f"; done
  for f in coreA.log coreB.log coreC.log; do echo "--- $f"; grep "core got" "$f" | tail -n 5; done
  exit 1
fi
echo "dns_test: all checks passed"
