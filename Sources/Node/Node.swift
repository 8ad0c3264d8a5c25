import Blocks
import Foundation
import Logging
import Metrics
import Multiformats
import P2P
import Repo
import ServiceLifecycle
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
        repo = try Repo(path: options.repoPath)
    }

    /// Runs until a shutdown signal; returns after the repo is closed.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        NodeMetrics.bootstrap()
        let token = try Self.adminToken(repo: options.repoPath)
        let admin = AdminService(node: self, token: token)
        let stats = StatsService(repo: repo, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: stats)]
        if let host { services.append(.init(service: SwarmService(host: host, logger: logger))) }
        // The admin API comes last: it announces the node ready once the others started.
        services.append(.init(service: admin))
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

/// The admin API as a service: serves until shutdown, then drains commands.
struct AdminService: Service {
    let node: TauNode
    let token: String

    func run() async throws {
        let address = try HostPort(node.options.configuration.admin.listen, field: "admin.listen")
        let routes = AdminServer.Routes(
            repo: node.repo, token: token,
            metrics: { NodeMetrics.exposition() },
            identity: { Array("{}".utf8) },
            runCommand: node.options.runCommand, host: node.host)
        let server = AdminServer(address: address, routes: routes, logger: node.logger)
        let bound = try server.start()
        let apiFile = node.options.repoPath + "/" + AdminClient.apiFileName
        try (bound.description + "\n").write(toFile: apiFile, atomically: true, encoding: .utf8)
        node.logger.info("admin API listening", metadata: ["address": "\(bound)"])
        node.options.onReady(TauNode.ReadyInfo(
            admin: bound, gateway: nil,
            swarm: node.host.map { host in host.addresses.map { $0.withPeerID(host.peerID) } } ?? []))
        try? await gracefulShutdown()
        try? FileManager.default.removeItem(atPath: apiFile)
        server.shutdown()
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
