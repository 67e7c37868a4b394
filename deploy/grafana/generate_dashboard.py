#!/usr/bin/env python3
# Writes deploy/grafana/sbc-dashboard.json (usage: generate_dashboard.py OUTPUT). The dashboard is
# generated so that its panels stay consistent (one selector, one layout rule); edit this file and
# regenerate rather than editing the JSON: tests/integration/dashboard_test.sh checks they match.
import json
ds = {"type": "prometheus", "uid": "${datasource}"}
sel = 'instance=~"$instance"'
panels = []
y = 0
def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1
x = 0
def ts(title, targets, unit="short", w=12, h=8, desc="", kind="timeseries", stack=False):
    global x, y
    if x + w > 24:
        x = 0; y += h
    p = {
        "type": kind, "title": title, "description": desc, "datasource": ds,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [{"datasource": ds, "refId": chr(ord("A") + i), "expr": e, "legendFormat": l}
                    for i, (e, l) in enumerate(targets)],
    }
    if stack and kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}}
    panels.append(p)
    x += w
    if x >= 24:
        x = 0; y += h
def flush():
    global x, y
    if x:
        x = 0; y += 8

row("Overview")
ts("SBCs up", [(f'sum(up{{job=~".*sbc.*", {sel}}})', "up")], w=4, h=4, kind="stat")
ts("Ready", [(f'sum(sbc_ready{{{sel}}})', "ready")], w=4, h=4, kind="stat")
ts("Cores up", [(f'sum(max by (core) (sbc_core_up{{{sel}}}))', "up"), (f'count(count by (core) (sbc_core_up{{{sel}}}))', "configured")], w=4, h=4, kind="stat")
ts("Active transactions", [(f'sum(sbc_relay_transactions_active{{{sel}}})', "transactions")], w=4, h=4, kind="stat")
ts("Banned sources", [(f'max(sbc_policy_bans_active{{{sel}}})', "banned")], w=4, h=4, kind="stat")
ts("Certificate expires in", [(f'min(sbc_tls_certificate_expiry_timestamp_seconds{{{sel}}}) - time()', "earliest")], unit="s", w=4, h=4, kind="stat")
x = 0; y += 4

row("Traffic")
ts("Messages received by transport", [(f'sum by (transport) (rate(sbc_messages_received_total{{{sel}}}[$__rate_interval]))', "{{transport}}")], unit="reqps", stack=True)
ts("Responses the edge sent, by class", [(f'sum by (class) (rate(sbc_responses_sent_total{{{sel}}}[$__rate_interval]))', "{{class}}")], unit="reqps")
ts("Relayed requests and responses", [
    (f'sum by (direction) (rate(sbc_relay_requests_total{{{sel}}}[$__rate_interval]))', "requests {{direction}}"),
    (f'sum by (direction) (rate(sbc_relay_responses_total{{{sel}}}[$__rate_interval]))', "responses {{direction}}")], unit="reqps")
ts("Open TCP/TLS connections", [
    (f'sum(sbc_stream_connections_active{{{sel}}})', "open"),
    (f'sum(rate(sbc_stream_connections_refused_total{{{sel}}}[$__rate_interval]))', "refused/s")])
flush()

row("Rejections")
ts("Policy rejections by stage and reason", [(f'sum by (stage, reason) (rate(sbc_policy_decisions_total{{{sel}}}[$__rate_interval])) > 0', "{{stage}}/{{reason}}")], unit="reqps", stack=True)
ts("Relay rejections by reason", [
    (f'sum by (reason) (rate(sbc_relay_rejections_total{{{sel}}}[$__rate_interval])) > 0', "answered {{reason}}"),
    (f'sum by (reason) (rate(sbc_relay_messages_dropped_total{{{sel}}}[$__rate_interval])) > 0', "dropped {{reason}}")], unit="reqps", stack=True)
ts("Invalid messages", [(f'sum by (action) (rate(sbc_invalid_messages_total{{{sel}}}[$__rate_interval]))', "{{action}}")], unit="reqps")
ts("Bans", [
    (f'max(sbc_policy_bans_active{{{sel}}})', "banned now"),
    (f'sum(rate(sbc_policy_bans_total{{{sel}}}[$__rate_interval]))', "bans imposed/s"),
    (f'sum(rate(sbc_policy_banned_dropped_total{{{sel}}}[$__rate_interval]))', "packets of banned sources dropped/s")])
ts("Digest authentication", [
    (f'sum by (reason) (rate(sbc_policy_decisions_total{{stage="auth", {sel}}}[$__rate_interval]))', "{{reason}}"),
    (f'sum(rate(sbc_auth_successes_total{{{sel}}}[$__rate_interval]))', "success")], unit="reqps",
   desc="The auth stage: challenges (401/407), stale nonces, failures, replays, AoRs not the user's own, malformed credentials; and accepted credentials.")
flush()

row("Latency and the core")
ts("Relay processing time (SBC's own, arrival to hand-off)", [
    (f'histogram_quantile({q}, sum by (le, direction) (rate(sbc_relay_processing_seconds_bucket{{{sel}}}[$__rate_interval])))', f"p{int(q*100)} {{{{direction}}}}")
    for q in (0.5, 0.9, 0.99)], unit="s")
ts("Transaction time (request to first final answer)", [
    (f'histogram_quantile({q}, sum by (le, direction, method) (rate(sbc_relay_transaction_seconds_bucket{{{sel}}}[$__rate_interval])))', f"p{int(q*100)} {{{{direction}}}} {{{{method}}}}")
    for q in (0.5, 0.99)], unit="s",
   desc="The core's (or the user agent's) time plus the SBC's, ringing included for INVITE; the SBC's own 408/503 count too.")
ts("Relayed messages timed", [(f'sum by (direction) (rate(sbc_relay_processing_seconds_count{{{sel}}}[$__rate_interval]))', "{{direction}}")], unit="reqps")
ts("Cores up", [(f'max by (core) (sbc_core_up{{{sel}}})', "core {{core}}")], desc="1 while a core answers probes or requests (index in core.targets).")
ts("Core requests, failures, failovers", [
    (f'sum by (core) (rate(sbc_core_requests_total{{{sel}}}[$__rate_interval]))', "requests core {{core}}"),
    (f'sum by (core) (rate(sbc_core_failures_total{{{sel}}}[$__rate_interval]))', "failures core {{core}}"),
    (f'sum(rate(sbc_relay_failovers_total{{{sel}}}[$__rate_interval]))', "failovers")], unit="reqps")
ts("Active transactions", [(f'sum by (instance) (sbc_relay_transactions_active{{{sel}}})', "{{instance}}")])
ts("Relay retransmissions", [(f'sum by (kind) (rate(sbc_relay_retransmissions_total{{{sel}}}[$__rate_interval]))', "{{kind}}")], unit="reqps")
flush()

row("TLS")
ts("TLS handshakes by result and version", [(f'sum by (result, version) (rate(sbc_tls_handshakes_total{{{sel}}}[$__rate_interval]))', "{{result}} {{version}}")], unit="reqps", stack=True)
ts("TLS handshake duration", [
    (f'histogram_quantile({q}, sum by (le) (rate(sbc_tls_handshake_duration_seconds_bucket{{{sel}}}[$__rate_interval])))', f"p{int(q*100)}")
    for q in (0.5, 0.9, 0.99)], unit="s")
ts("Certificate expiry by listener", [(f'min by (instance, listener) (sbc_tls_certificate_expiry_timestamp_seconds{{{sel}}}) - time()', "{{instance}} {{listener}}")], unit="s")
flush()

row("Fleet (cluster.redis)")
ts("Shared store connected", [(f'sbc_cluster_store_up{{{sel}}}', "{{instance}}")], w=6,
   desc="1 while this replica is connected to the fleet's Redis; 0 while it decides with its local state alone. Only SBCs with cluster.redis export these series.")
ts("Time since the store last answered", [(f'sbc_cluster_sync_lag_seconds{{{sel}}}', "{{instance}}")], unit="s", w=6,
   desc="Pinged every second while connected: above a few seconds the store is not answering (it keeps growing while the store is lost).")
ts("Replicas the store counts", [(f'sbc_cluster_replicas{{{sel}}}', "{{instance}}")], w=6,
   desc="Replicas that announced themselves to the fleet's Redis within 3 s: the global rate limits are split among them.")
ts("Updates exchanged with the store", [(f'sum by (result) (rate(sbc_cluster_updates_total{{{sel}}}[$__rate_interval]))', "{{result}}")], unit="ops", w=6,
   desc="written: bans and failures taken by the store; failed: refused by it; dropped: the queue to it was full (cluster.redis.max_queued); received: bans and lifts from other replicas, and bans loaded on (re)connecting.")
flush()

for i, p in enumerate(panels):
    p["id"] = i + 1

dashboard = {
    "__inputs": [],
    "title": "SBC",
    "uid": "sbc-overview",
    "description": "SIP security gateway: traffic, rejections, relay latency, TLS, cores, the fleet store. Metric catalogue: README 'Metrics and health'.",
    "tags": ["sbc", "sip"],
    "timezone": "utc",
    "schemaVersion": 38,
    "version": 1,
    "editable": True,
    "graphTooltip": 1,
    "refresh": "30s",
    "time": {"from": "now-1h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1},
        {"name": "instance", "label": "SBC", "type": "query", "datasource": ds,
         "query": {"query": "label_values(sbc_build_info, instance)", "refId": "instance"},
         "definition": "label_values(sbc_build_info, instance)",
         "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "hide": 0, "refresh": 2,
         "sort": 1},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}
import sys
json.dump(dashboard, open(sys.argv[1], "w"), indent=2)
open(sys.argv[1], "a").write("\n")
