#!/usr/bin/env bash
# Ingest and read, side by side with their references, in one run:
#   - `tau add` of a generated file into a fresh repo (durable when it exits),
#     profiles unixfs-v0-2015 and unixfs-v1-2025, against `openssl dgst -sha256`
#     of the same file (SHA-256 at the speed of the CPU's SHA extensions);
#   - `tau add -n` (hash only, leaves hashed on every core) against the same;
#   - `dd conv=fdatasync` of the same file: the disk's limit for durable adds;
#   - `tau cat` of the added file to /dev/null against `cat` of the source file;
#   - `tau add -r` of a directory of 10,000 small files (files/s).
# Each figure is the median of RUNS runs (default 5); peak RSS is the largest
# seen (/usr/bin/time %M). Prints a Markdown table.
#
# Usage: Benchmarks/scripts/ingest-read.sh [SIZE_MIB=1024] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
runs="${2:-5}"
swift build -c release --product tau >/dev/null
tau="$PWD/.build/release/tau"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input="$work/input.bin"
head -c "$((size_mib * 1048576))" /dev/zero \
  | openssl enc -chacha20 -K "$(printf '%064x' 42)" -iv "$(printf '%032d' 0)" -nosalt > "$input"
bytes=$((size_mib * 1048576))

# measure CMD…: runs it, appends "seconds maxrss_kib" to $work/times.
measure() {
  /usr/bin/time -o "$work/one" -f '%e %M' "$@" >/dev/null
  cat "$work/one" >> "$work/times"
}
median_seconds() { sort -n "$work/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max_rss_mib() { sort -k2 -n "$work/times" | tail -1 | awk '{printf "%.0f", $2/1024}'; }
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN {printf "%.2f", b / s / 1e9}'; }

declare -A seconds rss
run_series() {
  local name="$1"; shift
  : > "$work/times"
  for _ in $(seq 1 "$runs"); do "$@"; done
  seconds[$name]=$(median_seconds)
  rss[$name]=$(max_rss_mib)
}

fresh_add() {
  rm -rf "$work/repo"
  TAU_REPO="$work/repo" "$tau" init >/dev/null
  measure env TAU_REPO="$work/repo" "$tau" add -Q --progress=false "$@" "$input"
}
# The reference runs before and after the tau series; the faster of the two
# medians is used, so drift over the run does not flatter tau.
run_series openssl measure openssl dgst -sha256 "$input"
run_series add-v0 fresh_add --profile=unixfs-v0-2015
run_series add-v1 fresh_add --profile=unixfs-v1-2025
only_hash() { measure "$tau" add -n -Q --progress=false "$@" "$input"; }
run_series hash-v0 only_hash --profile=unixfs-v0-2015
run_series hash-v1 only_hash --profile=unixfs-v1-2025
# The disk's limit for durable adds: the same bytes written and synced.
run_series dd measure dd if="$input" of="$work/copy" bs=4M conv=fdatasync status=none
rm -f "$work/copy"
run_series openssl2 measure openssl dgst -sha256 "$input"
openssl_s=$(printf '%s\n%s\n' "${seconds[openssl]}" "${seconds[openssl2]}" | sort -n | head -1)

root=$(TAU_REPO="$work/repo" "$tau" add -Q --progress=false --profile=unixfs-v1-2025 "$input")
run_series cat measure cat "$input"
run_series taucat measure env TAU_REPO="$work/repo" "$tau" cat "$root"

mkdir -p "$work/tree"
python3 - "$work/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:03}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d:03}/f{f:03}.txt", "w") as out:
            out.write(f"file {d} {f} " * (1 + (d * f) % 50))
PY
dir_add() {
  rm -rf "$work/repo2"
  TAU_REPO="$work/repo2" "$tau" init >/dev/null
  measure env TAU_REPO="$work/repo2" "$tau" add -r -Q --progress=false "$work/tree"
}
run_series dir dir_add

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }
echo "| what | seconds (median of $runs) | GB/s | ratio to reference | peak RSS |"
echo "|---|---|---|---|---|"
echo "| openssl dgst -sha256, ${size_mib} MiB (reference) | $openssl_s | $(rate "$openssl_s") | 1.00 | ${rss[openssl]} MiB |"
echo "| tau add --profile=unixfs-v0-2015 | ${seconds[add-v0]} | $(rate "${seconds[add-v0]}") | $(ratio "${seconds[add-v0]}" "$openssl_s") | ${rss[add-v0]} MiB |"
echo "| tau add --profile=unixfs-v1-2025 | ${seconds[add-v1]} | $(rate "${seconds[add-v1]}") | $(ratio "${seconds[add-v1]}" "$openssl_s") | ${rss[add-v1]} MiB |"
echo "| dd bs=4M conv=fdatasync of the same file (the disk's limit) | ${seconds[dd]} | $(rate "${seconds[dd]}") | – | ${rss[dd]} MiB |"
echo "| tau add -n (hash only) --profile=unixfs-v0-2015 | ${seconds[hash-v0]} | $(rate "${seconds[hash-v0]}") | $(ratio "${seconds[hash-v0]}" "$openssl_s") | ${rss[hash-v0]} MiB |"
echo "| tau add -n (hash only) --profile=unixfs-v1-2025 | ${seconds[hash-v1]} | $(rate "${seconds[hash-v1]}") | $(ratio "${seconds[hash-v1]}" "$openssl_s") | ${rss[hash-v1]} MiB |"
echo "| cat of the source file (reference) | ${seconds[cat]} | $(rate "${seconds[cat]}") | 1.00 | ${rss[cat]} MiB |"
echo "| tau cat of the added file | ${seconds[taucat]} | $(rate "${seconds[taucat]}") | $(ratio "${seconds[taucat]}" "${seconds[cat]}") | ${rss[taucat]} MiB |"
files_per_s=$(awk -v s="${seconds[dir]}" 'BEGIN {printf "%.0f", 10100 / s}')
echo "| tau add -r, 10,000 small files in 100 directories | ${seconds[dir]} | $files_per_s files/s | – | ${rss[dir]} MiB |"
