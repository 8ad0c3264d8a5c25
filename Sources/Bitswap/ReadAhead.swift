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

    /// `cid` was read: the list it came from wants its next link.
    func advanceReadAhead(after cid: CID) {
        let now = ContinuousClock.now
        let next = state.withLock { state in
            let next = state.readAhead.advance(after: cid.multihash)
            if let next { state.readAhead.wanted(next, now: now) }
            return next
        }
        if let next { want([next], for: Self.readAheadID) }
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

    mutating func wanted(_ cid: CID, now: ContinuousClock.Instant) {
        let key = cid.multihash
        if pending[key] == nil { pending[key] = (cid, now) }
    }

    mutating func delivered(_ key: Multihash) { pending[key] = nil }

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

    /// The next link of the list `key` belongs to, if any.
    mutating func advance(after key: Multihash) -> CID? {
        guard let id = parent.removeValue(forKey: key), var list = lists[id] else { return nil }
        guard list.next < list.links.count else {
            dropList(id)
            return nil
        }
        let next = list.links[list.next]
        list.next += 1
        lists[id] = list
        parent[next.multihash] = id
        if list.next == list.links.count { dropList(id) }
        return next
    }

    private mutating func dropList(_ id: UInt64) {
        lists[id] = nil
        listOrder.removeAll { $0 == id }
    }
}
