// tau-bench-blockstore: tau's block store against raw LMDB calls on the same environment,
// side by side in one process.
//
//   tau-bench-blockstore [--size-mib 2048] [--small-reads 500000] [--large-reads 20000] [--runs 5]
//                        [--put-small-mib 64] [--put-large-mib 256] [--in-flight 3] [--dir DIR]
//                        [--skip-reads] [--skip-puts] [--compare-build]
//
// 1. Builds a store of SIZE MiB of blocks (half 4 KiB blocks, half 256 KiB blocks, xorshift64
//    bytes, CIDv1 raw sha2-256) in a temporary directory through `repo.blocks.put`, 4 MiB per put.
// 2. Random reads: N uniformly random keys (the same sequence for both sides), page cache warm
//    (every block is read once first). tau: `repo.blocks.withBlock(cid)`. Raw: per read, what
//    tau does underneath — one read-only transaction (`Environment.read`, which renews a pooled
//    reset transaction) and one `mdb_get` of the CID's multihash bytes in `blocks-v1` — then
//    the block bytes after the 2-byte record header (formats/lmdb.md). Both bodies either copy
//    the block out (what a server does before sending it) or only touch its first and last byte.
//    Also shown, for reference: raw reads all inside one read transaction.
// 3. Batched puts into fresh repos: tau `repo.blocks.put(batch)`, one batch awaited at a time,
//    against raw `Environment.write { put… }` of the same records (2-byte header + bytes,
//    MDB_RESERVE, MDB_NOOVERWRITE) in the same batches, each commit synced. Also shown: tau
//    with 3 batches in flight (as `tau add` pipelines them), which lets the writer group commits.
//    `--put-small-mib 0` or `--put-large-mib 0` leaves that block size out.
// With --compare-build the store is also built a second time with raw puts (same batches), and
// both build rates are printed: puts into a store that already holds many blocks.
//
// Figures are medians of RUNS runs, the sides taking turns (order rotated every run); the ratio is
// tau / raw. Put runs start after a sync(2), so no earlier dirty pages are written during them.
import BenchSupport
import Blocks
import Foundation
import Multiformats
import Repo

struct Options {
    var sizeMiB: Int
    var smallReads: Int
    var largeReads: Int
    var runs: Int
    var putSmallMiB: Int
    var putLargeMiB: Int
    var inFlight: Int
    var directory: String?
    var skipReads: Bool
    var skipPuts: Bool
    var compareBuild: Bool

    init() throws {
        let arguments = try Arguments(valueOptions: [
            "size-mib", "small-reads", "large-reads", "runs", "put-small-mib", "put-large-mib", "in-flight", "dir",
        ])
        sizeMiB = try arguments.int("size-mib", default: 2048)
        smallReads = try arguments.int("small-reads", default: 500_000)
        largeReads = try arguments.int("large-reads", default: 20_000)
        runs = try arguments.int("runs", default: 5)
        putSmallMiB = try arguments.int("put-small-mib", default: 64, minimum: 0)
        putLargeMiB = try arguments.int("put-large-mib", default: 256, minimum: 0)
        inFlight = try arguments.int("in-flight", default: 3)
        directory = arguments.string("dir")
        skipReads = arguments.has("skip-reads")
        skipPuts = arguments.has("skip-puts")
        compareBuild = arguments.has("compare-build")
    }
}

let smallSize = 4096
let largeSize = 256 << 10
let gib = Double(1 << 30)

/// `count` blocks of `size` random bytes.
func makeBlocks(_ count: Int, size: Int, generator: inout SeededGenerator) -> [Block] {
    (0..<count).map { _ in Block(hashing: generator.bytes(size), codec: .raw) }
}

func batches(_ blocks: [Block], of size: Int) -> [[Block]] {
    stride(from: 0, to: blocks.count, by: size).map { Array(blocks[$0..<min($0 + size, blocks.count)]) }
}

func rate(_ count: Int, _ seconds: Double) -> String { fixed(Double(count) / seconds, 0) }
func megabytesPerSecond(_ bytes: Int, _ seconds: Double) -> String { fixed(Double(bytes) / seconds / 1e6, 0) }

// MARK: - Store

/// Builds the store in 4 MiB batches (through tau, or with `rawPuts` when `raw`); returns the
/// CIDs of its small and large blocks and the seconds spent in puts of each kind.
func buildStore(_ repo: Repo, sizeMiB: Int, raw: Bool = false) async throws
    -> (small: [CID], large: [CID], smallSeconds: Double, largeSeconds: Double) {
    let halfBytes = (sizeMiB << 20) / 2
    var generator = SeededGenerator(seed: 0x5707E)
    var small: [CID] = []
    var large: [CID] = []
    var smallSeconds = 0.0
    var largeSeconds = 0.0
    let start = now()
    sync()
    for (size, perBatch, total) in [(smallSize, 1024, halfBytes / smallSize), (largeSize, 16, halfBytes / largeSize)] {
        var made = 0
        while made < total {
            let blocks = makeBlocks(min(perBatch, total - made), size: size, generator: &generator)
            let elapsed = try await seconds {
                if raw { try rawPuts(repo, [blocks]) } else { try await repo.blocks.put(blocks) }
            }
            if size == smallSize {
                small += blocks.map(\.cid)
                smallSeconds += elapsed
            } else {
                large += blocks.map(\.cid)
                largeSeconds += elapsed
            }
            made += blocks.count
        }
    }
    let elapsed = now() - start
    let fileBytes = try repo.withEnvironment { environment, _ in try environment.fileSize() }
    say("store\(raw ? " (raw puts)" : ""): \(small.count) blocks of 4 KiB + \(large.count) of 256 KiB = "
        + "\(fixed(Double(halfBytes * 2) / gib, 2)) GiB of blocks, data.mdb \(fixed(Double(fileBytes) / gib, 2)) GiB; "
        + "built in \(fixed(elapsed, 1)) s (generating + hashing + puts); puts of 4 KiB blocks "
        + "\(megabytesPerSecond(halfBytes, smallSeconds)) MB/s, of 256 KiB blocks \(megabytesPerSecond(halfBytes, largeSeconds)) MB/s")
    return (small, large, smallSeconds, largeSeconds)
}

// MARK: - Reads

enum ReadBody: String {
    case copy = "copy out"
    case touch = "touch 2 bytes"
}

/// Scratch space the `copy` body copies into (as big as the largest block).
nonisolated(unsafe) let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: largeSize, alignment: 64)

@inline(__always)
func consume(_ block: UnsafeRawBufferPointer, _ body: ReadBody) -> Int {
    switch body {
    case .copy:
        scratch.baseAddress!.copyMemory(from: block.baseAddress!, byteCount: block.count)
        return block.count &+ Int(scratch[block.count &- 1])
    case .touch:
        return block.count &+ Int(block[0]) &+ Int(block[block.count &- 1])
    }
}

func tauReads(_ repo: Repo, _ cids: [CID], _ order: [Int32], _ body: ReadBody) throws -> (Double, Int) {
    var sum = 0
    let elapsed = try seconds {
        for index in order {
            guard let value = try repo.blocks.withBlock(cids[Int(index)], { consume($0, body) }) else {
                throw BenchError("tau: block missing")
            }
            sum &+= value
        }
    }
    return (elapsed, sum)
}

/// One read transaction per read, as tau does (`Environment.read` renews a pooled transaction).
func rawReads(_ repo: Repo, _ cids: [CID], _ order: [Int32], _ body: ReadBody) throws -> (Double, Int) {
    try repo.withEnvironment { environment, databases in
        var sum = 0
        let elapsed = try seconds {
            for index in order {
                let value = try cids[Int(index)].multihashBytes.withUnsafeBytes { key in
                    try environment.read { transaction in
                        try transaction.value(forKey: key, in: databases.blocks) { record in
                            consume(UnsafeRawBufferPointer(rebasing: record[2...]), body)
                        }
                    }
                }
                guard let value else { throw BenchError("raw: block missing") }
                sum &+= value
            }
        }
        return (elapsed, sum)
    }
}

/// Every read inside one read transaction (reference only: tau never holds one that long).
func rawReadsOneTransaction(_ repo: Repo, _ cids: [CID], _ order: [Int32], _ body: ReadBody) throws -> (Double, Int) {
    try repo.withEnvironment { environment, databases in
        try environment.read { transaction in
            var sum = 0
            let elapsed = try seconds {
                for index in order {
                    let value = try cids[Int(index)].multihashBytes.withUnsafeBytes { key in
                        try transaction.value(forKey: key, in: databases.blocks) { record in
                            consume(UnsafeRawBufferPointer(rebasing: record[2...]), body)
                        }
                    }
                    guard let value else { throw BenchError("raw: block missing") }
                    sum &+= value
                }
            }
            return (elapsed, sum)
        }
    }
}

func readBenchmarks(_ repo: Repo, small: [CID], large: [CID], options: Options) throws {
    // Warm the page cache and this process's page tables: read every block once.
    let warm = seconds {
        for cids in [small, large] {
            for index in cids.indices { _ = try? rawReads(repo, cids, [Int32(index)], .copy) }
        }
    }
    say("warm-up: read every block once in \(fixed(warm, 1)) s")

    var generator = SeededGenerator(seed: 0x0EAD)
    var table = Table(["random reads", "reads", "tau reads/s", "tau MB/s", "raw reads/s", "raw MB/s", "tau/raw",
                       "raw, 1 txn: reads/s"])
    for (label, cids, count, size) in [("4 KiB", small, options.smallReads, smallSize),
                                       ("256 KiB", large, options.largeReads, largeSize)] {
        let order = (0..<count).map { _ in Int32.random(in: 0..<Int32(cids.count), using: &generator) }
        for body in [ReadBody.copy, .touch] {
            var tau = Samples(), raw = Samples(), single = Samples()
            var sums: Set<Int> = []
            for run in 0..<options.runs {
                for side in 0..<3 {  // rotating the order between runs
                    switch (run + side) % 3 {
                    case 0:
                        let (elapsed, sum) = try tauReads(repo, cids, order, body)
                        tau.append(elapsed)
                        sums.insert(sum)
                    case 1:
                        let (elapsed, sum) = try rawReads(repo, cids, order, body)
                        raw.append(elapsed)
                        sums.insert(sum)
                    default:
                        let (elapsed, sum) = try rawReadsOneTransaction(repo, cids, order, body)
                        single.append(elapsed)
                        sums.insert(sum)
                    }
                }
            }
            guard sums.count == 1 else { throw BenchError("reads returned different bytes") }
            table.add(["\(label), \(body.rawValue)", String(count),
                       rate(count, tau.median), megabytesPerSecond(count * size, tau.median),
                       rate(count, raw.median), megabytesPerSecond(count * size, raw.median),
                       fixed(raw.median / tau.median, 2), rate(count, single.median)])
            say("  \(label), \(body.rawValue): tau \(rate(count, tau.median)) reads/s, raw \(rate(count, raw.median))")
        }
    }
    say("")
    say(table.render())
    say("")
}

// MARK: - Puts

func tauPuts(_ repo: Repo, _ batches: [[Block]], inFlight: Int) async throws {
    if inFlight == 1 {
        for batch in batches { try await repo.blocks.put(batch) }
        return
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        for _ in 0..<min(inFlight, batches.count) {
            let batch = batches[next]
            group.addTask { try await repo.blocks.put(batch) }
            next += 1
        }
        while try await group.next() != nil {
            if next < batches.count {
                let batch = batches[next]
                group.addTask { try await repo.blocks.put(batch) }
                next += 1
            }
        }
    }
}

/// The records tau writes, one synced write transaction per batch.
func rawPuts(_ repo: Repo, _ batches: [[Block]]) throws {
    try repo.withEnvironment { environment, databases in
        for batch in batches {
            try environment.write { transaction in
                for block in batch {
                    _ = try block.cid.multihashBytes.withUnsafeBytes { key in
                        try block.bytes.withUnsafeBytes { bytes in
                            try transaction.put(reservingCount: 2 + bytes.count, forKey: key, in: databases.blocks,
                                                flags: .noOverwrite) { output in
                                output[0] = 1  // record format version
                                output[1] = 0  // flags: stored plain
                                UnsafeMutableRawBufferPointer(rebasing: output[2...]).copyMemory(from: bytes)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `body` on a fresh repo under `root`, timing only `body`.
func withFreshRepo(_ root: String, _ name: String, _ body: (Repo) async throws -> Void) async throws -> Double {
    let path = "\(root)/\(name)"
    try? FileManager.default.removeItem(atPath: path)
    let repo = try Repo(path: path)
    sync()  // start each run with no dirty pages of earlier runs (or other work) waiting to be written
    let elapsed = try await seconds { try await body(repo) }
    await repo.close()
    try FileManager.default.removeItem(atPath: path)
    return elapsed
}

func putBenchmarks(root: String, options: Options) async throws {
    var generator = SeededGenerator(seed: 0x9075)
    let smallBlocks = makeBlocks((options.putSmallMiB << 20) / smallSize, size: smallSize, generator: &generator)
    let largeBlocks = makeBlocks((options.putLargeMiB << 20) / largeSize, size: largeSize, generator: &generator)
    var workloads: [(String, [Block], Int, Int)] = []
    if !smallBlocks.isEmpty { workloads += [("4 KiB", smallBlocks, 64, smallSize), ("4 KiB", smallBlocks, 1024, smallSize)] }
    if !largeBlocks.isEmpty { workloads += [("256 KiB", largeBlocks, 16, largeSize)] }
    var table = Table(["batched puts", "blocks", "commits", "tau puts/s", "tau MB/s", "raw puts/s", "raw MB/s", "tau/raw",
                       "tau \(options.inFlight) in flight MB/s", "\(options.inFlight) in flight/raw"], leftColumns: 1)
    for (label, blocks, perBatch, size) in workloads {
        let split = batches(blocks, of: perBatch)
        var tau = Samples(), raw = Samples(), pipelined = Samples()
        for run in 0..<options.runs {
            // Rotate the order, so that no side always runs right after the same other one.
            for side in 0..<3 {
                switch (run + side) % 3 {
                case 0: tau.append(try await withFreshRepo(root, "put-tau") { try await tauPuts($0, split, inFlight: 1) })
                case 1: raw.append(try await withFreshRepo(root, "put-raw") { try rawPuts($0, split) })
                default: pipelined.append(try await withFreshRepo(root, "put-tau-pipelined") {
                    try await tauPuts($0, split, inFlight: options.inFlight)
                })
                }
            }
        }
        let bytes = blocks.count * size
        table.add(["\(label), \(perBatch) per batch", String(blocks.count), String(split.count),
                   rate(blocks.count, tau.median), megabytesPerSecond(bytes, tau.median),
                   rate(blocks.count, raw.median), megabytesPerSecond(bytes, raw.median),
                   fixed(raw.median / tau.median, 2),
                   megabytesPerSecond(bytes, pipelined.median), fixed(raw.median / pipelined.median, 2)])
        func spread(_ samples: Samples) -> String {
            "\(megabytesPerSecond(bytes, samples.median)) MB/s [\(megabytesPerSecond(bytes, samples.slowest))–"
                + "\(megabytesPerSecond(bytes, samples.fastest))]"
        }
        say("  \(label), \(perBatch) per batch: tau \(spread(tau)), raw \(spread(raw)), "
            + "tau \(options.inFlight) in flight \(spread(pipelined))")
    }
    say("")
    say(table.render())
}

// MARK: - Main

do {
    let options = try Options()
    let root: String
    let ownsRoot: Bool
    if let directory = options.directory {
        root = directory
        ownsRoot = false
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    } else {
        var template = Array((NSTemporaryDirectory() + (NSTemporaryDirectory().hasSuffix("/") ? "" : "/")
            + "tau-bench-blockstore.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("mkdtemp failed") }
        root = String(cString: made)
        ownsRoot = true
    }
    defer { if ownsRoot { try? FileManager.default.removeItem(atPath: root) } }
    say("tau-bench-blockstore in \(root); medians of \(options.runs) runs, sides taking turns; MB = 10^6 bytes")

    if !options.skipReads {
        let repo = try Repo(path: "\(root)/store", configuration: Repo.Configuration(initialMapSize: 8 << 30))
        let (small, large, _, _) = try await buildStore(repo, sizeMiB: options.sizeMiB)
        if options.compareBuild {
            let rawRepo = try Repo(path: "\(root)/raw-store", configuration: Repo.Configuration(initialMapSize: 8 << 30))
            _ = try await buildStore(rawRepo, sizeMiB: options.sizeMiB, raw: true)
            await rawRepo.close()
            try FileManager.default.removeItem(atPath: "\(root)/raw-store")
        }
        try readBenchmarks(repo, small: small, large: large, options: options)
        await repo.close()
        try FileManager.default.removeItem(atPath: "\(root)/store")
    }
    if !options.skipPuts {
        say("batched puts: \(options.putSmallMiB) MiB of 4 KiB blocks, \(options.putLargeMiB) MiB of 256 KiB blocks, "
            + "fresh repo per run, a synced commit per batch")
        try await putBenchmarks(root: root, options: options)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
