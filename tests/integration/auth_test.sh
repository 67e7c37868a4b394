#!/usr/bin/env bash
# Digest authentication at the edge with real clients and a real attacker, Kamailio as the core:
# - tests/tools/sip_ua (its own digest code, SHA-256 offered first) registers and calls through
#   the SBC; the core gets P-Asserted-Identity and never the credentials;
# - sipsak (MD5 only, so against a second SBC that offers MD5 only) registers; a wrong password
#   and another user's address-of-record are refused;
# - an unknown user and a wrong password get the same answer (svwar finds nothing, even with
#   --force);
# - svcrack guessing alice's password (the right one is in its list) is banned before it gets
#   there, while alice keeps registering and calling from another address.
# - with auth mode "core" (a second Kamailio that authenticates itself), the SBC counts the core's
#   refusals of a source's credentials and bans it.
# - `sbc ctl flows` counts the registrations: alice (TCP) and bob (UDP) by their authenticated
#   user and transport; alice's "Contact: *" with "Expires: 0" takes hers off.
# The scanner stage is left out of the chain and the REGISTER rate limit is generous:
# authentication and its bans must hold on their own.
# usage: auth_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 30000 1500)
sbc_port=$base core_port=$((base + 1)) metrics_port=$((base + 2)) scan_port=$((base + 3))
md5_port=$((base + 4)) md5_metrics=$((base + 5)) sipsak_contact=$((base + 6))
core_auth_port=$((base + 7)) coremode_port=$((base + 8)) coremode_metrics=$((base + 9))
kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core
kamailio_core_cfg "$core_auth_port" >core-auth.cfg
start_kamailio core-auth -A CORE_AUTH

"$sbc" ha1 alice example.com <<<"alice-secret" >users.txt
"$sbc" ha1 bob example.com <<<"bob-secret" >>users.txt
start_auth_sbc() {  # start_auth_sbc NAME SIP_PORT METRICS_PORT ALGORITHMS [CORE_PORT MODE BANS]
  cat >"$1.yaml" <<YAML
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: $2}
  - {transport: tcp, address: 127.0.0.1, port: $2}
core: {targets: [{uri: "sip:127.0.0.1:${5:-$core_port}"}]}
metrics: {port: $3}
admin: {socket: "$work/$1.sock"}
policy:
  chain: [acl, rate_limit, sips, methods, auth]
  # Generous: the auth stage's own ban (after 10 failures), not the flood limit, must stop the
  # guessing (with neither, svcrack does find the password: checked when this test was written).
  rate_limit: {register: {rate: 100, burst: 100}}
  # sipsak registers sip:USER@127.0.0.1 (the SBC's address as the domain): an alias of ours.
  auth: {mode: ${6:-edge}, realm: example.com, credentials_file: $work/users.txt, algorithms: $4,
         ban_after_failures: ${7:-10}, domains: [example.com, 127.0.0.1]}
YAML
  start_sbc "$1" "http://127.0.0.1:$3/readyz"
}
start_auth_sbc sbc "$sbc_port" "$metrics_port" "[SHA-256, MD5]"
start_auth_sbc md5 "$md5_port" "$md5_metrics" "[MD5]"
# Each sip_ua run is one socket (one worker, by the kernel's choice): the two runs' failures add
# up at the source's home worker, which bans at the third.
start_auth_sbc coremode "$coremode_port" "$coremode_metrics" "[MD5]" "$core_auth_port" core 3
for _ in $(seq 50); do grep -q "core got OPTIONS" core.log && break; sleep 0.1; done

ua() { "$ua" "$1" 127.0.0.1 "$sbc_port" "${@:2}"; }
# The legitimate users talk from 127.0.0.2; the attacker (svcrack cannot bind) from 127.0.0.1.
export SIP_UA_LOCAL_ADDRESS=127.0.0.2

# --- legitimate users, SHA-256
SIP_UA_PASSWORD=bob-secret ua udp bob register serve 5 >bob.out 2>&1 &
bob=$!
wait_line bob.out "REGISTER 200"
SIP_UA_PASSWORD=alice-secret ua tcp alice register call sip:bob@example.com >alice.out 2>&1 || true
end_serve $bob bob.out
check "alice answers the challenge with SHA-256 and registers" \
  bash -c 'grep -qx "AUTH SHA-256 REGISTER" alice.out && grep -qx "REGISTER 200" alice.out'
check "bob registers over UDP" grep -qx "REGISTER 200" bob.out
check "alice's INVITE is challenged (407), answered, and the call is set up and torn down" \
  bash -c 'grep -qx "AUTH SHA-256 INVITE" alice.out && grep -qx "INVITE 200" alice.out && grep -qx "BYE 200" alice.out'
check "bob gets the call" bash -c 'grep -qx "INVITE received" bob.out && grep -qx "BYE received" bob.out'
check "the core gets alice's identity asserted and no credentials" \
  grep -q "core identity INVITE pai=<sip:alice@example.com> authorization=<null> proxy-authorization=<null>" core.log
check "no credentials of our realm reach the core" bash -c '! grep -q "realm=\"example.com\"" core.log'
check "the core got no ACK for the SBC's own 407 (absorbed at the edge)" \
  test "$(grep -c "core got ACK" core.log)" -eq 1

# --- the registrations, as `sbc ctl flows` counts them (bob's UA has ended by now: the entries
# stay until the registrations expire or are removed)
ctl() { "$sbc" ctl --socket "$work/sbc.sock" "$@"; }
ctl --json flows >flows.json 2>&1 || true
check "flows --json counts alice (TCP) and bob (UDP), each once, by authenticated user" \
  python3 -c 'import json,sys; r=json.load(open("flows.json"))["registrations"]; u={e["user"]: e["registrations"] for e in r["users"]}; sys.exit(not (r["total"] == 2 and r["tcp"] == 1 and r["udp"] == 1 and r["tls"] == 0 and r["unauthenticated"] == 0 and u == {"alice": 1, "bob": 1}))'
ctl flows >flows.out 2>&1 || true
check "and sbc ctl flows shows them to people" \
  bash -c 'grep -qE "^registrations +2 " flows.out && grep -qE "^alice +1$" flows.out && grep -qE "^bob +1$" flows.out'
SIP_UA_PASSWORD=alice-secret ua tcp alice unregister >unregister.out 2>&1 || true
check "alice removes her bindings (Contact: *, Expires: 0)" grep -qx "UNREGISTER 200" unregister.out
ctl --json flows >flows2.json 2>&1 || true
check "and flows counts bob only (UDP) after that" \
  python3 -c 'import json,sys; r=json.load(open("flows2.json"))["registrations"]; sys.exit(not (r["total"] == 1 and r["tcp"] == 0 and r["udp"] == 1 and [e["user"] for e in r["users"]] == ["bob"]))'

# --- wrong passwords, unknown users, hijacking
SIP_UA_DUMP=wrong.dump SIP_UA_PASSWORD=guess ua udp alice register >wrong.out 2>&1 || true
SIP_UA_DUMP=unknown.dump SIP_UA_PASSWORD=guess ua udp mallory register >unknown.out 2>&1 || true
check "a wrong password is refused (401)" grep -qx "REGISTER 401" wrong.out
check "an unknown user is refused the same way (401)" grep -qx "REGISTER 401" unknown.out
shape() {  # the last answer's status and header names, the challenge with its nonce masked
  awk 'BEGIN{RS="----\n"} {last=$0} END{print last}' "$1" | tr -d '\r' |
    sed -e 's/nonce="[0-9a-f]*"/nonce="N"/' | awk -F: '/^SIP\/2.0|Authenticate/{print; next} /:/{print $1}'
}
shape wrong.dump >wrong.shape
shape unknown.dump >unknown.shape
check "an unknown user and a wrong password look exactly alike" cmp -s wrong.shape unknown.shape
SIP_UA_AUTH_USER=alice SIP_UA_PASSWORD=alice-secret ua udp bob register >hijack.out 2>&1 || true
check "alice's credentials cannot register bob's address-of-record (403)" grep -qx "REGISTER 403" hijack.out

# --- sipsak (MD5) against the MD5 edge
sipsak_register() {  # sipsak_register USER AUTH_USER PASSWORD
  timeout 20 sipsak -i -U -C "sip:$1@127.0.0.1:$sipsak_contact" -x 60 -a "$3" -u "$2" \
    -s "sip:$1@127.0.0.1:$md5_port" >"sipsak-$1-$2.out" 2>&1
}
check "sipsak registers alice with MD5 Digest" sipsak_register alice alice alice-secret
if sipsak_register bob bob nope; then fail "sipsak with a wrong password does not register"; else
  pass "sipsak with a wrong password does not register"
fi
sipsak_register bob alice alice-secret || true
check "sipsak cannot bind bob's address-of-record with alice's credentials (403)" \
  grep -q "403 Forbidden" sipsak-bob-alice.out

# --- enumeration and password guessing (svcrack only knows MD5: it gives up on a SHA-256
# challenge with "Unknown algorithm", so it guesses against the MD5 edge). Once banned it hears
# nothing more: it stops sending after --maximumtime seconds without an answer (3, not its 10:
# before the ban answers come within milliseconds), then waits its own fixed 10 s.
printf '%s\n' alice bob nobody zed >names.txt
timeout 60 svwar --force -d names.txt -m REGISTER -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 \
  -x 127.0.0.1 -P "$scan_port" >svwar.out 2>&1 || true
check "svwar finds no user (unknown and known users look alike)" grep -q "found nothing" svwar.out
printf '%s\n' guess1 guess2 guess3 guess4 guess5 guess6 guess7 guess8 guess9 guess10 guess11 \
  guess12 guess13 alice-secret guess15 >words.txt
timeout 90 svcrack -u alice -d words.txt -p "$md5_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 \
  -P "$((scan_port + 1))" --maximumtime 3 >svcrack.out 2>&1 || true
check "svcrack does not crack alice's password" \
  bash -c 'grep -q "found nothing" svcrack.out && ! grep -q "alice-secret" svcrack.out'
curl -fsS "http://127.0.0.1:$md5_metrics/metrics" >md5-metrics.txt
failed=$(metric 'sbc_policy_decisions_total{stage="auth",reason="failed"}' md5-metrics.txt)
bans=$(metric 'sbc_policy_bans_total' md5-metrics.txt)
check "the guesses counted as failures (${failed:-0}) and the guesser was banned (${bans:-0})" \
  bash -c "[ '${failed:-0}' -ge 10 ] && [ '${bans:-0}' -ge 1 ]"
# Alice, elsewhere, is not affected by the attacker's ban.
SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$md5_port" alice register >after.out 2>&1 || true
check "alice still registers (MD5) while the attacker is banned" \
  bash -c 'grep -qx "AUTH MD5 REGISTER" after.out && grep -qx "REGISTER 200" after.out'
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
successes=$(metric 'sbc_auth_successes_total')
check "successes are counted (${successes:-0})" test "${successes:-0}" -ge 3

# --- auth mode core: the core challenges, the SBC counts its refusals
SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$coremode_port" alice register >core-ok.out 2>&1 || true
check "in core mode the core's own challenge is answered through the SBC" \
  bash -c 'grep -qx "AUTH MD5 REGISTER" core-ok.out && grep -qx "REGISTER 200" core-ok.out'
for i in 1 2; do
  SIP_UA_LOCAL_ADDRESS=127.0.0.3 SIP_UA_PASSWORD=guess "$ua" udp 127.0.0.1 "$coremode_port" alice \
    register >"core-wrong$i.out" 2>&1 || true
done
SIP_UA_LOCAL_ADDRESS=127.0.0.3 SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$coremode_port" \
  alice register >core-banned.out 2>&1 || true
refusals=$(curl -fsS "http://127.0.0.1:$coremode_metrics/metrics" | metric 'sbc_auth_core_refusals_total' -)
check "the core's refusals of wrong passwords are counted (${refusals:-0})" test "${refusals:-0}" -ge 3
check "and ban the guessing source: it gets no answer any more" grep -qx "REGISTER timeout" core-banned.out
SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$coremode_port" alice register >core-ok2.out 2>&1 || true
check "while another source still registers" grep -qx "REGISTER 200" core-ok2.out

if [ "$failures" -ne 0 ]; then
  for f in sbc.log md5.log coremode.log core-ok.out core-wrong1.out core-banned.out alice.out bob.out flows.json flows.out unregister.out flows2.json wrong.shape unknown.shape hijack.out svwar.out svcrack.out; do
    echo "--- $f"; tail -n 30 "$f"
  done
  for f in sipsak-*.out; do echo "--- $f"; tail -n 12 "$f"; done
  echo "--- core.log"; grep "core got\|core identity" core.log | grep -v OPTIONS | tail -n 20 || true
fi
exit $((failures > 0))
