#!/usr/bin/env bash
# The admin API over HTTP with a bearer token (admin.http) against a running SBC with a Kamailio
# core: the right token gets the status and the flows as JSON; a wrong or missing token gets 401
# with WWW-Authenticate: Bearer, counted in sbc_admin_requests_total{interface="http",
# result="unauthorized"}; the token never reaches the log; check-config refuses HTTP without a
# token file, and on the metrics port.
# usage: admin_http_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 34000 2000)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2)) admin_port=$((base + 3))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core

token="t0ken-$RANDOM$RANDOM-0123456789abcdef"
printf '%s\n' "$token" >admin-token
chmod 600 admin-token
cat >sbc.yaml <<YAML
listeners:
  - {transport: udp, address: 127.0.0.1, port: $sbc_port}
core:
  targets: [{uri: "sip:127.0.0.1:$core_port"}]
  probe_interval_ms: 300
metrics: {address: 127.0.0.1, port: $metrics_port}
admin:
  socket: ""
  http: {address: 127.0.0.1, port: $admin_port, token_file: "$work/admin-token"}
YAML
start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"
url="http://127.0.0.1:$admin_port"

code=$(curl -s -o status.json -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$url/v1/status" || true)
check "the right token gets the status ($code)" \
  python3 -c 'import json,sys; s=json.load(open("status.json")); sys.exit(not (sys.argv[1] == "200" and s["ok"] and s["workers"] >= 1))' "$code"
code=$(curl -s -o bans.json -w '%{http_code}' -H "Authorization: Bearer $token" \
  -d '{"command": "bans", "stage": "scanner"}' "$url/v1/admin" || true)
check "a JSON request to /v1/admin is answered ($code)" \
  python3 -c 'import json,sys; b=json.load(open("bans.json")); sys.exit(not (sys.argv[1] == "200" and b["bans"] == []))' "$code"
code=$(curl -s -o flows.json -w '%{http_code}' -H "Authorization: Bearer $token" -d '{"limit": 3}' "$url/v1/flows" || true)
check "flows with its fields in the body ($code)" \
  python3 -c 'import json,sys; f=json.load(open("flows.json")); sys.exit(not (sys.argv[1] == "200" and "tcp" in f))' "$code"
code=$(curl -s -o bad.json -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$url/v1/nonsense" || true)
check "an unknown command is a 400 with the reason ($code)" \
  bash -c "[ '$code' = 400 ] && grep -q 'unknown command' bad.json"

curl -s -D wrong.headers -o wrong.json -X POST -H "Authorization: Bearer not-$token" "$url/v1/status" || true
check "a wrong token gets 401" grep -q "^HTTP/1.1 401" wrong.headers
check "with WWW-Authenticate: Bearer" grep -qi "^WWW-Authenticate: Bearer" wrong.headers
check "and nothing of the API" bash -c "! grep -q workers wrong.json"
curl -s -D none.headers -o none.json -X POST "$url/v1/bans" || true
check "no token gets 401 too" grep -q "^HTTP/1.1 401" none.headers
curl -s -D basic.headers -o /dev/null -X POST -u "admin:$token" "$url/v1/status" || true
check "the token as a Basic password gets 401" grep -q "^HTTP/1.1 401" basic.headers
head -c 8000 /dev/zero | tr '\0' 'x' >big.body
code=$(curl -s -o big.json -w '%{http_code}' -H "Authorization: Bearer $token" --data-binary @big.body "$url/v1/status" || true)
check "a body past the limit is refused ($code)" test "$code" = 413

curl -s "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
unauthorized=$(metric 'sbc_admin_requests_total{interface="http",result="unauthorized"}')
ok=$(metric 'sbc_admin_requests_total{interface="http",result="ok"}')
error=$(metric 'sbc_admin_requests_total{interface="http",result="error"}')
check "the refusals are counted (unauthorized $unauthorized)" test "$unauthorized" = 3
check "and the answers (ok $ok, error $error)" bash -c "[ '$ok' = 3 ] && [ '$error' = 2 ]"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$metrics_port/v1/status" || true)
check "the metrics port serves no admin API ($code)" test "$code" = 404
check "the token is never logged" bash -c "! grep -q -e '$token' sbc.log"

# --- check-config: no token, no HTTP admin; never on the metrics port
sed "s#, token_file: \"$work/admin-token\"##" sbc.yaml >notoken.yaml
set +e
"$sbc" check-config notoken.yaml >notoken.out 2>&1
notoken=$?
sed "s#port: $admin_port, token_file#port: $metrics_port, token_file#" sbc.yaml >same.yaml
"$sbc" check-config same.yaml >same.out 2>&1
same=$?
set -e
check "check-config refuses http without a token file (exit $notoken)" \
  bash -c "[ $notoken != 0 ] && grep -q 'no token, no HTTP admin' notoken.out"
check "and http on the metrics port (exit $same)" \
  bash -c "[ $same != 0 ] && grep -q 'never on the metrics port' same.out"

if [ "$failures" -ne 0 ]; then
  for f in sbc.log status.json wrong.headers notoken.out same.out; do
    echo "--- $f"
    cat "$f" 2>/dev/null || true
  done
  exit 1
fi
echo "admin_http_test: all checks passed"
