// The routing table: k-buckets by common prefix length with our own key.
// Pure: the clock is passed in. Format: formats/dht.md, section 3.

/// Peers by distance from `local`, at most `bucketSize` per bucket.
///
/// Bucket i holds the peers whose key shares exactly i leading bits with
/// ours. A full bucket keeps its peers (Kademlia prefers peers that have
/// stayed up) unless one of them has stopped answering; then the newcomer
/// takes its place.
public struct RoutingTable<Peer: Hashable & Sendable>: Sendable {
    public struct Entry: Sendable {
        public let peer: Peer
        public let key: KademliaKey
        /// When the peer was added; when it last answered a query.
        public var addedAt: ContinuousClock.Instant
        public var lastUsefulAt: ContinuousClock.Instant
        /// Queries in a row it did not answer.
        public var failures = 0
    }

    public let local: KademliaKey
    /// k: 20.
    public let bucketSize: Int
    /// Failures in a row after which a peer may be replaced or dropped: 2.
    public let maxFailures: Int
    private(set) var buckets: [[Entry]] = Array(repeating: [], count: 257)
    private var index: [Peer: Int] = [:]

    public init(local: KademliaKey, bucketSize: Int = 20, maxFailures: Int = 2) {
        self.local = local
        self.bucketSize = bucketSize
        self.maxFailures = maxFailures
    }

    public var count: Int { index.count }
    public var peers: [Peer] { buckets.flatMap { $0.map(\.peer) } }
    public func contains(_ peer: Peer) -> Bool { index[peer] != nil }

    /// The entries of bucket `prefixLength`.
    public func bucket(_ prefixLength: Int) -> [Entry] { buckets[prefixLength] }

    /// Adds `peer` (or marks it useful when present).
    /// - Returns: false when its bucket is full of peers that still answer.
    @discardableResult
    public mutating func add(_ peer: Peer, key: KademliaKey, now: ContinuousClock.Instant) -> Bool {
        if let bucketIndex = index[peer] {
            if let position = buckets[bucketIndex].firstIndex(where: { $0.peer == peer }) {
                buckets[bucketIndex][position].lastUsefulAt = now
                buckets[bucketIndex][position].failures = 0
            }
            return true
        }
        let bucketIndex = local.commonPrefixLength(with: key)
        guard bucketIndex < 256 else { return false }   // ourselves
        let entry = Entry(peer: peer, key: key, addedAt: now, lastUsefulAt: now)
        if buckets[bucketIndex].count >= bucketSize {
            guard let stale = buckets[bucketIndex].indices.max(by: {
                buckets[bucketIndex][$0].failures < buckets[bucketIndex][$1].failures
            }), buckets[bucketIndex][stale].failures >= maxFailures else { return false }
            index[buckets[bucketIndex][stale].peer] = nil
            buckets[bucketIndex].remove(at: stale)
        }
        buckets[bucketIndex].append(entry)
        index[peer] = bucketIndex
        return true
    }

    public mutating func remove(_ peer: Peer) {
        guard let bucketIndex = index.removeValue(forKey: peer) else { return }
        buckets[bucketIndex].removeAll { $0.peer == peer }
    }

    /// Counts a query `peer` did not answer; past `maxFailures` the peer may
    /// be replaced by a newcomer.
    public mutating func recordFailure(_ peer: Peer) {
        guard let bucketIndex = index[peer],
              let position = buckets[bucketIndex].firstIndex(where: { $0.peer == peer }) else { return }
        buckets[bucketIndex][position].failures += 1
    }

    /// The `count` peers closest to `target`, closest first.
    public func nearest(to target: KademliaKey, count: Int, excluding excluded: Set<Peer> = []) -> [Entry] {
        var candidates: [(KademliaKey, Entry)] = []
        candidates.reserveCapacity(index.count)
        for bucket in buckets {
            // Peers that stopped answering are neither asked nor recommended.
            for entry in bucket where !excluded.contains(entry.peer) && entry.failures < maxFailures {
                candidates.append((entry.key.distance(to: target), entry))
            }
        }
        candidates.sort { $0.0 < $1.0 }
        return candidates.prefix(count).map(\.1)
    }

    /// Buckets up to the deepest non-empty one whose peers were last useful
    /// before `staleBefore`: the prefix lengths a refresh should look up.
    public func bucketsToRefresh(staleBefore: ContinuousClock.Instant) -> [Int] {
        guard let deepest = buckets.lastIndex(where: { !$0.isEmpty }) else { return [] }
        return (0...min(deepest, 15)).filter { bucketIndex in
            !buckets[bucketIndex].contains { $0.lastUsefulAt >= staleBefore }
        }
    }
}
