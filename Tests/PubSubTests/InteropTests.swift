import Foundation
import P2P
import PubSub
import TestSupport
import Testing

/// GossipSub with py-libp2p 0.8.1 (Tests/PubSubTests/Peers/gossip_peer.py), both ways.
@Suite("pubsub with py-libp2p", .serialized) struct InteropTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// A py-libp2p peer subscribed to `topic`, and its address.
    static func pythonPeer(_ topic: String, protocolID: PubSubProtocol) async throws -> (PythonProcess, Multiaddr) {
        let peer = try PythonProcess(script: "Tests/PubSubTests/Peers/gossip_peer.py", [topic, protocolID.rawValue])
        do {
            let line = try await peer.nextLine()
            guard line.hasPrefix("ready ") else { throw PeerFailure("unexpected first line \(line)") }
            return (peer, try Multiaddr(String(line.dropFirst(6))))
        } catch {
            peer.stop()
            throw error
        }
    }

    @Test(arguments: [PubSubProtocol.meshsub11, .meshsub10, .floodsub])
    func messagesFlowBothWays(protocolID: PubSubProtocol) async throws {
        let topic = "tau-interop"
        let node = try await PubSubNode.start()
        let (python, address) = try await Self.pythonPeer(topic, protocolID: protocolID)
        do {
            let inbox = Inbox(node.pubsub.subscribe(topic))
            let pythonID = try #require(address.peerID)
            try await node.host.connect(address)
            // The peer joins once identify lists its protocol; for gossip protocols it enters our mesh.
            let joined = await eventually(timeout: .seconds(20)) {
                node.pubsub.peers(topic: topic).contains(pythonID)
                    && (!protocolID.isGossip || node.pubsub.mesh(topic).contains(pythonID))
            }
            #expect(joined, "peers \(node.pubsub.peers()); python stderr:\n\(python.stderrTail)")

            // tau → py-libp2p: py-libp2p verifies our signature (it signs strictly by default) and delivers.
            let ours = Array("from tau over \(protocolID.rawValue)".utf8)
            try node.pubsub.publish(ours, to: topic)
            let line = try await python.nextLine(timeout: .seconds(20))
            #expect(line == "message \(node.host.peerID) \(Self.hex(ours))", "python stderr:\n\(python.stderrTail)")

            // py-libp2p → tau.
            let theirs = Array("from py-libp2p".utf8)
            python.send("publish \(Self.hex(theirs))")
            #expect(try await python.nextLine() == "published")
            let arrived = await eventually(timeout: .seconds(20)) { inbox.messages.contains { $0.data == theirs } }
            #expect(arrived, "python stderr:\n\(python.stderrTail)")
            let message = inbox.messages.first { $0.data == theirs }
            #expect(message?.from == pythonID)
            #expect(node.pubsub.statistics.invalidSignatures == 0)
            inbox.cancel()
        } catch {
            python.stop()
            await node.stop()
            throw error
        }
        python.stop()
        await node.stop()
    }
}
