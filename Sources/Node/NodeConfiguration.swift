import Errors
import Foundation
import Yams

/// The node's configuration file (YAML), as `tau config generate` writes it.
/// Every field has a default, so a partial file (or none) is valid; flags of
/// `tau start` override it.
public struct NodeConfiguration: Codable, Sendable, Equatable {
    /// The repo directory; `nil` means the CLI's (`--repo`, `$TAU_REPO`, `~/.tau`).
    public var repo: String?
    public var gateway: Gateway = Gateway()
    public var admin: Admin = Admin()
    public var swarm: Swarm = Swarm()
    public var cache: Cache = Cache()
    public var bitswap: Bitswap = Bitswap()
    public var pubsub: PubSub = PubSub()
    public var dht: DHT = DHT()
    public var log: Log = Log()
    public var shutdown: Shutdown = Shutdown()

    public struct Gateway: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        /// `host:port`; default 127.0.0.1:8080.
        public var listen: String = "127.0.0.1:8080"

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1:8080"
        }
    }

    public struct Admin: Codable, Sendable, Equatable {
        /// Off: no admin API, so `tau` commands open the repo themselves
        /// instead of running inside the node, and there is no /metrics.
        public var enabled: Bool = true
        /// `host:port` of the admin API and /metrics; loopback only. Default 127.0.0.1:5001.
        public var listen: String = "127.0.0.1:5001"

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1:5001"
        }
    }

    public struct Shutdown: Codable, Sendable, Equatable {
        /// Seconds SIGTERM/SIGINT gives work in flight to finish before it is
        /// cancelled; the store is flushed after either. Default 5.
        public var timeout: Double = 5

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 5
        }
    }

    public struct Swarm: Codable, Sendable, Equatable {
        public var enabled: Bool = true
        /// libp2p listen multiaddrs.
        public var listen: [String] = ["/ip4/127.0.0.1/tcp/4001"]
        /// Peers to stay connected to (full multiaddrs with `/p2p/`); retried until they answer.
        public var bootstrap: [String] = []

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            listen = try container.decodeIfPresent([String].self, forKey: .listen) ?? ["/ip4/127.0.0.1/tcp/4001"]
            bootstrap = try container.decodeIfPresent([String].self, forKey: .bootstrap) ?? []
        }
    }

    public struct Cache: Codable, Sendable, Equatable {
        /// Byte budget of the content cache: a number of bytes, or with a unit
        /// (`KiB`, `MiB`, `GiB`). Default 256 MiB.
        public var size: String = "256MiB"

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            size = try container.decodeIfPresent(String.self, forKey: .size) ?? "256MiB"
        }
    }

    public struct Bitswap: Codable, Sendable, Equatable {
        /// Serve blocks to peers and fetch missing ones from them (needs the swarm).
        public var enabled: Bool = true
        /// What happens to a block fetched from a peer: `store` writes it to
        /// the repo (the default), `cache` keeps it in the content cache only.
        public var fetched: String = "store"

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            fetched = try container.decodeIfPresent(String.self, forKey: .fetched) ?? "store"
        }
    }

    public struct PubSub: Codable, Sendable, Equatable {
        /// GossipSub publish/subscribe on the swarm (`tau pubsub`; needs the swarm).
        public var enabled: Bool = true

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        }
    }

    public struct DHT: Codable, Sendable, Equatable {
        /// The Kademlia DHT on the swarm (`tau routing`, `tau services`; needs the swarm).
        public var enabled: Bool = true
        /// server (answer queries; for nodes others can dial), client (only
        /// ask), or auto: server when the swarm listens, client when it only
        /// dials (tau has no AutoNAT yet to learn whether it is reachable).
        public var mode: String = "auto"
        /// What this node announces as provider: roots (the roots of recursive
        /// pins, the default: one lookup per add), pinned (every block under a
        /// pin), all (every block in the repo), none.
        public var provide: String = "roots"
        /// The protocol prefix: empty picks `/ipfs` on the public network and
        /// `/tau/pnet-FINGERPRINT` in a private one; `/ipfs` in a private
        /// network shares the DHT with Kubo nodes of the same swarm key.
        public var protocolPrefix: String = ""
        /// Lookups over this many disjoint paths (S/Kademlia; no peer is asked
        /// by two), so a group of bad peers cannot steer every path: 1 (off), up to 8.
        public var disjointPaths: Int = 1

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            mode = try container.decodeIfPresent(String.self, forKey: .mode) ?? "auto"
            provide = try container.decodeIfPresent(String.self, forKey: .provide) ?? "roots"
            protocolPrefix = try container.decodeIfPresent(String.self, forKey: .protocolPrefix) ?? ""
            disjointPaths = try container.decodeIfPresent(Int.self, forKey: .disjointPaths) ?? 1
        }
    }

    public struct Log: Codable, Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level: String = "info"

        public init() {}

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            level = try container.decodeIfPresent(String.self, forKey: .level) ?? "info"
        }
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        repo = try container.decodeIfPresent(String.self, forKey: .repo)
        gateway = try container.decodeIfPresent(Gateway.self, forKey: .gateway) ?? Gateway()
        admin = try container.decodeIfPresent(Admin.self, forKey: .admin) ?? Admin()
        swarm = try container.decodeIfPresent(Swarm.self, forKey: .swarm) ?? Swarm()
        cache = try container.decodeIfPresent(Cache.self, forKey: .cache) ?? Cache()
        bitswap = try container.decodeIfPresent(Bitswap.self, forKey: .bitswap) ?? Bitswap()
        pubsub = try container.decodeIfPresent(PubSub.self, forKey: .pubsub) ?? PubSub()
        dht = try container.decodeIfPresent(DHT.self, forKey: .dht) ?? DHT()
        log = try container.decodeIfPresent(Log.self, forKey: .log) ?? Log()
        shutdown = try container.decodeIfPresent(Shutdown.self, forKey: .shutdown) ?? Shutdown()
    }

    /// Reads and checks a YAML file.
    public static func load(from path: String) throws -> NodeConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NodeError(.invalidConfiguration, "cannot read config \(path): \(error.localizedDescription)")
        }
        let configuration: NodeConfiguration
        do {
            configuration = try YAMLDecoder().decode(NodeConfiguration.self, from: text.isEmpty ? "{}" : text)
        } catch {
            throw NodeError(.invalidConfiguration, "config \(path) is not valid: \(error)")
        }
        try configuration.validate()
        return configuration
    }

    /// The YAML text of this configuration.
    public func yaml() throws -> String {
        let body = try YAMLEncoder().encode(self)
        return "# tau node configuration (tau config generate). Flags of `tau start` override it.\n" + body
    }

    /// Checks every value; the error names the field.
    public func validate() throws {
        _ = try HostPort(gateway.listen, field: "gateway.listen")
        let admin = try HostPort(self.admin.listen, field: "admin.listen")
        guard admin.isLoopback else {
            throw NodeError(.invalidConfiguration, "admin.listen must be a loopback address (got \(self.admin.listen))")
        }
        _ = try cacheBytes()
        guard ["store", "cache"].contains(bitswap.fetched) else {
            throw NodeError(.invalidConfiguration, "bitswap.fetched must be store or cache (got \(bitswap.fetched))")
        }
        guard ["auto", "server", "client"].contains(dht.mode) else {
            throw NodeError(.invalidConfiguration, "dht.mode must be auto, server or client (got \(dht.mode))")
        }
        guard ["roots", "pinned", "all", "none"].contains(dht.provide) else {
            throw NodeError(.invalidConfiguration, "dht.provide must be roots, pinned, all or none (got \(dht.provide))")
        }
        guard (1...8).contains(dht.disjointPaths) else {
            throw NodeError(.invalidConfiguration, "dht.disjointPaths must be 1 to 8 (got \(dht.disjointPaths))")
        }
        guard dht.protocolPrefix.isEmpty || (dht.protocolPrefix.hasPrefix("/") && !dht.protocolPrefix.hasSuffix("/")
                                             && !dht.protocolPrefix.contains(" ")) else {
            throw NodeError(.invalidConfiguration, "dht.protocolPrefix must look like /ipfs (got \(dht.protocolPrefix))")
        }
        guard shutdown.timeout > 0, shutdown.timeout <= 600 else {
            throw NodeError(.invalidConfiguration, "shutdown.timeout must be from 0 to 600 seconds (got \(shutdown.timeout))")
        }
        guard Self.logLevels.contains(log.level) else {
            throw NodeError(.invalidConfiguration, "log.level must be one of \(Self.logLevels.joined(separator: ", ")) (got \(log.level))")
        }
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The cache budget in bytes.
    public func cacheBytes() throws -> Int {
        try Self.parseBytes(cache.size, field: "cache.size")
    }

    /// `1048576`, `512KiB`, `256MiB`, `2GiB` (also KB/MB/GB as powers of 1000).
    public static func parseBytes(_ text: String, field: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let multipliers: [String: Int] = ["": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
                                          "KB": 1000, "MB": 1_000_000, "GB": 1_000_000_000]
        guard let value = Int(digits), let multiplier = multipliers[unit],
            value.multipliedReportingOverflow(by: multiplier).overflow == false
        else {
            throw NodeError(.invalidConfiguration, "\(field) must be a size such as 268435456 or 256MiB (got \"\(text)\")")
        }
        return value * multiplier
    }
}

/// A failure the node reports as one line (`description`, complete: it
/// names the setting, the path or the address). Match on the code.
public struct NodeError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// A setting or config file that cannot be used.
        case invalidConfiguration
        /// No repo at the path, or one a running node already holds.
        case repoUnavailable
        /// A listener or file the node needs could not be set up.
        case setupFailed
        /// The admin API's answer broke its protocol, or the node refused.
        case adminProtocol
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        detail = message
    }

    public var description: String { detail }
}

/// `host:port`, `[v6]:port` or `:port` (all interfaces).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(_ text: String, field: String = "address") throws {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw NodeError(.invalidConfiguration, "\(field): \"\(text)\" is not [ipv6]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw NodeError(.invalidConfiguration, "\(field): \"\(text)\" has no port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        if host.isEmpty { host = "0.0.0.0" }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw NodeError(.invalidConfiguration, "\(field): bad port in \"\(text)\"")
        }
        self.host = String(host)
        self.port = port
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
