import Foundation
import P2P
import TestSupport
import Testing

/// The connection manager: the trim policy and a host trimming real connections (formats/libp2p.md §9).
@Suite struct ConnectionManagerTests {
    @Test func trimsNewestUnprotectedPeersDownToTheLowWaterMark() {
        let policy = ConnectionManagerPolicy(lowWater: 2, highWater: 4, gracePeriod: .seconds(20))
        let start = ContinuousClock.now
        let peers = (0..<6).map { _ in KeyPair.generate().peerID }
        var candidates = peers.enumerated().map { index, peer in
            ConnectionManagerPolicy.Candidate(peer: peer, connectedAt: start + .seconds(index), isProtected: false)
        }
        let now = start + .seconds(100)
        // At the high water mark nothing happens.
        #expect(policy.peersToTrim(Array(candidates.prefix(4)), now: now).isEmpty)
        // Six peers: four go, newest first.
        #expect(policy.peersToTrim(candidates, now: now) == [peers[5], peers[4], peers[3], peers[2]])
        // The newest is protected: it stays, an older one goes instead.
        candidates[5].isProtected = true
        #expect(policy.peersToTrim(candidates, now: now) == [peers[4], peers[3], peers[2], peers[1]])
        // Peers within the grace period are left alone even if that keeps more than the low mark.
        #expect(policy.peersToTrim(candidates, now: start + .seconds(22)) == [peers[2], peers[1], peers[0]])
    }

    @Test func aHostAboveItsHighWaterMarkClosesConnectionsButKeepsProtectedPeers() async throws {
        var limits = P2PHost.Limits()
        limits.connectionManager = ConnectionManagerPolicy(lowWater: 2, highWater: 3, gracePeriod: .zero)
        limits.trimInterval = .seconds(3600)   // trimmed by hand below
        let hub = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")], limits: limits)
        try await hub.start()
        var peers: [P2PHost] = []
        defer { Task { [peers] in for peer in peers { await peer.shutdown() }; await hub.shutdown() } }
        let address = hub.listenAddresses[0].withPeerID(hub.peerID)
        for _ in 0..<5 {
            let peer = P2PHost(identity: .generate(), listenAddresses: [])
            try await peer.start()
            try await peer.connect(address)
            peers.append(peer)
        }
        #expect(await eventually { hub.peers().count == 5 })
        hub.protect(peers[4].peerID, tag: "bootstrap")
        let closed = await hub.trimConnections()
        #expect(closed.count == 3 && !closed.contains(peers[4].peerID))
        #expect(await eventually { hub.peers().count == 2 })
        #expect(Set(hub.peers()) == [peers[4].peerID, peers[0].peerID])
        #expect(hub.unprotect(peers[4].peerID, tag: "bootstrap") == false)
    }
}
