// The DAG read-ahead: blocks fetched ahead of a reader, in a bounded buffer.

import Blocks
import Logging
import Multiformats
import NIOCore
import P2P
import Synchronization
import UnixFS

extension Bitswap {
    // MARK: Read-ahead

    /// A read-ahead block for `cid`, taken out of the buffer.
    func takeReadAhead(_ cid: CID) -> [UInt8]? {
        state.withLock { $0.readAhead.take(cid.multihash) }
    }

    /// Whether a read-ahead block for `cid` is buffered.
    func hasReadAhead(_ cid: CID) -> Bool {
        state.withLock { $0.readAhead.contains(cid.multihash) }
    }

    /// Starts fetching `links` ahead of readers, `count` at a time: each
    /// link read through `advanceReadAhead(after:)` wants the next one.
    func startReadAhead(_ links: [CID], count: Int) {
        guard count > 0, !links.isEmpty else { return }
        let now = ContinuousClock.now
        let first = state.withLock { state in
            let first = state.readAhead.addList(links, count: count)
            for cid in first { state.readAhead.wanted(cid, now: now) }
            return first
        }
        want(first, for: Self.readAheadID)
    }

    /// `cid` was read: the list it came from wants its next link, or a few
    /// while the adaptive window (rule C12) wants more ahead than there are.
    func advanceReadAhead(after cid: CID) {
        let now = ContinuousClock.now
        let next = state.withLock { state in
            let next = state.readAhead.advance(after: cid.multihash)
            for link in next { state.readAhead.wanted(link, now: now) }
            return next
        }
        if !next.isEmpty { want(next, for: Self.readAheadID) }
    }
}

/// Blocks fetched ahead of readers, and the link lists being read.
struct ReadAheadState {
    static let maxLists = 64

    private var buffer: [Multihash: [UInt8]] = [:]
    private var order: [Multihash] = []
    private var bytes = 0
    private var lists: [UInt64: (links: [CID], next: Int)] = [:]
    private var listOrder: [UInt64] = []
    private var parent: [Multihash: UInt64] = [:]
    private var nextList: UInt64 = 1
    /// Read-ahead wants not delivered yet, and since when.
    private var pending: [Multihash: (cid: CID, since: ContinuousClock.Instant)] = [:]
    /// How far ahead of the readers to fetch: grows past a list's first
    /// `count` links when the link's bandwidth-delay product asks for it, up
    /// to 256 blocks (64 MiB of 256 KiB leaves, the buffer's default budget).
    private(set) var window = WantWindow(configuration: .init(minimum: 32, maximum: 256, initial: 32))

    mutating func wanted(_ cid: CID, now: ContinuousClock.Instant) {
        let key = cid.multihash
        if pending[key] == nil { pending[key] = (cid, now) }
    }

    mutating func delivered(_ key: Multihash, bytes: Int, now: ContinuousClock.Instant) {
        guard let want = pending.removeValue(forKey: key) else { return }
        window.delivered(bytes: bytes, latency: now - want.since, now: now)
    }

    /// Read-ahead wants older than `deadline`, forgotten.
    mutating func expire(olderThan deadline: ContinuousClock.Instant) -> [CID] {
        guard pending.values.contains(where: { $0.since < deadline }) else { return [] }
        let stale = pending.filter { $0.value.since < deadline }
        for key in stale.keys { pending[key] = nil }
        return stale.values.map(\.cid)
    }

    /// Read-ahead wants in flight.
    var pendingCount: Int { pending.count }

    mutating func store(_ block: Block, budget: Int) {
        let key = block.cid.multihash
        guard buffer[key] == nil, block.bytes.count <= budget else { return }
        buffer[key] = block.bytes
        order.append(key)
        bytes += block.bytes.count
        while bytes > budget, !order.isEmpty {
            let oldest = order.removeFirst()
            if let dropped = buffer.removeValue(forKey: oldest) { bytes -= dropped.count }
        }
    }

    func contains(_ key: Multihash) -> Bool { buffer[key] != nil }

    mutating func take(_ key: Multihash) -> [UInt8]? {
        guard let value = buffer.removeValue(forKey: key) else { return nil }
        bytes -= value.count
        if let index = order.firstIndex(of: key) { order.remove(at: index) }
        return value
    }

    /// Registers a list and returns the links to want first.
    mutating func addList(_ links: [CID], count: Int) -> [CID] {
        let id = nextList
        nextList += 1
        let first = Array(links.prefix(count))
        lists[id] = (links, first.count)
        listOrder.append(id)
        for cid in first { parent[cid.multihash] = id }
        if listOrder.count > Self.maxLists { dropList(listOrder[0]) }
        if parent.count > Self.maxLists * 1024 { parent = parent.filter { lists[$0.value] != nil } }
        if first.count == links.count { dropList(id) }
        return first
    }

    /// The next links of the list `key` belongs to: one (the reader moved on
    /// by one), up to four while fewer than `window.size` blocks are ahead
    /// (wanted or buffered). Never none while links remain: each wanted
    /// link carries the list on when it is read.
    mutating func advance(after key: Multihash) -> [CID] {
        guard let id = parent.removeValue(forKey: key), var list = lists[id] else { return [] }
        guard list.next < list.links.count else {
            dropList(id)
            return []
        }
        let ahead = pending.count + order.count
        let count = min(max(1, window.size - ahead), 4, list.links.count - list.next)
        let next = Array(list.links[list.next..<list.next + count])
        list.next += count
        lists[id] = list
        for link in next { parent[link.multihash] = id }
        if list.next == list.links.count { dropList(id) }
        return next
    }

    private mutating func dropList(_ id: UInt64) {
        lists[id] = nil
        listOrder.removeAll { $0 == id }
    }
}
