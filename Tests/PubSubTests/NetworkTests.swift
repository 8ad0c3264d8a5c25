import Foundation
import P2P
import PubSub
import Synchronization
import TestSupport
import Testing


/// A host on loopback with pubsub running (a 100 ms heartbeat, so tests settle fast).
struct PubSubNode {
    let host: P2PHost
    let pubsub: PubSub

    static func start() async throws -> PubSubNode {
        let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
        try await host.start()
        var configuration = PubSub.Configuration()
        configuration.gossip.heartbeatInterval = .milliseconds(100)
        let pubsub = PubSub(host: host, configuration: configuration)
        pubsub.start()
        return PubSubNode(host: host, pubsub: pubsub)
    }

    var address: Multiaddr { host.listenAddresses[0].withPeerID(host.peerID) }

    func stop() async {
        pubsub.stop()
        await host.shutdown()
    }
}

/// Collects a subscription's messages in the background.
final class Inbox: Sendable {
    private final class Store: Sendable { let received = Mutex<[PubSub.Message]>([]) }
    private let store = Store()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<PubSub.Message>) {
        let store = self.store
        task = Task { for await message in stream { store.received.withLock { $0.append(message) } } }
    }

    var messages: [PubSub.Message] { store.received.withLock { $0 } }
    func cancel() { task.cancel() }
}

@Suite("pubsub between tau hosts", .serialized) struct NetworkTests {
    @Test func aMessageCrossesALineOfThreeHostsAndArrivesOnce() async throws {
        let nodes = [try await PubSubNode.start(), try await PubSubNode.start(), try await PubSubNode.start()]
        do {
            try await nodes[0].host.connect(nodes[1].address)
            try await nodes[1].host.connect(nodes[2].address)
            let inboxes = nodes.map { Inbox($0.pubsub.subscribe("tau/test")) }
            // Meshes form: node 1 has both others, the ends have node 1.
            let formed = await eventually {
                nodes[1].pubsub.mesh("tau/test").count == 2 && nodes[0].pubsub.mesh("tau/test").count == 1
                    && nodes[2].pubsub.mesh("tau/test").count == 1
            }
            #expect(formed)
            let id = try nodes[0].pubsub.publish(Array("hello".utf8), to: "tau/test")
            let arrived = await eventually { inboxes[2].messages.count == 1 && inboxes[1].messages.count == 1 }
            #expect(arrived)
            let message = try #require(inboxes[2].messages.first)
            #expect(message.data == Array("hello".utf8))
            #expect(message.from == nodes[0].host.peerID)
            #expect(message.id == id)
            #expect(message.receivedFrom == nodes[1].host.peerID)
            // Our own message is delivered to us too, once.
            #expect(inboxes[0].messages.map(\.id) == [id])
            #expect(nodes[2].pubsub.peers(topic: "tau/test") == [nodes[1].host.peerID])
            #expect(nodes[0].pubsub.topics == ["tau/test"])
            // Stays once: a second message sent the same way is the only other
            // one to arrive (a duplicate of the first would come before it).
            let second = try nodes[0].pubsub.publish(Array("again".utf8), to: "tau/test")
            #expect(await eventually { inboxes[2].messages.contains { $0.id == second } })
            #expect(inboxes[2].messages.map(\.id) == [id, second])
            for inbox in inboxes { inbox.cancel() }
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
        for node in nodes { await node.stop() }
    }

    @Test func forgedAndRejectedMessagesAreDropped() async throws {
        let receiver = try await PubSubNode.start()
        let attacker = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
        try await attacker.start()
        do {
            let inbox = Inbox(receiver.pubsub.subscribe("t"))
            receiver.pubsub.setValidator({ message, _ in message.data == [0xBA, 0xD0] ? .reject : .accept }, for: "t")
            let stream = try await attacker.newStream(to: receiver.address, protocol: PubSubProtocol.meshsub11.rawValue)
            var forged = SignedMessages.sign(data: Array("real".utf8), topic: "t", seqno: 1, author: attacker.identity)
            forged.data = Array("forged".utf8)
            let rejected = SignedMessages.sign(data: [0xBA, 0xD0], topic: "t", seqno: 2, author: attacker.identity)
            let good = SignedMessages.sign(data: Array("good".utf8), topic: "t", seqno: 3, author: attacker.identity)
            let unsigned = PubSubMessage(data: Array("anonymous".utf8), topic: "t")
            try await stream.writeLengthPrefixed(PubSubRPC(subscriptions: [.init(subscribe: true, topic: "t")],
                                                           messages: [forged, rejected, unsigned, good]).encoded())
            let done = await eventually { inbox.messages.count == 1 }
            #expect(done)
            #expect(inbox.messages.map(\.data) == [Array("good".utf8)])
            let statistics = receiver.pubsub.statistics
            #expect(statistics.invalidSignatures == 2)
            #expect(statistics.rejected == 3)  // two bad signatures and the validator's reject
            // An RPC over the size limit ends the stream.
            var big = [UInt8](repeating: 0, count: 1_100_000)
            big[0] = 0x12
            try? await stream.writeLengthPrefixed(big)
            let refused = await eventually { receiver.pubsub.statistics.refusedRPCs == 1 }
            #expect(refused)
            inbox.cancel()
            await stream.close()
        } catch {
            await attacker.shutdown()
            await receiver.stop()
            throw error
        }
        await attacker.shutdown()
        await receiver.stop()
    }
}
