// A bounded, scan-resistant cache of blocks and resolved paths, and the
// read-through block service (`BlockService.swift`).
import Metrics
import Multiformats
import Synchronization

/// One bounded in-memory cache for everything the read path computes from
/// immutable content: blocks (by multihash), resolved paths (root CID + path
/// → `ResolvedPath`) and derived values (say, a gateway's ready response).
///
/// - **Budget**: every entry costs its bytes plus `entryOverhead` (a resolved
///   path costs `pathEntryCost`); the total stays within `byteBudget`.
/// - **Policy**: S3-FIFO per shard (see `CacheShard`): a one-time scan of
///   many blocks passes through the small FIFO without evicting the hot set.
/// - **Concurrency**: keys are spread over `shardCount` shards by hash, each
///   behind its own `Mutex` holding `byteBudget / shardCount` bytes; a hit
///   locks one shard for a table probe and a counter increment, so every
///   core serves in parallel and there is no global lock.
/// - **Values are shared, not copied**: a block comes back as the very
///   `[UInt8]` that was inserted (copy-on-write storage).
///
/// Metrics (swift-metrics, labelled `kind="block"|"path"|"derived"`):
/// `tau_cache_hits_total`, `tau_cache_misses_total`, `tau_cache_evictions_total`,
/// `tau_cache_bytes`, `tau_cache_entries`, and `tau_cache_budget_bytes`.
public final class ContentCache: Sendable {
    /// Default budget: 256 MiB.
    public static let defaultByteBudget = 256 << 20
    /// Default shard count: 16, enough that two to eight cores rarely meet on one lock.
    public static let defaultShardCount = 16
    /// Bookkeeping bytes counted on top of each entry's key and value (table
    /// slot, queue slot, array headers).
    public static let entryOverhead = 96
    /// What one resolved path costs: its key, CID and a short media type fit.
    public static let pathEntryCost = 256

    /// Counts since the cache was made, and what it holds now.
    public struct Statistics: Hashable, Sendable {
        public struct Kind: Hashable, Sendable {
            public var hits = 0
            public var misses = 0
            public var evictions = 0
            /// Bytes charged to the budget by entries of this kind.
            public var bytes = 0
            public var entries = 0
        }
        public var block = Kind()
        public var path = Kind()
        public var derived = Kind()
        public var byteBudget = 0

        public subscript(kind: CacheEntryKind) -> Kind {
            switch kind {
            case .block: block
            case .path: path
            case .derived: derived
            }
        }

        /// Bytes charged to the budget in all.
        public var bytes: Int { block.bytes + path.bytes + derived.bytes }
        public var entries: Int { block.entries + path.entries + derived.entries }
    }

    public let byteBudget: Int
    public let shardCount: Int
    private let shardMask: Int
    private let shards: [LockedShard]
    private let metrics: CacheMetrics

    /// - Parameters:
    ///   - byteBudget: the most bytes entries may cost in all. Default 256 MiB.
    ///   - shardCount: a power of two; each shard gets an equal part of the
    ///     budget, so an entry larger than `byteBudget / shardCount` is never
    ///     cached. Default 16.
    ///   - smallQueueFraction: the small FIFO's share of each shard. Default 0.1, as in S3-FIFO.
    ///   - metricsFactory: where metrics go; default the bootstrapped `MetricsSystem.factory`.
    public init(byteBudget: Int = ContentCache.defaultByteBudget, shardCount: Int = ContentCache.defaultShardCount,
                smallQueueFraction: Double = 0.1, metricsFactory: (any MetricsFactory)? = nil) {
        precondition(byteBudget > 0, "byteBudget must be positive")
        precondition(shardCount > 0 && shardCount & (shardCount - 1) == 0, "shardCount must be a power of two")
        precondition(smallQueueFraction > 0 && smallQueueFraction < 1, "smallQueueFraction must be in (0, 1)")
        self.byteBudget = byteBudget
        self.shardCount = shardCount
        shardMask = shardCount - 1
        let perShard = max(1, byteBudget / shardCount)
        shards = (0..<shardCount).map { _ in LockedShard(CacheShard(capacity: perShard, smallFraction: smallQueueFraction)) }
        metrics = CacheMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        metrics.budget.record(byteBudget)
    }

    // MARK: Blocks

    /// The bytes of the block with `cid`'s multihash, if cached (CIDv0 and
    /// CIDv1 of the same bytes share one entry).
    public func block(for cid: CID) -> [UInt8]? {
        guard case .bytes(let bytes) = lookup(CacheKey(kind: .block, bytes: Array(cid.multihashBytes))) else { return nil }
        return bytes
    }

    /// Whether the block is cached, without counting a hit or a miss.
    public func containsBlock(_ cid: CID) -> Bool {
        let key = CacheKey(kind: .block, bytes: Array(cid.multihashBytes))
        return shard(for: key).state.withLock { $0.contains(key) }
    }

    /// Caches `bytes` as the block named `cid`. The caller vouches that they
    /// hash to it (`BlockService` verifies what comes from the network).
    /// Identity CIDs are never cached: the CID holds the bytes.
    public func insertBlock(_ bytes: [UInt8], for cid: CID) {
        guard !cid.isIdentity else { return }
        let multihash = Array(cid.multihashBytes)
        insert(CacheKey(kind: .block, bytes: multihash), .bytes(bytes),
               cost: bytes.count + multihash.count + Self.entryOverhead)
    }

    // MARK: Resolved paths

    /// The cached resolution of `path` under `root`. `path` is whatever
    /// canonical form the caller uses (say, components joined by "/").
    public func resolvedPath(root: CID, path: String) -> ResolvedPath? {
        guard case .path(let resolved) = lookup(Self.pathKey(root: root, path: path)) else { return nil }
        return resolved
    }

    public func insertResolvedPath(_ resolved: ResolvedPath, root: CID, path: String) {
        insert(Self.pathKey(root: root, path: path), .path(resolved), cost: Self.pathEntryCost)
    }

    private static func pathKey(root: CID, path: String) -> CacheKey {
        // A binary CID is self-delimiting, so root bytes followed by the path
        // bytes name one (root, path) pair.
        var bytes = root.bytes
        bytes.append(contentsOf: path.utf8)
        return CacheKey(kind: .path, bytes: bytes)
    }

    // MARK: Derived values

    /// The value cached under `key`, if any. Callers put a namespace of their
    /// own at the start of their keys.
    public func derivedValue(forKey key: [UInt8]) -> (any Sendable)? {
        guard case .derived(let value) = lookup(CacheKey(kind: .derived, bytes: key)) else { return nil }
        return value
    }

    /// Caches `value` under `key`, charged `cost` bytes (what it holds in memory) plus the key.
    public func insertDerivedValue(_ value: any Sendable, forKey key: [UInt8], cost: Int) {
        insert(CacheKey(kind: .derived, bytes: key), .derived(value), cost: max(0, cost) + key.count + Self.entryOverhead)
    }

    // MARK: Statistics

    /// A snapshot of the counters, summed over the shards (each read under its lock).
    public var statistics: Statistics {
        var result = Statistics()
        result.byteBudget = byteBudget
        for shard in shards {
            shard.state.withLock { shard in
                for kind in CacheEntryKind.allCases {
                    var counts = result[kind]
                    counts.hits += shard.hits[kind]
                    counts.misses += shard.misses[kind]
                    counts.evictions += shard.evictions[kind]
                    counts.bytes += shard.bytes[kind]
                    counts.entries += shard.entries[kind]
                    switch kind {
                    case .block: result.block = counts
                    case .path: result.path = counts
                    case .derived: result.derived = counts
                    }
                }
            }
        }
        return result
    }

    /// Drops every entry (counters of hits, misses and evictions stay).
    public func removeAll() {
        for shard in shards {
            let change = shard.state.withLock { $0.removeAll() }
            metrics.apply(change)
        }
    }

    // MARK: Internals

    @inline(__always)
    private func shard(for key: CacheKey) -> LockedShard {
        // The table re-hashes `key.hash` with its own seed, so the low bits
        // used here do not correlate with bucket positions inside the shard.
        shards[key.hash & shardMask]
    }

    private func lookup(_ key: CacheKey) -> CacheValue? {
        let value = shard(for: key).state.withLock { $0.lookup(key) }
        if value == nil { metrics.misses[key.kind].increment() } else { metrics.hits[key.kind].increment() }
        return value
    }

    private func insert(_ key: CacheKey, _ value: CacheValue, cost: Int) {
        let change = shard(for: key).state.withLock { $0.insert(key, value, cost: cost) }
        metrics.apply(change)
    }
}

/// A shard and its lock, boxed so that shards can sit in an array.
private final class LockedShard: Sendable {
    let state: Mutex<CacheShard>
    init(_ shard: CacheShard) { state = Mutex(shard) }
}

/// The cache's swift-metrics instruments, made once. Gauges follow running
/// totals kept in atomics, since summing the shards would take every lock.
private final class CacheMetrics: Sendable {
    let hits: PerKindMetric<Counter>
    let misses: PerKindMetric<Counter>
    let evictions: PerKindMetric<Counter>
    let bytes: PerKindMetric<Gauge>
    let entries: PerKindMetric<Gauge>
    let budget: Gauge
    private let byteTotals = PerKindMetric { _ in Atomic<Int>(0) }
    private let entryTotals = PerKindMetric { _ in Atomic<Int>(0) }

    init(factory: any MetricsFactory) {
        hits = PerKindMetric { Counter(label: "tau_cache_hits_total", dimensions: [("kind", $0.rawValue)], factory: factory) }
        misses = PerKindMetric { Counter(label: "tau_cache_misses_total", dimensions: [("kind", $0.rawValue)], factory: factory) }
        evictions = PerKindMetric { Counter(label: "tau_cache_evictions_total", dimensions: [("kind", $0.rawValue)], factory: factory) }
        bytes = PerKindMetric { Gauge(label: "tau_cache_bytes", dimensions: [("kind", $0.rawValue)], factory: factory) }
        entries = PerKindMetric { Gauge(label: "tau_cache_entries", dimensions: [("kind", $0.rawValue)], factory: factory) }
        budget = Gauge(label: "tau_cache_budget_bytes", factory: factory)
    }

    func apply(_ change: ShardChange) {
        for kind in CacheEntryKind.allCases {
            if change.evictions[kind] != 0 { evictions[kind].increment(by: change.evictions[kind]) }
            if change.bytes[kind] != 0 {
                let total = byteTotals[kind].add(change.bytes[kind], ordering: .relaxed).newValue
                bytes[kind].record(total)
            }
            if change.entries[kind] != 0 {
                let total = entryTotals[kind].add(change.entries[kind], ordering: .relaxed).newValue
                entries[kind].record(total)
            }
        }
    }
}

/// Three instruments (or atomics), one per entry kind, reached without a dictionary.
private final class PerKindMetric<Instrument: Sendable & ~Copyable>: Sendable {
    private let block: Instrument
    private let path: Instrument
    private let derived: Instrument

    init(_ make: (CacheEntryKind) -> Instrument) {
        block = make(.block)
        path = make(.path)
        derived = make(.derived)
    }

    subscript(kind: CacheEntryKind) -> Instrument {
        _read {
            switch kind {
            case .block: yield block
            case .path: yield path
            case .derived: yield derived
            }
        }
    }
}
