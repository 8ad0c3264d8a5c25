import Blocks
import ContentCache
import Multiformats
import Synchronization
import Testing

/// A block source that counts what it is asked and can lie about the bytes.
final class CountingSource: BlockStore {
    let store = MemoryBlockStore()
    private let counts = Mutex<(gets: Int, has: Int)>((0, 0))
    /// When set, `get` answers these bytes for any CID it has.
    let substitute: [UInt8]?

    init(_ blocks: [Block] = [], substitute: [UInt8]? = nil) async throws {
        self.substitute = substitute
        try await store.put(blocks)
    }

    var gets: Int { counts.withLock { $0.gets } }
    var hasCalls: Int { counts.withLock { $0.has } }

    func get(_ cid: CID) async throws -> [UInt8]? {
        counts.withLock { $0.gets += 1 }
        guard let bytes = try await store.get(cid) else { return nil }
        return substitute ?? bytes
    }

    func has(_ cid: CID) async throws -> Bool {
        counts.withLock { $0.has += 1 }
        return try await store.has(cid)
    }

    func put(_ blocks: [Block]) async throws { try await store.put(blocks) }
    func delete(_ cid: CID) async throws { try await store.delete(cid) }
    func allMultihashes() async throws -> [Multihash] { try await store.allMultihashes() }
}

@Suite struct BlockServiceTests {
    @Test func readsTheCacheThenTheLocalStoreThenTheNetwork() async throws {
        let inLocal = makeBlock(1), inNetwork = makeBlock(2)
        let local = try await CountingSource([inLocal])
        let network = try await CountingSource([inNetwork])
        let cache = ContentCache(byteBudget: 1 << 20)
        let service = BlockService(cache: cache, local: local, network: network)

        #expect(try await service.get(inLocal.cid) == inLocal.bytes)
        #expect(local.gets == 1 && network.gets == 0)
        // Now cached: neither source is asked again.
        #expect(try await service.get(inLocal.cid) == inLocal.bytes)
        #expect(local.gets == 1 && network.gets == 0)

        #expect(try await service.get(inNetwork.cid) == inNetwork.bytes)
        #expect(local.gets == 2 && network.gets == 1)
        // Stored locally by default (behind the reader), and cached.
        await service.flush()
        #expect(try await local.store.has(inNetwork.cid))
        #expect(cache.containsBlock(inNetwork.cid))
        #expect(try await service.get(inNetwork.cid) == inNetwork.bytes)
        #expect(network.gets == 1)
    }

    /// Fetched blocks are written behind the reader in batches; until then
    /// they are answered from the pending batch even when the cache is too
    /// small to hold them, and `flush` waits until all are stored.
    @Test func fetchedBlocksAreStoredBehindTheReader() async throws {
        let blocks = (0..<200).map { makeBlock(1000 + $0) }
        let local = GatedStore()
        let network = try await CountingSource(blocks)
        let cache = ContentCache(byteBudget: 1)  // holds nothing
        let service = BlockService(cache: cache, local: local, network: network)
        for block in blocks { #expect(try await service.get(block.cid) == block.bytes) }
        // The store's writes wait at the gate: every block is still readable.
        for block in blocks {
            #expect(try await service.get(block.cid) == block.bytes)
            #expect(try await service.has(block.cid))
        }
        #expect(network.gets == blocks.count, "pending blocks are not fetched twice")
        local.open()
        await service.flush()
        for block in blocks { #expect(try await local.store.has(block.cid)) }
        #expect(local.putCalls < blocks.count, "written in batches (\(local.putCalls) puts)")
    }

    /// A reader faster than the store is held back once the fetched bytes
    /// waiting for it pass the limit, and goes on when the store catches up.
    @Test func unwrittenBytesAreBoundedAndHoldTheReaderBack() async throws {
        let blocks = (0..<10).map { makeBlock(2000 + $0) }  // 1 KiB each
        let local = GatedStore()
        let network = try await CountingSource(blocks)
        let service = BlockService(cache: ContentCache(byteBudget: 1), local: local, network: network,
                                   unwrittenByteLimit: 3 * 1024)
        let reader = Task {
            var read = 0
            for block in blocks {
                guard try await service.get(block.cid) == block.bytes else { break }
                read += 1
            }
            return read
        }
        // The fourth block takes the unwritten bytes over 3 KiB: that read waits.
        try await waitUntil { service.unwritten.waitingReaders == 1 }
        let held = service.unwritten
        #expect(held.blocks == 4 && held.bytes == 4 * 1024)
        #expect(network.gets == 4, "nothing more is fetched while the reader waits")
        local.open()
        #expect(try await reader.value == blocks.count)
        await service.flush()
        #expect(service.unwritten == .init(blocks: 0, bytes: 0, waitingReaders: 0))
        for block in blocks { #expect(try await local.store.has(block.cid)) }
    }

    /// A source that verifies blocks itself (Bitswap) is asked for the
    /// verified block, which the service takes without hashing it again.
    @Test func verifiedSourcesAreTrusted() async throws {
        let remote = makeBlock(6)
        let network = VerifyingSource(remote)
        let service = BlockService(cache: ContentCache(byteBudget: 1 << 20), local: try await CountingSource(), network: network)
        #expect(try await service.get(remote.cid) == remote.bytes)
        #expect(network.calls.withLock { $0 } == (verified: 1, plain: 0))
        #expect(try await service.get(makeBlock(7).cid) == nil)
    }

    @Test func cacheOnlyLeavesTheLocalStoreAlone() async throws {
        let remote = makeBlock(3)
        let local = try await CountingSource()
        let network = try await CountingSource([remote])
        let cache = ContentCache(byteBudget: 1 << 20)
        let service = BlockService(cache: cache, local: local, network: network, fetchedBlocks: .cacheOnly)
        #expect(try await service.get(remote.cid) == remote.bytes)
        #expect(try await !local.store.has(remote.cid))
        #expect(cache.containsBlock(remote.cid))
    }

    @Test func wrongBytesFromTheNetworkAreRefusedAndNeverKept() async throws {
        let wanted = makeBlock(4)
        let local = try await CountingSource()
        let network = try await CountingSource([wanted], substitute: makeBlock(5).bytes)
        let cache = ContentCache(byteBudget: 1 << 20)
        let service = BlockService(cache: cache, local: local, network: network)
        await #expect(throws: BlockError.hashMismatch) { try await service.get(wanted.cid) }
        #expect(try await !local.store.has(wanted.cid))
        #expect(!cache.containsBlock(wanted.cid))
        #expect(cache.statistics.block.entries == 0)
    }

    @Test func identityCIDsAreAnsweredFromTheCID() async throws {
        let local = try await CountingSource()
        let network = try await CountingSource()
        let service = BlockService(cache: ContentCache(byteBudget: 1 << 20), local: local, network: network)
        let identity = CID.v1(.raw, Multihash(code: HashFunction.identity.rawValue, digest: Array("hi".utf8)))
        #expect(try await service.get(identity) == Array("hi".utf8))
        #expect(try await service.has(identity))
        #expect(local.gets == 0 && network.gets == 0)
    }

    @Test func hasNeverAsksTheNetworkAndMissingBlocksAreNil() async throws {
        let remote = makeBlock(6)
        let local = try await CountingSource()
        let network = try await CountingSource([remote])
        let service = BlockService(cache: ContentCache(byteBudget: 1 << 20), local: local, network: network)
        #expect(try await !service.has(remote.cid))
        #expect(network.gets == 0 && network.hasCalls == 0)
        #expect(try await service.get(makeBlock(7).cid) == nil)
    }

    @Test func withoutANetworkAMissIsNil() async throws {
        let service = BlockService(cache: ContentCache(byteBudget: 1 << 20), local: MemoryBlockStore())
        #expect(try await service.get(makeBlock(8).cid) == nil)
    }
}

/// A store whose writes wait until `open()`, so tests can see pending state.
final class GatedStore: BlockStore {
    let store = MemoryBlockStore()
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>], puts: Int)>((false, [], 0))

    var putCalls: Int { gate.withLock { $0.puts } }

    func open() {
        let waiting = gate.withLock { state in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func put(_ blocks: [Block]) async throws {
        await withCheckedContinuation { continuation in
            let open = gate.withLock { state -> Bool in
                state.puts += 1
                if !state.open { state.waiting.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
        try await store.put(blocks)
    }

    func get(_ cid: CID) async throws -> [UInt8]? { try await store.get(cid) }
    func has(_ cid: CID) async throws -> Bool { try await store.has(cid) }
    func delete(_ cid: CID) async throws { try await store.delete(cid) }
    func allMultihashes() async throws -> [Multihash] { try await store.allMultihashes() }
}

/// A `VerifiedBlockSource` with one block, counting which method is called.
final class VerifyingSource: VerifiedBlockSource {
    let block: Block
    let calls = Mutex<(verified: Int, plain: Int)>((0, 0))
    init(_ block: Block) { self.block = block }

    func verifiedBlock(_ cid: CID) async throws -> Block? {
        calls.withLock { $0.verified += 1 }
        return cid == block.cid ? block : nil
    }

    func get(_ cid: CID) async throws -> [UInt8]? {
        calls.withLock { $0.plain += 1 }
        return cid == block.cid ? block.bytes : nil
    }

    func has(_ cid: CID) async throws -> Bool { cid == block.cid }
}

/// Polls `condition` every millisecond until it holds; fails after `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}
