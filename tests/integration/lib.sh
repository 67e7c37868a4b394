# Sourced by the integration tests: their common arguments and check reporting.
# usage in a test: source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"
# Sets sbc, probe, corpus (absolute paths from the arguments PATH/TO/sbc PATH/TO/sip_probe
# CORPUS_DIR), loads free_port_base, and defines pass, fail and check; `failures` counts fails,
# enter_work_dir (a scratch directory, and every process in `pids` stopped at exit),
# wait_http (until a health endpoint answers), wait_line, wait_for, start_rtpengine, end_serve,
# tls_first_line, start_sbc, start_kamailio and metric.
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

# enter_work_dir: cd into a new scratch directory ($work), removed at exit unless KEEP_WORK=1
# (to look at the logs); processes whose PIDs are added to `pids`, and background jobs, are
# stopped at exit.
pids=()
cleanup_work_dir() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  jobs -p | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
enter_work_dir() {
  work=$(mktemp -d)
  trap cleanup_work_dir EXIT
  cd "$work"
}

# wait_http URL: waits up to 15 s for URL to answer 2xx (a health endpoint of a server starting;
# /readyz waits for a core to answer a probe, and a core started just before may take a few
# seconds on a loaded machine); if it never does, the checks that follow fail and say why.
wait_http() {
  for _ in $(seq 150); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 0
}

# wait_line FILE LINE [SECONDS]: waits until FILE has LINE as a whole line (grep -qx), at most
# SECONDS (default 10), instead of a fixed sleep before the next step (a user agent's "REGISTER 200"
# before calling it); returns 0 either way: the checks that follow say what is missing.
wait_line() {
  local deadline=$((SECONDS + ${3:-10}))
  until grep -qx -- "$2" "$1" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.05; done
  return 0
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds (0) or SECONDS pass (1).
wait_for() {
  local tries=$(($1 * 10))
  shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}

# start_rtpengine NG_ADDRESS RTP_MIN OUTSIDE_IP INSIDE_IP: a user-space rtpengine (--table=-1) with
# ng on NG_ADDRESS, its interface "outside" on OUTSIDE_IP and "inside" on INSIDE_IP, media ports
# RTP_MIN..RTP_MIN+19, its log in rtpengine.log, its PID in rtpengine_pid (and `pids`); waits up
# to 5 s for it to answer ng_ping (which needs $ng_ctl, the ng_ctl tool).
start_rtpengine() {
  rtpengine --config-file=none --foreground --table=-1 --delete-delay=0 --listen-ng="$1" \
    --interface="outside/$3" --interface="inside/$4" \
    --port-min="$2" --port-max=$(($2 + 19)) --log-stderr --log-level=6 >rtpengine.log 2>&1 &
  rtpengine_pid=$!
  pids+=("$rtpengine_pid")
  rtpengine_ng=$1
  wait_for 5 ng_ping || true
}
ng_ping() { "$ng_ctl" --timeout-ms 100 --retries 0 "$rtpengine_ng" ping >/dev/null; }

# end_serve PID FILE: ends a `sip_ua ... serve SECONDS` running in the background (PID, its output
# in FILE) once FILE shows "BYE received": the call it answered is over (the caller has its BYE
# 200, so every line the callee prints about it is written), so the rest of SECONDS is not waited
# out. Without a BYE it waits for the user agent to end by itself, as `wait PID` did.
end_serve() {
  while kill -0 "$1" 2>/dev/null; do
    if grep -qx "BYE received" "$2" 2>/dev/null; then
      kill "$1" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$1" 2>/dev/null || true
}

# tls_first_line SECONDS OPENSSL_OPTIONS...: sends standard input over a TLS connection opened by
# `openssl s_client -quiet OPENSSL_OPTIONS...` and prints the first line of the answer (its CR
# removed) as soon as that line is complete; nothing when none comes within SECONDS or the
# handshake fails. (s_client -quiet implies -ign_eof: it never ends at the end of its input, so
# `... | s_client | head -n 1` lasted the whole SECONDS even when the answer came at once.)
tls_first_line() {
  local seconds=$1 in out pid
  shift
  in=$(mktemp)
  out=$(mktemp)
  cat >"$in"
  timeout "$seconds" openssl s_client -quiet "$@" <"$in" >"$out" 2>/dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(wc -l <"$out")" -eq 0 ]; do sleep 0.05; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  head -n 1 "$out" | tr -d '\r'
  rm -f "$in" "$out"
}

# start_sbc NAME [HEALTH_URL]: runs `sbc run --config NAME.yaml` in the background, its log in
# NAME.log; its PID is in `sbc_pid` and in `pids` (stopped at exit). With HEALTH_URL (for example
# http://127.0.0.1:PORT/readyz) it waits until that answers.
start_sbc() {
  "$sbc" run --config "$1.yaml" >"$1.log" 2>&1 &
  sbc_pid=$!
  pids+=("$sbc_pid")
  [ $# -lt 2 ] || wait_http "$2"
}

# start_kamailio NAME [OPTIONS...]: runs Kamailio in the foreground mode (-DD -E) on NAME.cfg
# with OPTIONS (e.g. -A CORE_AUTH), in the background, its log in NAME.log, its PID in `pids`.
start_kamailio() {
  local name=$1
  shift
  kamailio -DD -E "$@" -f "$name.cfg" >"$name.log" 2>&1 &
  pids+=($!)
}

# metric SAMPLE [FILE]: the value of one sample of a Prometheus text exposition, written as it
# is exposed (`sbc_relay_requests_total{direction="to_core"}`, or a name without labels), from
# FILE (default metrics.txt; `-` reads standard input). Prints nothing when the sample is absent.
# It reads its input to the end, so that `curl ... | metric SAMPLE -` never stops curl with
# SIGPIPE (a failed pipeline under `set -o pipefail`).
metric() {
  awk -v sample="$1" '!found && $1 == sample { print $2; found = 1 }' "${2:-metrics.txt}"
}

# kamailio_core_cfg PORT [TLS_PORT CERT KEY [CLIENT_CA]]: prints the test core's configuration
# (kamailio/core.cfg.in, a registrar that stores Path and a proxy that follows Record-Route) on
# UDP PORT; with TLS_PORT also on TCP PORT and on TLS TLS_PORT with certificate CERT and key KEY
# (absolute paths; its tls.cfg is written next to CERT); with CLIENT_CA it demands a client
# certificate that chains to it (mutual TLS). Run it with
# `kamailio -DD -E -f FILE` (`-A CORE_AUTH`: it authenticates REGISTERs itself).
kamailio_core_cfg() {
  local modules template
  template="$(dirname "${BASH_SOURCE[0]}")/kamailio/core.cfg.in"
  modules=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio/modules*' | head -n1)")
  if [ $# -lt 4 ]; then
    sed -e "s/@PORT@/$1/" -e "s#@MODULES@#$modules#" "$template"
    return
  fi
  local tls_cfg
  tls_cfg="$(dirname "$3")/kamailio-tls.cfg"
  printf '[server:default]\nmethod = TLSv1.2+\nprivate_key = %s\ncertificate = %s\n' "$4" "$3" >"$tls_cfg"
  if [ $# -ge 5 ]; then
    printf 'verify_certificate = yes\nrequire_certificate = yes\nca_list = %s\n' "$5" >>"$tls_cfg"
  else
    printf 'verify_certificate = no\nrequire_certificate = no\n' >>"$tls_cfg"
  fi
  sed -e "s/@PORT@/$1/" -e "s#@MODULES@#$modules#" \
    -e 's/^disable_tcp=yes/disable_tcp=no\nenable_tls=yes/' \
    -e "s/^listen=udp:.*/&\nlisten=tcp:127.0.0.1:$1\nlisten=tls:127.0.0.1:$2/" \
    -e "s#^loadmodule \"tm.so\"#&\nloadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"$tls_cfg\")#" \
    "$template"
}

# Test certificates (EC P-256, two days) in the current directory. gen_key FILE: a private key.
# issue NAME SUBJECT SAN: NAME.key and NAME.pem signed by the CA in ca.pem/ca.key, with
# subjectAltName SAN (e.g. "DNS:a.test", "IP:127.0.0.1").
gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
issue() {
  gen_key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
