#!/usr/bin/env bash
# Peak memory of importing a large generated file: `tau add --only-hash` of
# SIZE_MIB (default 1024) MiB of ChaCha20 keystream, under each profile and
# chunker family, reporting the maximum resident set size from /usr/bin/time.
# Target (issue 2): peak RSS < 64 MiB for 1 GiB.
#
# Usage: Benchmarks/scripts/import-memory.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
swift build -c release --product tau >/dev/null
tau=.build/release/tau
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input="$work/input.bin"
# Deterministic, incompressible input without holding it in memory.
head -c "$((size_mib * 1048576))" /dev/zero \
  | openssl enc -chacha20 -K "$(printf '%064d' 0)" -iv "$(printf '%032d' 0)" -nosalt > "$input"

printf '%-44s %12s %10s %s\n' "command" "max RSS" "seconds" "root"
run() {
  local label="$1"; shift
  local out
  out=$( { /usr/bin/time -f '%M %e' "$tau" add -Q --only-hash --progress=false "$@" "$input" >"$work/root"; } 2>&1 )
  read -r rss_kib seconds <<<"$(tail -1 <<<"$out")"
  printf '%-44s %9.1f MiB %10s %s\n' "$label" "$(echo "$rss_kib / 1024" | bc -l)" "$seconds" "$(cat "$work/root")"
}
run "tau add (unixfs-v0-2015, size-262144)"
run "tau add --profile=unixfs-v1-2025" --profile=unixfs-v1-2025
run "tau add --chunker=rabin" --chunker=rabin
run "tau add --chunker=buzhash" --chunker=buzhash
run "tau add --chunker=fastcdc-65536-262144-1048576" --chunker=fastcdc-65536-262144-1048576
run "tau add --trickle" --trickle
