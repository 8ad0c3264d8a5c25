// The Bitswap want window (formats/bitswap.md rule C12) on a real link:
// one process seeds MIB of 256 KiB raw blocks, another prefetches them over
// TCP + Noise + Yamux with each window given, in one run. Driven by
// Benchmarks/scripts/bitswap-window.sh, which puts the two in network
// namespaces joined by a veth with netem delay and rate.
//
//   tau-bench-window seed <listen-multiaddr> [MIB=256]
//       prints "ready <multiaddr>", serves until stdin ends
//   tau-bench-window fetch <multiaddr> [MIB=256] [WINDOW...=adaptive 256 32]
//       prints one Markdown row per window: seconds, MB/s, final window, and
//       how long a `get` of one more block took while the fetch was under
//       way (a quarter in): the queue the fetch's window builds at the seed.

import BenchSupport
import Bitswap
import Blocks
import Foundation
import Multiformats
import P2P

@_silgen_name("mallopt") func mallopt(_ parameter: CInt, _ value: CInt) -> CInt
_ = mallopt(-3, 4 << 20)
_ = mallopt(-1, 8 << 20)

/// One line to stdout, unbuffered (the driving script reads it at once).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: tau-bench-window seed <listen-multiaddr> [MIB] | fetch <multiaddr> [MIB] [WINDOW...]\n".utf8))
    exit(2)
}
let mib = arguments.count > 3 ? Int(arguments[3]) ?? 256 : 256
let blockSize = 256 << 10

/// The file's blocks, then one probe block per window run.
let probes = 8
func makeBlocks() -> [Block] {
    var generator = SeededGenerator(seed: 31)
    return (0..<(mib << 20) / blockSize + probes).map { _ in Block(hashing: generator.bytes(blockSize), codec: .raw) }
}

let blocks = makeBlocks()
switch arguments[1] {
case "seed":
    let store = MemoryBlockStore()
    try await store.put(blocks)
    let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr(arguments[2])])
    try await host.start()
    let bitswap = Bitswap(host: host, blocks: store)
    bitswap.start()
    say("ready \(host.listenAddresses[0].withPeerID(host.peerID))")
    while let line = readLine(), !line.isEmpty {}
    await bitswap.stop()
    await host.shutdown()

case "fetch":
    let windows = arguments.count > 4 ? Array(arguments[4...]) : ["adaptive", "256", "32"]
    let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/0.0.0.0/tcp/0")])
    try await host.start()
    var configuration = Bitswap.Configuration()
    configuration.window = max(256, windows.compactMap { Int($0) }.max() ?? 0)
    let bitswap = Bitswap(host: host, blocks: MemoryBlockStore(), configuration: configuration)
    bitswap.start()
    try await host.connect(try Multiaddr(arguments[2]))
    while bitswap.peers.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
    // Warm-up: streams open, Yamux windows grow.
    _ = try await bitswap.prefetch(Array(blocks.prefix(16).map(\.cid)), into: MemoryBlockStore())
    let cids = blocks.dropFirst(16).dropLast(probes).map(\.cid)
    let bytes = Double(cids.count * blockSize)
    for (run, window) in windows.enumerated() {
        let fixed = Int(window)
        let before = bitswap.statistics.blocksReceived
        let fetch = Task { try await bitswap.prefetch(cids, into: MemoryBlockStore(), window: fixed) }
        while bitswap.statistics.blocksReceived - before < cids.count / 4 { try await Task.sleep(for: .milliseconds(5)) }
        let clock = ContinuousClock()
        let probeStart = clock.now
        _ = try await bitswap.get(blocks[blocks.count - probes + run % probes].cid)
        let probe = clock.now - probeStart
        let result = try await fetch.value
        let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
        let probeMs = Double(probe.components.seconds) * 1e3 + Double(probe.components.attoseconds) / 1e15
        say(String(format: "| %@ | %.2f | %.1f | %d | %.0f |", window, seconds, bytes / seconds / 1e6, result.window, probeMs))
    }
    await bitswap.stop()
    await host.shutdown()

default:
    FileHandle.standardError.write(Data("unknown mode \(arguments[1])\n".utf8))
    exit(2)
}
