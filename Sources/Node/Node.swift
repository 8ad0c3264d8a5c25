import Bitswap
import Blocks
import ContentCache
import Foundation
import Gateway
import Logging
import Metrics
import Multiformats
import P2P
import PubSub
import DHT
import Repo
import ServiceLifecycle
import Sites
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
        /// `nil` when the admin API is disabled.
        public let admin: HostPort?
        public let gateway: HostPort?
        /// Full multiaddrs (with `/p2p/`) the swarm listens on.
        public let swarm: [Multiaddr]
        /// What `node.json` says (formats/admin-api.md).
        public let facts: NodeFacts
    }

    public let repo: Repo
    /// The libp2p host (not listening until `run`), or `nil` when the swarm is off.
    public let host: P2PHost?
    /// What the swarm was asked to listen on.
    let listenAddresses: [Multiaddr]
    let options: Options
    let logger: Logger
    private let running = Mutex<(group: ServiceGroup?, shutdownRequested: Bool)>((nil, false))

    public init(options: Options, logger: Logger) throws {
        try options.configuration.validate()
        self.options = options
        self.logger = logger
        guard FileManager.default.fileExists(atPath: options.repoPath + "/data.mdb") else {
            throw NodeError(.repoUnavailable, "no tau repo at \(options.repoPath) (run `tau init`)")
        }
        if AdminClient.runningNode(repo: options.repoPath) != nil {
            throw NodeError(.repoUnavailable, "a node is already running on \(options.repoPath)")
        }
        let identity = try NodeIdentity.loadOrCreate(repo: options.repoPath)
        if options.configuration.swarm.enabled {
            let addresses = try options.configuration.swarm.listen.map { text in
                do { return try Multiaddr(text) } catch { throw NodeError(.invalidConfiguration, "swarm.listen: \(error)") }
            }
            var p2pLogger = logger
            p2pLogger[metadataKey: "service"] = "swarm"
            host = P2PHost(identity: identity, listenAddresses: addresses,
                           swarmKey: try NodeIdentity.swarmKey(repo: options.repoPath), logger: p2pLogger)
            listenAddresses = addresses
        } else {
            host = nil
            listenAddresses = []
        }
        repo = try Repo(path: options.repoPath, databases: Self.serviceDatabases)
    }

    /// Every service database (formats/lmdb.md §3.6); every process that
    /// opens a node's repo registers all of them.
    public static let serviceDatabases: [ServiceDatabase] = [SiteRegistry.database] + RepoDHTStore.databases

    /// Runs until a shutdown signal; returns after the repo is closed. A
    /// component that fails to start stops the ones started before it, and
    /// the `ServiceStartError` naming it is thrown.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        NodeMetrics.bootstrap()
        let token = try Self.adminToken(repo: options.repoPath)
        let components = try makeComponents(token: token)
        let sequence = StartupSequence()
        var services = components.enumerated().map { index, component in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: ComponentService(component: component, index: index, sequence: sequence, logger: logger),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        services.append(.init(service: StatsService(repo: repo, logger: logger),
                              successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup))
        var configuration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: signals, logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(options.configuration.shutdown.timeout * 1000))
        configuration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        let stopEarly = running.withLock { state -> Bool in
            state.group = group
            return state.shutdownRequested
        }
        if stopEarly { await group.triggerGracefulShutdown() }
        do {
            try await group.run()
        } catch {
            // Whatever stopped early, the store is flushed and closed.
            await repo.close()
            throw error
        }
        await repo.close()
        logger.info("node stopped")
    }

    /// Stops the node as SIGTERM does (for embedding and tests); `run` then returns.
    public func shutdown() async {
        let group = running.withLock { state -> ServiceGroup? in
            state.shutdownRequested = true
            return state.group
        }
        await group?.triggerGracefulShutdown()
    }

    /// The components in start order; each depends only on those before it.
    /// Disabled services are left out.
    func makeComponents(token: String) throws -> [any NodeComponent] {
        let configuration = options.configuration
        var components: [any NodeComponent] = [RepoComponent(repo: repo)]
        var bitswap: Bitswap?
        if let host, configuration.bitswap.enabled {
            var bitswapLogger = logger
            bitswapLogger[metadataKey: "service"] = "bitswap"
            bitswap = Bitswap(host: host, blocks: repo.blocks, logger: bitswapLogger)
        }
        var dht: DHT?
        if let host, configuration.dht.enabled {
            var dhtLogger = logger
            dhtLogger[metadataKey: "service"] = "dht"
            var dhtConfiguration = DHT.Configuration()
            switch configuration.dht.mode {
            case "client": dhtConfiguration.mode = .client
            case "server": dhtConfiguration.mode = .server
            default: dhtConfiguration.mode = listenAddresses.isEmpty ? .client : .server
            }
            if !configuration.dht.protocolPrefix.isEmpty { dhtConfiguration.protocolPrefix = configuration.dht.protocolPrefix }
            dhtConfiguration.disjointPaths = configuration.dht.disjointPaths
            dht = DHT(host: host, datastore: try RepoDHTStore(repo: repo), configuration: dhtConfiguration, logger: dhtLogger)
        }
        // One read path for the gateway and for commands: cache → store →
        // Bitswap peers (→ providers the DHT finds, when no peer answers).
        let cache = ContentCache(byteBudget: try configuration.cacheBytes())
        let network: (any VerifiedBlockSource)? = bitswap.map { bitswap in
            let source = BitswapNetworkSource(bitswap: bitswap, local: repo.blocks)
            guard let dht else { return source }
            return ProviderSearchingSource(inner: source, dht: dht)
        }
        let blocks = BlockService(
            cache: cache, local: repo.blocks,
            network: network,
            fetchedBlocks: configuration.bitswap.fetched == "cache" ? .cacheOnly : .store)
        components.append(BlocksComponent(cache: cache, blocks: blocks))
        if let bitswap { components.append(BitswapComponent(engine: bitswap, repo: repo)) }
        var pubsub: PubSub?
        if let host, configuration.pubsub.enabled {
            var pubsubLogger = logger
            pubsubLogger[metadataKey: "service"] = "pubsub"
            let service = PubSub(host: host, logger: pubsubLogger)
            components.append(PubSubComponent(service: service))
            pubsub = service
        }
        if let dht {
            var announced: [String] = []
            if configuration.gateway.enabled { announced.append("gateway") }
            if configuration.pubsub.enabled { announced.append("pubsub") }
            if configuration.bitswap.enabled { announced.append("bitswap") }
            var dhtLogger = logger
            dhtLogger[metadataKey: "service"] = "dht"
            components.append(DHTComponent(dht: dht, repo: repo, strategy: configuration.dht.provide,
                                           services: announced, logger: dhtLogger))
        }
        if let host {
            let bootstrap = try configuration.swarm.bootstrap.map { text in
                do { return try Multiaddr(text) } catch { throw NodeError(.invalidConfiguration, "swarm.bootstrap: \(error)") }
            }
            var swarmLogger = logger
            swarmLogger[metadataKey: "service"] = "swarm"
            components.append(SwarmComponent(host: host, listen: listenAddresses, bootstrap: bootstrap, logger: swarmLogger))
        }
        if configuration.gateway.enabled {
            let address = try HostPort(configuration.gateway.listen, field: "gateway.listen")
            let server = GatewayServer(
                configuration: GatewayConfiguration(host: address.host, port: address.port),
                blocks: blocks, cache: cache, sites: RepoSiteResolver(registry: try SiteRegistry(repo: repo)), logger: logger)
            components.append(GatewayComponent(server: server, listen: address))
        }
        if configuration.admin.enabled {
            let address = try HostPort(configuration.admin.listen, field: "admin.listen")
            let routes = AdminServer.Routes(
                repo: repo, token: token,
                metrics: { NodeMetrics.exposition() },
                identity: { [self] in identityJSON() },
                runCommand: options.runCommand, host: host, blocks: blocks, pubsub: pubsub, dht: dht)
            components.append(AdminComponent(server: AdminServer(address: address, routes: routes, logger: logger), listen: address))
        }
        components.append(AnnounceComponent(node: self, components: components))
        return components
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
        guard descriptor >= 0 else { throw NodeError(.setupFailed, "cannot create \(path): \(String(cString: strerror(errno)))") }
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

extension TauNode {
    /// `/api/v0/id`: the peer ID and addresses, as `tau id` prints them.
    func identityJSON() -> [UInt8] {
        struct Identity: Encodable {
            let ID: String?
            let Addresses: [String]
            let Protocols: [String]
        }
        let identity = Identity(
            ID: host?.peerID.description,
            Addresses: host.map { host in host.addresses.map { $0.withPeerID(host.peerID).description } } ?? [],
            Protocols: host?.protocols.sorted() ?? [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(identity)) ?? Data("{}".utf8))
    }
}
