import Blocks
import Metrics
import Multiformats

/// The read path every service uses for blocks: the cache, then the local
/// store, then the network, in that order.
///
/// 1. Identity CIDs are answered from the CID, touching nothing.
/// 2. A cache hit is returned as is (the cached array, not a copy).
/// 3. A block read from the local store is cached, then returned. The store
///    verified it when it was written, so it is not hashed again.
/// 4. A block fetched from the network is hashed and compared with its CID
///    first (`Block(verifying:cid:)`): a mismatch throws
///    `BlockError.hashMismatch` and the bytes are neither stored nor cached.
///    A verified block is written to the local store (`.store`, the default)
///    or only cached (`.cacheOnly`), then returned.
///
/// `has` answers from the cache and the local store only: asking whether a
/// block is here never starts a network fetch.
///
/// Metrics: `tau_blockservice_reads_total{source="cache"|"local"|"network"|"missing"}`
/// and `tau_blockservice_refused_total` (network blocks that failed verification).
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
    private let metrics: BlockServiceMetrics

    public init(cache: ContentCache, local: any BlockStore, network: (any BlockSource)? = nil,
                fetchedBlocks: FetchedBlocks = .store, metricsFactory: (any MetricsFactory)? = nil) {
        self.cache = cache
        self.local = local
        self.network = network
        self.fetchedBlocks = fetchedBlocks
        metrics = BlockServiceMetrics(factory: metricsFactory ?? MetricsSystem.factory)
    }

    public func get(_ cid: CID) async throws -> [UInt8]? {
        if cid.isIdentity { return Array(cid.digest) }
        if let cached = cache.block(for: cid) {
            metrics.cache.increment()
            return cached
        }
        if let stored = try await local.get(cid) {
            metrics.local.increment()
            cache.insertBlock(stored, for: cid)
            return stored
        }
        guard let network, let fetched = try await network.get(cid) else {
            metrics.missing.increment()
            return nil
        }
        let block: Block
        do {
            block = try Block(verifying: fetched, cid: cid)
        } catch {
            metrics.refused.increment()
            throw error
        }
        if fetchedBlocks == .store { try await local.put([block]) }
        metrics.network.increment()
        cache.insertBlock(block.bytes, for: cid)
        return block.bytes
    }

    /// Whether the block is in the cache or the local store (never asks the network).
    public func has(_ cid: CID) async throws -> Bool {
        if cid.isIdentity || cache.containsBlock(cid) { return true }
        return try await local.has(cid)
    }
}

private final class BlockServiceMetrics: Sendable {
    let cache: Counter
    let local: Counter
    let network: Counter
    let missing: Counter
    let refused: Counter

    init(factory: any MetricsFactory) {
        func reads(_ source: String) -> Counter {
            Counter(label: "tau_blockservice_reads_total", dimensions: [("source", source)], factory: factory)
        }
        cache = reads("cache")
        local = reads("local")
        network = reads("network")
        missing = reads("missing")
        refused = Counter(label: "tau_blockservice_refused_total", factory: factory)
    }
}
