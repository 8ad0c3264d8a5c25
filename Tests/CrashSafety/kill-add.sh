#!/usr/bin/env bash
# Crash safety: kills `tau add` (and now and then `tau repo gc`) with SIGKILL
# at random moments, reopening the repo after each kill, and checks that
#   1. `tau repo verify` finds no bad block,
#   2. every pin points at a complete DAG (`tau dag export` of it succeeds),
#   3. a fresh add of the same file succeeds and gives the CID `--only-hash` gives.
#
# Usage: Tests/CrashSafety/kill-add.sh [KILLS=20] [SIZE_MIB=256]
# .ci/run runs a short version (TAU_CRASH_KILLS, TAU_CRASH_MIB).
set -euo pipefail
kills="${1:-20}"
size_mib="${2:-256}"
cd "$(dirname "$0")/../.."
tau="${TAU_BIN:-$PWD/.build/release/tau}"
[ -x "$tau" ] || swift build -c release --product tau >/dev/null

work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TAU_REPO="$work/repo"
input="$work/input.bin"
head -c "$((size_mib * 1048576))" /dev/zero \
  | openssl enc -chacha20 -K "$(printf '%064x' 7)" -iv "$(printf '%032d' 0)" -nosalt > "$input"
small="$work/small"
mkdir -p "$small"
for i in 1 2 3; do head -c $((i * 300000)) "$input" > "$small/part$i"; done

"$tau" init >/dev/null
expected=$("$tau" add -Q -n --progress=false "$input")
# A pinned DAG that must survive every kill and GC.
keeper=$("$tau" add -Q -r --progress=false "$small")

# Time one full add to spread the kills over it.
start=$(date +%s%N)
"$tau" add -Q --pin=false --progress=false "$input" >/dev/null
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))
"$tau" repo gc -q
echo "crash-safety: $kills kills, ${size_mib} MiB input, a full add takes ${full_ms} ms"

check() {
  local label="$1"
  if ! out=$("$tau" repo verify --progress=false 2>&1); then
    echo "FAIL after $label: repo verify: $out"; exit 1
  fi
  for cid in $("$tau" pin ls -q); do
    if ! "$tau" dag export --progress=false "$cid" > /dev/null 2>"$work/export.err"; then
      echo "FAIL after $label: pin $cid is incomplete: $(cat "$work/export.err")"; exit 1
    fi
  done
  "$tau" pin ls -q | grep -qx "$keeper" || { echo "FAIL after $label: the keeper pin is gone"; exit 1; }
}

for i in $(seq 1 "$kills"); do
  # Most kills hit an add; every fifth hits a GC running over leftovers.
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (full_ms + full_ms / 2 + 1) ))
  if [ $((i % 5)) -eq 0 ]; then
    "$tau" add -Q --pin=false --progress=false "$input" >/dev/null 2>&1 || true
    "$tau" repo gc -q >/dev/null 2>&1 & pid=$!
    label="kill $i (gc, ${delay_ms} ms)"
    delay_ms=$(( delay_ms / 4 ))
  else
    "$tau" add -Q --progress=false "$input" >/dev/null 2>&1 & pid=$!
    label="kill $i (add, ${delay_ms} ms)"
  fi
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  check "$label"
  pins=$("$tau" pin ls -q | wc -l)
  # So that the next add writes its blocks again (not deduplicated), drop
  # what this one stored: unpin the big file if it got pinned, and collect.
  if "$tau" pin ls -q | grep -qx "$expected"; then "$tau" pin rm "$expected" >/dev/null; fi
  "$tau" repo gc -q
  check "$label, then gc"
  echo "  $label: repo verified, $pins pins complete"
done

root=$("$tau" add -Q --progress=false "$input")
[ "$root" = "$expected" ] || { echo "FAIL: fresh add gave $root, expected $expected"; exit 1; }
check "the final add"
"$tau" repo gc -q
check "the final gc"
echo "crash-safety: passed ($kills kills; final add $root)"
