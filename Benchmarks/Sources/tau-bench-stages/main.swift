// Bitswap, stage by stage: the CPU cost per byte of each step a block takes
// from the seed's store to the fetching node's store, each alone on one core,
// on the same 256 KiB blocks Bitswap moves (4 per message, as the server
// batches them). The sum is the limit for a transfer on this machine (both
// nodes share its cores). Driven by Benchmarks/scripts/bitswap-stages.sh.
//
//   tau-bench-stages [MIB=256] [RUNS=3]
//   TAU_STAGES="11" tau-bench-stages ...   only the stages numbered (from 1)
//
// Rows marked "before" are the path as it was until commit 8515da1 (two more
// copies), for comparison; they are left out of the sums.
// Prints a Markdown table: stage, wall seconds for MIB and the process's CPU
// seconds (user + system, all threads) of the run with the least CPU among
// RUNS, MB/s per CPU-second, CPU-seconds per GiB. The sums use CPU time: the
// durable put's wall time is mostly waiting for the disk.

import Bitswap
import BenchSupport
import Blocks
import Foundation
import Multiformats
import NIOCore
import P2P
import Repo

// The allocator as the tau binary sets it (Sources/tau/Tau.swift): 256 KiB
// arrays from the heap, not from fresh zeroed mmaps. (glibc's malloc.h:
// M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3; the root package's CMalloc
// module is not a product.)
@_silgen_name("mallopt") func mallopt(_ parameter: CInt, _ value: CInt) -> CInt
_ = mallopt(-3, 4 << 20)
_ = mallopt(-1, 8 << 20)

let arguments = CommandLine.arguments
let mib = arguments.count > 1 ? Int(arguments[1]) ?? 256 : 256
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let blockSize = 256 * 1024
let blocksPerMessage = 4
let total = mib << 20
let blockCount = total / blockSize

var generator = SeededGenerator(seed: 12)
let blocks: [Block] = (0..<blockCount).map { _ in Block(hashing: generator.bytes(blockSize), codec: .raw) }
let messages: [BitswapMessage] = stride(from: 0, to: blockCount, by: blocksPerMessage).map {
    BitswapMessage(blocks: Array(blocks[$0..<min($0 + blocksPerMessage, blockCount)]))
}
let encodedMessages: [[UInt8]] = messages.map { $0.encoded(for: .v120) }
let allocator = ByteBufferAllocator()
let key = [UInt8](repeating: 7, count: 32)

/// What a stage's result is folded into, so the optimizer cannot drop the work.
nonisolated(unsafe) var sink = 0

struct Stage {
    var side: String
    var name: String
    var run: () async throws -> Void
}

func framed(_ body: [UInt8]) -> ByteBuffer {
    var frame = allocator.buffer(capacity: body.count + 5)
    frame.writeBytes(Varint.encode(UInt64(body.count)))
    frame.writeBytes(body)
    return frame
}

/// The Yamux data frames (256 KiB window: 256 KiB frames) carrying `frame`.
func yamuxFramed(_ frame: ByteBuffer) -> ByteBuffer {
    var out = allocator.buffer(capacity: frame.readableBytes + 64)
    var rest = frame
    while rest.readableBytes > 0 {
        var piece = rest.readSlice(length: min(256 * 1024, rest.readableBytes))!
        YamuxHeader(type: .data, streamID: 1, length: UInt32(piece.readableBytes)).write(into: &out)
        out.writeBuffer(&piece)
    }
    return out
}

let framedMessages = encodedMessages.map(framed)
let sealed: [ByteBuffer] = {
    var encoder = NoiseFrameEncoder(key: key)
    return framedMessages.map { message in
        var out = allocator.buffer(capacity: NoiseTransport.sealedSize(message.readableBytes))
        try! encoder.encrypt([message], totalBytes: message.readableBytes, into: &out)
        return out
    }
}()
let yamuxMessages = framedMessages.map(yamuxFramed)

let repoRoot = FileManager.default.temporaryDirectory.appendingPathComponent("tau-bench-stages-\(getpid())").path
try FileManager.default.createDirectory(atPath: repoRoot, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: repoRoot) }
let seedRepo = try Repo(path: "\(repoRoot)/seed", configuration: Repo.Configuration(initialMapSize: 4 << 30))
try await seedRepo.blocks.put(blocks)

var writeRun = 0
let stages: [Stage] = [
    Stage(side: "seed", name: "LMDB read, copied into [UInt8] (blockingBlocks)") {
        for message in messages {
            let found = try seedRepo.blocks.blockingBlocks(message.blocks.map(\.cid))
            sink &+= found.count
        }
    },
    Stage(side: "seed", name: "message framed into the stream's ByteBuffer (writeFramed)") {
        var frame = allocator.buffer(capacity: framedMessages[0].readableBytes)
        for message in messages {
            frame.clear()
            message.writeFramed(for: .v120, into: &frame)
            sink &+= frame.readableBytes
        }
    },
    Stage(side: "before", name: "seed until 8515da1: encoded [UInt8], then copied into a ByteBuffer") {
        for message in messages { sink &+= framed(message.encoded(for: .v120)).readableBytes }
    },
    Stage(side: "seed", name: "Noise encrypt (ChaCha20-Poly1305, 64 KiB frames)") {
        var encoder = NoiseFrameEncoder(key: key)
        var out = allocator.buffer(capacity: NoiseTransport.sealedSize(framedMessages[0].readableBytes))
        for message in framedMessages {
            out.clear()
            try encoder.encrypt([message], totalBytes: message.readableBytes, into: &out)
            sink &+= out.readableBytes
        }
    },
    Stage(side: "both", name: "pnet XSalsa20 (each side applies it once)") {
        var stream = XSalsa20Stream(key: key, nonce: [UInt8](repeating: 1, count: 24))
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: sealed[0].readableBytes + 64, alignment: 64)
        defer { scratch.deallocate() }
        for message in sealed {
            message.withUnsafeReadableBytes { source in
                stream.apply(from: source, to: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<source.count]))
            }
            sink &+= Int(scratch[0])
        }
    },
    Stage(side: "fetch", name: "Noise decrypt (ChaCha20-Poly1305)") {
        var decoder = NoiseFrameDecoder(key: key)
        for message in sealed {
            try decoder.decrypt(message, allocator: allocator) { sink &+= $0.readableBytes }
        }
    },
    Stage(side: "fetch", name: "Yamux frame decode (payload slices)") {
        var decoder = YamuxFrameDecoder()
        for message in yamuxMessages {
            var input = message
            while let event = try decoder.next(&input) {
                if case .payload(let bytes, _) = event { sink &+= bytes.readableBytes }
            }
        }
    },
    Stage(side: "fetch", name: "message assembled from the stream's pieces (one copy)") {
        var assembled = allocator.buffer(capacity: framedMessages[0].readableBytes)
        for frame in framedMessages {
            assembled.clear()
            var piece = frame
            assembled.writeBuffer(&piece)
            sink &+= assembled.readableBytes
        }
    },
    Stage(side: "fetch", name: "protobuf decode from the ByteBuffer, blocks copied and named (SHA-256)") {
        for frame in framedMessages {
            var body = frame
            var length = 0
            while body.readInteger(as: UInt8.self)! & 0x80 != 0 { length += 1 }
            sink &+= try BitswapMessage(decoding: body).blocks.count + length
        }
    },
    Stage(side: "before", name: "fetch until 8515da1: Array(frame), then decode from the array") {
        // A 1 MiB message's length prefix is 3 bytes.
        for frame in framedMessages { sink &+= try BitswapMessage(decoding: Array(frame.readableBytesView.dropFirst(3))).blocks.count }
    },
    Stage(side: "fetch", name: "of which SHA-256 alone") {
        for block in blocks { sink &+= Int(Multihash(hashing: block.bytes, with: .sha2_256).digest.first!) }
    },
    Stage(side: "fetch", name: "LMDB put, durable (4 blocks per put)") {
        writeRun += 1
        let repo = try Repo(path: "\(repoRoot)/fetch-\(writeRun)", configuration: Repo.Configuration(initialMapSize: 4 << 30))
        for message in messages { try await repo.blocks.put(message.blocks) }
        await repo.close()
        try FileManager.default.removeItem(atPath: "\(repoRoot)/fetch-\(writeRun)")
    },
]

print("Bitswap stages, \(mib) MiB in \(blockSize / 1024) KiB blocks, \(blocksPerMessage) per message; best of \(runs)")
print("")
print("| side | stage | wall s | CPU s | MB per CPU-s | CPU-s per GiB |")
print("|---|---|---|---|---|---|")

func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

var sums: [String: Double] = [:]
// TAU_STAGES="1 11" runs only those stages (numbered from 1), for profiling one.
let only = ProcessInfo.processInfo.environment["TAU_STAGES"].map { Set($0.split(separator: " ").compactMap { Int($0) }) }
for (number, stage) in stages.enumerated() where only?.contains(number + 1) ?? true {
    var best = (wall: Double.infinity, cpu: Double.infinity)
    for _ in 0..<runs {
        let cpuStart = processCPUSeconds()
        let wall = try await seconds { try await stage.run() }
        let cpu = processCPUSeconds() - cpuStart
        if cpu < best.cpu { best = (wall, cpu) }
    }
    let perGiB = best.cpu * Double(1 << 30) / Double(total)
    print("| \(stage.side) | \(stage.name) | \(String(format: "%.3f", best.wall)) | \(String(format: "%.3f", best.cpu)) | \(Int(Double(total) / best.cpu / 1e6)) | \(String(format: "%.3f", perGiB)) |")
    if stage.name.hasPrefix("of which") || stage.side == "before" { continue }
    if stage.side == "both" {
        sums["seed", default: 0] += perGiB
        sums["fetch", default: 0] += perGiB
    } else {
        sums[stage.side, default: 0] += perGiB
    }
}
let seedCost = sums["seed"] ?? 0
let fetchCost = sums["fetch"] ?? 0
print("")
print("Sum, CPU-seconds per GiB: seed \(String(format: "%.3f", seedCost)), fetching node \(String(format: "%.3f", fetchCost)), both \(String(format: "%.3f", seedCost + fetchCost)).")
print("Limit with one core per node: \(Int(Double(1 << 30) / max(seedCost, fetchCost) / 1e6)) MB/s; both nodes on 2 cores: \(Int(2 * Double(1 << 30) / (seedCost + fetchCost) / 1e6)) MB/s (before the kernel's loopback TCP and the gateway's copy to curl).")
precondition(sink != 0 || only != nil)
await seedRepo.close()
