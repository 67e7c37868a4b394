#!/usr/bin/env bash
# One policy across a fleet (issue 16): three SBC replicas share a real redis-server on loopback
# (cluster.redis), one nonce key, and a Kamailio core.
# - a scanner banned by replica 1 is dropped by replicas 2 and 3 within 1 s, and by a replica
#   started afterwards (it loads the running bans; it finds Redis by a DNS name, from dnsmasq); an operator's unban on replica 2 lifts it on
#   all of them;
# - a Digest answer accepted by replica 1 and replayed to replica 2 is refused (401 stale: nonces
#   are bound to the replica that issued them); an independent Digest client (digest_client.py);
# - verified authentication failures add up across the fleet: one wrong answer at each of three
#   replicas (ban_after_failures: 3) bans the source on every replica;
# - limits per source and per user hold across the fleet: a source (or a user) spread over the
#   three replicas gets about its rate in all, within the documented bound;
# - Redis killed: calls through every replica keep succeeding, sbc_cluster_store_up goes to 0;
#   a ban decided meanwhile reaches every replica once Redis is back; Redis hanging (SIGSTOP)
#   counts as lost after timeout_ms, and calls go on.
# usage: cluster_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR PATH/TO/sip_ua
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
here=$(dirname "$(readlink -f "$0")")
ua=$(readlink -f "$4")

enter_work_dir  # KEEP_WORK=1 keeps the logs for a look

base=$(free_port_base 33000 1500)
redis_port=$base core_port=$((base + 1)) dns_port=$((base + 2))
port() { echo $((base + 10 * $1)); }           # SIP port of replica N (UDP and TCP)
metrics_port() { echo $((base + 10 * $1 + 1)); }

start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 127.0.0.2 --save "" --appendonly no \
    --requirepass "$(cat redis-password)" >redis.log 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 50); do
    redis-cli -p "$redis_port" -a "$(cat redis-password)" --no-auth-warning ping 2>/dev/null |
      grep -q PONG && break
    sleep 0.1
  done
  # The replicas' user: the operator guide's ACL line, as it stands there (the test fails if
  # the SBC needs a command the guide does not grant).
  local acl
  acl=$(grep '^ACL SETUSER sbc on' "$here/../../docs/operator-guide.md" |
    sed -e "s/>PASSWORD/>$(cat redis-password)/" -e 's/sbc:/fleet-test:/g' -e 's/^ACL SETUSER sbc /ACL SETUSER sbc-fleet /')
  # shellcheck disable=SC2086  # the ACL rules are words
  redis-cli -p "$redis_port" -a "$(cat redis-password)" --no-auth-warning $acl >acl.out
}
rcli() { redis-cli -p "$redis_port" -a "$(cat redis-password)" --no-auth-warning "$@"; }
echo "fleet-redis-secret-$RANDOM" >redis-password
start_redis
check "Redis takes the operator guide's ACL line for the replicas' user ($(cat acl.out))" grep -qx OK acl.out

kamailio_core_cfg "$core_port" >core.cfg
start_kamailio core
"$sbc" ha1 alice example.com <<<"alice-secret" >users.txt
"$sbc" ha1 bob example.com <<<"bob-secret" >>users.txt
"$sbc" ha1 carol example.com <<<"carol-secret" >>users.txt  # the user-limit test's own
nonce_key=$(openssl rand -hex 32)

start_replica() {  # start_replica N [STORE_ADDRESS DNS_SERVER]
  local n=$1 store=${2:-127.0.0.1:$redis_port} dns_line=""
  [ -z "${3:-}" ] || dns_line="dns: {servers: [\"$3\"], min_ttl_seconds: 1}"
  cat >"sbc$n.yaml" <<YAML
workers: 2
$dns_line
listeners:
  - {transport: udp, address: 127.0.0.1, port: $(port "$n")}
  - {transport: tcp, address: 127.0.0.1, port: $(port "$n")}
core: {targets: [{uri: "sip:127.0.0.1:$core_port"}]}
metrics: {port: $(metrics_port "$n")}
admin: {socket: "$work/sbc$n.sock"}
policy:
  chain: [acl, rate_limit, scanner, sips, methods, auth]
  # other: the default per source; global invite: 30 a second for the whole fleet.
  rate_limit: {register: {rate: 100, burst: 100}, other: {rate: 20, burst: 50}, ban_after: 100,
               strike_batch: 10, global: {invite: {rate: 30, burst: 30}}}
  auth: {realm: example.com, credentials_file: $work/users.txt, nonce_key: "$nonce_key",
         ban_after_failures: 3, domains: [example.com]}
cluster: {redis: {address: "$store", username: sbc-fleet, password_file: $work/redis-password,
                  key_prefix: "fleet-test:", timeout_ms: 300}}
YAML
  start_sbc "sbc$n" "http://127.0.0.1:$(metrics_port "$n")/readyz"
  eval "sbc${n}_pid=$sbc_pid"
}
for n in 1 2 3; do start_replica "$n"; done
for n in 1 2 3; do
  for _ in $(seq 50); do grep -q "cluster store connected" "sbc$n.log" && break; sleep 0.1; done
done
check "the three replicas connect to Redis with its password" \
  bash -c 'grep -q "cluster store connected" sbc1.log && grep -q "cluster store connected" sbc2.log && grep -q "cluster store connected" sbc3.log'
check "no log line shows the Redis password" bash -c "! grep -qF '$(cat redis-password)' sbc1.log sbc2.log sbc3.log"

ctl() { local n=$1; shift; "$sbc" ctl --socket "$work/sbc$n.sock" "$@"; }
# banned_at N ADDRESS: whether replica N lists a ban of ADDRESS (its whole list read first: with
# hundreds of bans, `ctl | grep -q` would end the pipe early, a SIGPIPE failure under pipefail).
banned_at() { ctl "$1" bans >"bans$1.txt" && grep -q "$2" "bans$1.txt"; }
options() {  # options FROM_IP USER_AGENT > FILE: an OPTIONS to the SBC itself
  printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5999;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s@%s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: %s\r\nContent-Length: 0\r\n\r\n' \
    "$1" "$RANDOM$RANDOM" "$1" "$RANDOM" "$1" "$2"
}
probe_from() {  # probe_from IP REPLICA USER_AGENT: the status line, or "timeout"
  options "$1" "$3" >"probe-$1.sip"
  SIP_PROBE_LOCAL_ADDRESS=$1 "$probe" udp 127.0.0.1 "$(port "$2")" "probe-$1.sip" 500 || true
}
metric_of() { curl -fsS "http://127.0.0.1:$(metrics_port "$1")/metrics" | metric "$2" -; }

# --- A ban travels: the scanner meets replica 1 only.
check "before: 127.0.0.9 is answered by replica 2" \
  grep -q "SIP/2.0 200" <<<"$(probe_from 127.0.0.9 2 Linphone/5.2)"
probe_from 127.0.0.9 1 friendly-scanner >/dev/null
ban_time=$(date +%s%N)
for _ in $(seq 20); do banned_at 3 127.0.0.9 && break; sleep 0.05; done
spread_ms=$((($(date +%s%N) - ban_time) / 1000000))
check "replica 3 holds the ban within 1 s (${spread_ms} ms)" test "$spread_ms" -lt 1000
check "replica 2 drops 127.0.0.9 now" test "$(probe_from 127.0.0.9 2 Linphone/5.2)" = timeout
check "replica 3 drops 127.0.0.9 now" test "$(probe_from 127.0.0.9 3 Linphone/5.2)" = timeout
check "replicas 2 and 3 name the cause (scanner signature)" \
  bash -c "'$sbc' ctl --socket '$work/sbc2.sock' bans | grep 127.0.0.9 | grep -q 'scanner signature'"
check "another source is still answered by replica 2" \
  grep -q "SIP/2.0 200" <<<"$(probe_from 127.0.0.8 2 Linphone/5.2)"
check "the ban is in Redis' hash" bash -c "redis-cli -p $redis_port -a '$(cat redis-password)' --no-auth-warning hgetall fleet-test:bans | grep -q 'scanner signature'"
# The fourth finds the store by a DNS name (a Kubernetes Service's, say), from a real DNS server.
echo "127.0.0.1 redis.fleet.test" >hosts
dnsmasq --no-daemon --port="$dns_port" --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --conf-file=/dev/null --user=root --pid-file= --local-ttl=1 \
  --addn-hosts="$work/hosts" --log-facility=- >dns.log 2>&1 &
dns_pid=$!
pids+=("$dns_pid")
start_replica 4 "redis.fleet.test:$redis_port" "127.0.0.1:$dns_port"
for _ in $(seq 50); do grep -q "cluster store connected" sbc4.log && break; sleep 0.1; done
check "a replica given the store's DNS name resolves it ($(grep -o 'address=[^ ]*' sbc4.log | head -1))" \
  grep -q "cluster store address.*address=127.0.0.1" sbc4.log
check "a replica started afterwards loaded the ban (log: $(grep -o 'bans_loaded=[0-9]*' sbc4.log))" \
  grep -q "bans_loaded=1" sbc4.log
check "and drops 127.0.0.9" test "$(probe_from 127.0.0.9 4 Linphone/5.2)" = timeout
# The name moves (a new Service address): the replica follows it within the TTL (1 s).
echo "127.0.0.2 redis.fleet.test" >hosts
kill -HUP "$dns_pid"
for _ in $(seq 50); do [ "$(grep -c 'cluster store connected' sbc4.log)" -ge 2 ] && break; sleep 0.1; done
check "when the name moves, the replica reconnects to the new address" \
  bash -c "grep -q 'cluster store address.*address=127.0.0.2' sbc4.log && [ \$(grep -c 'cluster store connected' sbc4.log) -ge 2 ]"
kill "$sbc4_pid"
ctl 2 unban 127.0.0.9 >unban.out
for _ in $(seq 20); do banned_at 1 127.0.0.9 || break; sleep 0.05; done
check "an unban at replica 2 lifts it at replica 1" \
  grep -q "SIP/2.0 200" <<<"$(probe_from 127.0.0.9 1 Linphone/5.2)"
check "and at replica 3" grep -q "SIP/2.0 200" <<<"$(probe_from 127.0.0.9 3 Linphone/5.2)"
check "and in Redis" test -z "$(rcli hgetall fleet-test:bans)"

# --- Digest: an answer accepted by replica 1, replayed to replica 2.
python3 "$here/digest_client.py" replay 127.0.0.4 127.0.0.1 "$(port 1)" "$(port 2)" \
  alice alice-secret example.com >replay.out 2>&1 || true
check "replica 1 accepts alice's answer ($(grep first replay.out))" grep -qx "first 200" replay.out
check "replica 2 refuses the same answer replayed from 8 source ports, with stale=true ($(grep -c 'other 401 stale=yes' replay.out) of 8)" \
  test "$(grep -c 'other 401 stale=yes' replay.out)" = 8

# --- Verified failures add up across the fleet: one wrong answer at each replica.
for n in 1 2 3; do
  python3 "$here/digest_client.py" fail 127.0.0.5 127.0.0.1 "$(port "$n")" alice example.com \
    >"fail$n.out" 2>&1 || true
done
check "each replica challenged, then refused, a wrong answer" \
  bash -c 'for n in 1 2 3; do grep -qx "challenge 401" fail$n.out && grep -qx "wrong 401" fail$n.out || exit 1; done'
for _ in $(seq 20); do banned_at 1 127.0.0.5 && break; sleep 0.05; done
sleep 0.3
for n in 1 2 3; do
  check "the fleet's third failure banned 127.0.0.5 at replica $n" \
    bash -c "'$sbc' ctl --socket '$work/sbc$n.sock' bans | grep 127.0.0.5 | grep -q 'auth failures'"
done

# --- A flood from one source spread over the three replicas (the "other" class: 20 a second, 50
# at once per source and worker; ban after 100 drops). No replica drops 100 of it alone; the
# fleet adds their drops up and bans it everywhere. Meanwhile a legitimate client registers.
ports="$(port 1),$(port 2),$(port 3)"
python3 "$here/udp_flood.py" OPTIONS 127.0.0.1 "$ports" 127.0.0.6 330 >flood.out &
flood_pid=$!
for n in 1 2 3; do
  SIP_UA_LOCAL_ADDRESS=127.0.0.3 SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$(port "$n")" \
    alice register >"legit$n.out" 2>&1 || true
done
wait "$flood_pid" || true
read -r _ sent _ answered _ seconds <flood.out
for _ in $(seq 20); do banned_at 3 127.0.0.6 && break; sleep 0.05; done
for n in 1 2 3; do
  drops=$(metric_of "$n" 'sbc_policy_decisions_total{stage="rate_limit",reason="request_flood"}')
  check "replica $n dropped fewer than 100 of the flood alone (${drops:-0})" test "${drops:-0}" -lt 100
  check "yet the fleet banned 127.0.0.6 at replica $n (rate_limit drops, UDP)" \
    bash -c "'$sbc' ctl --socket '$work/sbc$n.sock' bans | grep 127.0.0.6 | grep udp | grep -q 'rate_limit drops'"
  check "the legitimate client registered through replica $n meanwhile" grep -qx "REGISTER 200" "legit$n.out"
done
# The bound (docs/operator-guide.md): until the fleet's ban, each of N replicas admits the source's
# own rate, so at most N x (burst + rate x seconds) answers.
bound=$(python3 -c "print(int(3 * (50 + 20 * $seconds)))")
check "the flood got at most 3 x (50 + 20/s x ${seconds} s) = $bound answers ($answered of $sent)" \
  test "$answered" -le "$bound"

# --- Limits per source and per user held across the fleet (policy/fleet_share.hpp), without the
# ban in the way: rate_limit.ban_after 0, auth.user_rate 2 a second (6 at once), by reload.
for n in 1 2 3; do
  sed -i -e 's/ban_after: 100,/ban_after: 0,/' \
    -e 's/ban_after_failures: 3,/ban_after_failures: 3, user_rate: 2, user_burst: 6,/' "sbc$n.yaml"
  ctl "$n" reload >"reload$n.out" 2>&1 || true
  check "replica $n reloads its policy" grep -q "^reloaded from" "reload$n.out"
done
# One source, paced, spread over the three replicas ("other": 20 a second, 50 at once). Each
# replica reports the source once its bucket is below half; the store counts the workers
# draining it, and each holds it to its share. The bound (docs/operator-guide.md): each
# replica's burst (their buckets are full when the flood starts), then the rate for the flood's
# time plus the second a first reporter waits for the count: N x burst + rate x (t + 1) (+N in
# flight). Without the fleet's word each replica admits 50 + 20/s: about 330 of the 480. What
# passed is what was sent less what the replicas dropped (answers to OPTIONS are fewer: the
# amplification budget holds back answers larger than the request).
flood_drops() {
  local sum=0 n d
  for n in 1 2 3; do
    d=$(metric_of "$n" 'sbc_policy_decisions_total{stage="rate_limit",reason="request_flood"}')
    sum=$((sum + ${d:-0}))
  done
  echo "$sum"
}
drops_before=$(flood_drops)
python3 "$here/udp_flood.py" OPTIONS 127.0.0.1 "$ports" 127.0.0.7 480 10 >spread.out
read -r _ sent _ _ _ seconds <spread.out
passed=$((sent - ($(flood_drops) - drops_before)))
bound=$(python3 -c "print(int(3 * 50 + 20 * ($seconds + 1)) + 3)")
check "a source spread over three replicas passed at most 3 x 50 + 20/s x (${seconds} + 1) s (+3) = $bound of $sent ($passed)" \
  test "$passed" -le "$bound"
check "and its rate, not nothing ($passed)" test "$passed" -ge 60
heavy=$(rcli --scan --pattern 'fleet-test:heavy:rate_limit:*' | wc -l)
echo "  (store keys of drained buckets meanwhile: $heavy)"
# One user (a stolen password, say) registering through the three replicas as fast as answers
# come, 4 s: the same bound with user_rate 2, user_burst 6 (each replica alone would admit 6 +
# 2/s: 42).
# (carol: her registrations from the burst's sockets must not take bob's calls away from him.)
python3 "$here/digest_client.py" burst 127.0.0.8 127.0.0.1 "$ports" carol carol-secret example.com 4 \
  >user-burst.out
read -r _ accepted _ tried _ seconds <user-burst.out
bound=$(python3 -c "print(int(3 * 6 + 2 * ($seconds + 1)) + 3)")
check "a user spread over three replicas got at most 3 x 6 + 2/s x (${seconds} + 1) s (+3) = $bound registrations ($accepted of $tried)" \
  test "$accepted" -le "$bound"
check "and its rate, not nothing ($accepted)" test "$accepted" -ge 8

# --- A flood from 60 sources over the three replicas (INVITE: 30 a second and 30 at once for
# the whole fleet): each replica takes a third of the global bucket, as the store counts them.
# Whatever passes the limit is answered (407: the auth stage's challenge).
for _ in $(seq 60); do
  [ "$(metric_of 1 sbc_cluster_replicas)" = 3 ] && [ "$(metric_of 2 sbc_cluster_replicas)" = 3 ] &&
    [ "$(metric_of 3 sbc_cluster_replicas)" = 3 ] && break
  sleep 0.1
done
check "the store counts three replicas" test "$(metric_of 2 sbc_cluster_replicas)" = 3
sources=$(seq -s, -f '127.0.1.%g' 1 60)
python3 "$here/udp_flood.py" INVITE 127.0.0.1 "$ports" "$sources" 600 1 >global.out
read -r _ sent _ answered _ seconds <global.out
bound=$(python3 -c "print(int(30 + 30 * $seconds) + 6)")
check "the fleet let at most 30 + 30/s x ${seconds} s (+6 rounding) = $bound of $sent through ($answered)" \
  test "$answered" -le "$bound"
check "and not nothing ($answered)" test "$answered" -ge 15
sleep 1.5  # the global bucket refills

# --- A ban storm: 400 forged sources with a scanner's User-Agent, each banned (over UDP) by
# replica 1 within a fraction of a second. The store takes 200 bans a second from one replica:
# the shared hash does not grow with whatever an attacker can forge; the rest stay local.
before=$(rcli hlen fleet-test:bans)
storm_sources=$(seq -s, -f '127.0.%g.9' 10 209),$(seq -s, -f '127.0.%g.8' 10 209)
storm_started=$(date +%s%N)
UDP_FLOOD_UA=friendly-scanner python3 "$here/udp_flood.py" OPTIONS 127.0.0.1 "$(port 1)" \
  "$storm_sources" 400 >storm.out
sleep 0.5
after=$(rcli hlen fleet-test:bans)
shared=$((after - before))
# The bucket refills while the replica works through the storm (longer than the sending under
# ASan): the bound counts from the storm's start to the count.
storm_seconds=$(python3 -c "print(round(($(date +%s%N) - $storm_started) / 1e9, 2))")
bound=$(python3 -c "print(int(200 + 200 * $storm_seconds) + 1)")
check "replica 1 shared at most 200 + 200/s x ${storm_seconds} s = $bound of 400 storm bans ($shared)" \
  test "$shared" -le "$bound"
dropped=$(metric_of 1 'sbc_cluster_updates_total{result="dropped"}')
check "the rest were counted as dropped (${dropped:-0})" test "${dropped:-0}" -ge $((400 - bound))
check "and stay banned at replica 1 ($(ctl 1 bans --stage scanner | grep -c udp) scanner bans)" \
  test "$(ctl 1 bans --stage scanner | grep -c udp)" -ge 400

# --- Redis goes away: the replicas decide alone, calls keep working.
export SIP_UA_LOCAL_ADDRESS=127.0.0.2
SIP_UA_PASSWORD=bob-secret "$ua" udp 127.0.0.1 "$(port 1)" bob register serve 60 >bob.out 2>&1 &
for _ in $(seq 30); do grep -q "REGISTER 200" bob.out && break; sleep 0.1; done
kill "$redis_pid"
for _ in $(seq 30); do [ "$(metric_of 2 sbc_cluster_store_up)" = 0 ] && break; sleep 0.1; done
check "with Redis gone, sbc_cluster_store_up is 0" test "$(metric_of 2 sbc_cluster_store_up)" = 0
for n in 2 3; do
  SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$(port "$n")" alice call sip:bob@example.com \
    >"call$n.out" 2>&1 || true
  check "a call through replica $n still succeeds ($(tr '\n' ' ' <"call$n.out"))" \
    bash -c "grep -qx 'INVITE 200' call$n.out && grep -qx 'BYE 200' call$n.out"
done
probe_from 127.0.0.7 2 sipvicious >/dev/null  # banned at replica 2 while Redis is down
check "replica 2 bans a scanner on its own meanwhile" \
  test "$(probe_from 127.0.0.7 2 Linphone/5.2)" = timeout
check "replica 1 does not know it yet" grep -q "SIP/2.0 200" <<<"$(probe_from 127.0.0.7 1 Linphone/5.2)"
start_redis
for _ in $(seq 100); do
  banned_at 1 127.0.0.7 && banned_at 3 127.0.0.7 && break
  sleep 0.1
done
check "Redis back: replica 1 drops the scanner replica 2 banned meanwhile" \
  test "$(probe_from 127.0.0.7 1 Linphone/5.2)" = timeout
check "and replica 3" test "$(probe_from 127.0.0.7 3 Linphone/5.2)" = timeout
check "sbc_cluster_store_up is 1 again" test "$(metric_of 1 sbc_cluster_store_up)" = 1
# --- Redis hangs (SIGSTOP: connections open, no answer): past timeout_ms (300) it counts as lost.
kill -STOP "$redis_pid"
for _ in $(seq 40); do [ "$(metric_of 3 sbc_cluster_store_up)" = 0 ] && break; sleep 0.1; done
check "Redis hanging: sbc_cluster_store_up is 0 within 4 s" test "$(metric_of 3 sbc_cluster_store_up)" = 0
lag=$(metric_of 3 sbc_cluster_sync_lag_seconds)
SIP_UA_PASSWORD=alice-secret "$ua" udp 127.0.0.1 "$(port 3)" alice call sip:bob@example.com \
  >call-hung.out 2>&1 || true
check "a call through replica 3 succeeds while Redis hangs" \
  bash -c "grep -qx 'INVITE 200' call-hung.out && grep -qx 'BYE 200' call-hung.out"
sleep 1
lag_later=$(metric_of 3 sbc_cluster_sync_lag_seconds)
check "the sync lag grows meanwhile ($lag s, then $lag_later s)" \
  python3 -c "import sys; sys.exit(not (float('$lag_later') > float('$lag') >= 0))"
kill -CONT "$redis_pid"
for _ in $(seq 80); do [ "$(metric_of 3 sbc_cluster_store_up)" = 1 ] && break; sleep 0.1; done
check "Redis answering again: sbc_cluster_store_up is 1 within 8 s" \
  test "$(metric_of 3 sbc_cluster_store_up)" = 1

written=$(metric_of 2 'sbc_cluster_updates_total{result="written"}')
check "replica 2 wrote its updates to the store (written: $written)" test "${written:-0}" -ge 2
received=$(metric_of 3 'sbc_cluster_updates_total{result="received"}')
check "replica 3 received the others' (received: $received)" test "${received:-0}" -ge 2

if [ "$failures" -ne 0 ]; then
  echo "cluster_test: $failures check(s) failed"
  exit 1
fi
echo "cluster_test: all checks passed"
