#!/usr/bin/env bash
# Layers that only point down: every `#include "..."` of the product sources must name a file of
# a layer its own layer may use (the table below, which docs/architecture.md draws). An include
# that points up or sideways fails the check with the file, the line and the rule it breaks.
# usage: scripts/check-layers.sh            (run by scripts/lint.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

# Layers, bottom to top. A layer is a folder.
layer_of() {  # layer_of PATH: the layer a source or header belongs to
  case $1 in
    sbc/common/*) echo common ;;
    metrics/*) echo metrics ;;
    sbc/sip/*) echo sip ;;
    sbc/crypto/*) echo crypto ;;
    sbc/dns/*) echo dns ;;
    policy/*) echo policy ;;
    sbc/transport/*) echo transport ;;
    tls/*) echo tls ;;
    sbc/proxy/*) echo proxy ;;
    sbc/capture/*) echo capture ;;
    sbc/cluster/*) echo cluster ;;
    sbc/media/*) echo media ;;
    sbc/app/*) echo app ;;
    *) echo other ;;
  esac
}

# What each layer may include (besides itself).
declare -A may_use=(
  [common]=""
  [metrics]=""
  [sip]="common"
  [crypto]="common"
  [dns]="common"
  [policy]="common metrics sip crypto"
  [transport]="common metrics sip policy"
  [tls]="common metrics sip crypto transport"
  [media]="common"
  [proxy]="common metrics sip crypto transport media"
  [capture]="common metrics sip policy transport"
  [cluster]="common"
  [app]="common metrics sip crypto dns policy transport tls proxy capture cluster media"
)

# Known upward includes, none to be added: FILE INCLUDE (the two of issue 14 are gone).
exceptions=()

violations=0
checked=0
while IFS= read -r file; do
  from=$(layer_of "$file")
  [ "$from" != other ] || continue
  while IFS=: read -r line include; do
    checked=$((checked + 1))
    to=$(layer_of "$include")
    [ "$to" != other ] || continue  # generated files, third-party headers in quotes
    [ "$to" != "$from" ] || continue
    allowed=" ${may_use[$from]} "
    [[ $allowed == *" $to "* ]] && continue
    for e in "${exceptions[@]+"${exceptions[@]}"}"; do [ "$e" = "$file $include" ] && continue 2; done
    echo "$file:$line: includes $include: layer '$from' may not use '$to' (may use:${may_use[$from]:- nothing})"
    violations=$((violations + 1))
  done < <(grep -n '^#include "' "$file" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done < <(git ls-files 'sbc/*.cpp' 'sbc/*.hpp' 'policy/*.cpp' 'policy/*.hpp' 'tls/*.cpp' 'tls/*.hpp' \
  'metrics/*.cpp' 'metrics/*.hpp')

if [ "$violations" -ne 0 ]; then
  echo "check-layers: $violations include(s) point against the layers (table in scripts/check-layers.sh)"
  exit 1
fi
echo "check-layers: $checked includes, all point down (${#exceptions[@]} known exceptions left)"
