// Bitswap's client side: fetching blocks and DAGs through mailboxes and
// the WantManager. Format: formats/bitswap.md, section 4.

import Blocks
import Logging
import Multiformats
import NIOCore
import P2P
import Synchronization
import UnixFS

extension Bitswap {
    // MARK: Fetching

    /// One block from the network, verified (named by hashing its bytes).
    /// Identity CIDs are answered from the CID.
    /// - Throws: `.timeout` when nothing arrives within `timeout` (default:
    ///   the stall timeout), `.stopped`, `CancellationError`.
    public func get(_ cid: CID, timeout: Duration? = nil) async throws -> Block {
        if cid.isIdentity { return Block(cid: cid, bytes: Array(cid.digest)) }
        if let bytes = takeReadAhead(cid) { return Block(cid: cid, bytes: bytes) }
        let box = try openMailbox()
        defer { closeMailbox(box, wanted: [cid]) }
        want([cid], for: box)
        let deadline = ContinuousClock.now + (timeout ?? configuration.stallTimeout)
        guard let block = await box.next(deadline: deadline) else { throw endOfWait(cid) }
        return block
    }

    /// Fetches every block reachable from `root` (links of dag-pb and
    /// dag-cbor blocks, walked as blocks arrive) with up to `window` wants in
    /// flight (nil: the adaptive window, rule C12, up to
    /// `configuration.window`), storing each verified block in `store`. Blocks `store` has
    /// already are read locally for their links, not fetched.
    /// - Throws: `.timeout` when nothing arrives for the stall timeout,
    ///   `.undecodableBlock` for a block whose links cannot be read, store errors.
    public func fetchDAG(root: CID, into store: any BlockStore, window: Int? = nil) async throws -> FetchResult {
        try await fetch([root], walk: true, into: store, window: window)
    }

    /// Fetches `cids` (no link walking) with up to `window` wants in flight
    /// (nil: adaptive) into `store`, skipping those it has.
    public func prefetch(_ cids: [CID], into store: any BlockStore, window: Int? = nil) async throws -> FetchResult {
        try await fetch(cids, walk: false, into: store, window: window)
    }

    func fetch(_ roots: [CID], walk: Bool, into store: any BlockStore, window fixedWindow: Int?) async throws -> FetchResult {
        let clock = ContinuousClock()
        let started = clock.now
        var result = FetchResult()
        var pending = roots.reversed() as [CID]
        var seen = Set<Multihash>()
        var inFlight: [Multihash: (cid: CID, since: ContinuousClock.Instant)] = [:]
        var window = WantWindow(configuration: .init(minimum: min(32, configuration.window), maximum: configuration.window,
                                                     initial: min(32, configuration.window)))
        var toStore: [Block] = []
        var toStoreBytes = 0
        let box = try openMailbox()
        defer { closeMailbox(box, wanted: inFlight.values.map(\.cid)) }

        func children(of cid: CID, _ bytes: [UInt8]) throws -> [CID] {
            guard walk else { return [] }
            do {
                return try DAGLinks.links(of: cid, block: bytes) ?? []
            } catch {
                throw BitswapError(.undecodableBlock, "\(cid): \(error)")
            }
        }

        while true {
            var batch: [CID] = []
            let limit = max(1, fixedWindow ?? window.size)
            while inFlight.count + batch.count < limit, let cid = pending.popLast() {
                let key = cid.multihash
                guard seen.insert(key).inserted else { continue }
                if cid.isIdentity {
                    pending.append(contentsOf: try children(of: cid, Array(cid.digest)).reversed())
                    continue
                }
                if let local = try await store.get(cid) {
                    result.localBlocks += 1
                    pending.append(contentsOf: try children(of: cid, local).reversed())
                    continue
                }
                if let bytes = takeReadAhead(cid) {
                    let block = Block(cid: cid, bytes: bytes)
                    result.fetchedBlocks += 1
                    result.fetchedBytes += bytes.count
                    toStore.append(block)
                    toStoreBytes += bytes.count
                    pending.append(contentsOf: try children(of: cid, bytes).reversed())
                    continue
                }
                batch.append(cid)
            }
            if !batch.isEmpty {
                let now = clock.now
                for cid in batch { inFlight[cid.multihash] = (cid, now) }
                want(batch, for: box)
            }
            if toStore.count >= 32 || toStoreBytes >= 8 << 20 || (inFlight.isEmpty && !toStore.isEmpty) {
                try await store.put(toStore)
                toStore = []
                toStoreBytes = 0
            }
            if inFlight.isEmpty && pending.isEmpty { break }
            if inFlight.isEmpty { continue }
            guard let block = await box.next(deadline: clock.now + configuration.stallTimeout) else {
                if !toStore.isEmpty { try? await store.put(toStore) }
                throw endOfWait(inFlight.values.first!.cid)
            }
            guard let wanted = inFlight.removeValue(forKey: block.cid.multihash) else { continue }
            let now = clock.now
            window.delivered(bytes: block.bytes.count, latency: now - wanted.since, now: now)
            result.fetchedBlocks += 1
            result.fetchedBytes += block.bytes.count
            toStore.append(block)
            toStoreBytes += block.bytes.count
            // Children first (depth-first, in link order): a file's leaves arrive in file order.
            pending.append(contentsOf: try children(of: block.cid, block.bytes).reversed())
        }
        result.elapsed = clock.now - started
        result.window = fixedWindow ?? window.size
        return result
    }

    func endOfWait(_ cid: CID) -> Error {
        if Task.isCancelled { return CancellationError() }
        if state.withLock({ $0.stopped }) { return BitswapError(.stopped, "Bitswap stopped") }
        return BitswapError(.timeout, "no block for \(cid) within the stall timeout")
    }

    func openMailbox() throws(BitswapError) -> Mailbox {
        try state.withLock { state throws(BitswapError) -> Mailbox in
            guard !state.stopped else { throw BitswapError(.stopped, "Bitswap stopped") }
            let box = Mailbox(id: state.nextID)
            state.nextID += 1
            state.mailboxes[box.id] = box
            return box
        }
    }

    func closeMailbox(_ box: Mailbox, wanted: [CID]) {
        box.close()
        let actions = state.withLock { state -> WantManager<PeerID>.Actions in
            state.mailboxes[box.id] = nil
            return Self.unwant(wanted, id: box.id, in: &state)
        }
        perform(actions)
    }

    /// Registers `id` as waiting for `cids` and wants those nobody wanted yet.
    /// A block that arrived for read-ahead meanwhile is handed over from the
    /// buffer instead of being wanted again.
    func want(_ cids: [CID], for id: UInt64) {
        let now = ContinuousClock.now
        let (actions, ready) = state.withLock { state -> (WantManager<PeerID>.Actions, [(Mailbox, Block)]) in
            var fresh: [CID] = []
            var ready: [(Mailbox, Block)] = []
            for cid in cids {
                let key = cid.multihash
                if id != Self.readAheadID, let box = state.mailboxes[id], let bytes = state.readAhead.take(key) {
                    ready.append((box, Block(cid: cid, bytes: bytes)))
                    continue
                }
                if id == Self.readAheadID && state.readAhead.contains(key) { continue }
                if state.waiting[key] == nil { fresh.append(cid) }
                state.waiting[key, default: []].insert(id)
            }
            return (state.wants.want(fresh, now: now), ready)
        }
        for (box, block) in ready { box.put(block) }
        perform(actions)
    }

    func want(_ cids: [CID], for box: Mailbox) { want(cids, for: box.id) }

    static func unwant(_ cids: [CID], id: UInt64, in state: inout State) -> WantManager<PeerID>.Actions {
        var ended: [CID] = []
        for cid in cids {
            let key = cid.multihash
            guard var ids = state.waiting[key] else { continue }
            ids.remove(id)
            if ids.isEmpty {
                state.waiting[key] = nil
                ended.append(cid)
            } else {
                state.waiting[key] = ids
            }
        }
        return state.wants.cancel(ended, now: .now)
    }
}
