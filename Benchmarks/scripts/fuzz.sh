#!/usr/bin/env bash
# Fuzzing with a real budget: every libFuzzer target in Tests/Fuzz for
# SECONDS each (default 300), from the committed seed corpora, optionally
# stopping a target early once it has executed RUNS inputs. Prints one row
# per target: executions, rate, corpus size and crashes (libFuzzer stops a
# target at its first crash; the input is kept and its path printed).
#
# Usage: Benchmarks/scripts/fuzz.sh [SECONDS_PER_TARGET] [RUNS]
#   Benchmarks/scripts/fuzz.sh 300            # 5 minutes per target, ≈ 1 hour
#   Benchmarks/scripts/fuzz.sh 3600 10000000  # up to 10 M executions each
# FUZZ_TARGETS="FuzzCID FuzzYamux" limits the targets, as for Tests/Fuzz/run.
# The targets are built optimized (FUZZ_CONFIG=release, still instrumented
# and with AddressSanitizer): 10-26x the executions per second of the debug
# build CI's smoke run uses. FUZZ_CONFIG=debug runs the debug build.
# CI's smoke run is `Tests/Fuzz/run 20` (.ci/run); this script is for soak runs.
set -uo pipefail
cd "$(dirname "$0")/../.."
per_target="${1:-300}"
runs="${2:-}"

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for dir in Tests/Fuzz/Sources/Fuzz*/; do
    name=$(basename "$dir")
    [ "$name" = FuzzSupport ] || targets+=("$name")
  done
fi

export FUZZ_CONFIG="${FUZZ_CONFIG:-release}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
args="${FUZZ_ARGS:-}"
[ -n "$runs" ] && args="$args -runs=$runs"
echo "fuzz.sh: ${#targets[@]} targets, ${per_target}s each${runs:+, at most $runs executions each}; started $(date -u +%FT%TZ)"
# Tests/Fuzz/run shares its total equally among the targets it runs.
FUZZ_TARGETS="${targets[*]}" FUZZ_ARGS="$args" \
  Tests/Fuzz/run "$(( per_target * ${#targets[@]} ))" 2>&1 | tee "$log" >&2
status=${PIPESTATUS[0]}

printf '\n%-20s %14s %10s %8s %8s\n' target executions exec/s corpus crashes
total=0
while read -r _ name rest; do
  name=${name%:}
  executions=$(sed -E 's/^([0-9?]+) runs.*/\1/' <<<"$rest")
  rate=$(sed -E 's/.* runs, ([0-9?]+) exec\/s.*/\1/' <<<"$rest")
  corpus=$(sed -E 's/.*corpus ([0-9]+) inputs.*/\1/' <<<"$rest")
  exit_status=$(sed -E 's/.*exit ([0-9]+)$/\1/' <<<"$rest")
  crashes=0; [ "$exit_status" -ne 0 ] && crashes=1
  printf '%-20s %14s %10s %8s %8s\n' "$name" "$executions" "$rate" "$corpus" "$crashes"
  [[ "$executions" =~ ^[0-9]+$ ]] && total=$(( total + executions ))
done < <(grep -E '^fuzz: Fuzz[A-Za-z0-9]+: ' "$log")
printf '%-20s %14s\n' total "$total"
echo "fuzz.sh: finished $(date -u +%FT%TZ), exit $status"
exit "$status"
