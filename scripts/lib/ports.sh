# Sourced by tests and benchmarks that start servers on loopback.
# free_port_base LOW SLOTS: prints a random base port LOW + 10*k (k < SLOTS) whose four ports
# base..base+3 are not in use over TCP or UDP, re-drawn up to 50 times.
free_port_base() {
  local low=$1 slots=$2 taken base clash p
  taken=$(ss -Hltun 2>/dev/null | awk '{n = split($5, a, ":"); print a[n]}')
  for _ in $(seq 50); do
    base=$((low + (RANDOM % slots) * 10))
    clash=0
    for p in $base $((base + 1)) $((base + 2)) $((base + 3)); do
      grep -qx "$p" <<<"$taken" && clash=1
    done
    [ $clash -eq 0 ] && break
  done
  echo "$base"
}
