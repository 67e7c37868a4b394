#!/usr/bin/env bash
# Installs every Debian package that building, testing, fuzzing and benchmarking the SBC needs.
# Idempotent: runs `apt-get update` once and installs only what is missing. Nothing is downloaded
# from anywhere but Debian's archive.
# usage: scripts/install-deps.sh [--build]
#   --build: only what building the `sbc` binary needs (the toolchain and the libraries; no
#            tests, benchmarks or peers), as the Dockerfile's build stage does.
set -euo pipefail

mode=all
case "${1:-}" in
  "") ;;
  --build) mode=build ;;
  *)
    echo "usage: $0 [--build]" >&2
    exit 2
    ;;
esac

build_packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # libraries
  libyaml-cpp-dev libboost1.81-dev android-libboringssl-dev prometheus-cpp-dev libpcap-dev
  # c-ares: cores by DNS name (sbc/dns)
  libc-ares-dev
  # hiredis: the replicas' shared store (sbc/cluster, cluster.redis)
  libhiredis-dev
)

packages=(
  "${build_packages[@]}"
  # the rest of the toolchain: git, clang for the fuzzers, formatting and lint
  git clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format clang-tidy
  # tests and benchmarks (valgrind: bench/instructions.sh counts instructions under callgrind)
  catch2 libbenchmark-dev valgrind
  # deploy/ checks (tests/integration/dashboard_test.sh, deploy/grafana/generate_dashboard.py)
  python3 python3-yaml
  # peer SIP parsers measured by bench/
  libosip2-dev libsofia-sip-ua-dev
  # real peers for the integration tests and benchmarks
  sipsak openssl kamailio kamailio-tls-modules baresip-core sipvicious curl prometheus iproute2
  tcpdump tshark
  # a real DNS server for the DNS tests (tests/integration/dns_test.sh)
  dnsmasq-base
  # a real Redis for the fleet tests (tests/integration/cluster_test.sh)
  redis-server
  # a real media relay for the media tests (rtpengine in user space, controlled over ng), and
  # AES for the SRTP test's own RFC 3711 implementation (tests/integration/srtp_ua.py)
  rtpengine-daemon python3-cryptography
  # the container image built and started without a registry or a daemon
  # (scripts/image-check.sh: a base image from Debian's archive, `buildah bud --isolation chroot`)
  buildah debootstrap
)
if [ "$mode" = build ]; then
  packages=("${build_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
