// The caches a GossipSub router keeps about messages: recent messages for
// gossip and IWANT replies, and the IDs seen lately for deduplication.
// Format: formats/pubsub.md, section 4. Pure: time is passed in.

/// Recent messages in `historyLength` windows, one window per heartbeat.
///
/// - `put` adds to the newest window; `shift` (each heartbeat) drops the
///   oldest window and its messages.
/// - `gossipIDs(topic:)` lists the IDs of the newest `historyGossip`
///   windows: what IHAVE announces.
/// - `message(for:to:)` answers an IWANT, at most `maxTransmissions` times
///   per message and peer (go-libp2p-pubsub's GossipRetransmission), so a
///   peer cannot make us resend one message without bound.
public struct MessageCache<Peer: Hashable & Sendable>: Sendable {
    public let historyLength: Int
    public let historyGossip: Int
    public let maxTransmissions: Int

    private struct Entry: Sendable {
        var message: PubSubMessage
        var transmissions: [Peer: Int] = [:]
    }
    private var entries: [[UInt8]: Entry] = [:]
    /// Newest window first; each holds (id, topic) in arrival order.
    private var windows: [[(id: [UInt8], topic: String)]]

    /// Defaults as the GossipSub spec's: 5 windows kept, the newest 3 gossiped, 3 sends per IWANT.
    public init(historyLength: Int = 5, historyGossip: Int = 3, maxTransmissions: Int = 3) {
        self.historyLength = max(1, historyLength)
        self.historyGossip = min(max(1, historyGossip), max(1, historyLength))
        self.maxTransmissions = max(1, maxTransmissions)
        windows = Array(repeating: [], count: self.historyLength)
    }

    public var count: Int { entries.count }

    /// Adds a message under `id` (no effect when the ID is cached already).
    public mutating func put(_ message: PubSubMessage, id: [UInt8]) {
        guard entries[id] == nil else { return }
        entries[id] = Entry(message: message)
        windows[0].append((id, message.topic))
    }

    public func contains(_ id: [UInt8]) -> Bool { entries[id] != nil }

    /// The message for an IWANT from `peer`, nil when unknown or sent to
    /// that peer `maxTransmissions` times already.
    public mutating func message(for id: [UInt8], to peer: Peer) -> PubSubMessage? {
        guard var entry = entries[id] else { return nil }
        let sent = entry.transmissions[peer, default: 0]
        guard sent < maxTransmissions else { return nil }
        entry.transmissions[peer] = sent + 1
        entries[id] = entry
        return entry.message
    }

    /// IDs of `topic`'s messages in the newest `historyGossip` windows, newest window first.
    public func gossipIDs(topic: String) -> [[UInt8]] {
        var ids: [[UInt8]] = []
        for window in windows.prefix(historyGossip) {
            for item in window where item.topic == topic { ids.append(item.id) }
        }
        return ids
    }

    /// The heartbeat's shift: the oldest window's messages leave the cache.
    public mutating func shift() {
        if let oldest = windows.popLast() {
            for item in oldest { entries[item.id] = nil }
        }
        windows.insert([], at: 0)
    }
}

/// IDs seen within the last `ttl` (go-libp2p-pubsub's seen-messages cache,
/// 2 minutes by default): a message whose ID is here is a duplicate.
public struct SeenCache: Sendable {
    public let ttl: Duration
    private var expiries: [[UInt8]: ContinuousClock.Instant] = [:]
    /// Insertions in expiry order; `head` is the first not yet expired.
    private var order: [(id: [UInt8], expiry: ContinuousClock.Instant)] = []
    private var head = 0

    public init(ttl: Duration = .seconds(120)) { self.ttl = ttl }

    public var count: Int { expiries.count }

    /// Records `id` as seen at `now`; returns false when it was seen within the TTL.
    public mutating func insert(_ id: [UInt8], now: ContinuousClock.Instant) -> Bool {
        expire(now: now)
        guard expiries[id] == nil else { return false }
        let expiry = now + ttl
        expiries[id] = expiry
        order.append((id, expiry))
        return true
    }

    public mutating func contains(_ id: [UInt8], now: ContinuousClock.Instant) -> Bool {
        expire(now: now)
        return expiries[id] != nil
    }

    /// Forgets IDs whose TTL ended (oldest first; entries are in expiry order).
    public mutating func expire(now: ContinuousClock.Instant) {
        while head < order.count, order[head].expiry <= now {
            let first = order[head]
            head += 1
            if expiries[first.id] == first.expiry { expiries[first.id] = nil }
        }
        // Compacted once the expired prefix is half the array: amortised O(1).
        if head > 64, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
