#!/usr/bin/env bash
# A real Prometheus server scrapes the SBC while traffic flows, and its HTTP API shows the
# counters moving as the traffic says. Loopback only; everything it starts, it stops.
# usage: prometheus_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

base=$(free_port_base 24000 1000)
sip_port=$base metrics_port=$((base + 1)) prometheus_port=$((base + 2)) tls_port=$((base + 3))
cd "$work"
# The TLS listener has no certificate configured: the SBC makes a self-signed one at start.
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sip_port}
  - {transport: tls, address: 127.0.0.1, port: $tls_port}
metrics: {address: 127.0.0.1, port: $metrics_port}
YAML
cat >prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: sbc
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
start_sbc sbc
prometheus --config.file=prometheus.yml --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" >prometheus.log 2>&1 &
pids+=($!)

query() {  # query PROMQL: prints the first sample's value, or nothing
  curl -fsS --get "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
}
wait_for() {  # wait_for PROMQL MIN: until the query's value is at least MIN (20 s at most)
  local v
  for _ in $(seq 100); do
    v=$(query "$1")
    if [ -n "$v" ] && awk -v v="$v" -v m="$2" 'BEGIN { exit !(v >= m) }'; then
      echo "$v"
      return 0
    fi
    sleep 0.2
  done
  echo "${v:-none}"
  return 1
}

scraped() { wait_for 'up{job="sbc"}' 1 >/dev/null; }
check "Prometheus scrapes the SBC (up == 1)" scraped
before=$(query 'sbc_options_answered_total')
for _ in 1 2 3 4 5; do timeout 5 sipsak -s "sip:127.0.0.1:$sip_port" >/dev/null; done
for name in badvers unkscm mismatch01; do "$probe" udp 127.0.0.1 "$sip_port" "$corpus/rfc4475/$name.dat" >/dev/null; done
got=$(wait_for 'sbc_options_answered_total' $(( ${before:-0} + 5 )) || true)
check "5 OPTIONS pings show in Prometheus (sbc_options_answered_total = $got)" \
  awk -v v="$got" -v m=$(( ${before:-0} + 5 )) 'BEGIN { exit !(v + 0 >= m) }'
got=$(wait_for 'sbc_invalid_messages_total{action="answered"}' 3 || true)
check "3 invalid requests show in Prometheus (answered = $got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 3) }'
got=$(wait_for 'sum(sbc_responses_sent_total{class="4xx"}) + sum(sbc_responses_sent_total{class="5xx"})' 3 || true)
check "their answers are counted by class ($got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 3) }'
got=$(wait_for 'sbc_messages_received_total{transport="udp"}' 8 || true)
check "messages received over UDP are counted ($got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 8) }'
got=$(wait_for 'sbc_messages_sent_total{transport="udp"}' 8 || true)
check "the answers sent over UDP are counted ($got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 8) }'
got=$(wait_for 'sbc_requests_received_total{transport="udp",method="other"}' 5 || true)
check "the OPTIONS show by method class ($got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 5) }'
# The edge answered those itself: a UDP flow is made only for what reaches the relay.
got=$(wait_for 'sbc_flows_active{kind="udp"}' 0 || true)
check "the UDP flows are exposed, none for the edge's own answers (sbc_flows_active{kind=\"udp\"} = $got)" \
  awk -v v="$got" 'BEGIN { exit !(v == "0") }'

# Histograms: each completed TLS handshake is one observation.
before=$(query 'sbc_tls_handshake_duration_seconds_count')
for _ in 1 2 3; do timeout 5 openssl s_client -connect "127.0.0.1:$tls_port" </dev/null >/dev/null 2>&1 || true; done
got=$(wait_for 'sbc_tls_handshake_duration_seconds_count' $(( ${before:-0} + 3 )) || true)
check "3 TLS handshakes show in the duration histogram (count = $got)" \
  awk -v v="$got" -v m=$(( ${before:-0} + 3 )) 'BEGIN { exit !(v + 0 >= m) }'
got=$(wait_for 'sbc_tls_handshake_duration_seconds_bucket{le="+Inf"}' 3 || true)
check "its +Inf bucket is the count ($got)" awk -v v="$got" 'BEGIN { exit !(v + 0 >= 3) }'
got=$(wait_for 'histogram_quantile(0.5, sum by (le) (sbc_tls_handshake_duration_seconds_bucket))' 0 || true)
check "Prometheus computes a median handshake time from the buckets ($got s)" \
  awk -v v="$got" 'BEGIN { exit !(v + 0 > 0 && v + 0 < 10) }'
got=$(wait_for 'sbc_tls_certificate_expiry_timestamp_seconds - time()' 86400 || true)
check "the TLS listener's certificate expiry is in the future ($got s from now)" \
  awk -v v="$got" 'BEGIN { exit !(v + 0 > 86400) }'
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
check "the relay processing histogram is exposed for both directions" \
  test "$(grep -c '^sbc_relay_processing_seconds_count{direction=' metrics.txt)" = 2
check "sbc_build_info names the version, compiler and flags" \
  grep -qE '^sbc_build_info\{version="[^"]+",compiler="[^"]+",build_type="[^"]*",flags="[^"]*"\} 1' metrics.txt
check "the certificate expiry names its listener" \
  grep -q "^sbc_tls_certificate_expiry_timestamp_seconds{listener=\"127.0.0.1:$tls_port\",port=\"$tls_port\"} " metrics.txt
# Rejected messages are logged, a few lines a second per worker; the rest are counted on summary
# lines, so lines + suppressed account for every message not served (all but the OPTIONS pings).
for _ in $(seq 300); do printf 'not sip\r\n' >"/dev/udp/127.0.0.1/$sip_port"; done
for _ in $(seq 50); do  # the workers report what they held back once a second
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" >after.txt
  rejected=$(awk '/^sbc_messages_received_total/ { n += $2 } /^sbc_options_answered_total/ { n -= $2 } END { print n }' after.txt)
  logged=$(grep -c 'msg="message rejected"' sbc.log || true)
  suppressed=$(sed -n 's/.*msg="rejection lines suppressed by the log rate limit".* suppressed=\([0-9]*\).*/\1/p' sbc.log | awk '{ n += $1 } END { print n + 0 }')
  [ $((logged + suppressed)) = "$rejected" ] && break
  sleep 0.1
done
check "rejections are logged at a bounded rate ($logged lines for $rejected rejected messages)" \
  test "$logged" -ge 1 -a "$logged" -le 80
check "the lines held back are reported (logged $logged + suppressed $suppressed = rejected $rejected)" \
  test $((logged + suppressed)) = "$rejected"
promtool_status=0
promtool check metrics <metrics.txt >promtool.out 2>&1 || promtool_status=$?
check "promtool check metrics finds no problem in /metrics (status $promtool_status)" \
  test "$promtool_status" = 0

if [ "$failures" -ne 0 ]; then
  echo "--- promtool"; cat promtool.out 2>/dev/null || true
  echo "--- sbc log"; cat sbc.log; echo "--- prometheus log (tail)"; tail -20 prometheus.log
  echo "prometheus_test: $failures checks failed"
  exit 1
fi
echo "prometheus_test: all checks passed"
