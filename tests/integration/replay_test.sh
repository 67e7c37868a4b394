#!/usr/bin/env bash
# Capture and replay with real tools on loopback. The SBC runs with its default policies and
# `capture: {what: rejected}` (small files, so they rotate); tcpdump (-i lo and -i any, pcap) and
# tshark (-i lo, pcapng) record the wire while sipsak sends legitimate OPTIONS over UDP and TCP
# and SIPVicious svmap/svwar scan, then sipsak floods from the banned address (see ../shared/TEST-PEERS.md for their loopback traps). Then:
# `sbc replay` of each capture shows the scanner's messages dropped by the scanner stage and the
# ban it set, and the legitimate ones passing; the SBC's own capture files exist, stay within
# their bounds, hold exactly the scanner's messages, and tshark decodes them as SIP.
# usage: replay_test.sh PATH/TO/sbc PATH/TO/sip_probe CORPUS_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh" "$@"

enter_work_dir  # KEEP_WORK=1 keeps the captures and logs for a look

base=$(free_port_base 29000 1500)
sbc_port=$base metrics_port=$((base + 1)) scan_port=$((base + 2))
max_file_bytes=8192 max_files=3
mkdir cap
cat >sbc.yaml <<YAML
workers: 2
listeners:
  - {transport: udp, address: 0.0.0.0, port: $sbc_port}
  - {transport: tcp, address: 0.0.0.0, port: $sbc_port}
metrics: {port: $metrics_port}
capture: {enabled: true, directory: $work/cap, what: rejected, max_file_bytes: $max_file_bytes, max_files: $max_files}
YAML

# Starts a capture in the background and waits until it really records: the banner ("Capturing
# on ...") comes up to a second before the first packet is kept, so a packet to a port of its own
# (ready_port, in every capture's filter; not a listener, so replay ignores it) is sent until the
# capture file holds it.
ready_port=$((base + 5))
start_capture() {  # start_capture LOG FILE COMMAND...
  local log=$1 file=$2
  shift 2
  : >"$log"
  "$@" >/dev/null 2>"$log" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -qiE "listening on|capturing on" "$log" && break
    sleep 0.1
  done
  for _ in $(seq 50); do
    echo "capture ready?" >"/dev/udp/127.0.0.1/$ready_port" 2>/dev/null || true
    [ "$(tshark -r "$file" -Y "udp.dstport==$ready_port" 2>/dev/null | wc -l)" -gt 0 ] && return 0
    sleep 0.1
  done
  echo "capture did not start: $(cat "$log")"
}
filter="port $sbc_port or udp port $ready_port"
start_capture tcpdump-lo.log lo.pcap tcpdump -i lo -U -B 32768 -w lo.pcap "$filter"
tcpdump_lo=${pids[-1]}
start_capture tcpdump-any.log any.pcap tcpdump -i any -U -B 32768 -w any.pcap "$filter"
tcpdump_any=${pids[-1]}
start_capture tshark.log lo.pcapng tshark -i lo -B 32 -F pcapng -w lo.pcapng -f "$filter"
tshark_pid=${pids[-1]}

start_sbc sbc "http://127.0.0.1:$metrics_port/readyz"

# Legitimate traffic first (sipsak talks from 127.0.0.1, which the scanner gets banned later).
sipsak_udp=0 sipsak_tcp=0
sipsak -s "sip:127.0.0.1:$sbc_port" >sipsak-udp.out 2>&1 || sipsak_udp=$?
sipsak --transport=tcp -s "sip:127.0.0.1:$sbc_port" >sipsak-tcp.out 2>&1 || sipsak_tcp=$?
timeout 60 svmap -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 -P "$scan_port" >svmap.out 2>&1 || true
timeout 90 svwar -e100-299 -p "$sbc_port" 127.0.0.1 -b 127.0.0.1 -x 127.0.0.1 \
  -P "$((scan_port + 1))" >svwar.out 2>&1 || true
# The scanner's address is banned now: a flood from it dies before parsing (and is captured).
timeout 30 sipsak -F -e 300 -s "sip:127.0.0.1:$sbc_port" >flood.out 2>&1 || true
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKlegit1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:ok@127.0.0.2>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: legit@127.0.0.2\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Linphone/5.2\r\nContent-Length: 0\r\n\r\n' "$sbc_port" >options.sip
legit=$(SIP_PROBE_LOCAL_ADDRESS=127.0.0.2 "$probe" udp 127.0.0.1 "$sbc_port" options.sip 2000 || true)
check "sipsak over UDP is answered 200 (exit $sipsak_udp)" test "$sipsak_udp" = 0
check "sipsak over TCP is answered 200 (exit $sipsak_tcp)" test "$sipsak_tcp" = 0
check "svwar finds nothing" grep -q "found nothing" svwar.out
check "a legitimate client from another address is answered ($legit)" grep -q "SIP/2.0 200" <<<"$legit"

sleep 2  # captures deliver packets in blocks
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >metrics.txt
for p in "$tcpdump_lo" "$tcpdump_any" "$tshark_pid"; do kill -INT "$p" 2>/dev/null || true; done
for p in "$tcpdump_lo" "$tcpdump_any" "$tshark_pid"; do wait "$p" 2>/dev/null || true; done

# What the wire says (tshark decodes the non-standard port as SIP when told): the requests to the
# SBC, of which three are legitimate (sipsak over UDP and TCP before the scan, sip_probe from
# another address after it) and all others come from the scanner's address.
decode=(-d "udp.port==$sbc_port,sip" -d "tcp.port==$sbc_port,sip")
to_sbc="sip.Request-Line && (udp.dstport==$sbc_port || tcp.dstport==$sbc_port)"
requests=$(tshark -r lo.pcap "${decode[@]}" -Y "$to_sbc" 2>/dev/null | wc -l)
scanner_ua=$(tshark -r lo.pcap "${decode[@]}" -Y "$to_sbc && sip.User-Agent contains \"friendly-scanner\"" 2>/dev/null | wc -l)
rejected=$((requests - 3))
check "the capture holds svmap's and svwar's requests ($scanner_ua) and the flood ($requests requests)" \
  test "$scanner_ua" -ge 2 -a "$requests" -ge 300

# Replay each capture (pcap from -i lo: Ethernet; -i any: Linux cooked; tshark: pcapng).
count() {  # count REPORT KEY: the number after "KEY:" or after the verdict name, 0 if absent
  awk -v key="$2" '{ line = $0; sub(/^ +/, "", line) }
    index(line, key ":") == 1 { n = substr(line, length(key) + 2) + 0; found = 1 }
    index(line, key " ") == 1 && !found && $NF ~ /^[0-9]+$/ { n = $NF; found = 1 }
    END { print found ? n : 0 }' "$1"
}
for capture in lo.pcap any.pcap lo.pcapng; do
  set +e
  "$sbc" replay --config sbc.yaml "$capture" >"$capture.report" 2>"$capture.err"
  status=$?
  set -e
  check "sbc replay $capture exits 0 ($status: $(head -c 200 "$capture.err"))" test "$status" = 0
  signature=$(count "$capture.report" "scanner/signature drop")
  banned=$(count "$capture.report" "bans/banned drop")
  passed=$(count "$capture.report" "pass")
  drops=$(count "$capture.report" "drop")
  check "$capture: the scanner stage dropped the scanner's first requests (signature: $signature)" \
    test "$signature" -ge 1
  check "$capture: every request from the scanner's address dropped, by signature or ban ($signature + $banned = $rejected)" \
    test "$((signature + banned))" = "$rejected"
  check "$capture: nothing else was dropped (drops: $drops)" test "$drops" = "$rejected"
  check "$capture: the three legitimate requests (sipsak UDP, TCP, and another address) pass ($passed)" \
    test "$passed" = 3
  check "$capture: the TCP message was reassembled" grep -qE "SIP messages: [0-9]+ \(TCP 1, UDP" "$capture.report"
  check "$capture: examples name the source and first line" \
    grep -qE "e\.g\. 127\.0\.0\.1:$scan_port UDP  OPTIONS sip:100@" "$capture.report"
done
check "the pcapng and both pcap captures give the same verdicts" \
  bash -c "diff <(sed -n '/^verdicts:/,\$p' lo.pcap.report) <(sed -n '/^verdicts:/,\$p' any.pcap.report) &&
           diff <(sed -n '/^verdicts:/,\$p' lo.pcap.report) <(sed -n '/^verdicts:/,\$p' lo.pcapng.report)"
set +e
"$sbc" replay not-there.pcap >/dev/null 2>missing.err
status=$?
set -e
check "an unreadable capture exits 2 with a message ($status)" \
  bash -c "test $status = 2 && grep -q 'cannot read the capture' missing.err"

# The SBC's own capture of what it rejected.
mapfile -t files < <(ls cap/*.pcap 2>/dev/null)
check "the capture directory holds ${#files[@]} files (rotated, at most $max_files)" \
  test "${#files[@]}" -ge 2 -a "${#files[@]}" -le "$max_files"
check "the first file was rotated away" test ! -e cap/sbc-00000001.pcap
for f in "${files[@]}"; do
  size=$(stat -c %s "$f")
  check "$f stays within $max_file_bytes bytes ($size)" test "$size" -le "$max_file_bytes"
done
written=$(metric 'sbc_capture_packets_total{result="written"}')
dropped=$(metric 'sbc_capture_packets_total{result="dropped"}')
# The kernel drops some of the flood before the SBC reads it (the wire shows more than arrived):
# compare with what the SBC itself refused.
banned=$(metric sbc_policy_banned_dropped_total)
signature=$(metric 'sbc_policy_decisions_total{stage="scanner",reason="signature"}')
refused=$(awk -v b="${banned:-0}" -v s="${signature:-0}" 'BEGIN { print b + s }')
check "every message the SBC refused was captured ($written of $refused)" \
  test "${written:-0}" = "$refused" -a "$refused" -ge 100
check "none was dropped (${dropped:-none})" test "${dropped:-x}" = 0
in_files=0 legit_in_files=0
for f in "${files[@]}"; do
  n=$(tshark -r "$f" "${decode[@]}" -Y 'sip.Request-Line' 2>/dev/null | wc -l)
  l=$(tshark -r "$f" "${decode[@]}" -Y 'sip.Request-Line && ip.src != 127.0.0.1' 2>/dev/null | wc -l)
  in_files=$((in_files + n)) legit_in_files=$((legit_in_files + l))
done
check "tshark decodes SIP requests in the capture files ($in_files)" test "$in_files" -ge 10
check "legitimate traffic is not captured ($legit_in_files)" test "$legit_in_files" = 0
# A file of its own reads back whole (its first message may come from a source that an earlier,
# rotated file banned: verdicts differ, the messages do not).
newest=${files[-1]}
"$sbc" replay --config sbc.yaml "$newest" >newest.report 2>&1 || true
in_newest=$(tshark -r "$newest" "${decode[@]}" -Y sip.Request-Line 2>/dev/null | wc -l)
check "sbc replay reads every message of the SBC's own newest file ($in_newest)" \
  grep -q "SIP messages: $in_newest (UDP $in_newest)" newest.report

# what: all on the stream listeners, with a large limit: a 150 kB MESSAGE over TCP becomes several
# TCP segments (each IP packet within 65535 bytes) that tshark reassembles, and an OPTIONS over
# TLS is written decrypted, as TCP on the TLS port.
base2=$(free_port_base 29000 1500)
tcp_port=$base2 tls_port=$((base2 + 1)) metrics2_port=$((base2 + 2))
mkdir cap-all
cat >sbc-all.yaml <<YAML
workers: 1
listeners:
  - {transport: udp, address: 127.0.0.1, port: $tcp_port}
  - {transport: tcp, address: 127.0.0.1, port: $tcp_port}
  - {transport: tls, address: 127.0.0.1, port: $tls_port}
metrics: {port: $metrics2_port}
sip: {limits: {max_message_bytes: 262144, max_body_bytes: 262144}}
capture: {enabled: true, directory: $work/cap-all, what: all, listeners: [$tcp_port, $tls_port]}
YAML
start_sbc sbc-all "http://127.0.0.1:$metrics2_port/readyz"
all_pid=$sbc_pid
body_size=150000
{
  printf 'MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKbig1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: big@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: %s\r\n\r\n' "$body_size"
  head -c "$body_size" /dev/zero | tr '\0' 'm'
} >big.sip
big=$("$probe" tcp 127.0.0.1 "$tcp_port" big.sip 3000 || true)
check "the 150 kB MESSAGE over TCP is read whole and answered ($big)" grep -q "SIP/2.0 503" <<<"$big"
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5998;branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\nFrom: <sip:ok@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$tls_port" >tls.sip
tls=$({ (cat tls.sip; sleep 1) | timeout 5 openssl s_client -quiet -connect "127.0.0.1:$tls_port" 2>/dev/null | head -n 1 | tr -d '\r'; } || true)
check "the OPTIONS over TLS is answered ($tls)" grep -q "SIP/2.0 200" <<<"$tls"
sipsak -s "sip:127.0.0.1:$tcp_port" >/dev/null 2>&1 || true  # UDP on a chosen port: captured too
sleep 0.5
kill "$all_pid" 2>/dev/null || true
wait "$all_pid" 2>/dev/null || true
all_file=cap-all/sbc-00000001.pcap
stream_decode=(-d "tcp.port==$tcp_port,sip" -d "tcp.port==$tls_port,sip" -d "udp.port==$tcp_port,sip")
big_length=$(tshark -r "$all_file" "${stream_decode[@]}" -Y 'sip.Method == "MESSAGE"' -T fields -e sip.Content-Length 2>/dev/null)
check "tshark reassembles the MESSAGE from the capture (Content-Length: $big_length)" test "$big_length" = "$body_size"
largest=$(tshark -r "$all_file" -T fields -e ip.len 2>/dev/null | sort -n | tail -n 1)
segments=$(tshark -r "$all_file" -Y "tcp.dstport==$tcp_port && tcp.len > 0" 2>/dev/null | wc -l)
check "it was written as $segments segments, no IP packet above 65535 bytes ($largest)" \
  test "$segments" -ge 3 -a "${largest:-0}" -le 65535
tls_options=$(tshark -r "$all_file" "${stream_decode[@]}" -Y "tcp.dstport==$tls_port && sip.Method == \"OPTIONS\"" 2>/dev/null | wc -l)
check "tshark decodes the TLS message on the TLS port when told (-d tcp.port==$tls_port,sip): $tls_options" \
  test "$tls_options" = 1
"$sbc" replay --config sbc-all.yaml "$all_file" >all.report 2>&1 || true
check "sbc replay gives the messages back with their transports" \
  grep -q "SIP messages: 3 (TCP 1, TLS 1, UDP 1)" all.report
check "and all three pass" test "$(count all.report pass)" = 3

if [ "$failures" -ne 0 ]; then
  for f in sbc.log svmap.out svwar.out flood.out sipsak-udp.out sipsak-tcp.out lo.pcap.report any.pcap.report \
    lo.pcapng.report tcpdump-lo.log tshark.log sbc-all.log all.report; do
    echo "--- $f"
    tail -n 40 "$f"
  done
fi
exit $((failures > 0))
