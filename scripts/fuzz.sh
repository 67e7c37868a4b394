#!/usr/bin/env bash
# Builds the libFuzzer targets (the asan preset: clang-14, ASan+UBSan, the whole tree
# coverage-instrumented, so that test.sh's sanitizer build serves both) and runs each for a
# bounded time, seeded from the conformance corpus in ../shared/corpus. Exits non-zero on any crash, leak, timeout or
# sanitizer report; the input that triggered it is left in build/fuzz/findings/.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60; env SBC_FUZZ_JOBS: targets at once,
#        default one per core)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
corpus=${SBC_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}

cmake --preset asan >/dev/null
cmake --build --preset asan

# Bytes for the pcap seeds (functions print binary straight to stdout: NULs survive).
byte() { printf "\\x$(printf %02x "$(($1 & 255))")"; }
be16() { byte $(($1 >> 8)); byte "$1"; }
le32() { byte "$1"; byte $(($1 >> 8)); byte $(($1 >> 16)); byte $(($1 >> 24)); }
# fuzz_pcap_reader's input: 0, then a pcap file (LINKTYPE_RAW) of one IPv4 packet carrying the
# message in FILE over UDP (PROTO 17) or TCP (6) from 192.0.2.7:5060 to 192.0.2.1:5060.
pcap_seed() {
  local size header total
  size=$(stat -c %s "$1")
  header=$(($2 == 17 ? 8 : 20))
  total=$((20 + header + size))
  byte 0
  printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00'; le32 0; le32 0; le32 262144; le32 101
  le32 1700000000; le32 0; le32 "$total"; le32 "$total"
  printf '\x45\x00'; be16 "$total"; printf '\x00\x00\x40\x00\x40'; byte "$2"
  printf '\x00\x00\xc0\x00\x02\x07\xc0\x00\x02\x01\x13\xc4\x13\xc4'
  if [ "$2" = 17 ]; then
    be16 $((8 + size)); printf '\x00\x00'
  else
    printf '\x00\x00\x00\x01\x00\x00\x00\x00\x50\x18\xff\xff\x00\x00\x00\x00'
  fi
  cat "$1"
}

work=build/fuzz/work
findings=build/fuzz/findings
rm -rf "$work"
mkdir -p "$findings"
# fuzz_dns_answer's seed: a response to "_sip._udp.core.test SRV" with two SRV records (the second
# name compressed) and an A record.
dns_seed() {
  printf '\x12\x34\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00'
  printf '\x04_sip\x04_udp\x04core\x04test\x00\x00\x21\x00\x01'
  printf '\xc0\x0c\x00\x21\x00\x01\x00\x00\x01\x2c\x00\x12\x00\x0a\x00\x05\x13\xc4'
  printf '\x05core1\x04test\x00'
  printf '\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x3c\x00\x0d\x00\x14\x00\x05\x13\xc4'
  printf '\x05core2\xc0\x1e'
  printf '\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x7f\x00\x00\x01'
}

# Seeds of one target, in a scratch directory (the corpus is referenced, not copied into the
# project).
prepare_seeds() {
  local target=$1 seeds="$work/$1"
  mkdir -p "$seeds"
  find "$corpus" -name '*.dat' -exec cp {} "$seeds/" \;
  find "$corpus" -path '*/archive/*' -type f -exec sh -c 'cp "$1" "$2/archive-$(basename "$1")"' _ {} "$seeds" \;
  if [ "$target" = fuzz_relay ]; then
    # Its input is a sequence of tagged messages: each corpus message from the outside (tag 0)
    # and from the core (tag 2).
    for f in "$seeds"/*; do
      { printf '\x00'; cat "$f"; printf '\xff\x02'; cat "$f"; } >"$f.seq" && rm "$f"
    done
  fi
  if [ "$target" = fuzz_pcap_reader ]; then
    # Each corpus message as a one-packet capture, over UDP and over TCP (small ones only: the
    # IPv4 length field).
    for f in "$seeds"/*; do
      if [ "$(stat -c %s "$f")" -lt 60000 ]; then
        pcap_seed "$f" 17 >"$f.udp.pcap"
        pcap_seed "$f" 6 >"$f.tcp.pcap"
      fi
      rm "$f"
    done
  fi
  if [ "$target" = fuzz_dns_answer ]; then
    # DNS messages, not SIP: one well-formed answer (the fuzzer mutates it).
    rm -f "$seeds"/*
    dns_seed >"$seeds/srv-answer"
  fi
  if [ "$target" = fuzz_fleet_codec ]; then
    # Store entries, not SIP: a ban message, a lift, and a hash field and value.
    rm -f "$seeds"/*
    printf 'ban 00000000000000000000ffff7f000009/udp 1 1796370181353 1796370121353 1 scanner signature 1595300656169062436' >"$seeds/ban"
    printf 'unban 2001:db8::/32 42' >"$seeds/unban"
    printf '00000000000000000000ffffc0000207/all\n1 5 1 2 auth failures 7' >"$seeds/entry"
  fi
  if [ "$target" = fuzz_sdp ]; then
    # SDP bodies, not SIP: an offer with RTCP and ICE candidates, and an SRTP offer over IPv6.
    rm -f "$seeds"/*
    printf 'v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtcp:4001 IN IP4 192.0.2.7\r\na=candidate:1 1 UDP 2130706431 192.0.2.7 4000 typ host\r\na=candidate:2 1 UDP 1694498815 198.51.100.1 4000 typ srflx raddr 192.0.2.7 rport 4000\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\n' >"$seeds/offer"
    printf 'v=0\no=alice 2890844526 2890844527 IN IP6 2001:db8::7\ns= \nc=IN IP6 2001:db8::7\nt=0 0\nm=audio 5004 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\na=sendonly\n' >"$seeds/srtp"
  fi
  if [ "$target" = fuzz_bencode ]; then
    # rtpengine's ng answers, not SIP: an offer's answer and a query's.
    rm -f "$seeds"/*
    printf 'd3:sdp50:v=0\r\nc=IN IP4 127.0.0.3\r\nm=audio 30000 RTP/AVP 0\r\n6:result2:oke' >"$seeds/offer"
    printf 'd7:createdi1796383044e4:tagsd2:ftd3:tag2:ft6:mediasld7:streamsld5:statsd7:packetsi12e5:bytesi-1eeeeeeee6:totalsd3:RTPd7:packetsi0eee6:result2:oke' >"$seeds/query"
  fi
  if [ -d tests/fuzz/regressions ]; then cp tests/fuzz/regressions/* "$seeds/" 2>/dev/null || true; fi
}

# One target for `seconds` (libFuzzer uses one core); its output goes to build/fuzz/TARGET.log.
run_target() {
  local target=$1 seeds="$work/$1"
  echo "fuzz: $target for ${seconds}s with $(ls "$seeds" | wc -l) seeds"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/asan/tests/fuzz/$target" "$seeds" -dict=tests/fuzz/sip.dict \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$findings/$target-" -print_final_stats=1 2>"build/fuzz/$target.log" \
    || { tail -n 60 "build/fuzz/$target.log"; echo "fuzz: $target FAILED" >&2; return 1; }
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "build/fuzz/$target.log" | sed "s/^/fuzz: $target /"
}

# The targets run side by side, one per core: the wall time is ~ targets / cores x seconds.
targets=(fuzz_sip_message fuzz_sip_uri fuzz_edge fuzz_relay fuzz_pcap_reader fuzz_dns_answer
  fuzz_fleet_codec fuzz_sdp fuzz_bencode)
parallel=${SBC_FUZZ_JOBS:-$(nproc)}
for target in "${targets[@]}"; do prepare_seeds "$target"; done
running=0
failed=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target failed (inputs in $findings)" >&2
  exit 1
fi
echo "fuzz: all targets ran clean"
