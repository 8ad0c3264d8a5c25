#!/usr/bin/env bash
# The adaptive Bitswap want window (formats/bitswap.md rule C12) against fixed
# windows, on loopback and on links made with two network namespaces, a veth
# pair and netem (delay each way, rate, both directions). A seed process in
# one namespace serves MIB of 256 KiB blocks; a fetch process in the other
# prefetches them once per window (adaptive, 256, 32), in one run.
# Needs root (ip netns, tc). Prints a Markdown table.
#
# Usage: Benchmarks/scripts/bitswap-window.sh [MIB=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
mib="${1:-256}"
swift build --package-path Benchmarks --scratch-path Benchmarks/.build-p2p -c release --product tau-bench-window >/dev/null
bin="$PWD/Benchmarks/.build-p2p/release/tau-bench-window"
a=tau-bw-a
b=tau-bw-b
cleanup() {
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT

# setup DELAY RATE: namespaces a (10.213.0.1) and b (10.213.0.2), netem on both ends.
setup() {
  cleanup
  ip netns add "$a"
  ip netns add "$b"
  ip link add tau-bw-va type veth peer name tau-bw-vb
  ip link set tau-bw-va netns "$a"
  ip link set tau-bw-vb netns "$b"
  ip -n "$a" addr add 10.213.0.1/24 dev tau-bw-va
  ip -n "$b" addr add 10.213.0.2/24 dev tau-bw-vb
  for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
    # Socket buffers for a long fat link (the defaults cap TCP at 6 MiB in flight).
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864" net.ipv4.tcp_wmem="4096 65536 67108864"
  done
  ip -n "$a" link set tau-bw-va up
  ip -n "$b" link set tau-bw-vb up
  tc -n "$a" qdisc add dev tau-bw-va root netem delay "$1" rate "$2" limit 200000
  tc -n "$b" qdisc add dev tau-bw-vb root netem delay "$1" rate "$2" limit 200000
}

# run LABEL SEED-PREFIX FETCH-PREFIX LISTEN
run() {
  local label="$1" seed_prefix="$2" fetch_prefix="$3" listen="$4"
  coproc SEED { $seed_prefix "$bin" seed "$listen" "$mib"; }
  local ready address
  read -r ready address <&"${SEED[0]}"
  [ "$ready" = ready ] || { echo "seed did not start: $ready" >&2; exit 1; }
  $fetch_prefix "$bin" fetch "$address" "$mib" adaptive 256 32 | sed "s/^| /| $label | /"
  exec {SEED[1]}>&-
  wait "$SEED_PID" 2>/dev/null || true
}

echo "| link | window | seconds | MB/s | final window |"
echo "|---|---|---|---|---|"
run "loopback" "" "" /ip4/127.0.0.1/tcp/0
setup 20ms 200mbit
run "200 Mbit/s, 40 ms RTT" "ip netns exec $a" "ip netns exec $b" /ip4/10.213.0.1/tcp/0
setup 50ms 1gbit
run "1 Gbit/s, 100 ms RTT" "ip netns exec $a" "ip netns exec $b" /ip4/10.213.0.1/tcp/0
