import Multiformats

/// What an entry holds. Also the `kind` label of the cache's metrics.
public enum CacheEntryKind: String, CaseIterable, Hashable, Sendable {
    /// A block's bytes, keyed by multihash.
    case block
    /// A resolved path (root CID + path → `ResolvedPath`).
    case path
    /// A value computed from immutable content by a caller (a gateway's ready
    /// HTTP response, a parsed `_redirects` file), at a cost the caller states.
    case derived
}

/// One value per entry kind: the per-kind counters of a shard and of the cache.
struct PerKind<Value: Sendable>: Sendable {
    var block: Value
    var path: Value
    var derived: Value

    init(repeating value: Value) {
        block = value
        path = value
        derived = value
    }

    subscript(kind: CacheEntryKind) -> Value {
        get {
            switch kind {
            case .block: block
            case .path: path
            case .derived: derived
            }
        }
        set {
            switch kind {
            case .block: block = newValue
            case .path: path = newValue
            case .derived: derived = newValue
            }
        }
    }
}

/// A cache key: the kind and the bytes that name the entry, hashed once
/// (SipHash over the bytes, seeded per process) so that choosing a shard and
/// probing its table never hash the bytes again.
struct CacheKey: Hashable, Sendable {
    let kind: CacheEntryKind
    let bytes: [UInt8]
    let hash: Int

    init(kind: CacheEntryKind, bytes: [UInt8]) {
        self.kind = kind
        self.bytes = bytes
        var hasher = Hasher()
        hasher.combine(kind)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        hash = hasher.finalize()
    }

    static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
        lhs.hash == rhs.hash && lhs.kind == rhs.kind && lhs.bytes == rhs.bytes
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}

enum CacheValue: Sendable {
    case bytes([UInt8])
    case path(ResolvedPath)
    case derived(any Sendable)
}

/// What one shard operation changed, for the cache-wide totals and metrics,
/// which are updated outside the shard's lock.
struct ShardChange {
    var evictions = PerKind(repeating: 0)
    var bytes = PerKind(repeating: 0)
    var entries = PerKind(repeating: 0)
}

/// One shard of the cache: S3-FIFO (Yang et al., SOSP 2023) over a byte budget.
///
/// - New entries go to the small FIFO (about 10 % of the budget) unless the
///   ghost queue remembers their key, in which case they go to the main FIFO.
/// - A hit only raises the entry's 2-bit frequency: nothing moves, so a hit
///   is a table probe and an increment under the shard's lock.
/// - Evicting from the small FIFO moves an entry that was hit since it came
///   in to the main FIFO, and drops one that was not, remembering its key in
///   the ghost queue. Evicting from the main FIFO gives an entry with a
///   non-zero frequency another round (frequency − 1) and drops one at zero.
///
/// A scan touches each key once: its entries pass through the small FIFO
/// and leave, while the hot set, hit at least once, lives in the main FIFO.
struct CacheShard: Sendable {
    private struct Slot: Sendable {
        var key: CacheKey
        var value: CacheValue
        var cost: Int
        var frequency: UInt8
        var inMain: Bool

        static let vacant = Slot(key: CacheKey(kind: .block, bytes: []), value: .bytes([]), cost: 0, frequency: 0, inMain: false)
    }

    let capacity: Int
    let smallCapacity: Int

    private var index: [CacheKey: Int] = [:]
    /// Entries by position; a free position holds `Slot.vacant` (not optional,
    /// so that a hit reads and bumps one field in place rather than copying the slot).
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var small = RingQueue<Int>()
    private var main = RingQueue<Int>()
    private var smallBytes = 0
    private var mainBytes = 0
    /// Hashes of keys recently dropped from the small FIFO, oldest first, with
    /// their cost; bounded to the main FIFO's share of the budget.
    private var ghost = RingQueue<(hash: Int, cost: Int)>()
    private var ghostCounts: [Int: Int] = [:]
    private var ghostBytes = 0

    private(set) var hits = PerKind(repeating: 0)
    private(set) var misses = PerKind(repeating: 0)
    private(set) var evictions = PerKind(repeating: 0)
    private(set) var bytes = PerKind(repeating: 0)
    private(set) var entries = PerKind(repeating: 0)

    init(capacity: Int, smallFraction: Double) {
        self.capacity = capacity
        smallCapacity = max(1, Int(Double(capacity) * smallFraction))
    }

    var usedBytes: Int { smallBytes + mainBytes }

    /// The value under `key`, counting a hit or a miss.
    mutating func lookup(_ key: CacheKey) -> CacheValue? {
        guard let position = index[key] else {
            misses[key.kind] += 1
            return nil
        }
        hits[key.kind] += 1
        if slots[position].frequency < 3 { slots[position].frequency += 1 }
        return slots[position].value
    }

    /// Whether `key` is present, without counting a hit or touching its frequency.
    func contains(_ key: CacheKey) -> Bool { index[key] != nil }

    /// Stores `value` at `cost` bytes, replacing what `key` held, then evicts
    /// until the shard is within its budget. A value costing more than the
    /// whole shard is not stored.
    mutating func insert(_ key: CacheKey, _ value: CacheValue, cost: Int) -> ShardChange {
        var change = ShardChange()
        guard cost <= capacity else { return change }
        if let position = index[key] {
            let old = slots[position].cost
            slots[position].value = value
            slots[position].cost = cost
            if slots[position].inMain { mainBytes += cost - old } else { smallBytes += cost - old }
            bytes[key.kind] += cost - old
            change.bytes[key.kind] += cost - old
        } else {
            let toMain = ghostCounts[key.hash] != nil
            let slot = Slot(key: key, value: value, cost: cost, frequency: 0, inMain: toMain)
            let position: Int
            if let free = freeSlots.popLast() {
                position = free
                slots[position] = slot
            } else {
                position = slots.count
                slots.append(slot)
            }
            index[key] = position
            if toMain {
                main.pushBack(position)
                mainBytes += cost
            } else {
                small.pushBack(position)
                smallBytes += cost
            }
            bytes[key.kind] += cost
            entries[key.kind] += 1
            change.bytes[key.kind] += cost
            change.entries[key.kind] += 1
        }
        while usedBytes > capacity {
            evictOne(into: &change)
        }
        return change
    }

    /// Drops every entry and the ghost queue; counters of hits, misses and
    /// evictions stay.
    mutating func removeAll() -> ShardChange {
        var change = ShardChange()
        for kind in CacheEntryKind.allCases {
            change.bytes[kind] = -bytes[kind]
            change.entries[kind] = -entries[kind]
        }
        index = [:]
        slots = []
        freeSlots = []
        small.removeAll()
        main.removeAll()
        ghost.removeAll()
        ghostCounts = [:]
        smallBytes = 0
        mainBytes = 0
        ghostBytes = 0
        bytes = PerKind(repeating: 0)
        entries = PerKind(repeating: 0)
        return change
    }

    // MARK: Eviction

    private mutating func evictOne(into change: inout ShardChange) {
        if smallBytes > smallCapacity || main.isEmpty {
            evictFromSmall(into: &change)
        } else {
            evictFromMain(into: &change)
        }
    }

    /// Takes the oldest entry of the small FIFO: promoted to main when it was
    /// hit since it came in, else dropped and remembered in the ghost queue.
    private mutating func evictFromSmall(into change: inout ShardChange) {
        guard let position = small.popFront() else { return }
        let cost = slots[position].cost
        smallBytes -= cost
        if slots[position].frequency > 0 {
            slots[position].frequency = 0
            slots[position].inMain = true
            main.pushBack(position)
            mainBytes += cost
        } else {
            remember(slots[position].key.hash, cost: cost)
            drop(position, into: &change)
        }
    }

    /// Takes the oldest entry of the main FIFO: another round, one frequency
    /// step lower, when it was hit; dropped otherwise.
    private mutating func evictFromMain(into change: inout ShardChange) {
        guard let position = main.popFront() else { return }
        let frequency = slots[position].frequency
        if frequency > 0 {
            slots[position].frequency = frequency - 1
            main.pushBack(position)
        } else {
            mainBytes -= slots[position].cost
            drop(position, into: &change)
        }
    }

    private mutating func drop(_ position: Int, into change: inout ShardChange) {
        let slot = slots[position]
        index[slot.key] = nil
        slots[position] = .vacant
        freeSlots.append(position)
        let kind = slot.key.kind
        bytes[kind] -= slot.cost
        entries[kind] -= 1
        evictions[kind] += 1
        change.bytes[kind] -= slot.cost
        change.entries[kind] -= 1
        change.evictions[kind] += 1
    }

    private mutating func remember(_ hash: Int, cost: Int) {
        ghost.pushBack((hash, cost))
        ghostCounts[hash, default: 0] += 1
        ghostBytes += cost
        let limit = capacity - smallCapacity
        while ghostBytes > limit, let oldest = ghost.popFront() {
            ghostBytes -= oldest.cost
            if let count = ghostCounts[oldest.hash], count > 1 {
                ghostCounts[oldest.hash] = count - 1
            } else {
                ghostCounts[oldest.hash] = nil
            }
        }
    }
}
