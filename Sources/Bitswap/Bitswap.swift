// Bitswap 1.0.0/1.1.0/1.2.0 over libp2p streams: a thin I/O layer over the
// pure state machines (ServerEngine, WantManager). Format: formats/bitswap.md.
// This file: the instance, its configuration and lifecycle; fetching in
// Bitswap+Fetching.swift, streams and serving in Bitswap+Serving.swift, the
// DAG read-ahead in ReadAhead.swift.

import Blocks
import Logging
import Metrics
import Multiformats
import NIOCore
import NIOPosix
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
        /// Most wants in flight for one DAG fetch or prefetch; below it the
        /// window follows the bandwidth-delay product (`WantWindow`, rule C12): 256.
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
        /// Wants in flight at the end (the adaptive window, rule C12, or the fixed one).
        public var window = 0
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
    /// `blocks` when its reads block a thread: those run on `readPool`.
    let blockingBlocks: (any BlockingBlockSource)?
    /// Where blocking reads of local blocks run (default: NIO's shared pool).
    public let readPool: NIOThreadPool
    public let configuration: Configuration
    let logger: Logger
    let metrics: BitswapMetrics
    let state: Mutex<State>
    let wakeStream: AsyncStream<Void>
    let wakeContinuation: AsyncStream<Void>.Continuation

    /// - Parameters:
    ///   - host: the libp2p host whose streams carry Bitswap.
    ///   - blocks: what the server may send (local blocks only). When it is a
    ///     `BlockingBlockSource` (the repo's LMDB store), each batch's reads
    ///     run on `readPool`, off the cooperative pool.
    ///   - readPool: the threads for those reads (default `NIOThreadPool.singleton`).
    ///   - configuration: limits and timings.
    ///   - metricsFactory: where the counters go (`BitswapMetrics.swift`; default: the global factory).
    public init(host: P2PHost, blocks: any BlockSource, readPool: NIOThreadPool = .singleton,
                configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "tau.bitswap"), metricsFactory: (any MetricsFactory)? = nil) {
        self.host = host
        self.blocks = blocks
        blockingBlocks = blocks as? any BlockingBlockSource
        self.readPool = readPool
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
}

extension WantManager.Actions {
    mutating func merge(_ other: Self) {
        for (peer, entries) in other.entries { self.entries[peer, default: []].append(contentsOf: entries) }
        delivered.append(contentsOf: other.delivered)
        for peer in other.misbehaving where !misbehaving.contains(peer) { misbehaving.append(peer) }
    }
}
