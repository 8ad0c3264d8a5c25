// The server side of Bitswap as a pure state machine: per-peer ledgers
// (wantlists and task queues), round-robin scheduling across peers, a cap on
// outstanding bytes per peer. No I/O: the caller looks blocks up, feeds the
// answers in, takes batches out, and reports when they were written.
// Format: formats/bitswap.md, section 5 (server rules S1-S10).

import Multiformats

/// What the server answers for one want.
public enum ServerTask: Hashable, Sendable {
    /// Send the block (`size` bytes when it was looked up). With
    /// `sendDontHave`, a block gone by the time it is read is answered DONT_HAVE.
    case block(CID, size: Int, sendDontHave: Bool)
    /// Send HAVE.
    case have(CID)
    /// Send DONT_HAVE.
    case dontHave(CID)

    public var cid: CID {
        switch self {
        case .block(let cid, _, _), .have(let cid), .dontHave(let cid): cid
        }
    }

    /// Bytes the task puts on the wire, counted against the peer's cap.
    public var cost: Int {
        switch self {
        case .block(let cid, let size, _): size + cid.bytes.count + 8
        case .have(let cid), .dontHave(let cid): cid.bytes.count + 4
        }
    }
}

/// Per-peer ledgers and task queues. Not thread-safe: keep it behind a lock.
public struct ServerEngine<Peer: Hashable & Sendable>: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Wants kept per peer (queued and waiting together); more is a protocol
        /// violation: the peer's ledger is dropped and its stream closed. 4096.
        public var maxWantlistEntries = 4096
        /// Bytes handed to a peer's stream and not yet written; a peer at the
        /// cap gets no new batch until writes complete. 8 MiB.
        public var maxOutstandingBytes = 8 * 1024 * 1024
        /// Bytes of blocks in one batch (one message): 1 MiB. A single larger
        /// block still goes alone.
        public var maxBatchBytes = 1024 * 1024
        /// Tasks in one batch (bounds a message of presences): 1024.
        public var maxBatchTasks = 1024
        /// A want-have for a block at most this large is answered with the block: 1024.
        public var smallBlockThreshold = 1024

        public init(maxWantlistEntries: Int = 4096, maxOutstandingBytes: Int = 8 * 1024 * 1024,
                    maxBatchBytes: Int = 1024 * 1024, maxBatchTasks: Int = 1024, smallBlockThreshold: Int = 1024) {
            self.maxWantlistEntries = maxWantlistEntries
            self.maxOutstandingBytes = maxOutstandingBytes
            self.maxBatchBytes = maxBatchBytes
            self.maxBatchTasks = maxBatchTasks
            self.smallBlockThreshold = smallBlockThreshold
        }
    }

    /// Tasks for one peer, to go out as one message.
    public struct Batch: Hashable, Sendable {
        public let peer: Peer
        public let tasks: [ServerTask]
        /// The sum of the tasks' costs, already counted as outstanding.
        public let cost: Int
        /// Block bytes still queued for the peer after this batch (the message's pendingBytes).
        public let pendingBytes: Int
    }

    struct Want {
        var priority: Int32
        var wantType: BitswapMessage.WantType
        var sendDontHave: Bool
        /// Queued with this task, or waiting for the block (no task).
        var task: ServerTask?
        var sequence: UInt64
        /// Answered DONT_HAVE and kept waiting (rule S4): the first to go when the wantlist is full.
        var answeredDontHave = false
    }

    struct QueueKey: Comparable {
        var priority: Int32
        var sequence: UInt64
        var cid: CID
        /// Higher priority first, then first come first served.
        static func < (a: QueueKey, b: QueueKey) -> Bool {
            a.priority != b.priority ? a.priority > b.priority : a.sequence < b.sequence
        }
        static func == (a: QueueKey, b: QueueKey) -> Bool { a.sequence == b.sequence && a.cid == b.cid }
    }

    struct Ledger {
        var wants: [CID: Want] = [:]
        /// Keys of wants with a task, in serving order.
        var queue: [QueueKey] = []
        var outstanding = 0
        var queuedBlockBytes = 0

        /// Makes room for a new want by forgetting the oldest want kept after a
        /// DONT_HAVE (the peer was told; it only loses the push on add).
        /// False when there is none: the wantlist is full of live wants.
        mutating func evictOldestAnsweredDontHave() -> Bool {
            var oldest: (cid: CID, sequence: UInt64)?
            for (cid, want) in wants where want.answeredDontHave && want.task == nil {
                if oldest == nil || want.sequence < oldest!.sequence { oldest = (cid, want.sequence) }
            }
            guard let oldest else { return false }
            wants[oldest.cid] = nil
            return true
        }

        mutating func unqueue(_ cid: CID) {
            guard let want = wants[cid], let task = want.task else { return }
            if let index = queue.firstIndex(where: { $0.sequence == want.sequence && $0.cid == cid }) {
                queue.remove(at: index)
            }
            if case .block(_, let size, _) = task { queuedBlockBytes -= size }
            wants[cid]?.task = nil
        }

        mutating func enqueue(_ cid: CID, _ task: ServerTask) {
            guard var want = wants[cid] else { return }
            want.task = task
            wants[cid] = want
            let key = QueueKey(priority: want.priority, sequence: want.sequence, cid: cid)
            var low = 0, high = queue.count
            while low < high {
                let mid = (low + high) / 2
                if queue[mid] < key { low = mid + 1 } else { high = mid }
            }
            queue.insert(key, at: low)
            if case .block(_, let size, _) = task { queuedBlockBytes += size }
        }
    }

    public let configuration: Configuration
    private var ledgers: [Peer: Ledger] = [:]
    /// Peers with queued tasks, in round-robin order (the next to serve first).
    private var rotation: [Peer] = []
    private var sequence: UInt64 = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Applies a received wantlist. `sizes` holds the local block size for
    /// each wanted CID the server has (absent or nil: not here).
    /// - Throws: `.limitExceeded` when the peer's wantlist would pass
    ///   `maxWantlistEntries`; the peer's ledger is then dropped.
    public mutating func receive(_ entries: [BitswapMessage.Entry], full: Bool = false, from peer: Peer,
                                 sizes: [CID: Int]) throws(BitswapError) {
        var ledger = ledgers[peer] ?? Ledger()
        if full {
            let keep = Set(entries.lazy.filter { !$0.cancel }.map(\.cid))
            for cid in ledger.wants.keys where !keep.contains(cid) {
                ledger.unqueue(cid)
                ledger.wants[cid] = nil
            }
        }
        for entry in entries {
            let cid = entry.cid
            if entry.cancel {
                ledger.unqueue(cid)
                ledger.wants[cid] = nil
                continue
            }
            // A want-have does not downgrade a pending want-block.
            if let existing = ledger.wants[cid], existing.wantType == .block, entry.wantType == .have { continue }
            ledger.unqueue(cid)
            if ledger.wants[cid] == nil && ledger.wants.count >= configuration.maxWantlistEntries,
               !ledger.evictOldestAnsweredDontHave() {
                dropPeer(peer)
                throw BitswapError(.limitExceeded,
                                   "wantlist of more than \(configuration.maxWantlistEntries) entries")
            }
            sequence += 1
            ledger.wants[cid] = Want(priority: entry.priority, wantType: entry.wantType,
                                     sendDontHave: entry.sendDontHave, task: nil, sequence: sequence)
            if let task = Self.task(for: entry, size: sizes[cid], smallBlock: configuration.smallBlockThreshold) {
                ledger.enqueue(cid, task)
            }
        }
        store(ledger, for: peer)
    }

    private static func task(for entry: BitswapMessage.Entry, size: Int?, smallBlock: Int) -> ServerTask? {
        guard let size else { return entry.sendDontHave ? .dontHave(entry.cid) : nil }
        switch entry.wantType {
        case .block: return .block(entry.cid, size: size, sendDontHave: entry.sendDontHave)
        case .have: return size <= smallBlock ? .block(entry.cid, size: size, sendDontHave: true) : .have(entry.cid)
        }
    }

    /// A block became available locally: peers waiting for it (wants that
    /// found nothing: without sendDontHave, or answered DONT_HAVE) get a task. Returns how many peers did.
    @discardableResult
    public mutating func blockAdded(_ cid: CID, size: Int) -> Int {
        var answered = 0
        for peer in Array(ledgers.keys) {
            guard var ledger = ledgers[peer], let want = ledger.wants[cid], want.task == nil else { continue }
            let entry = BitswapMessage.Entry(cid: cid, priority: want.priority, wantType: want.wantType,
                                             sendDontHave: want.sendDontHave)
            if let task = Self.task(for: entry, size: size, smallBlock: configuration.smallBlockThreshold) {
                ledger.enqueue(cid, task)
                answered += 1
            }
            store(ledger, for: peer)
        }
        return answered
    }

    /// The next batch, from the next peer in round-robin order that has
    /// queued tasks and is under its outstanding-bytes cap; nil when none.
    /// Its tasks leave the wantlist; its cost counts as outstanding until `written`.
    public mutating func nextBatch() -> Batch? {
        for peer in rotation {
            guard var ledger = ledgers[peer], ledger.outstanding < configuration.maxOutstandingBytes else { continue }
            var tasks: [ServerTask] = []
            var blockBytes = 0
            var cost = 0
            while let key = ledger.queue.first, tasks.count < configuration.maxBatchTasks {
                guard let task = ledger.wants[key.cid]?.task else {
                    ledger.queue.removeFirst()
                    continue
                }
                if case .block(_, let size, _) = task {
                    if blockBytes > 0 && blockBytes + size > configuration.maxBatchBytes { break }
                    blockBytes += size
                    ledger.queuedBlockBytes -= size
                }
                ledger.queue.removeFirst()
                if case .dontHave = task {
                    // The want stays, waiting: the peer may still want the
                    // block when it is added here (rule S4; go-bitswap keeps
                    // it too). Blocks and HAVEs end the want.
                    ledger.wants[key.cid]?.task = nil
                    ledger.wants[key.cid]?.answeredDontHave = true
                } else {
                    ledger.wants[key.cid] = nil
                }
                tasks.append(task)
                cost += task.cost
                if blockBytes >= configuration.maxBatchBytes { break }
            }
            ledger.outstanding += cost
            rotation.removeAll { $0 == peer }
            if !ledger.queue.isEmpty { rotation.append(peer) }
            ledgers[peer] = ledger
            if tasks.isEmpty { continue }
            return Batch(peer: peer, tasks: tasks, cost: cost, pendingBytes: ledger.queuedBlockBytes)
        }
        return nil
    }

    /// A batch's bytes were written (or dropped): they no longer count as outstanding.
    public mutating func written(_ cost: Int, to peer: Peer) {
        guard var ledger = ledgers[peer] else { return }
        ledger.outstanding = max(0, ledger.outstanding - cost)
        store(ledger, for: peer)
    }

    /// Forgets a peer (disconnected, or broke a rule).
    public mutating func dropPeer(_ peer: Peer) {
        ledgers[peer] = nil
        rotation.removeAll { $0 == peer }
    }

    private mutating func store(_ ledger: Ledger, for peer: Peer) {
        if ledger.wants.isEmpty && ledger.outstanding == 0 {
            ledgers[peer] = nil
        } else {
            ledgers[peer] = ledger
        }
        let queued = !ledger.queue.isEmpty
        let listed = rotation.contains(peer)
        if queued && !listed { rotation.append(peer) }
        if !queued && listed { rotation.removeAll { $0 == peer } }
    }

    // MARK: Inspection

    /// Wants held for `peer` (queued and waiting).
    public func wantCount(_ peer: Peer) -> Int { ledgers[peer]?.wants.count ?? 0 }
    /// Tasks queued for `peer`.
    public func queuedCount(_ peer: Peer) -> Int { ledgers[peer]?.queue.count ?? 0 }
    /// Bytes handed out for `peer` and not yet written.
    public func outstandingBytes(_ peer: Peer) -> Int { ledgers[peer]?.outstanding ?? 0 }
    /// Peers with a ledger.
    public var peers: [Peer] { Array(ledgers.keys) }
    /// Whether any peer has queued tasks.
    public var hasWork: Bool { !rotation.isEmpty }
}
