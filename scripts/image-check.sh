#!/usr/bin/env bash
# Builds the container image from the Dockerfile and starts it, with nothing pulled from a
# container registry and no daemon (issue 15, part 4):
#   1. base    - a Debian bookworm root file system from Debian's archive (debootstrap
#                --variant=minbase), cached as a tarball in build/image/
#   2. import  - that tarball imported as docker.io/library/debian:bookworm, and without
#                documentation, manual pages and translations (as Debian slims it) as
#                :bookworm-slim: the names the Dockerfile's FROM lines resolve to
#   3. build   - `buildah bud --isolation chroot --pull=never --layers` of the Dockerfile, unchanged
#   4. render  - the SBC configuration of the Helm chart's ConfigMap (helm template), listening on
#                a free loopback port
#   5. start   - the image's root file system (buildah from + buildah mount): `sbc check-config`
#                and `sbc run` as uid 10001 under `chroot --userspec`; sipsak's OPTIONS over UDP
#                and TCP get 200, the metrics endpoint counts them, SIGTERM stops it with status 0
# then prints the image size and the time of each phase. Exits non-zero on any failure.
#
# usage: scripts/image-check.sh [--clean]   (as root, on Debian bookworm)
#   --clean: remove the image storage and the cached base (the next run is cold), then exit.
# env: SBC_IMAGE_DIR       where the cache and the image storage live (default build/image)
#      SBC_IMAGE_DRIVER    storage driver: overlay or vfs (default: overlay, vfs when the
#                          directory itself is on overlayfs, where overlay cannot nest)
# Storage: SBC_IMAGE_DIR/storage (buildah --root; not /var/lib/containers, so the check never
# touches the machine's own images), state in /run/sbc-image-check/ (--runroot).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${SBC_IMAGE_DIR:-$repo/build/image}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
base_tar="$dir/debian-bookworm-minbase.tar"
image="localhost/sbc:check"
suite=bookworm
mirror=http://deb.debian.org/debian

log() { echo "image-check: $*"; }
die() {
  echo "image-check: FAIL: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, buildah storage and chroot need it)"
for tool in buildah debootstrap sipsak curl python3 chroot findmnt; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done

driver=${SBC_IMAGE_DRIVER:-}
if [ -z "$driver" ]; then
  if [ "$(stat -f -c %T "$dir")" = overlayfs ]; then driver=vfs; else driver=overlay; fi
fi
runroot="/run/sbc-image-check/$(printf '%s' "$dir" | md5sum | cut -c1-12)"
bh=(buildah --root "$dir/storage" --runroot "$runroot" --storage-driver "$driver")

if [ "${1:-}" = --clean ]; then
  "${bh[@]}" rm --all >/dev/null 2>&1 || true
  "${bh[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$dir" "$runroot"
  log "removed $dir and $runroot"
  exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [--clean]"

# --- cleanup: never leave a mount, a process or a working container behind ----------------------
work=$(mktemp -d)
rootfs_tmp="$dir/rootfs.tmp"
sbc_pid=""
containers=()
bound=()
unmount_under() { # unmounts everything mounted below $1, deepest first
  local m
  findmnt -rn -o TARGET | { grep -E "^$1(/|$)" || true; } | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}
cleanup() {
  local status=$?
  set +e
  if [ -n "$sbc_pid" ] && kill -0 "$sbc_pid" 2>/dev/null; then
    kill -KILL "$sbc_pid" 2>/dev/null
    wait "$sbc_pid" 2>/dev/null
  fi
  local m
  for ((i = ${#bound[@]} - 1; i >= 0; i--)); do
    m=${bound[i]}
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  for c in "${containers[@]}"; do
    "${bh[@]}" umount "$c" >/dev/null 2>&1
    "${bh[@]}" rm "$c" >/dev/null 2>&1 || echo "image-check: could not remove working container $c" >&2
  done
  if [ -d "$rootfs_tmp" ]; then
    unmount_under "$rootfs_tmp"
    rm -rf "$rootfs_tmp"
  fi
  rm -rf "$work"
  [ "$status" -eq 0 ] || echo "image-check: FAILED (status $status)" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'echo "image-check: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

# --- phase timing ---------------------------------------------------------------------------------
phases=()
phase_start=0
begin() {
  phase_start=$(date +%s.%N)
  log "== $1"
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
end() { phases+=("$(printf '%-8s %7s s  %s' "$1" "$(since "$phase_start")" "$2")"); }
total_start=$(date +%s.%N)

# --- 1. base: Debian bookworm from Debian's archive -----------------------------------------------
begin "base: debootstrap --variant=minbase $suite"
if [ -s "$base_tar" ]; then
  end base "cached $(du -h "$base_tar" | cut -f1) $base_tar"
else
  rm -rf "$rootfs_tmp"
  if ! nice -n 10 debootstrap --variant=minbase "$suite" "$rootfs_tmp" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  unmount_under "$rootfs_tmp"
  # The sources of Debian's own images (and of this machine): the release, its updates and the
  # security archive, all from deb.debian.org.
  rm -f "$rootfs_tmp/etc/apt/sources.list"
  cat >"$rootfs_tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What Debian's own images set (debuerreotype): apt keeps no .deb files or package caches in
  # the layers it writes and fetches no translations; dpkg skips fsync.
  cat >"$rootfs_tmp/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs_tmp/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs_tmp/etc/apt/apt.conf.d/docker-autoremove-suggests"
  echo force-unsafe-io >"$rootfs_tmp/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  rm -rf "$rootfs_tmp"/var/lib/apt/lists/* "$rootfs_tmp"/var/cache/apt/*.bin \
    "$rootfs_tmp"/var/cache/apt/archives/*.deb "$rootfs_tmp"/var/log/* "${rootfs_tmp:?}"/dev/*
  : >"$rootfs_tmp/etc/resolv.conf"
  : >"$rootfs_tmp/etc/hostname"
  tar -C "$rootfs_tmp" --numeric-owner --xattrs -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs_tmp"
  end base "debootstrap $(du -h "$base_tar" | cut -f1) $base_tar"
fi

# --- 2. import under the Dockerfile's names ---------------------------------------------------------
begin "import: docker.io/library/debian:$suite and :$suite-slim"
if "${bh[@]}" inspect --type image "docker.io/library/debian:$suite" >/dev/null 2>&1 \
  && "${bh[@]}" inspect --type image "docker.io/library/debian:$suite-slim" >/dev/null 2>&1; then
  end import "present in $dir/storage ($driver)"
else
  c=$("${bh[@]}" from scratch)
  containers+=("$c")
  "${bh[@]}" add "$c" "$base_tar" / >/dev/null
  "${bh[@]}" config --cmd bash \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  "${bh[@]}" commit --quiet "$c" "docker.io/library/debian:$suite" >/dev/null
  # The slim variant, as Debian makes it: no documentation (but the copyright files), manual
  # pages or translations, and dpkg configured to install none.
  r=$("${bh[@]}" mount "$c")
  if [ -z "$r" ] || [ "$r" = / ] || [ ! -d "$r/usr/share" ]; then
    die "buildah mount of the base gave no root file system"
  fi
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# The "slim" variant of the Debian base image: files containers normally do not need are
# excluded, and this file keeps them that way.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$r/usr/share/doc" -depth -mindepth 1 \( -type d -empty -o ! -type d ! -name copyright \) -delete
  rm -rf "${r:?}"/usr/share/{groff,info,linda,locale,man}/* "${r:?}"/usr/share/lintian/overrides/*
  "${bh[@]}" umount "$c" >/dev/null
  "${bh[@]}" commit --quiet --squash "$c" "docker.io/library/debian:$suite-slim" >/dev/null
  "${bh[@]}" rm "$c" >/dev/null
  containers=()
  end import "committed to $dir/storage ($driver)"
fi

# --- 3. build the Dockerfile, unchanged ---------------------------------------------------------------
begin "build: buildah bud --isolation chroot ($driver)"
# Each line of the log gets the second it arrived, for the time of each step below.
stamp() { while IFS= read -r line; do printf '%(%s)T %s\n' -1 "$line"; done; }
if ! nice -n 10 "${bh[@]}" bud --isolation chroot --pull=never --layers --force-rm \
  --jobs 1 -f "$repo/Dockerfile" -t "$image" "$repo" 2>&1 | stamp >"$dir/build.log"; then
  tail -n 40 "$dir/build.log" >&2
  die "buildah bud failed (the end of $dir/build.log is above)"
fi
end build "$image"
# The steps that took more than 2 s (a step ends where the next begins).
steps=$(awk '
  function flush(t) { if (name != "" && t - start > 2) printf "    %5d s  %s\n", t - start, substr(name, 1, 90) }
  / STEP / { flush($1); start = $1; name = $0; sub(/^[0-9]+ /, "", name) }
  { last = $1 }
  END { flush(last) }' "$dir/build.log")

# --- 4. the configuration the chart renders, on a free loopback port ------------------------------------
begin "render: helm template (the chart's ConfigMap)"
"$repo/scripts/install-helm.sh" >"$work/install-helm.log" 2>&1 \
  || { cat "$work/install-helm.log" >&2; die "scripts/install-helm.sh failed"; }
# shellcheck source=SCRIPTDIR/lib/ports.sh
source "$repo/scripts/lib/ports.sh"
port=$(free_port_base 46000 300)
metrics_port=$((port + 1))
# The chart's defaults, with the listeners and the metrics endpoint moved to loopback; the
# addresses come from ${POD_IP} as the chart passes the downward API's status.podIP.
# shellcheck disable=SC2016 # ${POD_IP} is for the SBC to expand, not the shell
"$repo/build/tools/bin/helm" template sbc-image "$repo/helm/sbc" --namespace sbc-image \
  --set-json "config.listeners=[{\"transport\":\"udp\",\"address\":\"127.0.0.1\",\"port\":$port,\"advertise\":\"\${POD_IP}\"},{\"transport\":\"tcp\",\"address\":\"127.0.0.1\",\"port\":$port,\"advertise\":\"\${POD_IP}\"}]" \
  --set 'config.metrics.address=${POD_IP}' --set "config.metrics.port=$metrics_port" \
  --set 'core.localAddress=${POD_IP}' >"$work/rendered.yaml" 2>"$work/helm.err" \
  || { cat "$work/helm.err" >&2; die "helm template failed"; }
python3 - "$work/rendered.yaml" "$work/sbc.yaml" <<'PY' || die "no sbc.yaml in the rendered ConfigMap"
import sys
import yaml
maps = [d for d in yaml.safe_load_all(open(sys.argv[1]))
        if d and d.get("kind") == "ConfigMap" and "sbc.yaml" in (d.get("data") or {})]
if len(maps) != 1:
    sys.exit(f"expected one ConfigMap with sbc.yaml, found {len(maps)}")
open(sys.argv[2], "w").write(maps[0]["data"]["sbc.yaml"])
PY
end render "udp+tcp 127.0.0.1:$port, metrics :$metrics_port"

# --- 5. start the image ----------------------------------------------------------------------------------
begin "start: sbc as uid 10001 in the image's root file system"
ctr=$("${bh[@]}" from --pull=never "$image")
containers+=("$ctr")
root=$("${bh[@]}" mount "$ctr")
[ -x "$root/usr/local/bin/sbc" ] || die "no /usr/local/bin/sbc in the image"
# What the pod mounts: the ConfigMap at /etc/sbc/sbc.yaml (read-only, readable by the SBC).
install -m 0444 "$work/sbc.yaml" "$root/etc/sbc/sbc.yaml"
# The environment of the pod (the chart's env), nothing from this shell's.
in_image=(env -i PATH=/usr/local/bin:/usr/bin:/bin POD_IP=127.0.0.1 NODE_IP=127.0.0.1
  "$(command -v chroot)" --userspec=10001:10001 "$root")

if ! "${in_image[@]}" sbc check-config /etc/sbc/sbc.yaml >"$work/check.out" 2>&1; then
  cat "$work/check.out" >&2
  die "sbc check-config refused the chart's configuration"
fi
log "$(cat "$work/check.out")"

"${in_image[@]}" sbc run --config /etc/sbc/sbc.yaml >"$work/sbc.log" 2>&1 &
sbc_pid=$!
for _ in $(seq 100); do
  grep -q 'msg="sbc started"' "$work/sbc.log" && break
  kill -0 "$sbc_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q 'msg="sbc started"' "$work/sbc.log" || { cat "$work/sbc.log" >&2; die "sbc run did not start"; }
[ "$(ps -o uid= -p "$sbc_pid" | tr -d ' ')" = 10001 ] || die "sbc does not run as uid 10001"

# OPTIONS to the SBC itself (no user part: the edge's own ping) over UDP and TCP.
sipsak -s "sip:127.0.0.1:$port" >"$work/sipsak-udp.out" 2>&1 \
  || { cat "$work/sipsak-udp.out" "$work/sbc.log" >&2; die "sipsak OPTIONS over UDP: no 200"; }
sipsak --transport=tcp -s "sip:127.0.0.1:$port" >"$work/sipsak-tcp.out" 2>&1 \
  || { cat "$work/sipsak-tcp.out" "$work/sbc.log" >&2; die "sipsak OPTIONS over TCP: no 200"; }
log "sipsak OPTIONS sip:127.0.0.1:$port over UDP and TCP: 200"
answered=$(curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" \
  | awk '$1 == "sbc_options_answered_total" { print $2 }') || die "no metrics on 127.0.0.1:$metrics_port"
[ "$answered" = 2 ] || die "sbc_options_answered_total is '$answered', expected 2"
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/healthz" >/dev/null || die "/healthz does not answer"
log "metrics: sbc_options_answered_total $answered, /healthz 200"

kill -TERM "$sbc_pid"
for _ in $(seq 100); do
  kill -0 "$sbc_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$sbc_pid" 2>/dev/null && die "sbc still running 10 s after SIGTERM"
status=0
wait "$sbc_pid" || status=$?
sbc_pid=""
[ "$status" -eq 0 ] || { cat "$work/sbc.log" >&2; die "sbc exited with status $status after SIGTERM"; }
grep -q 'msg="stopped"' "$work/sbc.log" || { cat "$work/sbc.log" >&2; die "no 'stopped' line in the log"; }
log "stopped cleanly on SIGTERM: $(grep 'msg="stopped"' "$work/sbc.log" | sed 's/.*msg="stopped" //')"
"${bh[@]}" umount "$ctr" >/dev/null
"${bh[@]}" rm "$ctr" >/dev/null
containers=()
end start "check-config, run, OPTIONS 200 (udp, tcp), SIGTERM"

# --- report ----------------------------------------------------------------------------------------------
size=$("${bh[@]}" images --format '{{.Size}}' "$image")
bytes=$("${bh[@]}" inspect --type image --format '{{.Size}}' "$image" 2>/dev/null || true)
log "image $image: $size${bytes:+ ($bytes bytes)}"
echo "image-check: phases"
for p in "${phases[@]}"; do
  echo "  $p"
  if [[ $p == build* ]] && [ -n "$steps" ]; then echo "$steps"; fi
done
printf '  %-8s %7s s\n' total "$(since "$total_start")"
log "all checks passed"
