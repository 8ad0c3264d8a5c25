#!/usr/bin/env bash
# tau's block store against raw LMDB calls on the same environment, in one process
# (tau-bench-blockstore; its header comment says exactly what each side does):
#   - random reads of 4 KiB and 256 KiB blocks from a store of SIZE_MIB MiB of blocks
#     (default 2048), page cache warm: `repo.blocks.withBlock` against one read
#     transaction + mdb_get per read;
#   - batched puts into fresh repos: `repo.blocks.put(batch)` against `Environment.write`
#     of the same records in the same batches, a synced commit per batch.
# Prints ops/s, MB/s and the ratio tau / raw (medians of 5 runs, sides alternating).
# Needs about 1.5 x SIZE_MIB of free disk in $TMPDIR (4 KiB blocks take two LMDB pages).
#
# Usage: Benchmarks/scripts/blockstore.sh [SIZE_MIB=2048] [more tau-bench-blockstore options]
#   e.g. Benchmarks/scripts/blockstore.sh 256 --runs 3    (a quick run)
#        Benchmarks/scripts/blockstore.sh 2048 --compare-build   (also build the store raw)
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-2048}"
shift || true
scratch=Benchmarks/.build-bench
swift build --package-path Benchmarks --scratch-path "$scratch" -c release --product tau-bench-blockstore >/dev/null
exec "$scratch/release/tau-bench-blockstore" --size-mib "$size_mib" "$@"
