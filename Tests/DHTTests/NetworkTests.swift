import DHT
import Foundation
import Multiformats
import P2P
import Repo
import TestSupport
import Testing


/// A host on loopback with a DHT server (maintenance every 100 ms, so tests settle fast).
struct DHTNode {
    let host: P2PHost
    let dht: DHT

    static func start(datastore: any DHTDatastore = MemoryDHTStore(), identity: KeyPair = .generate(),
                      swarmKey: SwarmKey? = nil, mode: DHT.Mode = .server,
                      configure: (inout DHT.Configuration) -> Void = { _ in }) async throws -> DHTNode {
        let host = P2PHost(identity: identity, listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")], swarmKey: swarmKey)
        try await host.start()
        var configuration = DHT.Configuration()
        configuration.maintenanceInterval = .milliseconds(100)
        configuration.queryTimeout = .seconds(5)
        configuration.mode = mode
        configure(&configuration)
        let dht = DHT(host: host, datastore: datastore, configuration: configuration)
        try await dht.start()
        return DHTNode(host: host, dht: dht)
    }

    var address: Multiaddr { host.listenAddresses[0].withPeerID(host.peerID) }

    func stop() async {
        await dht.stop()
        await host.shutdown()
    }
}

func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let path = NSTemporaryDirectory() + "tau-dht-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Real DHT instances over real hosts on loopback.
@Suite("dht network", .serialized) struct NetworkTests {
    static let content = CID.v1(.raw, Multihash(hashing: Array("found through the DHT".utf8), with: .sha2_256))

    /// Five nodes, each connected only to the next: node 1 finds what node 5
    /// provides, and node 5 itself, through the nodes between.
    @Test func fiveNodesInALine() async throws {
        var nodes: [DHTNode] = []
        defer { Task { [nodes] in for node in nodes { await node.stop() } } }
        for _ in 0..<5 { nodes.append(try await DHTNode.start()) }
        // Nodes 2–5 first; node 5 provides before node 1 exists, so node 1
        // holds no record and must ask (GET_PROVIDERS through node 2).
        for index in 1..<4 { try await nodes[index].host.connect(nodes[index + 1].address) }
        #expect(await eventually { nodes[1...].allSatisfy { $0.dht.routingTable.count >= 2 } })
        let told = try await nodes[4].dht.provide(Self.content)
        #expect(told >= 1)
        try await nodes[0].host.connect(nodes[1].address)
        #expect(await eventually { nodes[0].dht.routingTable.count >= 1 })
        let asked = nodes[0].dht.statistics.queriesSent
        let providers = try await nodes[0].dht.findProviders(Self.content, limit: 1)
        #expect(nodes[0].dht.statistics.queriesSent > asked)
        #expect(providers.map(\.peer) == [nodes[4].host.peerID])
        // Node 1 dials node 5 directly with the addresses it was given.
        let address = try #require(providers.first?.addresses.first)
        try await nodes[0].host.connect(address.withPeerID(nodes[4].host.peerID))
        #expect(nodes[0].host.peers().contains(nodes[4].host.peerID))
        await nodes[0].host.disconnect(nodes[4].host.peerID)

        let found = try await nodes[0].dht.findPeer(nodes[4].host.peerID)
        #expect(found.contains(nodes[4].host.listenAddresses[0]))
        await #expect(throws: DHTError.notFound) { try await nodes[0].dht.findPeer(KeyPair.generate().peerID) }
        #expect(try await nodes[0].dht.findProviders(CID.v1(.raw, Multihash(hashing: [1, 2, 3], with: .sha2_256))).isEmpty)
    }

    @Test func publicKeyRecordsArePutAndGot() async throws {
        var nodes: [DHTNode] = []
        defer { Task { [nodes] in for node in nodes { await node.stop() } } }
        for _ in 0..<3 { nodes.append(try await DHTNode.start()) }
        for index in 0..<2 { try await nodes[index].host.connect(nodes[index + 1].address) }
        #expect(await eventually { nodes[0].dht.routingTable.count >= 1 && nodes[2].dht.routingTable.count >= 1 })

        // An RSA-style key that the peer ID does not inline: here an Ed25519 key filed anyway.
        let author = KeyPair.generate()
        let key = RecordValidator.publicKeyKey(author.peerID)
        let accepted = try await nodes[2].dht.putValue(key: key, value: author.publicKey.protobuf)
        #expect(accepted >= 1)
        // Node 0 holds the record too (k = 20 > 3 nodes); a fresh node 3 behind node 0 must ask for it.
        let late = try await DHTNode.start()
        nodes.append(late)
        try await late.host.connect(nodes[0].address)
        #expect(await eventually { late.dht.routingTable.count >= 1 })
        #expect(try await late.dht.getValue(key: key) == author.publicKey.protobuf)
        #expect(late.dht.statistics.queriesSent >= 1)

        // A value that is not the key's peer's key is refused locally and by servers.
        await #expect(throws: DHTError.invalidRecord) {
            try await nodes[2].dht.putValue(key: key, value: KeyPair.generate().publicKey.protobuf)
        }
        await #expect(throws: DHTError.invalidRecord) { try await nodes[2].dht.putValue(key: Array("/ipns/x".utf8), value: [1]) }
        let forged = DHTMessage(kind: .putValue, key: key, record: .init(key: key, value: KeyPair.generate().publicKey.protobuf))
        #expect(await nodes[1].dht.answer(forged, from: nodes[0].host.peerID) == nil)
        #expect(nodes[1].dht.statistics.recordsRefused == 1)
    }

    @Test func providersAreAcceptedOnlyFromThemselves() async throws {
        let node = try await DHTNode.start()
        defer { Task { await node.stop() } }
        let sender = KeyPair.generate().peerID, other = KeyPair.generate().peerID
        let key = Self.content.multihash.bytes
        let address = try Multiaddr("/ip4/127.0.0.1/tcp/4001").bytes
        let message = DHTMessage(kind: .addProvider, key: key, providerPeers: [
            .init(id: other.bytes, addresses: [address]), .init(id: sender.bytes, addresses: [address]),
        ])
        #expect(await node.dht.answer(message, from: sender) == nil)
        let answer = try #require(await node.dht.answer(DHTMessage(kind: .getProviders, key: key), from: other))
        #expect(answer.providerPeers.map(\.id) == [sender.bytes])
        #expect(node.dht.statistics.providersIgnored == 1)
        // A key that is not a multihash stores nothing.
        #expect(await node.dht.answer(DHTMessage(kind: .addProvider, key: [0xFF], providerPeers: [.init(id: sender.bytes)]), from: sender) == nil)
        #expect(node.dht.statistics.providersStored == 1)
        // Without an address to reach it at, an announcement is ignored (as Kubo does).
        #expect(await node.dht.answer(DHTMessage(kind: .addProvider, key: key, providerPeers: [.init(id: sender.bytes)]), from: sender) == nil)
        #expect(node.dht.statistics.providersStored == 1 && node.dht.statistics.providersIgnored == 2)
    }

    @Test func aPeersProviderQuotaCountsDistinctKeys() async throws {
        let node = try await DHTNode.start { $0.maxProvidersPerPeer = 2 }
        defer { Task { await node.stop() } }
        let sender = KeyPair.generate().peerID
        let address = try Multiaddr("/ip4/127.0.0.1/tcp/4001").bytes
        func announce(_ text: String) async {
            let key = Multihash(hashing: Array(text.utf8), with: .sha2_256).bytes
            _ = await node.dht.answer(DHTMessage(kind: .addProvider, key: key, providerPeers: [.init(id: sender.bytes, addresses: [address])]), from: sender)
        }
        await announce("a")
        await announce("b")
        await announce("a")   // a reprovide of a key it has: not a new one
        #expect(node.dht.statistics.providersStored == 3)
        await announce("c")   // a third key: over the quota
        #expect(node.dht.statistics.providersStored == 3 && node.dht.statistics.providersIgnored == 1)
    }

    @Test func malformedRequestsResetTheStream() async throws {
        let server = try await DHTNode.start()
        let client = P2PHost(identity: .generate(), listenAddresses: [])
        try await client.start()
        defer { Task { await server.stop(); await client.shutdown() } }
        let stream = try await client.newStream(to: server.address, protocol: server.dht.protocolID)
        try await stream.writeLengthPrefixed([0x08, 0x63])   // type 99
        await #expect(throws: (any Error).self) { _ = try await stream.readLengthPrefixed(maxLength: 1 << 16) }
        #expect(server.dht.statistics.requestsRefused == 1)
        // An oversized frame is refused before it is read.
        let second = try await client.newStream(to: server.address, protocol: server.dht.protocolID)
        try await second.writeLengthPrefixed([UInt8](repeating: 0, count: 70_000))
        await #expect(throws: (any Error).self) { _ = try await second.readLengthPrefixed(maxLength: 1 << 16) }
    }

    @Test func aPrivateNetworkUsesItsOwnProtocol() async throws {
        let key = SwarmKey.generate()
        let node = try await DHTNode.start(swarmKey: key)
        defer { Task { await node.stop() } }
        #expect(node.dht.protocolID == "/tau/pnet-\(key.fingerprint)/kad/1.0.0")
        #expect(DHT.protocolID(prefix: nil, swarmKey: nil) == "/ipfs/kad/1.0.0")
        #expect(node.host.protocols.contains(node.dht.protocolID) && !node.host.protocols.contains("/ipfs/kad/1.0.0"))
    }

    @Test func clientsAskButDoNotServe() async throws {
        let server = try await DHTNode.start()
        let client = try await DHTNode.start(mode: .client)
        defer { Task { await server.stop(); await client.stop() } }
        #expect(!client.host.protocols.contains(client.dht.protocolID))
        try await client.host.connect(server.address)
        #expect(await eventually { client.dht.routingTable == [server.host.peerID] })
        // The server has identified the client, which does not announce the protocol: it never joins.
        #expect(await eventually { server.host.peerstore.info(client.host.peerID)?.protocols.isEmpty == false })
        #expect(server.host.peerstore.info(client.host.peerID)?.protocols.contains(client.dht.protocolID) == false)
        _ = try await client.dht.closestPeers(to: [1, 2, 3])
        #expect(server.dht.statistics.requestsServed >= 1)
        #expect(server.dht.routingTable.isEmpty)   // serving a client does not add it either
    }

    /// Records and the routing table live in the repo: a restarted node starts warm.
    @Test func aRestartKeepsTheTableAndRecords() async throws {
        try await withTemporaryDirectory { path in
            let identity = KeyPair.generate()
            let peer = try await DHTNode.start()
            defer { Task { await peer.stop() } }
            do {
                let repo = try Repo(path: path, databases: RepoDHTStore.databases)
                let node = try await DHTNode.start(datastore: try RepoDHTStore(repo: repo), identity: identity)
                try await node.host.connect(peer.address)
                #expect(await eventually { node.dht.routingTable == [peer.host.peerID] })
                try await node.dht.provide(Self.content)
                await node.stop()
                await repo.close()
            }
            let repo = try Repo(path: path, databases: RepoDHTStore.databases)
            let store = try RepoDHTStore(repo: repo)
            let node = try await DHTNode.start(datastore: store, identity: identity)
            #expect(node.dht.routingTable == [peer.host.peerID])
            #expect(try store.routingPeers().first?.addresses == [peer.host.listenAddresses[0]])
            // Our own provider record is still there; the peer can be queried without a new connect.
            #expect(try await node.dht.findProviders(Self.content, limit: 1).map(\.peer) == [identity.peerID])
            #expect(try await node.dht.closestPeers(to: [9]) == [peer.host.peerID])
            await node.stop()
            await repo.close()
        }
    }

    @Test func theRepoStoreExpiresProviders() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: RepoDHTStore.databases)
            let store = try RepoDHTStore(repo: repo)
            let a = KeyPair.generate().peerID, b = KeyPair.generate().peerID
            let address = try Multiaddr("/ip4/10.0.0.1/tcp/4001")
            try await store.addProvider(ProviderRecord(key: [1, 2], provider: a, addresses: [address], expiresAt: 100))
            try await store.addProvider(ProviderRecord(key: [1, 2], provider: b, addresses: [], expiresAt: 300))
            try await store.addProvider(ProviderRecord(key: [1, 2, 3], provider: a, addresses: [], expiresAt: 300))
            #expect(try store.providers(of: [1, 2], now: 50, limit: 10).count == 2)
            #expect(try store.providers(of: [1, 2], now: 50, limit: 10).first { $0.provider == a }?.addresses == [address])
            #expect(try store.providers(of: [1, 2], now: 200, limit: 10).map(\.provider) == [b])
            try await store.putRecord(StoredRecord(key: [7], value: [8], receivedAt: 10))
            #expect(try await store.removeExpired(now: 200, recordsBefore: 20) == 2)
            #expect(try store.record(for: [7]) == nil)
            #expect(try store.providers(of: [1, 2, 3], now: 200, limit: 10).map(\.provider) == [a])
            await repo.close()
        }
    }
}
