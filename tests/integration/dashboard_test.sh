#!/usr/bin/env bash
# The alerting rules and the Grafana dashboard in deploy/ against the real SBC:
#   - promtool check rules, and promtool test rules (deploy/prometheus/sbc-alerts.test.yml)
#   - the dashboard JSON is what deploy/grafana/generate_dashboard.py writes, and well formed
#   - every sbc_* metric name the rules and the dashboard use appears in a real /metrics scrape of
#     the SBC running its default configuration (loopback ports, a core, a cluster store that is
#     down) or in the allow-list
#   - a real Prometheus loads the rules and evaluates every dashboard query without an error
# usage: dashboard_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
rules=$repo/deploy/prometheus/sbc-alerts.yml
rule_tests=$repo/deploy/prometheus/sbc-alerts.test.yml
dashboard=$repo/deploy/grafana/sbc-dashboard.json
allowlist=$repo/tests/integration/dashboard_allowlist.txt
enter_work_dir

check "promtool check rules accepts the alerting rules" promtool check rules "$rules"
check "promtool test rules: the alerts fire on synthetic series as expected" \
  bash -c "cd '$(dirname "$rule_tests")' && promtool test rules '$(basename "$rule_tests")'"

python3 "$repo/deploy/grafana/generate_dashboard.py" regenerated.json
check "the dashboard JSON is what generate_dashboard.py writes" cmp -s regenerated.json "$dashboard"
well_formed() {
  python3 - "$dashboard" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
assert d["uid"] and d["title"] and d["schemaVersion"] >= 30
for p in d["panels"]:
    if p["type"] == "row":
        continue
    assert p["targets"], p["title"]
    for t in p["targets"]:
        assert t["expr"].strip() and t["refId"], p["title"]
    g = p["gridPos"]
    assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
PY
}
check "the dashboard is well formed (unique ids, every panel has queries, fits the grid)" well_formed

# The SBC with its default configuration, moved to free loopback ports, with a core that does
# not answer (so the relay's and the cores' series exist).
base=$(free_port_base 26000 1000)
sip_port=$base tls_port=$((base + 1)) metrics_port=$((base + 2)) prometheus_port=$((base + 3))
sed -e 's/address: "::"/address: 127.0.0.1/' -e "s/port: 5060/port: $sip_port/" \
  -e "s/port: 5061/port: $tls_port/" -e "s/port: 9460/port: $metrics_port/" \
  -e 's/^workers: 0/workers: 2/' -e "s|^  targets: \[\]|  targets: [{uri: \"sip:127.0.0.1:$((base + 9))\"}]|" \
  "$repo/sbc/app/default_config.yaml" >sbc.yaml
# The fleet's series (sbc_cluster_*) exist only with cluster.redis: a store on a loopback port where
# nothing listens (the SBC serves with its local state and reports sbc_cluster_store_up 0).
printf 'cluster:\n  redis: {address: "127.0.0.1:%d", timeout_ms: 200}\n' $((base + 8)) >>sbc.yaml
"$sbc" check-config sbc.yaml >/dev/null
start_sbc sbc "http://127.0.0.1:$metrics_port/healthz"
timeout 5 openssl s_client -connect "127.0.0.1:$tls_port" </dev/null >/dev/null 2>&1 || true
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt || true
check "the SBC serves /metrics" grep -q '^sbc_build_info' metrics.txt

# The names in the rules' expressions and the dashboard's queries (not in their comments).
python3 - "$rules" "$dashboard" <<'PY' | grep -o 'sbc_[a-z0-9_]*' | sort -u >used.txt
import json, sys, yaml
for group in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for rule in group["rules"]:
        print(rule["expr"])
for panel in json.load(open(sys.argv[2]))["panels"]:
    for target in panel.get("targets", []):
        print(target["expr"])
PY
{ grep -v '^#' "$allowlist" || true; } | sed '/^$/d' >allowed.txt  # may be empty
missing=()
while read -r name; do
  if ! grep -q "^${name}[{ ]" metrics.txt && ! grep -qx "$name" allowed.txt; then missing+=("$name"); fi
done <used.txt
check "every one of the $(wc -l <used.txt) sbc_* names used exists in the scrape or the allow-list (missing: ${missing[*]:-none})" \
  test "${#missing[@]}" -eq 0
while read -r name; do
  if grep -q "^${name}[{ ]" metrics.txt; then
    echo "note: $name is in the scrape now: remove it from $(basename "$allowlist")"
  fi
done <allowed.txt

cat >prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$rules"]
scrape_configs:
  - job_name: sbc
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
prometheus --config.file=prometheus.yml --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" >prometheus.log 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prometheus_port/-/ready"
rules_loaded() {
  curl -fsS "http://127.0.0.1:$prometheus_port/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
sys.exit(0 if sum(len(g["rules"]) for g in groups) >= 10 else 1)'
}
check "Prometheus loads the alerting rules" rules_loaded
# Dashboard variables as Grafana would fill them in.
python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["panels"]:
    for t in p.get("targets", []):
        print(t["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*").replace("\n", " "))
' "$dashboard" >queries.txt
bad=0
while read -r q; do
  status=$(curl -sS --get "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$q" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo error)
  if [ "$status" != success ]; then echo "  query failed: $q"; bad=$((bad + 1)); fi
done <queries.txt
check "Prometheus evaluates all $(wc -l <queries.txt) dashboard queries ($bad failed)" test "$bad" -eq 0

if [ "$failures" -ne 0 ]; then
  echo "--- sbc log"; cat sbc.log; echo "--- prometheus log (tail)"; tail -20 prometheus.log
  echo "dashboard_test: $failures checks failed"
  exit 1
fi
echo "dashboard_test: all checks passed"
