import PubSub
import Testing

/// Routers connected in memory: each action's RPCs are delivered to the
/// addressed router, validations are answered `accept`, until nothing moves.
struct Simulation {
    var routers: [Int: GossipRouter<Int>] = [:]
    var now = ContinuousClock.now
    /// Messages each node was asked to validate (received for the first time), by node.
    var received: [Int: [[UInt8]]] = [:]
    /// RPCs sent, by (from, to).
    var sent: [(from: Int, to: Int, rpc: PubSubRPC)] = []
    var queue: [(from: Int, to: Int, rpc: PubSubRPC)] = []
    var validation: (Int, PubSubMessage) -> ValidationResult = { _, _ in .accept }

    static func id(_ message: PubSubMessage) -> [UInt8] { SignedMessages.defaultID(of: message) }

    init(nodes: Int, configuration: GossipConfiguration = .standard) {
        for node in 0..<nodes {
            routers[node] = GossipRouter(configuration: configuration, seed: UInt64(node + 1)) { [UInt8(truncatingIfNeeded: $0)] }
        }
    }

    mutating func connect(_ a: Int, _ b: Int, protocols: (PubSubProtocol, PubSubProtocol) = (.meshsub11, .meshsub11)) {
        absorb(a, routers[a]!.addPeer(b, protocolID: protocols.1))
        absorb(b, routers[b]!.addPeer(a, protocolID: protocols.0))
        run()
    }

    mutating func absorb(_ node: Int, _ actions: GossipActions<Int>) {
        for (peer, rpc) in actions.send.sorted(by: { $0.key < $1.key }) { queue.append((node, peer, rpc)) }
        for item in actions.validate {
            received[node, default: []].append(item.id)
            absorb(node, routers[node]!.validated(item.id, validation(node, item.message)))
        }
    }

    mutating func run() {
        while !queue.isEmpty {
            let (from, to, rpc) = queue.removeFirst()
            sent.append((from, to, rpc))
            // Through the codec, as on the wire.
            let decoded = try! PubSubRPC(decoding: rpc.encoded())
            absorb(to, routers[to]!.receive(decoded, from: from, now: now, messageID: Self.id))
        }
    }

    mutating func subscribe(_ node: Int, _ topic: String) {
        absorb(node, routers[node]!.subscribe(topic, now: now))
        run()
    }

    mutating func heartbeat() {
        now += .seconds(1)
        for node in routers.keys.sorted() { absorb(node, routers[node]!.heartbeat(now: now)) }
        run()
    }

    mutating func publish(_ node: Int, _ topic: String, _ n: UInt8) -> [UInt8] {
        let message = PubSubMessage(from: [UInt8(node)], data: [n], seqno: [0, 0, 0, 0, 0, 0, 0, n], topic: topic)
        absorb(node, routers[node]!.publish(message, id: Self.id(message), now: now))
        run()
        return Self.id(message)
    }
}

@Suite struct GossipRouterTests {
    @Test func aMeshFormsAndAMessageReachesEveryoneOnce() {
        var sim = Simulation(nodes: 10)
        // A ring plus chords: connected, not complete.
        for node in 0..<10 {
            sim.connect(node, (node + 1) % 10)
            if node % 3 == 0 { sim.connect(node, (node + 5) % 10) }
        }
        for node in 0..<10 { sim.subscribe(node, "blocks") }
        for _ in 0..<3 { sim.heartbeat() }
        for node in 0..<10 {
            let mesh = sim.routers[node]!.mesh["blocks"] ?? []
            #expect(!mesh.isEmpty && mesh.count <= 12, "node \(node) mesh \(mesh)")
        }
        let id = sim.publish(4, "blocks", 1)
        for node in 0..<10 where node != 4 {
            #expect(sim.received[node, default: []].filter { $0 == id }.count == 1, "node \(node)")
        }
        #expect(sim.received[4, default: []].isEmpty)
    }

    @Test func meshesStayBetweenTheWaterMarksAndPrunesCarryBackoffAndPeers() {
        var sim = Simulation(nodes: 21)
        for node in 1...20 { sim.connect(0, node) }
        for node in 1...20 { sim.subscribe(node, "t") }
        sim.subscribe(0, "t")
        #expect(sim.routers[0]!.mesh["t"]?.count == 6)
        // The others graft node 0 as their heartbeats fill their meshes: it accepts
        // (over D_hi), then its next heartbeat prunes back to D.
        sim.heartbeat()
        #expect((sim.routers[0]!.mesh["t"]?.count ?? 0) > 12)
        sim.heartbeat()
        let mesh = sim.routers[0]!.mesh["t"] ?? []
        #expect(mesh.count == 6, "mesh of \(mesh.count)")
        let prunes = sim.sent.filter { $0.from == 0 }.flatMap { $0.rpc.control?.prune ?? [] }
        #expect(!prunes.isEmpty)
        #expect(prunes.allSatisfy { $0.backoff == 60 && !$0.peers.isEmpty && $0.peers.count <= 16 })
    }

    @Test func aGraftDuringBackoffIsRefusedAndCounted() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        #expect(sim.routers[0]!.mesh["t"] == [1])
        // Node 1 prunes node 0 (a PRUNE with backoff), then grafts it again at once.
        let prune = PubSubRPC(control: .init(prune: [.init(topic: "t", backoff: 60)]))
        sim.absorb(0, sim.routers[0]!.receive(prune, from: 1, now: sim.now, messageID: Simulation.id))
        sim.run()
        #expect(sim.routers[0]!.mesh["t"]?.contains(1) == false)
        sim.sent.removeAll()
        // Node 0 is in backoff towards node 1 and does not graft it back in its heartbeat.
        sim.heartbeat()
        #expect(!sim.sent.contains { $0.from == 0 && !($0.rpc.control?.graft.isEmpty ?? true) })
        // A GRAFT from a peer we pruned, inside our backoff: PRUNE and a penalty.
        var router = sim.routers[1]!
        _ = router.unsubscribe("t", now: sim.now)  // node 1 prunes node 0, which starts node 1's backoff for 0
        _ = router.subscribe("t", now: sim.now)
        let graft = PubSubRPC(control: .init(graft: [.init(topic: "t")]))
        let answer = router.receive(graft, from: 0, now: sim.now, messageID: Simulation.id)
        #expect(answer.send[0]?.control?.prune.first?.topic == "t")
        #expect(router.peers[0]?.penalties == 1)
        #expect(router.mesh["t"]?.contains(0) == false)
    }

    @Test func aGraftForATopicWeAreNotInIsPruned() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        let graft = PubSubRPC(control: .init(graft: [.init(topic: "elsewhere")]))
        let answer = sim.routers[0]!.receive(graft, from: 1, now: sim.now, messageID: Simulation.id)
        #expect(answer.send[1]?.control?.prune.map(\.topic) == ["elsewhere"])
        #expect(answer.send[1]?.control?.prune.first?.peers.isEmpty == true)
    }

    @Test func gossipAnnouncesAndIWantIsAnsweredAtMostThreeTimes() {
        var configuration = GossipConfiguration()
        configuration.d = 1
        configuration.dLow = 1
        configuration.dHigh = 1
        configuration.dLazy = 6
        var sim = Simulation(nodes: 8, configuration: configuration)
        for node in 1...7 { sim.connect(0, node) }
        for node in 0...7 { sim.subscribe(node, "t") }
        let id = sim.publish(0, "t", 9)
        sim.sent.removeAll()
        sim.heartbeat()
        let ihaves = sim.sent.filter { $0.from == 0 }.flatMap { $0.rpc.control?.ihave ?? [] }
        #expect(ihaves.contains { $0.messageIDs.contains(id) })
        // A peer that has not seen the message asks; its IHAVE of an unseen ID gets an IWANT.
        var router = sim.routers[0]!
        let unseen: [UInt8] = [42, 42]
        let ask = router.receive(PubSubRPC(control: .init(ihave: [.init(topic: "t", messageIDs: [unseen, id])])),
                                 from: 3, now: sim.now, messageID: Simulation.id)
        #expect(ask.send[3]?.control?.iwant.first?.messageIDs == [unseen])
        let iwant = PubSubRPC(control: .init(iwant: [.init(messageIDs: [id])]))
        var replies = 0
        for _ in 0..<5 {
            replies += router.receive(iwant, from: 3, now: sim.now, messageID: Simulation.id).send[3]?.messages.count ?? 0
        }
        #expect(replies == 3)
    }

    @Test func floodsubPeersGetMessagesButNoControl() {
        var sim = Simulation(nodes: 3)
        sim.connect(0, 1)
        sim.connect(0, 2, protocols: (.meshsub11, .floodsub))
        for node in 0...2 { sim.subscribe(node, "t") }
        sim.heartbeat()
        #expect(sim.routers[0]!.mesh["t"]?.contains(2) == false)
        #expect(!sim.sent.contains { $0.to == 2 && $0.rpc.control != nil })
        let id = sim.publish(1, "t", 3)
        #expect(sim.received[2, default: []] == [id])
    }

    @Test func rejectedMessagesAreNotForwardedAndCountAgainstTheSender() {
        var sim = Simulation(nodes: 3)
        sim.connect(0, 1)
        sim.connect(1, 2)
        for node in 0...2 { sim.subscribe(node, "t") }
        sim.validation = { node, _ in node == 1 ? .reject : .accept }
        let id = sim.publish(0, "t", 5)
        #expect(sim.received[1, default: []] == [id])
        #expect(sim.received[2, default: []].isEmpty)
        #expect(sim.routers[1]!.peers[0]?.penalties == 1)
        // The same message again is a duplicate: not validated twice.
        var router = sim.routers[1]!
        let again = router.receive(PubSubRPC(messages: [PubSubMessage(from: [0], data: [5], seqno: [0, 0, 0, 0, 0, 0, 0, 5], topic: "t")]),
                                   from: 0, now: sim.now, messageID: Simulation.id)
        #expect(again.validate.isEmpty)
    }

    @Test func publishingWithoutSubscribingUsesAFanoutThatExpires() {
        var configuration = GossipConfiguration()
        configuration.floodPublish = false
        var sim = Simulation(nodes: 4, configuration: configuration)
        for node in 1...3 { sim.connect(0, node) }
        for node in 1...3 { sim.subscribe(node, "t") }
        let id = sim.publish(0, "t", 1)
        #expect(sim.routers[0]!.fanout["t"]?.count == 3)
        for node in 1...3 { #expect(sim.received[node, default: []].contains(id)) }
        for _ in 0..<62 { sim.heartbeat() }
        #expect(sim.routers[0]!.fanout["t"] == nil)
    }
}
