import Blocks
import Metrics
import Multiformats
import Synchronization

/// The read path every service uses for blocks: the cache, then the local
/// store, then the network, in that order.
///
/// 1. Identity CIDs are answered from the CID, touching nothing.
/// 2. A cache hit is returned as is (the cached array, not a copy).
/// 3. A block read from the local store is cached, then returned. The store
///    verified it when it was written, so it is not hashed again.
/// 4. A block fetched from the network is hashed and compared with its CID
///    first (`Block(verifying:cid:)`, or by the source itself when it is a
///    `VerifiedBlockSource`, as Bitswap is): a mismatch throws
///    `BlockError.hashMismatch` and the bytes are neither stored nor cached.
///    A verified block is cached and returned at once; with `.store` (the
///    default) it is also written to the local store behind the reader, in
///    batches (a sequential reader would otherwise wait for one durable
///    commit per block). Until written, such blocks are answered from the
///    pending batch; `flush()` waits until all are in the store. A block that
///    cannot be written stays cached only (counted in
///    `tau_blockservice_store_failures_total`): it came from the network and
///    can be fetched again, so nothing is lost.
/// 5. Fetched bytes not yet written are bounded by `unwrittenByteLimit`: a
///    `get` whose block takes them over the limit returns only once the
///    writer has brought them back under it, so a reader faster than the
///    store is held back (and with it the wants it would send) instead of
///    filling memory. Each such wait is counted in
///    `tau_blockservice_store_waits_total`.
///
/// `has` answers from the cache and the local store only: asking whether a
/// block is here never starts a network fetch.
///
/// Metrics: `tau_blockservice_reads_total{source="cache"|"local"|"network"|"missing"}`
/// `tau_blockservice_refused_total` (network blocks that failed verification) and
/// `tau_blockservice_store_failures_total` (fetched blocks the store did not take),
/// `tau_blockservice_store_waits_total` (reads held back by the unwritten-bytes limit).
public final class BlockService: BlockSource {
    /// What happens to a verified block fetched from the network.
    public enum FetchedBlocks: Hashable, Sendable {
        /// Written to the local store, then cached (the default).
        case store
        /// Cached only: the local store is left as it was.
        case cacheOnly
    }

    public let cache: ContentCache
    public let local: any BlockStore
    public let network: (any BlockSource)?
    public let fetchedBlocks: FetchedBlocks
    /// Bytes of fetched blocks that may wait for the store before readers
    /// are held back: 64 MiB by default (eight write batches).
    public let unwrittenByteLimit: Int
    private let metrics: BlockServiceMetrics
    private let pending = Mutex(PendingWrites())

    /// Fetched blocks not yet in the local store, and whether a writer runs.
    private struct PendingWrites: ~Copyable {
        var blocks: [CID: Block] = [:]
        var order: [CID] = []
        var bytes = 0
        var writing = false
        var idle: [CheckedContinuation<Void, Never>] = []
        /// Readers waiting for `bytes` to fall to the limit.
        var waitingForRoom: [CheckedContinuation<Void, Never>] = []
    }

    /// Fetched blocks waiting for the local store, and readers held back.
    public struct UnwrittenBlocks: Hashable, Sendable {
        public var blocks: Int
        public var bytes: Int
        public var waitingReaders: Int

        public init(blocks: Int, bytes: Int, waitingReaders: Int) {
            self.blocks = blocks
            self.bytes = bytes
            self.waitingReaders = waitingReaders
        }
    }

    /// What waits for the store now.
    public var unwritten: UnwrittenBlocks {
        pending.withLock {
            UnwrittenBlocks(blocks: $0.blocks.count, bytes: $0.bytes, waitingReaders: $0.waitingForRoom.count)
        }
    }

    /// Bytes of fetched blocks written to the store in one batch: 8 MiB.
    static let writeBatchBytes = 8 << 20

    public init(cache: ContentCache, local: any BlockStore, network: (any BlockSource)? = nil,
                fetchedBlocks: FetchedBlocks = .store, unwrittenByteLimit: Int = 64 << 20,
                metricsFactory: (any MetricsFactory)? = nil) {
        self.cache = cache
        self.local = local
        self.network = network
        self.fetchedBlocks = fetchedBlocks
        self.unwrittenByteLimit = max(1, unwrittenByteLimit)
        metrics = BlockServiceMetrics(factory: metricsFactory ?? MetricsSystem.factory)
    }

    public func get(_ cid: CID) async throws -> [UInt8]? {
        if cid.isIdentity { return Array(cid.digest) }
        if let cached = cache.block(for: cid) {
            metrics.cache.increment()
            return cached
        }
        if let waiting = pending.withLock({ $0.blocks[cid] }) {
            metrics.cache.increment()
            return waiting.bytes
        }
        if let stored = try await local.get(cid) {
            metrics.local.increment()
            cache.insertBlock(stored, for: cid)
            return stored
        }
        guard let network else {
            metrics.missing.increment()
            return nil
        }
        let block: Block
        if let verifying = network as? any VerifiedBlockSource {
            // Hashed as it arrived: not again.
            guard let verified = try await verifying.verifiedBlock(cid) else {
                metrics.missing.increment()
                return nil
            }
            block = verified
        } else {
            guard let fetched = try await network.get(cid) else {
                metrics.missing.increment()
                return nil
            }
            do {
                block = try Block(verifying: fetched, cid: cid)
            } catch {
                metrics.refused.increment()
                throw error
            }
        }
        metrics.network.increment()
        cache.insertBlock(block.bytes, for: cid)
        if fetchedBlocks == .store { await storeBehind(block) }
        return block.bytes
    }

    /// Whether the block is in the cache or the local store (never asks the network).
    public func has(_ cid: CID) async throws -> Bool {
        if cid.isIdentity || cache.containsBlock(cid) || pending.withLock({ $0.blocks[cid] != nil }) { return true }
        return try await local.has(cid)
    }
}

extension BlockService {
    /// Waits until every fetched block handed to the store so far is written
    /// (or has failed to be). The node calls it before closing the repo.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let done = pending.withLock { state -> Bool in
                guard state.writing else { return true }
                state.idle.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Queues a fetched block for the store and starts the writer if none
    /// runs; returns once the unwritten bytes are within the limit.
    private func storeBehind(_ block: Block) async {
        let (start, over) = pending.withLock { state -> (Bool, Bool) in
            guard state.blocks.updateValue(block, forKey: block.cid) == nil else { return (false, false) }
            state.order.append(block.cid)
            state.bytes += block.bytes.count
            let over = state.bytes > unwrittenByteLimit
            guard !state.writing else { return (false, over) }
            state.writing = true
            return (true, over)
        }
        if start { Task { await self.writePending() } }
        guard over else { return }
        metrics.storeWaits.increment()
        // Not cancellable on purpose: the writer always makes progress (a
        // failed put still releases its bytes), so the wait is bounded.
        await withCheckedContinuation { continuation in
            let room = pending.withLock { state -> Bool in
                guard state.bytes > unwrittenByteLimit else { return true }
                state.waitingForRoom.append(continuation)
                return false
            }
            if room { continuation.resume() }
        }
    }

    /// Writes pending blocks in batches until none are left.
    private func writePending() async {
        while true {
            let batch = pending.withLock { state -> [Block] in
                var batch: [Block] = []
                var bytes = 0
                var taken = 0
                for cid in state.order {
                    guard bytes < Self.writeBatchBytes, let block = state.blocks[cid] else { break }
                    batch.append(block)
                    bytes += block.bytes.count
                    taken += 1
                }
                state.order.removeFirst(taken)
                return batch
            }
            if batch.isEmpty {
                let waiters = pending.withLock { state -> [CheckedContinuation<Void, Never>]? in
                    // More may have arrived between the two locks.
                    guard state.order.isEmpty else { return nil }
                    state.writing = false
                    defer { state.idle = [] }
                    return state.idle
                }
                guard let waiters else { continue }
                for waiter in waiters { waiter.resume() }
                return
            }
            do {
                try await local.put(batch)
            } catch {
                metrics.storeFailures.increment()
            }
            let roomMade = pending.withLock { state -> [CheckedContinuation<Void, Never>] in
                for block in batch where state.blocks.removeValue(forKey: block.cid) != nil {
                    state.bytes -= block.bytes.count
                }
                guard state.bytes <= unwrittenByteLimit else { return [] }
                defer { state.waitingForRoom = [] }
                return state.waitingForRoom
            }
            for reader in roomMade { reader.resume() }
        }
    }
}

private final class BlockServiceMetrics: Sendable {
    let cache: Counter
    let local: Counter
    let network: Counter
    let missing: Counter
    let refused: Counter
    let storeFailures: Counter
    let storeWaits: Counter

    init(factory: any MetricsFactory) {
        func reads(_ source: String) -> Counter {
            Counter(label: "tau_blockservice_reads_total", dimensions: [("source", source)], factory: factory)
        }
        cache = reads("cache")
        local = reads("local")
        network = reads("network")
        missing = reads("missing")
        refused = Counter(label: "tau_blockservice_refused_total", factory: factory)
        storeFailures = Counter(label: "tau_blockservice_store_failures_total", factory: factory)
        storeWaits = Counter(label: "tau_blockservice_store_waits_total", factory: factory)
    }
}
