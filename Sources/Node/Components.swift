import Bitswap
import ContentCache
import Foundation
import Gateway
import Logging
import Multiformats
import P2P
import PubSub
import Repo
import Sites

// The node's components, in start order (Node.swift lists them). Each owns
// what it starts and stops it; see NodeComponent for the contract.

/// The repo: opened before the node starts (everything else is built on it),
/// closed last, after every queued write is durable.
final class RepoComponent: NodeComponent {
    let name = "repo"
    let repo: Repo

    init(repo: Repo) { self.repo = repo }

    func start() async throws {}

    func stop() async { await repo.close() }
}

/// The read path every reader shares (cache → store → Bitswap peers). Its
/// stop waits until blocks fetched from peers are in the store.
final class BlocksComponent: NodeComponent {
    let name = "cache"
    let cache: ContentCache
    let blocks: BlockService

    init(cache: ContentCache, blocks: BlockService) {
        self.cache = cache
        self.blocks = blocks
    }

    func start() async throws {}

    func stop() async { await blocks.flush() }
}

/// Bitswap: registers its protocols on the host before the swarm listens,
/// and hears of every block the repo commits, so a peer that already wants
/// one gets it without asking again.
final class BitswapComponent: NodeComponent {
    let name = "bitswap"
    let engine: Bitswap
    let repo: Repo

    init(engine: Bitswap, repo: Repo) {
        self.engine = engine
        self.repo = repo
    }

    func start() async throws {
        engine.start()
        repo.observeAddedBlocks { [engine] blocks in engine.blocksAdded(blocks) }
    }

    func stop() async { await engine.stop() }
}

/// Publish/subscribe: registers its protocols before the swarm listens;
/// stopping ends every subscription and stream.
final class PubSubComponent: NodeComponent {
    let name = "pubsub"
    let service: PubSub

    init(service: PubSub) { self.service = service }

    func start() async throws { service.start() }

    func stop() async { service.stop() }
}

/// The libp2p host: listens, then keeps the bootstrap peers connected.
final class SwarmComponent: NodeComponent {
    let name = "swarm"
    let host: P2PHost
    let requested: [Multiaddr]
    let bootstrap: [Multiaddr]
    let logger: Logger
    private let dialer = LockedTask()

    init(host: P2PHost, listen: [Multiaddr], bootstrap: [Multiaddr], logger: Logger) {
        self.host = host
        requested = listen
        self.bootstrap = bootstrap
        self.logger = logger
    }

    var address: String? { host.addresses.first.map { $0.withPeerID(host.peerID).description } }

    func start() async throws {
        do {
            try await host.start()
        } catch {
            await host.shutdown()
            let wanted = requested.map(\.description).joined(separator: ", ")
            throw ServiceStartError(service: name, reason: ServiceStartError.listenFailure(error, address: wanted))
        }
        for address in host.addresses {
            logger.info("swarm listening", metadata: ["address": "\(address.withPeerID(host.peerID))"])
        }
        if !bootstrap.isEmpty {
            let (host, peers, logger) = (host, bootstrap, logger)
            dialer.set(Task { await Self.keepConnected(host: host, to: peers, logger: logger) })
        }
    }

    func stop() async {
        dialer.cancel()
        await host.shutdown()
    }

    /// Dials every bootstrap peer that is not connected, every few seconds,
    /// until cancelled (peers started later, or restarted, are picked up).
    static func keepConnected(host: P2PHost, to peers: [Multiaddr], logger: Logger) async {
        while !Task.isCancelled {
            let connected = Set(host.peers())
            for address in peers {
                if let peer = address.peerID, connected.contains(peer) { continue }
                do {
                    let peer = try await host.connect(address)
                    // Bootstrap peers survive connection-manager trims.
                    host.protect(peer, tag: "bootstrap")
                    logger.info("connected to bootstrap peer", metadata: ["peer": "\(peer)"])
                } catch {
                    logger.debug("bootstrap peer not reachable yet", metadata: ["address": "\(address)", "error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }
}

/// The HTTP gateway (/ipfs, trustless, websites by Host).
final class GatewayComponent: NodeComponent {
    let name = "gateway"
    let server: GatewayServer
    let listen: HostPort
    private let bound = LockedValue<HostPort?>(nil)

    init(server: GatewayServer, listen: HostPort) {
        self.server = server
        self.listen = listen
    }

    var boundAddress: HostPort? { bound.value }
    var address: String? { bound.value?.description }

    func start() async throws {
        do {
            let socket = try await server.start()
            bound.value = HostPort(host: listen.host, port: socket.port ?? listen.port)
        } catch {
            try? await server.shutdown()
            throw ServiceStartError(service: name, reason: ServiceStartError.listenFailure(error, address: listen.description))
        }
    }

    func stop() async { try? await server.shutdown() }
}

/// The admin API (/api/v0, /metrics) that commands of other tau processes
/// run through.
final class AdminComponent: NodeComponent {
    let name = "admin"
    let server: AdminServer
    let listen: HostPort
    private let bound = LockedValue<HostPort?>(nil)

    init(server: AdminServer, listen: HostPort) {
        self.server = server
        self.listen = listen
    }

    var boundAddress: HostPort? { bound.value }
    var address: String? { bound.value?.description }

    func start() async throws {
        do {
            bound.value = try await server.listen()
        } catch {
            throw ServiceStartError(service: name, reason: ServiceStartError.listenFailure(error, address: listen.description))
        }
    }

    func stop() async { await server.stop(timeout: 5) }
}

/// A value behind a lock, for the few fields components set once they start.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// A background task a component owns and cancels when it stops.
final class LockedTask: Sendable {
    private let task = LockedValue<Task<Void, Never>?>(nil)

    func set(_ new: Task<Void, Never>) { task.value = new }
    func cancel() { task.value?.cancel() }
    /// Cancels and waits for the task to end.
    func cancelAndWait() async {
        let current = task.value
        current?.cancel()
        await current?.value
    }
}
