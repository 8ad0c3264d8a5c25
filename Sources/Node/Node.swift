import Blocks
import ContentCache
import Foundation
import Bitswap
import Gateway
import Logging
import Metrics
import Multiformats
import P2P
import Repo
import Sites
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A running tau node: the repo, the admin API (with /metrics) and the
/// services the configuration enables, under swift-service-lifecycle. SIGINT
/// and SIGTERM shut it down gracefully: listeners close, requests and
/// commands in flight finish, the repo closes cleanly.
public final class TauNode: Sendable {
    public struct Options: Sendable {
        public var configuration: NodeConfiguration
        public var repoPath: String
        public var runCommand: CommandRunner
        /// Called once the node is up, with what it listens on.
        public var onReady: @Sendable (ReadyInfo) -> Void

        public init(configuration: NodeConfiguration, repoPath: String, runCommand: @escaping CommandRunner,
                    onReady: @escaping @Sendable (ReadyInfo) -> Void = { _ in }) {
            self.configuration = configuration
            self.repoPath = repoPath
            self.runCommand = runCommand
            self.onReady = onReady
        }
    }

    public struct ReadyInfo: Sendable {
        public let admin: HostPort
        public let gateway: HostPort?
        /// Full multiaddrs (with `/p2p/`) the swarm listens on.
        public let swarm: [Multiaddr]
    }

    public let repo: Repo
    /// The libp2p host (not listening until `run`), or `nil` when the swarm is off.
    public let host: P2PHost?
    let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) throws {
        try options.configuration.validate()
        self.options = options
        self.logger = logger
        guard FileManager.default.fileExists(atPath: options.repoPath + "/data.mdb") else {
            throw NodeError("no tau repo at \(options.repoPath) (run `tau init`)")
        }
        if AdminClient.runningNode(repo: options.repoPath) != nil {
            throw NodeError("a node is already running on \(options.repoPath)")
        }
        let identity = try NodeIdentity.loadOrCreate(repo: options.repoPath)
        if options.configuration.swarm.enabled {
            let addresses = try options.configuration.swarm.listen.map { text in
                do { return try Multiaddr(text) } catch { throw NodeError("swarm.listen: \(error)") }
            }
            var p2pLogger = logger
            p2pLogger[metadataKey: "service"] = "swarm"
            host = P2PHost(identity: identity, listenAddresses: addresses,
                           swarmKey: try NodeIdentity.swarmKey(repo: options.repoPath), logger: p2pLogger)
        } else {
            host = nil
        }
        repo = try Repo(path: options.repoPath, databases: Self.serviceDatabases)
    }

    /// Every service database (formats/lmdb.md §3.6); every process that
    /// opens a node's repo registers all of them.
    public static let serviceDatabases: [ServiceDatabase] = [SiteRegistry.database]

    /// Runs until a shutdown signal; returns after the repo is closed.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        NodeMetrics.bootstrap()
        let token = try Self.adminToken(repo: options.repoPath)
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: StatsService(repo: repo, logger: logger)),
            .init(service: NodeService(node: self, token: token)),
        ]
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: signals, logger: logger))
        do {
            try await group.run()
        } catch {
            await repo.close()
            throw error
        }
        await repo.close()
        logger.info("node stopped")
    }

    /// The admin token: created (32 random bytes, hex, mode 0600) on first use.
    static func adminToken(repo: String) throws -> String {
        let path = repo + "/" + AdminClient.tokenFileName
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            chmod(path, 0o600)
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let token = bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        try Array((token + "\n").utf8).withUnsafeBytes { try Sockets.writeAllToFile(descriptor, $0) }
        return token
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The node's network-facing parts, started in order (gateway, swarm, admin
/// API — which announces the node) and stopped in reverse on graceful
/// shutdown, so that no command or request runs against a half-stopped node.
struct NodeService: Service {
    let node: TauNode
    let token: String

    func run() async throws {
        let configuration = node.options.configuration
        let repoPath = node.options.repoPath
        // One read path for the gateway and for commands: cache → store →
        // Bitswap peers (when the swarm runs).
        let cache = ContentCache(byteBudget: try configuration.cacheBytes())
        var bitswap: Bitswap?
        if let host = node.host, configuration.bitswap.enabled {
            var bitswapLogger = node.logger
            bitswapLogger[metadataKey: "service"] = "bitswap"
            let engine = Bitswap(host: host, blocks: node.repo.blocks, logger: bitswapLogger)
            engine.start()  // registers its protocols before the host listens
            bitswap = engine
        }
        let blocks = BlockService(
            cache: cache, local: node.repo.blocks,
            network: bitswap.map { BitswapNetworkSource(bitswap: $0, local: node.repo.blocks) },
            fetchedBlocks: configuration.bitswap.fetched == "cache" ? .cacheOnly : .store)
        var gateway: (server: GatewayServer, address: HostPort)?
        if configuration.gateway.enabled {
            let address = try HostPort(configuration.gateway.listen, field: "gateway.listen")
            let server = GatewayServer(
                configuration: GatewayConfiguration(host: address.host, port: address.port),
                blocks: blocks, cache: cache, sites: RepoSiteResolver(registry: try SiteRegistry(repo: node.repo)), logger: node.logger)
            let bound = try await server.start()
            let hostPort = HostPort(host: address.host, port: bound.port ?? address.port)
            try (hostPort.description + "\n").write(toFile: repoPath + "/gateway", atomically: true, encoding: .utf8)
            gateway = (server, hostPort)
        }
        var bootstrap: Task<Void, Never>?
        if let host = node.host {
            try await host.start()
            for address in host.addresses {
                node.logger.info("swarm listening", metadata: ["address": "\(address.withPeerID(host.peerID))"])
            }
            let peers = try configuration.swarm.bootstrap.map { text in
                do { return try Multiaddr(text) } catch { throw NodeError("swarm.bootstrap: \(error)") }
            }
            if !peers.isEmpty {
                bootstrap = Task { await Self.keepConnected(host: host, to: peers, logger: node.logger) }
            }
        }
        let address = try HostPort(configuration.admin.listen, field: "admin.listen")
        let routes = AdminServer.Routes(
            repo: node.repo, token: token,
            metrics: { NodeMetrics.exposition() },
            identity: { [node] in Self.identityJSON(node) },
            runCommand: node.options.runCommand, host: node.host, blocks: blocks)
        let admin = AdminServer(address: address, routes: routes, logger: node.logger)
        let bound = try admin.start()
        let apiFile = repoPath + "/" + AdminClient.apiFileName
        let pidFile = repoPath + "/" + AdminClient.pidFileName
        try "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        try (bound.description + "\n").write(toFile: apiFile, atomically: true, encoding: .utf8)
        node.logger.info("admin API listening", metadata: ["address": "\(bound)"])
        node.options.onReady(TauNode.ReadyInfo(
            admin: bound, gateway: gateway?.address,
            swarm: node.host.map { host in host.addresses.map { $0.withPeerID(host.peerID) } } ?? []))

        try? await gracefulShutdown()

        bootstrap?.cancel()
        try? FileManager.default.removeItem(atPath: apiFile)
        try? FileManager.default.removeItem(atPath: pidFile)
        admin.shutdown()
        await bitswap?.stop()
        if let host = node.host { await host.shutdown() }
        if let gateway {
            try? FileManager.default.removeItem(atPath: repoPath + "/gateway")
            try await gateway.server.shutdown()
        }
        // Fetched blocks still on their way to the store land before the repo closes.
        await blocks.flush()
    }
}

extension NodeService {
    /// Dials every bootstrap peer that is not connected, every few seconds,
    /// until cancelled (peers started later, or restarted, are picked up).
    static func keepConnected(host: P2PHost, to peers: [Multiaddr], logger: Logger) async {
        while !Task.isCancelled {
            let connected = Set(host.peers())
            for address in peers {
                if let peer = address.peerID, connected.contains(peer) { continue }
                do {
                    let peer = try await host.connect(address)
                    logger.info("connected to bootstrap peer", metadata: ["peer": "\(peer)"])
                } catch {
                    logger.debug("bootstrap peer not reachable yet", metadata: ["address": "\(address)", "error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// `/api/v0/id`: the peer ID and addresses, as `tau id` prints them.
    static func identityJSON(_ node: TauNode) -> [UInt8] {
        struct Identity: Encodable {
            let ID: String?
            let Addresses: [String]
            let Protocols: [String]
        }
        let host = node.host
        let identity = Identity(
            ID: host?.peerID.description,
            Addresses: host.map { host in host.addresses.map { $0.withPeerID(host.peerID).description } } ?? [],
            Protocols: host?.protocols.sorted() ?? [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(identity)) ?? Data("{}".utf8))
    }
}

/// Sites from the repo's registry, re-read when the registry's generation
/// moves (a publish or rollback through this process), so a switch is atomic:
/// a request gets the whole old site or the whole new one.
final class RepoSiteResolver: SiteResolver {
    let registry: SiteRegistry
    private let snapshot = Mutex<(generation: Int, sites: [String: Site])>((-1, [:]))

    init(registry: SiteRegistry) { self.registry = registry }

    func site(forHost host: String) -> Site? {
        let generation = registry.generation
        if let current = snapshot.withLock({ $0.generation == generation ? $0.sites : nil }) {
            return current[host]
        }
        var sites: [String: Site] = [:]
        for record in (try? registry.sites()) ?? [] {
            sites[record.domain] = Site(root: record.current.root, spa: record.current.spa)
        }
        snapshot.withLock { $0 = (generation, sites) }
        return sites[host]
    }
}

/// Keeps the store gauges current.
struct StatsService: Service {
    let repo: Repo
    let logger: Logger
    static let interval = Duration.seconds(10)

    func run() async throws {
        let blocks = Gauge(label: "tau_store_blocks")
        let bytes = Gauge(label: "tau_store_bytes")
        let pins = Gauge(label: "tau_store_pinned_roots")
        while !Task.isShuttingDownGracefully {
            if let stat = try? repo.stat() {
                blocks.record(stat.blockCount)
                bytes.record(stat.blockBytes)
                pins.record(stat.pinnedRoots)
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.interval) }
            if Task.isCancelled { break }
        }
    }
}
