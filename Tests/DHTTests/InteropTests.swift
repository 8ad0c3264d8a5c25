import DHT
import Foundation
import Multiformats
import P2P
import TestSupport
import Testing

/// The DHT with py-libp2p 0.8.1's Kademlia (Tests/DHTTests/Peers/kad_peer.py), both ways.
@Suite("dht with py-libp2p", .serialized) struct InteropTests {
    /// A py-libp2p DHT server, and its address.
    static func pythonPeer() async throws -> (PythonProcess, Multiaddr) {
        let peer = try PythonProcess(script: "Tests/DHTTests/Peers/kad_peer.py", ["server"])
        do {
            let line = try await peer.nextLine()
            guard line.hasPrefix("ready ") else { throw PeerFailure("unexpected first line \(line)") }
            let parts = line.split(separator: " ")
            return (peer, try Multiaddr(String(parts[2])))
        } catch {
            peer.stop()
            throw error
        }
    }

    static func ask(_ peer: PythonProcess, _ command: String, expect prefix: String) async throws -> String {
        peer.send(command)
        let line = try await peer.nextLine(timeout: .seconds(40))
        guard line.hasPrefix(prefix) else { throw PeerFailure("\(command): \(line)\n\(peer.stderrTail)") }
        return String(line.dropFirst(prefix.count))
    }

    static func json(_ text: String) throws -> [String] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] ?? []
    }

    /// py-libp2p A and B (B knows only A); tau T1 (knows only A) and T2 (knows only T1).
    @Test func providersAndPeersAreFoundBothWays() async throws {
        let (a, addressA) = try await Self.pythonPeer()
        let (b, addressB) = try await Self.pythonPeer()
        var nodes: [DHTNode] = []
        defer {
            a.stop()
            b.stop()
            Task { [nodes] in for node in nodes { await node.stop() } }
        }
        let idA = try #require(addressA.peerID)
        _ = try await Self.ask(b, "connect \(addressA)", expect: "connected")
        let t1 = try await DHTNode.start(), t2 = try await DHTNode.start()
        nodes = [t1, t2]
        try await t1.host.connect(addressA)
        try await t2.host.connect(t1.address)
        #expect(await eventually { t1.dht.routingTable.contains(idA) && t2.dht.routingTable.contains(t1.host.peerID) })
        // T1 looks itself up (as its refresh does): A learns of T1 from the stream it opens.
        _ = try await t1.dht.closestPeers(to: t1.host.peerID.bytes)

        // py-libp2p provides; tau finds it two hops away and dials the provider.
        let fromPython = CID.v1(.raw, Multihash(hashing: Array("added by py-libp2p".utf8), with: .sha2_256))
        _ = try await Self.ask(a, "provide \(fromPython)", expect: "provided")
        let providers = try await t2.dht.findProviders(fromPython, limit: 1)
        #expect(providers.map(\.peer) == [idA], "\(a.stderrTail)")
        let providerAddress = try #require(providers.first?.addresses.first)
        await t2.host.disconnect(idA)
        try await t2.host.connect(providerAddress.withPeerID(idA))

        // tau finds a peer py-libp2p knows: B, through A.
        let idB = try #require(addressB.peerID)
        let found = try await t1.dht.findPeer(idB)
        #expect(!found.isEmpty && found.allSatisfy { $0.description.hasPrefix("/ip4/127.0.0.1/tcp/") })

        // tau provides; py-libp2p B (which knows only A) finds tau through A.
        let fromTau = CID.v1(.raw, Multihash(hashing: Array("added by tau".utf8), with: .sha2_256))
        let told = try await t1.dht.provide(fromTau)
        #expect(told >= 1)
        // ADD_PROVIDER has no answer: A stores it when it has read it.
        let stored = await eventually {
            (try? Self.json(try await Self.ask(a, "localprovs \(fromTau)", expect: "providers "))) == [t1.host.peerID.description]
        }
        #expect(stored, "\(a.stderrTail)")
        let pythonFound = try Self.json(try await Self.ask(b, "findprovs \(fromTau) 20", expect: "providers "))
        #expect(pythonFound.contains(t1.host.peerID.description), "\(b.stderrTail)")
        // And B finds T2, which only T1 knows.
        let addresses = try Self.json(try await Self.ask(b, "findpeer \(t2.host.peerID) 20", expect: "peer "))
        #expect(addresses.contains { $0.hasPrefix(t2.host.listenAddresses[0].description) }, "\(addresses)\n\(b.stderrTail)")
    }
}
