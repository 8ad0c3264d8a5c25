#!/usr/bin/env bash
# DHT lookups in a NODES-node in-process network of real DHT instances (real
# hosts on loopback: TCP + Noise + Yamux): time and queries per findprovs and
# per FIND_NODE lookup, and how many of the true 20 closest a lookup returns.
#
# Usage: Benchmarks/scripts/dht-lookups.sh [NODES=50] [LOOKUPS=200]
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --package-path Benchmarks --scratch-path Benchmarks/.build-dht -c release --product tau-bench-dht >/dev/null
Benchmarks/.build-dht/release/tau-bench-dht "${1:-50}" "${2:-200}"
