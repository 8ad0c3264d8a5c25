// Bitswap 1.0.0/1.1.0/1.2.0 over libp2p streams: a thin I/O layer over the
// pure state machines (ServerEngine, WantManager). Format: formats/bitswap.md.

import Blocks
import Logging
import Metrics
import Multiformats
import NIOCore
import P2P
import Synchronization
import UnixFS

/// A Bitswap node on a `P2PHost`: serves blocks from a local `BlockSource`
/// and fetches blocks from connected peers.
///
/// ```swift
/// let bitswap = Bitswap(host: host, blocks: repo)   // serves what `repo` has
/// bitswap.start()                                    // registers the protocols
/// try await host.connect(address)
/// let result = try await bitswap.fetchDAG(root: cid, into: repo)   // a whole file, 256 wants in flight
/// let service = BlockService(cache: cache, local: repo,
///                            network: BitswapNetworkSource(bitswap: bitswap, local: repo))
/// ```
///
/// Server: every peer's wantlist is answered from `blocks` only (the server
/// never fetches from the network), peers are served round-robin, each with
/// a cap on bytes handed to its stream and not yet written. Client: want-have
/// to every connected Bitswap peer, want-block to one peer at a time, moving
/// on after DONT_HAVE or a stalled peer, rebroadcasting wants nobody is asked
/// for, cancelling once a block arrives. Every received block is named by
/// hashing its bytes; one that no want asked that peer for gets the peer
/// disconnected and is dropped.
public final class Bitswap: Sendable {
    /// Limits and timings; every field has a documented default (formats/bitswap.md, section 6).
    public struct Configuration: Sendable {
        /// Message, block and per-message count limits for decoding.
        public var limits = BitswapMessage.Limits()
        /// Wantlist cap, outstanding-bytes cap, batch sizes.
        public var server = ServerEngine<PeerID>.Configuration()
        /// Want-block timeout and rebroadcast interval.
        public var client = WantManager<PeerID>.Configuration()
        /// Protocols offered and tried, newest first.
        public var protocols: [BitswapProtocol] = BitswapProtocol.allCases
        /// How often timeouts, rebroadcasts and the peer list are checked: 100 ms.
        public var tick: Duration = .milliseconds(100)
        /// Wants in flight for one DAG fetch or prefetch: 256.
        public var window = 256
        /// A fetch (or `get`) that receives nothing for this long fails with `.timeout`: 30 s.
        public var stallTimeout: Duration = .seconds(30)
        /// Wantlist entries per outgoing message: 1024.
        public var maxEntriesPerMessage = 1024
        /// Bytes of read-ahead blocks (`BitswapNetworkSource`) kept until read: 64 MiB.
        public var readAheadBytes = 64 * 1024 * 1024
        /// Bitswap streams a peer may have open to this node at once; more are
        /// reset (each may hold a message of up to 4 MiB being read): 8.
        public var maxInboundStreamsPerPeer = 8

        public init() {}
    }

    /// Counters since start.
    public struct Statistics: Hashable, Sendable {
        public var blocksReceived = 0
        public var bytesReceived = 0
        public var duplicateBlocks = 0
        public var blocksSent = 0
        public var bytesSent = 0
        public var messagesSent = 0
        public var messagesReceived = 0
        public var misbehavingPeers = 0
    }

    /// What a DAG fetch or prefetch did.
    public struct FetchResult: Hashable, Sendable {
        /// Blocks fetched over the network (and stored).
        public var fetchedBlocks = 0
        public var fetchedBytes = 0
        /// Blocks found in the store already.
        public var localBlocks = 0
        public var elapsed: Duration = .zero
    }

    struct State {
        var server: ServerEngine<PeerID>
        var wants: WantManager<PeerID>
        var mailboxes: [UInt64: Mailbox] = [:]
        /// Mailboxes waiting for each wanted multihash (`readAheadID` for read-ahead).
        var waiting: [Multihash: Set<UInt64>] = [:]
        var senders: [PeerID: PeerSender] = [:]
        /// Peers that opened a Bitswap stream to us (candidates even before identify
        /// says so), with the number of such streams open now.
        var inboundPeers: Set<PeerID> = []
        var inboundStreams: [PeerID: Int] = [:]
        /// Inbound streams being served, reset by `stop()`.
        var serving: [ObjectIdentifier: P2PStream] = [:]
        var nextID: UInt64 = 1
        var running = false
        var stopped = false
        var tasks: [Task<Void, Never>] = []
        var readAhead = ReadAheadState()
        var statistics = Statistics()
    }

    static let readAheadID: UInt64 = 0

    public let host: P2PHost
    /// Where the server reads blocks from.
    public let blocks: any BlockSource
    public let configuration: Configuration
    let logger: Logger
    let metrics: BitswapMetrics
    let state: Mutex<State>
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    /// - Parameters:
    ///   - host: the libp2p host whose streams carry Bitswap.
    ///   - blocks: what the server may send (local blocks only).
    ///   - configuration: limits and timings.
    ///   - metricsFactory: where the counters go (`BitswapMetrics.swift`; default: the global factory).
    public init(host: P2PHost, blocks: any BlockSource, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "tau.bitswap"), metricsFactory: (any MetricsFactory)? = nil) {
        self.host = host
        self.blocks = blocks
        self.configuration = configuration
        self.logger = logger
        metrics = BitswapMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        state = Mutex(State(server: ServerEngine(configuration: configuration.server),
                            wants: WantManager(configuration: configuration.client)))
        (wakeStream, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Registers the Bitswap protocols on the host and starts the scheduler and the timer.
    public func start() {
        let first = state.withLock { state -> Bool in
            guard !state.running, !state.stopped else { return false }
            state.running = true
            return true
        }
        guard first else { return }
        for version in configuration.protocols {
            host.handle(version.rawValue) { [self] stream in
                enum Admission { case admitted, tooMany, stopped }
                let peer = stream.remotePeer
                let admission = state.withLock { state -> Admission in
                    guard !state.stopped else { return .stopped }
                    state.inboundPeers.insert(peer)
                    let open = state.inboundStreams[peer, default: 0]
                    guard open < configuration.maxInboundStreamsPerPeer else { return .tooMany }
                    state.inboundStreams[peer] = open + 1
                    state.serving[ObjectIdentifier(stream)] = stream
                    return .admitted
                }
                switch admission {
                case .admitted: break
                case .stopped: throw BitswapError(.stopped, "Bitswap stopped")
                case .tooMany:
                    metrics.refusedStreams.increment()
                    throw BitswapError(.limitExceeded, "more than \(configuration.maxInboundStreamsPerPeer) streams from \(peer)")
                }
                defer {
                    state.withLock { state in
                        let open = state.inboundStreams[peer, default: 1] - 1
                        state.inboundStreams[peer] = open > 0 ? open : nil
                        state.serving[ObjectIdentifier(stream)] = nil
                    }
                }
                try await serve(stream, version: version)
            }
        }
        let pump = Task { [self] in await runPump() }
        let timer = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.tick)
                tick()
            }
        }
        state.withLock { $0.tasks = [pump, timer] }
    }

    /// Unregisters the protocols, stops the tasks, resets this node's streams
    /// and ends every pending fetch with `.stopped`.
    public func stop() async {
        let (tasks, senders, boxes, serving) = state.withLock { state in
            state.running = false
            state.stopped = true
            defer {
                state.tasks = []
                state.senders = [:]
                state.mailboxes = [:]
                state.waiting = [:]
                state.serving = [:]
            }
            return (state.tasks, Array(state.senders.values), Array(state.mailboxes.values),
                    Array(state.serving.values))
        }
        for version in configuration.protocols { host.removeHandler(version.rawValue) }
        for task in tasks { task.cancel() }
        wakeContinuation.finish()
        for sender in senders { sender.close() }
        for box in boxes { box.close() }
        for stream in serving { stream.reset() }
        for task in tasks { await task.value }
    }

    /// Counters since start.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Peers the client currently asks for blocks.
    public var peers: [PeerID] { state.withLock { $0.wants.connectedPeers } }

    /// Wants the server holds for `peer` (queued and waiting for a block).
    public func wantlistSize(of peer: PeerID) -> Int { state.withLock { $0.server.wantCount(peer) } }

    /// Read-ahead wants in flight (`BitswapNetworkSource`).
    public var readAheadWants: Int { state.withLock { $0.readAhead.pendingCount } }

    /// Bitswap streams `peer` has open to this node now.
    public func inboundStreams(from peer: PeerID) -> Int { state.withLock { $0.inboundStreams[peer] ?? 0 } }

    /// Blocks the client wants now.
    public var wantCount: Int { state.withLock { $0.wants.wantCount } }

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
    /// flight, storing each verified block in `store`. Blocks `store` has
    /// already are read locally for their links, not fetched.
    /// - Throws: `.timeout` when nothing arrives for the stall timeout,
    ///   `.undecodableBlock` for a block whose links cannot be read, store errors.
    public func fetchDAG(root: CID, into store: any BlockStore, window: Int? = nil) async throws -> FetchResult {
        try await fetch([root], walk: true, into: store, window: window ?? configuration.window)
    }

    /// Fetches `cids` (no link walking) with up to `window` wants in flight
    /// into `store`, skipping those it has.
    public func prefetch(_ cids: [CID], into store: any BlockStore, window: Int? = nil) async throws -> FetchResult {
        try await fetch(cids, walk: false, into: store, window: window ?? configuration.window)
    }

    private func fetch(_ roots: [CID], walk: Bool, into store: any BlockStore, window: Int) async throws -> FetchResult {
        let clock = ContinuousClock()
        let started = clock.now
        var result = FetchResult()
        var pending = roots.reversed() as [CID]
        var seen = Set<Multihash>()
        var inFlight: [Multihash: CID] = [:]
        var toStore: [Block] = []
        var toStoreBytes = 0
        let box = try openMailbox()
        defer { closeMailbox(box, wanted: Array(inFlight.values)) }

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
            while inFlight.count + batch.count < max(1, window), let cid = pending.popLast() {
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
                for cid in batch { inFlight[cid.multihash] = cid }
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
                throw endOfWait(inFlight.values.first!)
            }
            guard inFlight.removeValue(forKey: block.cid.multihash) != nil else { continue }
            result.fetchedBlocks += 1
            result.fetchedBytes += block.bytes.count
            toStore.append(block)
            toStoreBytes += block.bytes.count
            // Children first (depth-first, in link order): a file's leaves arrive in file order.
            pending.append(contentsOf: try children(of: block.cid, block.bytes).reversed())
        }
        result.elapsed = clock.now - started
        return result
    }

    private func endOfWait(_ cid: CID) -> Error {
        if Task.isCancelled { return CancellationError() }
        if state.withLock({ $0.stopped }) { return BitswapError(.stopped, "Bitswap stopped") }
        return BitswapError(.timeout, "no block for \(cid) within the stall timeout")
    }

    private func openMailbox() throws(BitswapError) -> Mailbox {
        try state.withLock { state throws(BitswapError) -> Mailbox in
            guard !state.stopped else { throw BitswapError(.stopped, "Bitswap stopped") }
            let box = Mailbox(id: state.nextID)
            state.nextID += 1
            state.mailboxes[box.id] = box
            return box
        }
    }

    private func closeMailbox(_ box: Mailbox, wanted: [CID]) {
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

    private func want(_ cids: [CID], for box: Mailbox) { want(cids, for: box.id) }

    private static func unwant(_ cids: [CID], id: UInt64, in state: inout State) -> WantManager<PeerID>.Actions {
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

    // MARK: Performing state-machine actions

    func perform(_ actions: WantManager<PeerID>.Actions) {
        guard !actions.isEmpty else { return }
        let (deliveries, senders) = state.withLock { state -> ([(Mailbox, Block)], [(PeerSender, [BitswapMessage.Entry])]) in
            var deliveries: [(Mailbox, Block)] = []
            for block in actions.delivered {
                let ids = state.waiting.removeValue(forKey: block.cid.multihash) ?? []
                var regular = false
                for id in ids where id != Self.readAheadID {
                    if let box = state.mailboxes[id] {
                        deliveries.append((box, block))
                        regular = true
                    }
                }
                if ids.contains(Self.readAheadID) {
                    state.readAhead.delivered(block.cid.multihash)
                    if !regular { state.readAhead.store(block, budget: configuration.readAheadBytes) }
                }
            }
            var senders: [(PeerSender, [BitswapMessage.Entry])] = []
            guard !state.stopped else { return (deliveries, []) }
            for (peer, entries) in actions.entries {
                senders.append((Self.sender(for: peer, in: &state, owner: self), entries))
            }
            for peer in actions.misbehaving {
                state.statistics.misbehavingPeers += 1
                metrics.misbehavingPeers.increment()
                state.server.dropPeer(peer)
            }
            return (deliveries, senders)
        }
        for (box, block) in deliveries { box.put(block) }
        for (sender, entries) in senders { sender.enqueue(.entries(entries)) }
        for peer in actions.misbehaving {
            logger.warning("bitswap: \(peer) sent a block nobody asked it for (or with the wrong hash); disconnecting")
            Task { await host.disconnect(peer) }
        }
    }

    private static func sender(for peer: PeerID, in state: inout State, owner: Bitswap) -> PeerSender {
        if let existing = state.senders[peer] { return existing }
        let sender = PeerSender(peer: peer, owner: owner)
        state.senders[peer] = sender
        return sender
    }

    // MARK: Receiving

    /// Reads messages from a Bitswap stream until it ends. Throws (the host
    /// then resets the stream) on an oversized or malformed message, a
    /// wantlist over the cap, or an unwanted block.
    func serve(_ stream: P2PStream, version: BitswapProtocol) async throws {
        do {
            while let frame = try await stream.readLengthPrefixed(maxLength: configuration.limits.maxMessageSize) {
                let message = try BitswapMessage(decoding: Array(frame.readableBytesView), limits: configuration.limits)
                try await process(message, from: stream.remotePeer)
            }
        } catch {
            if error is BitswapError || (error as? P2PError).map({ $0 == .limitExceeded || $0 == .malformed }) == true {
                metrics.refusedStreams.increment()
            }
            if !(error is CancellationError) {
                logger.debug("bitswap: stream from \(stream.remotePeer) closed: \(error)")
            }
            throw error
        }
    }

    /// Reads the replies a peer writes on a stream this node opened. When
    /// the peer ends its side, the sender stops using the stream.
    func readReplies(on stream: P2PStream, version: BitswapProtocol, sender: PeerSender) {
        Task { [self] in
            do {
                try await serve(stream, version: version)
                sender.streamEnded(stream)
            } catch {
                stream.reset()
            }
        }
    }

    func process(_ message: BitswapMessage, from peer: PeerID) async throws {
        let now = ContinuousClock.now
        state.withLock { $0.statistics.messagesReceived += 1 }
        metrics.messagesIn.increment()
        if !message.blocks.isEmpty || !message.presences.isEmpty {
            let actions = state.withLock { state -> WantManager<PeerID>.Actions in
                let actions = state.wants.received(from: peer, blocks: message.blocks, presences: message.presences,
                                                   now: now)
                state.statistics.blocksReceived += actions.delivered.count
                state.statistics.bytesReceived += actions.delivered.reduce(0) { $0 + $1.bytes.count }
                state.statistics.duplicateBlocks += message.blocks.count - actions.delivered.count
                return actions
            }
            let bytes = actions.delivered.reduce(0) { $0 + $1.bytes.count }
            metrics.blocksReceived.increment(by: actions.delivered.count)
            metrics.bytesReceived.increment(by: bytes)
            metrics.duplicateBlocks.increment(by: message.blocks.count - actions.delivered.count)
            perform(actions)
            if actions.misbehaving.contains(peer) {
                throw BitswapError(.unwantedBlock, "from \(peer)")
            }
        }
        if !message.wantlist.isEmpty || message.full {
            var sizes: [CID: Int] = [:]
            for entry in message.wantlist where !entry.cancel && sizes[entry.cid] == nil {
                if let bytes = try? await blocks.get(entry.cid) { sizes[entry.cid] = bytes.count }
            }
            try state.withLock { state throws(BitswapError) in
                try state.server.receive(message.wantlist, full: message.full, from: peer, sizes: sizes)
            }
            wakeContinuation.yield()
        }
    }

    // MARK: Serving

    private func runPump() async {
        for await _ in wakeStream {
            while true {
                let next = state.withLock { state -> (ServerEngine<PeerID>.Batch, PeerSender)? in
                    guard !state.stopped, let batch = state.server.nextBatch() else { return nil }
                    return (batch, Self.sender(for: batch.peer, in: &state, owner: self))
                }
                guard let (batch, sender) = next else { break }
                sender.enqueue(.batch(batch))
            }
        }
    }

    /// The message answering a batch: blocks read now (a block gone since
    /// the lookup becomes DONT_HAVE when asked for), presences.
    func message(for batch: ServerEngine<PeerID>.Batch) async -> BitswapMessage {
        var message = BitswapMessage(pendingBytes: Int32(clamping: batch.pendingBytes))
        for task in batch.tasks {
            switch task {
            case .block(let cid, _, let sendDontHave):
                if let bytes = try? await blocks.get(cid) {
                    message.blocks.append(Block(cid: cid, bytes: bytes))
                } else if sendDontHave {
                    message.presences.append(.init(cid: cid, type: .dontHave))
                }
            case .have(let cid): message.presences.append(.init(cid: cid, type: .have))
            case .dontHave(let cid): message.presences.append(.init(cid: cid, type: .dontHave))
            }
        }
        return message
    }

    /// A batch's bytes left (or will never leave): the peer may get more.
    func written(_ cost: Int, to peer: PeerID) {
        state.withLock { $0.server.written(cost, to: peer) }
        wakeContinuation.yield()
    }

    func countSent(_ message: BitswapMessage) {
        let bytes = message.blocks.reduce(0) { $0 + $1.bytes.count }
        metrics.messagesOut.increment()
        metrics.blocksSent.increment(by: message.blocks.count)
        metrics.bytesSent.increment(by: bytes)
        state.withLock { state in
            state.statistics.messagesSent += 1
            state.statistics.blocksSent += message.blocks.count
            state.statistics.bytesSent += message.blocks.reduce(0) { $0 + $1.bytes.count }
        }
    }

    /// Tells the server that blocks were added locally: peers that wanted
    /// them (without asking for DONT_HAVE) are sent them.
    public func blocksAdded(_ added: [Block]) {
        let answered = state.withLock { state in
            added.reduce(0) { $0 + state.server.blockAdded($1.cid, size: $1.bytes.count) }
        }
        guard answered > 0 else { return }
        metrics.wantsAnsweredOnAdd.increment(by: answered)
        wakeContinuation.yield()
    }

    // MARK: Timer

    private func tick() {
        let now = ContinuousClock.now
        let connected = Set(host.peers())
        let speaking = connected.filter { peer in
            host.peerstore.info(peer)?.protocols.contains { $0.hasPrefix("/ipfs/bitswap") } == true
        }
        let (actions, boxes, gone) = state.withLock { state -> (WantManager<PeerID>.Actions, [Mailbox], [PeerSender]) in
            guard !state.stopped else { return (.init(), [], []) }
            var actions = WantManager<PeerID>.Actions()
            state.inboundPeers.formIntersection(connected)
            let known = Set(state.wants.connectedPeers)
            for peer in speaking.union(state.inboundPeers) where !known.contains(peer) {
                actions.merge(state.wants.peerConnected(peer, now: now))
            }
            var gone: [PeerSender] = []
            for peer in known where !connected.contains(peer) {
                actions.merge(state.wants.peerDisconnected(peer, now: now))
            }
            for (peer, sender) in state.senders where !connected.contains(peer) {
                state.server.dropPeer(peer)
                state.senders[peer] = nil
                gone.append(sender)
            }
            for peer in state.server.peers where !connected.contains(peer) { state.server.dropPeer(peer) }
            // Read-ahead nobody read for the stall timeout (the reader went away) is given up.
            let stale = state.readAhead.expire(olderThan: now - configuration.stallTimeout)
            if !stale.isEmpty { actions.merge(Self.unwant(stale, id: Self.readAheadID, in: &state)) }
            actions.merge(state.wants.tick(now: now))
            return (actions, Array(state.mailboxes.values), gone)
        }
        for sender in gone { sender.close() }
        for box in boxes { box.expire(now: now) }
        perform(actions)
    }

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

extension WantManager.Actions {
    mutating func merge(_ other: Self) {
        for (peer, entries) in other.entries { self.entries[peer, default: []].append(contentsOf: entries) }
        delivered.append(contentsOf: other.delivered)
        for peer in other.misbehaving where !misbehaving.contains(peer) { misbehaving.append(peer) }
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
