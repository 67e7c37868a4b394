#!/usr/bin/env bash
# Checks the Helm chart in helm/sbc without a cluster:
#   - helm lint --strict with the default values and each helm/sbc/ci/*.yaml
#   - helm template renders with each of them; every helm/sbc/ci-invalid/*.yaml is rejected
#     (with the error its "# expect:" line names)
#   - every rendered object validates against the Kubernetes API schemas (kubernetes-models,
#     prometheus-operator and cert-manager models) and the objects fit together
#     (helm/sbc/tests/validate.mjs, whose self-test first proves it rejects broken objects)
#   - the monitoring objects follow the cluster's capabilities
#   - yamllint on the values files and on the rendered output
#   - `sbc check-config` on the SBC configuration of every rendered ConfigMap
#   - the config part of values.schema.json is what scripts/chart-schema.py derives from
#     `sbc config-schema` (a key the SBC does not know is refused by helm lint as by the SBC)
#
# Usage: scripts/helm-check.sh [PATH_TO_SBC_BINARY]   (default: build/release/sbc/app/sbc)
# Runs offline but for Debian's archive and the npm registry (scripts/install-helm.sh).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart="$repo/helm/sbc"
sbc="${1:-$repo/build/release/sbc/app/sbc}"

"$repo/scripts/install-helm.sh" || { echo "FAIL install-helm"; exit 1; }
helm="$repo/build/tools/bin/helm"
export SBC_NODE_MODULES="$repo/build/tools/node/node_modules"
validate="$chart/tests/validate.mjs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

ok() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}
# run NAME CMD...: runs a check, shows its output only when it fails.
run() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    ok "$name"
  else
    fail "$name"
    sed 's/^/     /' "$work/out" | head -n 40
  fi
}

release="sbc-ci"
namespace="sbc-ci"
template() { "$helm" template "$release" "$chart" --namespace "$namespace" "$@"; }

# --- the validator rejects what it must ---------------------------------------------------------
run "validate.mjs self-test (broken objects are rejected)" node "$validate" --self-test

# --- values files --------------------------------------------------------------------------------
run "yamllint values.yaml ci/ ci-invalid/" \
  yamllint --strict -c "$chart/.yamllint" "$chart/values.yaml" "$chart/ci" "$chart/ci-invalid"
run "values.schema.json is valid JSON" node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' \
  "$chart/values.schema.json"
# The config part of values.schema.json is generated from the SBC's own schema: no drift.
run "values.schema.json embeds sbc config-schema (scripts/chart-schema.py --check)" \
  python3 "$repo/scripts/chart-schema.py" --check "$sbc"

# --- valid value sets -------------------------------------------------------------------------------
sets=("(defaults)")
for f in "$chart"/ci/*.yaml; do sets+=("$f"); done

for set in "${sets[@]}"; do
  if [ "$set" = "(defaults)" ]; then
    label="defaults"
    args=()
  else
    label="ci/$(basename "$set")"
    args=(-f "$set")
  fi
  out="$work/rendered-${label//\//_}"
  run "helm lint --strict [$label]" "$helm" lint --strict "$chart" --namespace "$namespace" "${args[@]}"
  if template "${args[@]}" >"$out" 2>"$work/err"; then
    ok "helm template [$label] ($(grep -c '^kind:' "$out") objects)"
  else
    fail "helm template [$label]"
    sed 's/^/     /' "$work/err" | head -n 20
    continue
  fi
  run "kubernetes schemas [$label]" node "$validate" "$out"
  run "yamllint rendered [$label]" yamllint --strict -c "$chart/.yamllint" "$out"

  # The SBC configuration in the ConfigMap, checked by the SBC itself.
  conf="$work/sbc-${label//\//_}.yaml"
  # shellcheck disable=SC2016 # JavaScript, not shell
  if ! node --input-type=module -e '
      import { createRequire } from "node:module";
      import { readFileSync, writeFileSync } from "node:fs";
      const require = createRequire(process.env.SBC_NODE_MODULES + "/noop.js");
      const YAML = require("yaml");
      const cms = YAML.parseAllDocuments(readFileSync(process.argv[1], "utf8"))
        .map((d) => d.toJS()).filter((o) => o && o.kind === "ConfigMap" && o.data && o.data["sbc.yaml"]);
      if (cms.length !== 1) { console.error(`expected one ConfigMap with sbc.yaml, found ${cms.length}`); process.exit(1); }
      writeFileSync(process.argv[2], cms[0].data["sbc.yaml"]);
    ' "$out" "$conf" 2>"$work/err"; then
    fail "extract sbc.yaml [$label]"
    sed 's/^/     /' "$work/err"
    continue
  fi
  # The relay's token key file comes from a Secret the pods mount, and the SBC reads it with the
  # configuration: check against a stand-in file of the same name instead.
  keyfile=$(sed -n 's|^  token_key_file: /etc/sbc/relay-keys/||p' "$conf")
  if [ -n "$keyfile" ]; then
    mkdir -p "$work/relay-keys"
    printf '# stand-in for the Secret\n1:000102030405060708090a0b0c0d0e0f\n' >"$work/relay-keys/$keyfile"
    sed -i "s|^  token_key_file: /etc/sbc/relay-keys/|  token_key_file: $work/relay-keys/|" "$conf"
  fi
  # Likewise the Digest credentials (policy.auth.credentials_file): a stand-in of one user in the
  # rendered realm, made by the SBC itself.
  credfile=$(sed -n 's|^    credentials_file: /etc/sbc/auth/||p' "$conf")
  if [ -n "$credfile" ] && [ -x "$sbc" ]; then
    realm=$(sed -n 's/^    realm: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$conf")
    mkdir -p "$work/auth"
    echo stand-in | "$sbc" ha1 alice "${realm:-sbc}" >"$work/auth/$credfile"
    sed -i "s|^    credentials_file: /etc/sbc/auth/|    credentials_file: $work/auth/|" "$conf"
  fi
  # Likewise the Redis password (cluster.redis.password_file), from a Secret the pods mount.
  redisfile=$(sed -n 's|^    password_file: /etc/sbc/redis/||p' "$conf")
  if [ -n "$redisfile" ]; then
    mkdir -p "$work/redis"
    echo stand-in-password >"$work/redis/$redisfile"
    sed -i "s|^    password_file: /etc/sbc/redis/|    password_file: $work/redis/|" "$conf"
  fi
  if [ ! -x "$sbc" ]; then
    # The binary may be being rebuilt: give it a moment before failing.
    for _ in $(seq 1 30); do [ -x "$sbc" ] && break; sleep 1; done
  fi
  if [ ! -x "$sbc" ]; then
    fail "sbc check-config [$label]: no SBC binary at $sbc"
  # The downward API's addresses, as the chart passes them (${POD_IP}, ${NODE_IP} in the values).
  # SBC_NONCE_KEY: the nonce key's Secret, as the chart passes it. SBC_CI_REDIS_SERVICE_HOST: the
  # trial Redis Service's ClusterIP, as Kubernetes passes it (service links).
  elif POD_IP=10.244.1.7 NODE_IP=192.0.2.21 \
    SBC_NONCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
    SBC_CI_REDIS_SERVICE_HOST=10.96.0.63 \
    "$sbc" check-config "$conf" >"$work/out" 2>&1; then
    ok "sbc check-config [$label]"
  elif grep -qE ': metrics: unknown key$' "$work/out"; then
    # The metrics section is being added to the SBC; this binary predates it. Check the rest of
    # the file with that one section removed, so every other key is still verified.
    sed '/^metrics:/,/^[^ #]/{/^metrics:/d;/^ /d}' "$conf" >"$conf.nometrics"
    if "$sbc" check-config "$conf.nometrics" >"$work/out2" 2>&1; then
      ok "sbc check-config [$label]: SKIPPED the metrics section only ($sbc says 'metrics: unknown key'; it predates the metrics endpoint); the rest is valid"
    else
      fail "sbc check-config [$label] (without metrics)"
      sed 's/^/     /' "$work/out2"
    fi
  else
    fail "sbc check-config [$label]"
    sed 's/^/     /' "$work/out"
  fi
done

# --- the cluster's capabilities decide the monitoring objects --------------------------------------
mon=(--set monitoring.serviceMonitor.enabled=true --set monitoring.prometheusRule.enabled=true)
n=$(template "${mon[@]}" 2>/dev/null | grep -cE '^kind: (ServiceMonitor|PrometheusRule)$')
if [ "$n" = 0 ]; then ok "monitoring objects omitted without monitoring.coreos.com/v1"; else fail "monitoring objects rendered without the API ($n)"; fi
n=$(template "${mon[@]}" --api-versions monitoring.coreos.com/v1 2>/dev/null | grep -cE '^kind: (ServiceMonitor|PrometheusRule)$')
if [ "$n" = 2 ]; then ok "monitoring objects rendered with monitoring.coreos.com/v1"; else fail "monitoring objects with the API: $n of 2"; fi

# --- a config change rolls the pods ----------------------------------------------------------------
sum() { template "$@" | grep -m1 'checksum/config:'; }
if [ "$(sum)" != "$(sum --set config.transport.idle_timeout_ms=60000)" ]; then
  ok "checksum/config changes with the configuration"
else
  fail "checksum/config does not change with the configuration"
fi

# --- invalid value sets are rejected -----------------------------------------------------------------
for f in "$chart"/ci-invalid/*.yaml; do
  label="ci-invalid/$(basename "$f")"
  expect=$(sed -n 's/^# expect: //p' "$f" | head -n 1)
  if template -f "$f" >"$work/out" 2>&1; then
    fail "$label accepted by helm template"
  elif [ -n "$expect" ] && ! grep -qF -- "$expect" "$work/out"; then
    fail "$label rejected, but not with '$expect'"
    sed 's/^/     /' "$work/out" | head -n 10
  elif grep -q "don't meet the specifications of the schema" "$work/out" \
    && "$helm" lint --strict "$chart" -f "$f" >/dev/null 2>&1; then
    # (helm lint renders leniently, so only schema rejections are expected from it too)
    fail "$label accepted by helm lint"
  else
    ok "$label rejected ($expect)"
  fi
done

echo
if [ "$failures" -ne 0 ]; then
  echo "helm-check: $failures check(s) FAILED"
  exit 1
fi
echo "helm-check: all checks passed"
