#!/usr/bin/env bash
# Bitswap, stage by stage: the CPU cost per byte of each step a block takes
# from the seed's store to the fetching node's store (LMDB read, protobuf
# encode, length prefix, Noise encrypt, pnet XSalsa20, Noise decrypt, Yamux
# decode, copies, protobuf decode with SHA-256, durable LMDB put), each alone
# on one core, and their sum as the limit of a node-to-node transfer on this
# machine. Prints a Markdown table (Benchmarks/README.md, "Bitswap stage by
# stage"). Compare with Benchmarks/scripts/bitswap-transfer.sh in the same run.
#
# Usage: Benchmarks/scripts/bitswap-stages.sh [MIB=256] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --package-path Benchmarks --scratch-path Benchmarks/.build-p2p -c release --product tau-bench-stages >/dev/null
Benchmarks/.build-p2p/release/tau-bench-stages "${1:-256}" "${2:-3}"
