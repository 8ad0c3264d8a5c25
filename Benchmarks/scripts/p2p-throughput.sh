#!/usr/bin/env bash
# libp2p throughput, one stream over loopback through TCP + Noise + Yamux:
#   - Swift→Swift (tau-bench-p2p loopback: two hosts in one process) against
#     plain TCP through the same SwiftNIO harness (same socket options);
#   - Swift→py-libp2p, py-libp2p→Swift and py-libp2p→py-libp2p (0.8.1, the
#     test venv's), through the sink protocol of Tests/P2PTests/Peers/peer.py.
# The sender writes 1 MiB pieces and closes; the time runs until the sink's
# answer (the byte count), so it covers delivery. Each figure is the median
# of RUNS runs. Prints a Markdown table.
#
# Usage: Benchmarks/scripts/p2p-throughput.sh [SWIFT_MIB=1024] [PY_MIB=256] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
swift_mib="${1:-1024}"
py_mib="${2:-256}"
runs="${3:-3}"
.ci/setup
swift build --package-path Benchmarks --scratch-path Benchmarks/.build-p2p -c release --product tau-bench-p2p >/dev/null
bench="$PWD/Benchmarks/.build-p2p/release/tau-bench-p2p"
python="$PWD/.venv/bin/python"
peer="$PWD/Tests/P2PTests/Peers/peer.py"
work=$(mktemp -d)
listener_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_listener CMD…: runs a listener with stdin on a fifo (it exits when the
# fifo closes), waits for its "ready <multiaddr>" line, sets $address.
start_listener() {
  rm -f "$work/in" "$work/out"
  mkfifo "$work/in"
  "$@" < "$work/in" > "$work/out" 2>"$work/err" &
  listener_pid=$!
  exec 3>"$work/in"
  for _ in $(seq 1 200); do
    address=$(awk '/^ready /{print $2}' "$work/out")
    [ -n "$address" ] && return 0
    sleep 0.1
  done
  echo "listener did not start:" >&2
  cat "$work/err" >&2
  exit 1
}

stop_listener() {
  echo quit >&3 || true
  exec 3>&-
  wait "$listener_pid" 2>/dev/null || true
  listener_pid=""
}

# series NAME CMD…: runs CMD (which prints "ok send SECONDS …") RUNS times; sets rate[NAME] in MB/s.
declare -A rate
series() {
  local name="$1" bytes="$2"; shift 2
  : > "$work/times"
  for _ in $(seq 1 "$runs"); do
    "$@" 2>/dev/null | awk '/^ok send/{print $3}' >> "$work/times"
  done
  [ "$(wc -l < "$work/times")" -eq "$runs" ] || { echo "$name: a run failed" >&2; exit 1; }
  rate[$name]=$(median < "$work/times" | awk -v b="$bytes" '{printf "%.0f", b / $1 / 1e6}')
}

loop=$("$bench" loopback "$swift_mib" "$runs" 2>/dev/null)
libp2p=$(echo "$loop" | awk '{print $2}')
tcp=$(echo "$loop" | awk '{print $5}')
ratio=$(echo "$loop" | awk '{print $8}')

py_bytes=$((py_mib * 1048576))
start_listener "$python" "$peer" listen
series swift-py "$py_bytes" "$bench" send "$address" "$py_mib"
series py-py "$py_bytes" "$python" "$peer" dial "$address" send "$py_bytes" --timeout 300
stop_listener
start_listener "$bench" sink
series py-swift "$py_bytes" "$python" "$peer" dial "$address" send "$py_bytes" --timeout 300
stop_listener

echo "| transfer (one stream, loopback) | size | throughput | against |"
echo "|---|---|---|---|"
echo "| tau → tau, TCP + Noise + Yamux | $swift_mib MiB | $(awk -v r="$libp2p" 'BEGIN {printf "%.0f", r * 1000}') MB/s | plain TCP, same harness: $(awk -v r="$tcp" 'BEGIN {printf "%.0f", r * 1000}') MB/s (${ratio}×) |"
echo "| tau → py-libp2p | $py_mib MiB | ${rate[swift-py]} MB/s | py-libp2p → py-libp2p: ${rate[py-py]} MB/s |"
echo "| py-libp2p → tau | $py_mib MiB | ${rate[py-swift]} MB/s | py-libp2p → py-libp2p: ${rate[py-py]} MB/s |"
echo "| py-libp2p → py-libp2p | $py_mib MiB | ${rate[py-py]} MB/s | – |"
echo
echo "median of $runs runs; $(date -u '+%Y-%m-%d %H:%M UTC')"
