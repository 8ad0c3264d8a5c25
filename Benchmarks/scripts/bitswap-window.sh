#!/usr/bin/env bash
# The adaptive Bitswap want window (formats/bitswap.md rule C12) against fixed
# windows, on loopback and on modelled links: a seed process serves MIB of
# 256 KiB blocks, a fetch process prefetches them once per window (adaptive,
# 256, 32), in one run. The links are Benchmarks/scripts/delayline.py (a
# TCP delay line with a rate limit: this kernel has no netem) between the
# two on loopback. The last column is how long a `get` of one more block
# took a quarter into the fetch: the queue the window builds at the seed.
# Prints a Markdown table.
#
# Usage: Benchmarks/scripts/bitswap-window.sh [MIB=128]
set -euo pipefail
cd "$(dirname "$0")/../.."
mib="${1:-128}"
swift build --package-path Benchmarks --scratch-path Benchmarks/.build-p2p -c release --product tau-bench-window >/dev/null
bin="$PWD/Benchmarks/.build-p2p/release/tau-bench-window"
python="${TAU_PYTHON:-$PWD/.venv/bin/python}"
[ -x "$python" ] || python=python3
line_pid=""
cleanup() { [ -n "$line_pid" ] && kill "$line_pid" 2>/dev/null || true; }
trap cleanup EXIT

# run LABEL MIB [ONE-WAY-MS RATE-MB/S]: through a delay line when given.
run() {
  local label="$1" size="$2"
  coproc SEED { "$bin" seed /ip4/127.0.0.1/tcp/0 "$size" 2>/dev/null; }
  local ready address
  read -r ready address <&"${SEED[0]}"
  [ "$ready" = ready ] || { echo "seed did not start: $ready" >&2; exit 1; }
  if [ $# -ge 4 ]; then
    local seed_port line_port=$((30000 + RANDOM % 20000))
    seed_port=$(echo "$address" | sed -E 's|.*/tcp/([0-9]+)/.*|\1|')
    coproc LINE { exec "$python" Benchmarks/scripts/delayline.py "$line_port" 127.0.0.1 "$seed_port" "$3" "$4"; }
    line_pid=$LINE_PID
    read -r ready <&"${LINE[0]}"
    address=$(echo "$address" | sed -E "s|/tcp/[0-9]+/|/tcp/$line_port/|")
  fi
  "$bin" fetch "$address" "$size" adaptive 256 32 2>/dev/null | sed "s#^| #| $label | #"
  exec {SEED[1]}>&-
  wait "$SEED_PID" 2>/dev/null || true
  if [ -n "$line_pid" ]; then kill "$line_pid" 2>/dev/null || true; wait "$line_pid" 2>/dev/null || true; line_pid=""; fi
}

echo "| link | window | seconds | MB/s | final window | one more block during the fetch, ms |"
echo "|---|---|---|---|---|---|"
run "loopback, $mib MiB" "$mib"
run "30 MB/s, 400 ms round trip, $mib MiB" "$mib" 200 30
run "10 MB/s, 40 ms round trip, $((mib / 4)) MiB" "$((mib / 4))" 20 10
