#!/usr/bin/env bash
# tau's FastCDC against pyfastcdc (its Cython backend) on the same file with the same
# parameters, in one script run:
#   1. tau-bench-chunkers writes SIZE_MIB (default 256) MiB of xorshift64 bytes to a temp file;
#   2. pyfastcdc `FastCDC(avg, min_size=min, max_size=max).cut_buf(bytes)` runs RUNS times
#      (default 5) over the file's content, read into memory first; only the chunking loop is
#      timed (it collects chunk end offsets, as ours does);
#   3. tau-bench-chunkers chunks the same file (read into memory first) RUNS times, writing the
#      cut offsets; also rabin and buzhash;
#   4. pyfastcdc runs again; its reference figure is the faster of its two medians, so drift
#      over the run does not flatter tau.
# The script fails unless both produce exactly the same list of cut offsets. Parameters are
# pyfastcdc's defaults for avg 65536 and 262144 (min = avg/4, max = avg*4).
#
# Usage: Benchmarks/scripts/chunkers.sh [SIZE_MIB=256] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-256}"
runs="${2:-5}"
python=.venv/bin/python
[ -x "$python" ] || { echo "no $python: run .ci/setup first" >&2; exit 1; }
scratch=Benchmarks/.build-bench
swift build --package-path Benchmarks --scratch-path "$scratch" -c release --product tau-bench-chunkers >/dev/null
tool="$scratch/release/tau-bench-chunkers"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input="$work/input.bin"
"$tool" --generate "$input" --size-mib "$size_mib"
mkdir -p "$work/tau-cuts" "$work/py-cuts"

specs="16384-65536-262144 65536-262144-1048576"

run_pyfastcdc() {  # $1: output TSV
  "$python" - "$input" "$runs" "$work/py-cuts" "$1" $specs <<'PY'
import statistics, sys, time
import pyfastcdc
from pyfastcdc import FastCDC
# The Cython extension, not the pure-Python fallback (which is ~100x slower).
assert FastCDC.__module__ == 'pyfastcdc.cy.fastcdc', FastCDC.__module__
path, runs, cuts_dir, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, 'rb') as f:
    data = f.read()

def fnv1a64(values):
    h = 0xCBF29CE484222325
    for v in values:
        for b in v.to_bytes(8, 'little'):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h

rows = []
for spec in sys.argv[5:]:
    lo, avg, hi = map(int, spec.split('-'))
    chunker = FastCDC(avg, min_size=lo, max_size=hi)
    times, ends = [], None
    for _ in range(runs + 1):  # the first run warms up
        start = time.perf_counter()
        run = [c.offset + c.length for c in chunker.cut_buf(data)]
        times.append(time.perf_counter() - start)
        assert ends is None or run == ends
        ends = run
    times = sorted(times[1:])
    mb = len(data) / 1e6
    with open(f'{cuts_dir}/fastcdc-{spec}.txt', 'w') as f:
        f.write(''.join(f'{e}\n' for e in ends))
    rows.append(f'fastcdc-{spec}\t{len(ends)}\t{fnv1a64(ends):016x}\t{mb / statistics.median(times):.1f}'
                f'\t{mb / times[-1]:.1f}\t{mb / times[0]:.1f}')
with open(out, 'w') as f:
    f.write(''.join(r + '\n' for r in rows))
print(f'pyfastcdc {pyfastcdc.__version__} ({FastCDC.__module__}): ' + '; '.join(
    r.split('\t')[0] + ' ' + r.split('\t')[3] + ' MB/s' for r in rows), flush=True)
PY
}

run_pyfastcdc "$work/py1.tsv"
"$tool" "$input" --runs "$runs" --cuts-dir "$work/tau-cuts" --tsv "$work/tau.tsv"
run_pyfastcdc "$work/py2.tsv"

"$python" - "$work" "$size_mib" "$runs" $specs <<'PY'
import sys
work, size_mib, runs, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def tsv(path):
    return [line.rstrip('\n').split('\t') for line in open(path)]
tau = {(r[0], r[1]): r for r in tsv(f'{work}/tau.tsv')[1:]}
py1 = {r[0]: r for r in tsv(f'{work}/py1.tsv')}
py2 = {r[0]: r for r in tsv(f'{work}/py2.tsv')}
print(f'\nFastCDC on {size_mib} MiB, whole buffer in memory, median of {runs} runs (MB = 10^6 bytes);'
      ' pyfastcdc: faster median of its two series')
print('| chunker | chunks | cut checksum | tau MB/s | pyfastcdc MB/s | tau / pyfastcdc |')
print('|---|---|---|---|---|---|')
failed = False
for spec in specs:
    name = f'fastcdc-{spec}'
    ours = open(f'{work}/tau-cuts/{name}.txt').read()
    theirs = open(f'{work}/py-cuts/{name}.txt').read()
    if ours != theirs:
        print(f'MISMATCH: {name}: tau and pyfastcdc cut differently', file=sys.stderr)
        failed = True
    t = tau[(name, 'whole buffer')]
    assert t[3] == py1[name][2] == py2[name][2] or failed
    reference = max(float(py1[name][3]), float(py2[name][3]))
    print(f'| {name} | {t[2]} | {t[3]} | {float(t[4]):.0f} | {reference:.0f} | {float(t[4]) / reference:.2f}x |')
for (name, feed), t in tau.items():
    if not name.startswith('fastcdc') and feed == 'whole buffer':
        print(f'| {name} (no reference) | {t[2]} | {t[3]} | {float(t[4]):.0f} | - | - |')
if failed:
    sys.exit(1)
print('\ncut points: identical (full lists compared)')
PY
