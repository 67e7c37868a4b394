# Sourced by the integration tests: their common arguments and check reporting.
# usage in a test: source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
# Sets sbc, probe, corpus (absolute paths from the arguments PATH/TO/sbc PATH/TO/sip_probe
# CORPUS_DIR), loads free_port_base, and defines pass, fail and check; `failures` counts fails.
sbc=$(readlink -f "$1")
probe=$(readlink -f "$2")
corpus=$(readlink -f "$3")
# shellcheck source=../../scripts/lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/ports.sh"

failures=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
