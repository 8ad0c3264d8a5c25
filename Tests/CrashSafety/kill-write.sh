#!/usr/bin/env bash
# Crash safety of the repo transaction API (formats/lmdb.md §3.6): kills
# tau-crash-writer, which commits service records together with the blocks
# they name, with SIGKILL at random moments, and after each kill reopens the
# repo and checks "both or neither": every record's blocks are there and every
# block is named by a record (tau-crash-writer check).
#
# Usage: Tests/CrashSafety/kill-write.sh [KILLS=20]
# .ci/run runs a short version (TAU_CRASH_KILLS).
set -euo pipefail
kills="${1:-20}"
cd "$(dirname "$0")/../.."
writer="${TAU_CRASH_WRITER:-$PWD/.build/release/tau-crash-writer}"
[ -x "$writer" ] || swift build -c release --product tau-crash-writer >/dev/null

work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
repo="$work/repo"
echo "crash-safety (repo transactions): $kills kills"
durable=0
for i in $(seq 1 "$kills"); do
  "$writer" write "$repo" > "$work/out" 2>"$work/err" & pid=$!
  # Wait until it commits at least once, then kill it 0–300 ms later:
  # mid-transaction, mid-sync or between commits.
  for _ in $(seq 1 300); do
    grep -q committed "$work/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: writer exited: $(cat "$work/err")"; exit 1; }
    sleep 0.05
  done
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  committed=$(grep -c committed "$work/out" || true)
  if ! result=$("$writer" check "$repo" 2>&1); then
    echo "FAIL after kill $i ($committed commits printed): $result"; exit 1
  fi
  # Durable on return: every commit the writer printed must be there.
  durable=$((durable + committed))
  records=$(echo "$result" | sed -n 's/^ok: \([0-9]*\) records.*/\1/p')
  [ "${records:-0}" -ge "$durable" ] || { echo "FAIL after kill $i: $records records, $durable commits returned"; exit 1; }
  echo "  kill $i: $committed commits this run; $result"
done
