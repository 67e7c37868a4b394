#!/usr/bin/env bash
# Runs the real `sbc` binary the way operators do: validate the whole corpus, check configs.
# usage: cli_test.sh PATH/TO/sbc CORPUS_DIR
set -euo pipefail
sbc=$1
corpus=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

# Every valid RFC 4475 message passes together, exit 0; but intmeth, whose From display name
# escapes a NUL: the edge refuses NUL anywhere in the headers (a deviation, see corpus_test.cpp).
mapfile -t valid < <(awk -F'\t' 'NR>1 && $3=="valid" && $1!="intmeth" {print $1}' \
  "$corpus/rfc4475/EXPECTED.tsv")
[ ${#valid[@]} -ge 12 ] || fail "expected at least 12 valid messages, found ${#valid[@]}"
set +e
out=$("$sbc" validate "$corpus/rfc4475/intmeth.dat")
status=$?
set -e
[ $status -eq 1 ] && grep -q "intmeth.dat: invalid 400 NUL byte in header" <<<"$out" ||
  fail "intmeth not refused for its NUL (exit $status): $out"
files=()
for name in "${valid[@]}"; do files+=("$corpus/rfc4475/$name.dat"); done
out=$("$sbc" validate "${files[@]}") || fail "sbc validate of the valid set exited $?: $out"
[ "$(grep -c ': valid$' <<<"$out")" -eq ${#valid[@]} ] || fail "not all valid: $out"

# Every invalid one is reported invalid, with a status or drop, and the exit status is 1.
mapfile -t invalid < <(awk -F'\t' 'NR>1 && $3=="invalid" {print $1}' "$corpus/rfc4475/EXPECTED.tsv")
files=()
for name in "${invalid[@]}"; do files+=("$corpus/rfc4475/$name.dat"); done
set +e
out=$("$sbc" validate "${files[@]}")
status=$?
set -e
[ $status -eq 1 ] || fail "sbc validate of the invalid set exited $status"
[ "$(grep -cE ': invalid ([0-9]{3}|drop) .+$' <<<"$out")" -eq ${#invalid[@]} ] || fail "unexpected output: $out"
grep -q "badvers.dat: invalid 505 " <<<"$out" || fail "badvers not 505: $out"

# A broken configuration is refused with its line (the daemon is tested in tests/integration).
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf 'listeners:\n  - transport: carrier-pigeon\n' >"$tmp"
if err=$("$sbc" check-config "$tmp" 2>&1); then fail "check-config accepted a bad transport"; fi
grep -q ":2: listeners\[0\].transport: must be udp, tcp or tls" <<<"$err" || fail "bad error: $err"
# `run --core` takes a sip: URI of the core (an address or a DNS name), and says what is wrong
# with another before starting.
if err=$(timeout 10 "$sbc" run --core sip:alice@core.example.com 2>&1); then fail "run accepted a core URI with a user"; fi
grep -q 'must not have a user part' <<<"$err" || fail "bad --core error: $err"
# A configuration that listens nowhere is refused, with the reason, not started silently.
printf 'log: {level: info}\n' >"$tmp"
if err=$("$sbc" check-config "$tmp" 2>&1); then fail "check-config accepted a file without listeners"; fi
grep -q "listeners: none configured, the SBC would listen nowhere" <<<"$err" || fail "bad error: $err"
if err=$(timeout 10 "$sbc" run --config "$tmp" 2>&1); then fail "run started without listeners"; fi
grep -q "listeners: none configured" <<<"$err" || fail "bad run error: $err"
# The usage ends its last line (on --help to stdout, without a command to stderr).
[ "$("$sbc" --help | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ] || fail "--help ends without a newline"
[ "$("$sbc" 2>&1 >/dev/null | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ] || fail "usage ends without a newline"
echo "cli: all checks passed"
