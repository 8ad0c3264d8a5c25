import Blocks
import Foundation
import LMDB
import Multiformats
import Repo
import Testing

/// Throughput of durable puts: the repo's group-commit writer against raw
/// LMDB calls in this same binary. Prints figures; asserts nothing about time.
///
///     TAU_REPO_BENCH=1 swift test -c release --scratch-path .build-repo --filter RepoBenchmarks
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TAU_REPO_BENCH"] != nil))
struct RepoBenchmarks {
    struct Workload {
        let name: String
        let blockSize: Int
        let blockCount: Int
        let batchSize: Int
    }

    static let workloads = [
        Workload(name: "4 KiB", blockSize: 4096, blockCount: 16384, batchSize: 64),
        Workload(name: "256 KiB", blockSize: 256 << 10, blockCount: 512, batchSize: 4),
    ]
    static let runs = 5

    @Test func putThroughput() async throws {
        for workload in Self.workloads {
            let blocks = randomBlocks(workload.blockCount, size: workload.blockSize, seed: 0xBE4C)
            let batches = stride(from: 0, to: blocks.count, by: workload.batchSize).map {
                Array(blocks[$0..<min($0 + workload.batchSize, blocks.count)])
            }
            print("\n\(workload.name) blocks: \(workload.blockCount) blocks, \(batches.count) batches of \(workload.batchSize), \((workload.blockCount * workload.blockSize) >> 20) MiB; median [min–max] of \(Self.runs) runs")
            var rows: [(String, Timing, String)] = []
            for tasks in [1, 8, 64] {
                var commits = 0
                let time = try await Self.median {
                    try await withTemporaryDirectory { path in
                        let repo = try Repo(path: path)
                        let start = ContinuousClock.now
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for task in 0..<tasks {
                                group.addTask {
                                    for batch in stride(from: task, to: batches.count, by: tasks) {
                                        try await repo.blocks.put(batches[batch])
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                        let elapsed = ContinuousClock.now - start
                        commits = repo.writerStatistics.commits
                        await repo.close()
                        return elapsed
                    }
                }
                rows.append(("tau put, \(tasks) task\(tasks == 1 ? "" : "s")", time, "\(commits) commits"))
            }
            let perBatch = try await Self.median {
                try withTemporaryDirectory { path in try Self.rawLMDB(path, transactions: batches) }
            }
            rows.append(("raw LMDB, 1 txn per batch", perBatch, "\(batches.count) commits"))
            let oneTransaction = try await Self.median {
                try withTemporaryDirectory { path in try Self.rawLMDB(path, transactions: [blocks]) }
            }
            rows.append(("raw LMDB, 1 txn for all", oneTransaction, "1 commit"))
            for (label, time, note) in rows {
                let puts = { Double(workload.blockCount) / $0 }
                let megabytes = { Double(workload.blockCount * workload.blockSize) / $0 / 1e6 }
                print(Self.padded(label, 30) + String(format: "%8.0f puts/s %7.1f MB/s  [%.0f–%.0f MB/s]  ",
                    puts(time.median), megabytes(time.median), megabytes(time.slowest), megabytes(time.fastest)) + note)
            }
        }
    }

    @Test func readThroughput() async throws {
        let blocks = randomBlocks(16384, size: 4096, seed: 0xEAD)
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            try await repo.blocks.put(blocks)
            var order = Array(blocks.indices)
            var random = SeededBytes(seed: 5)
            order.shuffle(using: &random)
            let time = try await Self.median {
                let start = ContinuousClock.now
                var sum = 0
                for index in order {
                    sum &+= try repo.blocks.withBlock(blocks[index].cid) { Int($0[0]) } ?? 0
                }
                #expect(sum > 0)
                return ContinuousClock.now - start
            }
            let rawTime = try await Self.median {
                try repo.withEnvironment { environment, databases in
                    let start = ContinuousClock.now
                    var sum = 0
                    for index in order {
                        sum &+= try environment.read { transaction throws in
                            try transaction.value(forKey: blocks[index].cid.multihash.bytes, in: databases.blocks) { Int($0[2]) } ?? 0
                        }
                    }
                    #expect(sum > 0)
                    return ContinuousClock.now - start
                }
            }
            let oneTransaction = try await Self.median {
                try repo.withEnvironment { environment, databases in
                    try environment.read { transaction throws in
                        let start = ContinuousClock.now
                        var sum = 0
                        for index in order {
                            sum &+= try transaction.value(forKey: blocks[index].cid.multihash.bytes, in: databases.blocks) { Int($0[2]) } ?? 0
                        }
                        #expect(sum > 0)
                        return ContinuousClock.now - start
                    }
                }
            }
            print("\nReads of 4 KiB blocks in random order (16384 blocks, in page cache); median [min–max] of \(Self.runs) runs")
            for (label, time) in [("tau withBlock (1 txn each)", time), ("raw LMDB (1 txn each)", rawTime),
                                  ("raw LMDB (1 txn for all)", oneTransaction)] {
                let rate = { Double(blocks.count) / $0 }
                print(Self.padded(label, 30) + String(format: "%9.0f reads/s  [%.0f–%.0f]", rate(time.median), rate(time.slowest), rate(time.fastest)))
            }
            await repo.close()
        }
    }

    /// The same records the repo writes (2-byte header + bytes, MDB_RESERVE,
    /// MDB_NOOVERWRITE), one synced transaction per element of `transactions`.
    static func rawLMDB(_ path: String, transactions: [[Block]]) throws -> Duration {
        let environment = try Environment(path: path, configuration: .init(mapSize: 4 << 30, maxDatabases: 4))
        let db = try environment.write { try $0.openDatabase("blocks-v1", create: true)! }
        let start = ContinuousClock.now
        for batch in transactions {
            try environment.write { transaction throws in
                for block in batch {
                    _ = try block.cid.multihash.bytes.withUnsafeBytes { key in
                        try block.bytes.withUnsafeBytes { bytes in
                            try transaction.put(reservingCount: bytes.count + 2, forKey: key, in: db, flags: .noOverwrite) { out in
                                out[0] = 1
                                out[1] = 0
                                UnsafeMutableRawBufferPointer(rebasing: out[2...]).copyMemory(from: bytes)
                            }
                        }
                    }
                }
            }
        }
        return ContinuousClock.now - start
    }

    struct Timing {
        var median: Double
        var fastest: Double
        var slowest: Double
    }

    static func median(_ run: () async throws -> Duration) async throws -> Timing {
        var times: [Double] = []
        for _ in 0..<runs {
            let time = try await run()
            times.append(Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18)
        }
        times.sort()
        return Timing(median: times[runs / 2], fastest: times[0], slowest: times[runs - 1])
    }

    static func padded(_ text: String, _ width: Int) -> String {
        "  " + text + String(repeating: " ", count: max(1, width - text.count))
    }
}
