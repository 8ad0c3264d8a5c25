import Bitswap
import Blocks
import Foundation
import Multiformats
import NIOPosix
import Synchronization
import Testing

/// A source whose reads "block": it records the name of each thread that
/// calls them, and counts async reads, which Bitswap should not make.
final class ThreadRecordingSource: BlockingBlockSource {
    private let blocks: [Multihash: [UInt8]]
    private let record = Mutex<(threads: [String], asyncReads: Int)>(([], 0))

    init(_ store: MemoryBlockStore) async throws {
        var blocks: [Multihash: [UInt8]] = [:]
        for multihash in try await store.allMultihashes() {
            blocks[multihash] = try await store.get(.v1(.raw, multihash))
        }
        self.blocks = blocks
    }

    var threads: [String] { record.withLock { $0.threads } }
    var asyncReads: Int { record.withLock { $0.asyncReads } }

    private func noteThread() {
        // The calling thread's name as Linux keeps it (pthread_getname_np is not imported).
        let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
        record.withLock { $0.threads.append(name.trimmingCharacters(in: .newlines)) }
    }

    func blockingBlocks(_ cids: [CID]) throws -> [CID: [UInt8]] {
        noteThread()
        var found: [CID: [UInt8]] = [:]
        for cid in cids { found[cid] = blocks[cid.multihash] }
        return found
    }

    func blockingSizes(_ cids: [CID]) throws -> [CID: Int] {
        noteThread()
        var sizes: [CID: Int] = [:]
        for cid in cids { sizes[cid] = blocks[cid.multihash]?.count }
        return sizes
    }

    func get(_ cid: CID) async throws -> [UInt8]? {
        record.withLock { $0.asyncReads += 1 }
        return blocks[cid.multihash]
    }

    func has(_ cid: CID) async throws -> Bool { blocks[cid.multihash] != nil }
}

@Suite("Bitswap's local reads", .serialized)
struct LocalReadsTests {
    /// A server over a blocking source reads each batch on its read pool
    /// (NIO names those threads TP-#…), never with the async `get`.
    @Test func blockingSourcesAreReadOnTheReadPool() async throws {
        let memory = MemoryBlockStore()
        let file = try await ImportedFile(size: 3 << 20, seed: 31, into: memory)
        let source = try await ThreadRecordingSource(memory)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let providerHost = try await startedHost()
        let provider = Bitswap(host: providerHost, blocks: source, readPool: pool)
        provider.start()
        let fetcher = try await NetworkTests.node()
        let fetched = MemoryBlockStore()
        do {
            try await fetcher.0.connect(providerHost.dialAddress)
            let result = try await fetcher.1.fetchDAG(root: file.root, into: fetched)
            #expect(result.fetchedBlocks == file.blockCount)
            #expect(sha256(try await readFile(file.root, from: fetched)) == sha256(file.bytes))
        } catch {
            Issue.record(error)
        }
        await NetworkTests.shutdown((providerHost, provider), fetcher)
        try await pool.shutdownGracefully()
        #expect(source.asyncReads == 0)
        #expect(!source.threads.isEmpty)
        #expect(source.threads.allSatisfy { $0.hasPrefix("TP-#") }, "\(Set(source.threads))")
    }
}
