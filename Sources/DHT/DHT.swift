// The Kademlia DHT on a libp2p host: the routing table, the maintenance loop
// and the configuration. Serving: DHT+Serving.swift; lookups: DHT+Queries.swift.
// Format: formats/dht.md.

import Foundation
import Logging
import Multiformats
import P2P
import Synchronization

/// `/ipfs/kad/1.0.0` (or a private network's own prefix): finds peers,
/// providers of content and public-key records.
///
/// - In server mode it answers queries and other servers add it to their
///   tables; in client mode it only asks (it does not announce the protocol).
/// - Peers enter the routing table when they announce the protocol in
///   identify or answer a query; the table and the records are saved in the
///   datastore so a restart does not start cold.
public final class DHT: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case server, client }

    public struct Configuration: Sendable {
        public var mode = Mode.server
        /// The protocol prefix; nil picks `/ipfs` on the public network and
        /// `/tau/pnet-FINGERPRINT` in a private one, so the two never mix.
        public var protocolPrefix: String?
        /// k: 20.
        public var bucketSize = 20
        /// α: 3.
        public var parallelism = 3
        /// Disjoint lookup paths (S/Kademlia), each with α in flight: 1 (off).
        public var disjointPaths = 1
        /// One peer's answer to one query: 10 s.
        public var queryTimeout: Duration = .seconds(10)
        /// Provider records kept: 48 h (Kubo's).
        public var providerTTL: Duration = .seconds(48 * 3600)
        /// Our provider records announced again: every 22 h (Kubo's).
        public var reprovideInterval: Duration = .seconds(22 * 3600)
        /// Value records kept: 36 h (Kubo's).
        public var recordTTL: Duration = .seconds(36 * 3600)
        /// Buckets not used for this long are refreshed with a lookup: 10 min.
        public var refreshInterval: Duration = .seconds(600)
        /// How often connected peers are checked for the protocol and the table saved: 1 s.
        public var maintenanceInterval: Duration = .seconds(1)
        /// Idle time after which a served stream is closed: 60 s.
        public var streamIdleTimeout: Duration = .seconds(60)
        /// Providers returned by one GET_PROVIDERS answer: 20.
        public var maxProvidersPerAnswer = 20
        /// Provider records one peer may hold with us: 10,000 (beyond it, its ADD_PROVIDERs are ignored).
        public var maxProvidersPerPeer = 10_000
        /// Requests we serve: 64 KiB. Answers to our queries: 4 MiB (Kubo's message limit).
        public var limits = DHTMessage.Limits()
        public var answerLimits = DHTMessage.Limits.answers
        public init() {}
    }

    /// Counters for metrics and tests.
    public struct Statistics: Sendable, Hashable {
        public var requestsServed = 0, requestsRefused = 0, queriesSent = 0, queriesFailed = 0
        public var providersStored = 0, providersIgnored = 0, recordsStored = 0, recordsRefused = 0
    }

    public let host: P2PHost
    public let configuration: Configuration
    public let protocolID: String
    let datastore: any DHTDatastore
    let logger: Logger
    let localKey: KademliaKey
    let state: Mutex<State>

    struct State: ~Copyable {
        var table: RoutingTable<PeerID>
        var maintenance: Task<Void, Never>?
        var stopped = false
        var started = false
        var lastRefresh: ContinuousClock.Instant?
        var tableChanged = false
        /// Keys each peer provides to us, with their expiry (the quota counts distinct keys).
        var providedBy: [PeerID: [[UInt8]: UInt64]] = [:]
        var statistics = Statistics()
    }

    public init(host: P2PHost, datastore: any DHTDatastore = MemoryDHTStore(), configuration: Configuration = .init(),
                logger: Logger = Logger(label: "tau.dht")) {
        self.host = host
        self.datastore = datastore
        self.configuration = configuration
        self.logger = logger
        protocolID = Self.protocolID(prefix: configuration.protocolPrefix, swarmKey: host.swarmKey)
        localKey = KademliaKey(hashing: host.peerID.bytes)
        state = Mutex(State(table: RoutingTable(local: localKey, bucketSize: configuration.bucketSize)))
    }

    /// The protocol ID for `prefix` (or the default prefix for the network).
    public static func protocolID(prefix: String?, swarmKey: SwarmKey?) -> String {
        let chosen = prefix ?? swarmKey.map { "/tau/pnet-\($0.fingerprint)" } ?? "/ipfs"
        return chosen + "/kad/1.0.0"
    }

    /// Registers the handler (server mode), seeds the table from the saved
    /// peers and starts the maintenance loop. The host must be started.
    public func start() async throws {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started && !state.stopped
        }
        guard first else { return }
        if configuration.mode == .server {
            host.handle(protocolID) { [weak self] stream in try await self?.serve(stream) }
        }
        let saved = (try? datastore.routingPeers()) ?? []
        let now = ContinuousClock.now
        state.withLock { state in
            for peer in saved where peer.peer != host.peerID {
                host.peerstore.addAddresses(peer.addresses, for: peer.peer)
                state.table.add(peer.peer, key: KademliaKey(hashing: peer.peer.bytes), now: now)
            }
        }
        let interval = configuration.maintenanceInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.maintain()
            }
        }
        state.withLock { $0.maintenance = task }
        logger.info("dht: \(configuration.mode.rawValue) mode on \(protocolID), \(saved.count) saved peers")
    }

    /// Stops the maintenance loop, saves the table and stops serving.
    public func stop() async {
        let task = state.withLock { state -> Task<Void, Never>? in
            state.stopped = true
            return state.maintenance
        }
        host.removeHandler(protocolID)
        task?.cancel()
        await task?.value
        await saveTable()
    }

    /// The routing table's peers, nearest bucket last.
    public var routingTable: [PeerID] { state.withLock { $0.table.peers } }
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Adds a peer known to run a DHT server (a bootstrap peer, a peer that answered).
    public func addPeer(_ peer: PeerID, addresses: [Multiaddr] = []) {
        guard peer != host.peerID else { return }
        if !addresses.isEmpty { host.peerstore.addAddresses(addresses, for: peer) }
        state.withLock { state in
            let isNew = !state.table.contains(peer)
            if state.table.add(peer, key: KademliaKey(hashing: peer.bytes), now: .now), isNew { state.tableChanged = true }
        }
    }

    /// One round: connected peers that announce the protocol join the table,
    /// expired records go, stale buckets are refreshed, the table is saved.
    func maintain() async {
        let now = ContinuousClock.now
        for peer in host.peers() where host.peerstore.info(peer)?.protocols.contains(protocolID) == true {
            let known = state.withLock { $0.table.contains(peer) }
            if !known { addPeer(peer) }
        }
        let (refresh, save) = state.withLock { state -> (Bool, Bool) in
            let due = state.lastRefresh.map { now - $0 >= configuration.refreshInterval } ?? (state.table.count > 0)
            if due { state.lastRefresh = now }
            defer { state.tableChanged = false }
            return (due, state.tableChanged)
        }
        if save { await saveTable() }
        if refresh {
            let wall = Self.unixNow()
            state.withLock { state in
                for (peer, keys) in state.providedBy {
                    let live = keys.filter { $0.value > wall }
                    state.providedBy[peer] = live.isEmpty ? nil : live
                }
            }
            _ = try? await datastore.removeExpired(
                now: wall, recordsBefore: wall - min(wall, UInt64(configuration.recordTTL.components.seconds)))
            await refreshTable(now: now)
        }
    }

    /// Looks up our own key (which fills the nearest buckets), then a random
    /// key in each bucket that has not been useful within the refresh interval.
    func refreshTable(now: ContinuousClock.Instant) async {
        _ = try? await closestPeers(to: localKey, key: host.peerID.bytes)
        let stale = state.withLock { $0.table.bucketsToRefresh(staleBefore: now - configuration.refreshInterval) }
        var generator = SystemRandomNumberGenerator()
        for prefixLength in stale {
            let key = Self.refreshKey(near: localKey, commonPrefix: prefixLength, using: &generator)
            _ = try? await closestPeers(to: key)
        }
    }

    /// A key whose *position* (SHA-256, as servers hash it) shares exactly
    /// `commonPrefix` bits with `local`: a sha2-256 multihash of random bytes,
    /// drawn until one fits (about 2^(prefix+1) draws; refreshes stop at 15).
    public static func refreshKey(near local: KademliaKey, commonPrefix: Int,
                                  using generator: inout some RandomNumberGenerator) -> [UInt8] {
        precondition((0..<24).contains(commonPrefix), "refresh keys are drawn for prefixes below 24")
        while true {
            let key = [0x12, 0x20] + (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if KademliaKey(hashing: key).commonPrefixLength(with: local) == commonPrefix { return key }
        }
    }

    func saveTable() async {
        let peers = state.withLock { $0.table.peers }.map { SavedPeer(peer: $0, addresses: host.peerstore.addresses($0)) }
        do { try await datastore.saveRoutingPeers(peers) } catch { logger.warning("dht: cannot save the routing table: \(error)") }
    }

    /// The provider key under which nodes of this network announce that
    /// they run `service` (gateway, hoarder, kv, s3, dns, functions): a raw
    /// CID of SHA-256 of `tau-service/NETWORK/SERVICE`, NETWORK being `public`
    /// or the swarm key's fingerprint.
    public func serviceKey(_ service: String) -> CID {
        let network = host.swarmKey?.fingerprint ?? "public"
        return CID.v1(.raw, Multihash(hashing: Array("tau-service/\(network)/\(service)".utf8), with: .sha2_256))
    }

    static func unixNow() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970)) }

    /// Our addresses as DHT peers carry them.
    var localPeer: DHTMessage.Peer {
        DHTMessage.Peer(id: host.peerID.bytes, addresses: host.addresses.map(\.bytes), connectedness: .connected)
    }

    /// `peer` as a DHT peer entry, with the addresses the peerstore knows.
    func entry(_ peer: PeerID) -> DHTMessage.Peer {
        let connected = !host.connections(to: peer).isEmpty
        return DHTMessage.Peer(id: peer.bytes, addresses: host.peerstore.addresses(peer).map(\.bytes),
                               connectedness: connected ? .connected : .canConnect)
    }
}
