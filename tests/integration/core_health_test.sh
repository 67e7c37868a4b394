#!/usr/bin/env bash
# core.probe against a core that answers calls but not OPTIONS (as SIPp's UAS and some PBXs do):
# Kamailio from Debian dropping every OPTIONS. With OPTIONS probes (the default) the SBC marks it
# down, says why in its log, and answers 503; with `probe: passive` the same core takes
# registrations and calls. A passive core that stops answering goes out of rotation with the
# reason logged (it is tried again 30 s later: tests/unit/proxy/core_set_test.cpp).
# usage: core_health_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 30000 2000)
core_port=$((base + 1)) dead_port=$((base + 2))
kamailio_core_cfg "$core_port" | sed '/^request_route {/a\  if (is_method("OPTIONS")) { exit; }' >core.cfg
start_kamailio core
core_pid=${pids[-1]}

# sbc_config PORT PROBE: an SBC on PORT (metrics on PORT+1) relaying to the core (and to a dead
# port second, for the passive case) with core.probe PROBE.
sbc_config() {
  cat <<YAML
workers: 1
listeners:
  - {transport: udp, address: 127.0.0.1, port: $1}
core:
  targets:
    - {uri: "sip:127.0.0.1:$core_port", priority: 1}
    - {uri: "sip:127.0.0.1:$dead_port", priority: 2}
  probe: $2
  probe_interval_ms: 300
  failover_timeout_ms: 500
metrics: {port: $(($1 + 1))}
YAML
}
ua() { "$ua" udp 127.0.0.1 "$@"; }

# --- OPTIONS probes: the core never answers one, so it is down and requests get 503
options_port=$((base + 10))
sbc_config "$options_port" options >options.yaml
start_sbc options
sleep 1.5   # a few probe intervals: two unanswered probes mark a core down
ua "$options_port" amy register >amy.out 2>&1 || true
check "with OPTIONS probes the core that ignores them is down: REGISTER 503" grep -qx "REGISTER 503" amy.out
check "the log says which core went down and why" \
  grep -qE "core sip:127.0.0.1:$core_port down \(probes unanswered, worker 0\)" options.log

# --- passive: the same core registers and calls
passive_port=$((base + 20))
sbc_config "$passive_port" passive >passive.yaml
start_sbc passive "http://127.0.0.1:$((passive_port + 1))/healthz"
sleep 1
ua "$passive_port" bob register serve 5 >bob.out 2>&1 &
bob=$!
sleep 0.5
ua "$passive_port" alice register call sip:bob@example.com >alice.out 2>&1 || true
wait $bob 2>/dev/null || true
check "passive: the core registers alice" grep -qx "REGISTER 200" alice.out
check "passive: her call to bob is answered and ends" \
  bash -c 'grep -qx "INVITE 200" alice.out && grep -qx "BYE 200" alice.out'
check "passive: no OPTIONS was sent to the core" bash -c "! grep -q 'core got OPTIONS' core.log"
check "passive: no core was marked down" bash -c "! grep -q ' down (' passive.log"

# --- passive: the core stops answering (SIGSTOP); a request fails over to the dead port, which
# fails too, and the log names both with the reason
# shellcheck disable=SC2207  # Kamailio's children, one per line of /proc (no procps needed)
core_processes=("$core_pid" $(cat /proc/"$core_pid"/task/*/children 2>/dev/null || true))
kill -STOP "${core_processes[@]}"
timeout 10 "$ua" udp 127.0.0.1 "$passive_port" carol register >carol.out 2>&1 || true
kill -CONT "${core_processes[@]}"
check "passive: a silent core is taken out with the reason logged" \
  grep -qE "core sip:127.0.0.1:$core_port down \(no answer to a request, worker 0\)" passive.log
check "and the next one too" \
  grep -qE "core sip:127.0.0.1:$dead_port down \(no answer to a request, worker 0\)" passive.log

if [ "$failures" -ne 0 ]; then
  for f in options.log passive.log core.log amy.out alice.out bob.out carol.out; do
    echo "--- $f"
    tail -n 40 "$f" 2>/dev/null || true
  done
  exit 1
fi
echo "core_health_test: all checks passed"
