#!/usr/bin/env bash
# What dropping the LMDB map's resident pages after each commit saves
# (formats/lmdb.md rule 11): a durable `tau add` of SIZE_MIB (default 1024)
# MiB of ChaCha20 keystream into a fresh repo, RUNS times (default 3) each
# with the default behaviour and with TAU_LMDB_KEEP_MAPPED_PAGES=1,
# alternating, reporting peak RSS (/usr/bin/time %M), seconds and the
# madvise calls over the map (strace, one extra run each way when strace
# is installed).
#
# Usage: Benchmarks/scripts/lmdb-resident.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
runs="${2:-3}"
swift build -c release --product tau >/dev/null
tau=$PWD/.build/release/tau
work=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
trap 'rm -rf "$work"' EXIT
input="$work/input.bin"
head -c "$((size_mib * 1048576))" /dev/zero \
  | openssl enc -chacha20 -K "$(printf '%064d' 1)" -iv "$(printf '%032d' 0)" -nosalt > "$input"

fresh_repo() {
  rm -rf "$work/repo"
  "$tau" init --repo "$work/repo" >/dev/null
}

one() {  # $1: keep (0/1) → "rss_kib seconds"
  fresh_repo
  local out
  out=$( { TAU_LMDB_KEEP_MAPPED_PAGES="$1" /usr/bin/time -f '%M %e' \
           "$tau" add -Q --progress=false --repo "$work/repo" "$input" >"$work/root"; } 2>&1 )
  [ -s "$work/root" ] || { echo "tau add failed: $out" >&2; exit 1; }
  tail -1 <<<"$out"
}

declare -a drop_rss keep_rss drop_s keep_s
for ((i = 0; i < runs; i++)); do
  read -r r s <<<"$(one 0)"; drop_rss+=("$r"); drop_s+=("$s")
  read -r r s <<<"$(one 1)"; keep_rss+=("$r"); keep_s+=("$s")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }
printf '%-40s %14s %14s %12s\n' "durable tau add, $size_mib MiB" "median RSS" "max RSS" "median s"
printf '%-40s %10.1f MiB %10.1f MiB %12s\n' "drop resident pages (default)" \
  "$(echo "$(median "${drop_rss[@]}") / 1024" | bc -l)" "$(echo "$(max "${drop_rss[@]}") / 1024" | bc -l)" "$(median "${drop_s[@]}")"
printf '%-40s %10.1f MiB %10.1f MiB %12s\n' "TAU_LMDB_KEEP_MAPPED_PAGES=1" \
  "$(echo "$(median "${keep_rss[@]}") / 1024" | bc -l)" "$(echo "$(max "${keep_rss[@]}") / 1024" | bc -l)" "$(median "${keep_s[@]}")"

if command -v strace >/dev/null; then
  for keep in 0 1; do
    fresh_repo
    TAU_LMDB_KEEP_MAPPED_PAGES=$keep strace -f -e trace=madvise -o "$work/strace" \
      "$tau" add -Q --progress=false --repo "$work/repo" "$input" >/dev/null
    # Calls over at least 64 MiB are the map (glibc trims its heaps in smaller pieces).
    big=$(awk -F'[(,)]' '/madvise/ { if ($3 + 0 >= 67108864) n++ } END { print n + 0 }' "$work/strace")
    echo "keep=$keep: madvise calls over >= 64 MiB: $big"
  done
fi
