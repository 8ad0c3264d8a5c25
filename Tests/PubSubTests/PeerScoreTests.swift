import PubSub
import Testing

/// The v1.1 peer score and what the router does with it (formats/pubsub.md §7).
@Suite struct PeerScoreTests {
    @Test func rejectedMessagesDriveAPeerBelowEveryThresholdAndDecayBack() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) >= 0)
        sim.validation = { _, _ in .reject }
        _ = sim.publish(0, "t", 1)
        let afterOne = sim.routers[1]!.score(of: 0, now: sim.now)
        // One rejected message: −100 · 1², below the graylist threshold (−80).
        #expect(afterOne <= -99 && afterOne > -101, "\(afterOne)")
        // Graylisted: node 0's next RPC is ignored entirely.
        let next = PubSubMessage(from: [0], data: [2], seqno: [0, 0, 0, 0, 0, 0, 0, 2], topic: "t")
        let ignored = sim.routers[1]!.receive(PubSubRPC(messages: [next]), from: 0, now: sim.now, messageID: Simulation.id)
        #expect(ignored.graylisted && ignored.validate.isEmpty)
        // The heartbeat prunes it from node 1's mesh, without peer exchange.
        sim.heartbeat()
        #expect(sim.routers[1]!.mesh["t"]?.contains(0) == false)
        // The counter decays by 0.9 a second: below the gossip threshold for about 11 s, then back.
        for _ in 0..<12 { sim.heartbeat() }
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) >= -10)
        for _ in 0..<40 { sim.heartbeat() }
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) == 0 || sim.routers[1]!.score(of: 0, now: sim.now) > -1)
    }

    @Test func firstDeliveriesAndTimeInMeshRaiseTheScore() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        for n in 1...5 { _ = sim.publish(0, "t", UInt8(n)) }
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) >= 5)
        for _ in 0..<100 { sim.heartbeat() }
        // First deliveries have decayed away; 100 s in the mesh at 0.01 per second remain.
        let score = sim.routers[1]!.score(of: 0, now: sim.now)
        #expect(score > 0.9 && score < 1.2, "\(score)")
    }

    @Test func graftsDuringBackoffArePenalisedUntilTheSenderIsGraylisted() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        var router = sim.routers[1]!
        _ = router.unsubscribe("t", now: sim.now)
        _ = router.subscribe("t", now: sim.now)
        // 10,000 GRAFTs, in RPCs of at most 1,024 (the decoder's limit): the first
        // RPC's penalties put the sender below the graylist; the rest are not even read.
        var graylisted = 0
        let graft = PubSubRPC(control: .init(graft: Array(repeating: .init(topic: "t"), count: 1000)))
        for _ in 0..<10 {
            let answer = router.receive(try! PubSubRPC(decoding: graft.encoded()), from: 0, now: sim.now, messageID: Simulation.id)
            if answer.graylisted { graylisted += 1 }
        }
        #expect(router.score(of: 0, now: sim.now) < -80)
        #expect(graylisted == 9)
        #expect(router.mesh["t"]?.contains(0) == false)
    }

    @Test func lowScoresGetNoGossipAndNoFloodPublish() {
        var configuration = GossipConfiguration()
        configuration.d = 1
        configuration.dLow = 1
        configuration.dHigh = 1
        var sim = Simulation(nodes: 4, configuration: configuration)
        for peer in 1...3 { sim.connect(0, peer) }
        for node in 0...3 { sim.subscribe(node, "t") }
        // Node 0 thinks badly of node 3 (the application's score, P5).
        sim.routers[0]!.setApplicationScore(3, -60)
        sim.sent.removeAll()
        _ = sim.publish(0, "t", 1)
        #expect(!sim.sent.contains { $0.from == 0 && $0.to == 3 && !$0.rpc.messages.isEmpty })
        #expect(sim.sent.contains { $0.from == 0 && $0.to == 1 && !$0.rpc.messages.isEmpty })
        sim.sent.removeAll()
        sim.heartbeat()
        #expect(!sim.sent.contains { $0.from == 0 && $0.to == 3 && !($0.rpc.control?.ihave.isEmpty ?? true) })
        // IHAVE from it is not answered with IWANT.
        let ihave = PubSubRPC(control: .init(ihave: [.init(topic: "t", messageIDs: [[9, 9, 9]])]))
        let answer = sim.routers[0]!.receive(ihave, from: 3, now: sim.now, messageID: Simulation.id)
        #expect(answer.send[3] == nil)
    }

    @Test func colocatedPeersArePenalisedBeyondTheThreshold() {
        var score = PeerScore<Int>()
        let now = ContinuousClock.now
        for peer in 0..<10 { score.addPeer(peer, address: "10.0.0.1") }
        #expect(score.score(0, now: now) == 0)
        for peer in 10..<13 { score.addPeer(peer, address: "10.0.0.1") }
        // 13 peers on one address: 3 above the threshold of 10, −10 · 3².
        #expect(score.score(0, now: now) == -90)
        score.removePeer(12)
        #expect(score.score(0, now: now) == -40)
    }

    @Test func scoringCanBeTurnedOff() {
        var configuration = GossipConfiguration()
        configuration.scoring = false
        var sim = Simulation(nodes: 2, configuration: configuration)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        sim.validation = { _, _ in .reject }
        _ = sim.publish(0, "t", 1)
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) == 0)
        sim.heartbeat()
        #expect(sim.routers[1]!.mesh["t"]?.contains(0) == true)
    }

    @Test func topicsPerPeerAreLimited() {
        var configuration = GossipConfiguration()
        configuration.maxTopicsPerPeer = 3
        var sim = Simulation(nodes: 2, configuration: configuration)
        sim.connect(0, 1)
        let rpc = PubSubRPC(subscriptions: (0..<10).map { .init(subscribe: true, topic: "t\($0)") })
        _ = sim.routers[1]!.receive(rpc, from: 0, now: sim.now, messageID: Simulation.id)
        #expect(sim.routers[1]!.peers[0]?.topics.count == 3)
    }
}

/// Scores outlive a disconnect (formats/pubsub.md §7 rule 8).
@Suite struct RetainedScoreTests {
    @Test func aPeerThatReconnectsKeepsItsBadScoreUntilRetentionEnds() {
        var sim = Simulation(nodes: 2)
        sim.connect(0, 1)
        sim.subscribe(0, "t")
        sim.subscribe(1, "t")
        sim.validation = { _, _ in .reject }
        _ = sim.publish(0, "t", 1)
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) < -80)
        sim.routers[1]!.removePeer(0, now: sim.now)
        _ = sim.routers[1]!.addPeer(0, protocolID: .meshsub11)
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) < -80)
        // Gone longer than retainScore (10 min): forgotten.
        sim.routers[1]!.removePeer(0, now: sim.now)
        sim.now += .seconds(601)
        _ = sim.routers[1]!.heartbeat(now: sim.now)
        _ = sim.routers[1]!.addPeer(0, protocolID: .meshsub11)
        #expect(sim.routers[1]!.score(of: 0, now: sim.now) == 0)
    }
}

/// P3 and P3b, mesh message deliveries and mesh failures (formats/pubsub.md §7 rule 3).
@Suite struct MeshDeliveryScoreTests {
    /// One router (node 0) with three mesh peers; only P3 and P3b count.
    static func router() -> GossipRouter<Int> {
        var configuration = GossipConfiguration()
        configuration.scoreParameters.defaultTopic.timeInMeshWeight = 0
        configuration.scoreParameters.defaultTopic.firstMessageDeliveriesWeight = 0
        configuration.scoreParameters.defaultTopic.meshMessageDeliveriesWeight = -1
        configuration.scoreParameters.defaultTopic.meshMessageDeliveriesThreshold = 3
        configuration.scoreParameters.defaultTopic.meshMessageDeliveriesActivation = .seconds(5)
        configuration.scoreParameters.defaultTopic.meshFailurePenaltyWeight = -2
        return GossipRouter<Int>(configuration: configuration) { [UInt8(truncatingIfNeeded: $0)] }
    }

    @Test func slowAndSilentMeshPeersScoreTheirDeficitSquaredAfterActivation() {
        var router = Self.router()
        var now = ContinuousClock.now
        let subscribe = PubSubRPC(subscriptions: [.init(subscribe: true, topic: "t")])
        for peer in 1...3 {
            _ = router.addPeer(peer, protocolID: .meshsub11)
            _ = router.receive(subscribe, from: peer, now: now, messageID: Simulation.id)
        }
        _ = router.subscribe("t", now: now)
        #expect(router.mesh["t"] == [1, 2, 3])
        now += .seconds(6)
        for n in 1...3 {
            let message = PubSubMessage(from: [1], data: [UInt8(n)], seqno: [0, 0, 0, 0, 0, 0, 0, UInt8(n)], topic: "t")
            let first = router.receive(PubSubRPC(messages: [message]), from: 1, now: now, messageID: Simulation.id)
            for item in first.validate { _ = router.validated(item.id, .accept) }
            // Peer 2 forwards the same message: 5 ms later (counted) twice, 50 ms later (too late) once.
            let delay: Duration = n < 3 ? .milliseconds(5) : .milliseconds(50)
            _ = router.receive(PubSubRPC(messages: [message]), from: 2, now: now + delay, messageID: Simulation.id)
            now += .milliseconds(100)
        }
        // Peer 1 delivered all 3 first; peer 2 two in the window (deficit 1); peer 3 none (deficit 3).
        #expect(router.score(of: 1, now: now) == 0)
        #expect(router.score(of: 2, now: now) == -1)
        #expect(router.score(of: 3, now: now) == -9)
        // Peer 2 prunes itself: its deficit stays as a mesh failure penalty, −2 · 1².
        _ = router.receive(PubSubRPC(control: .init(prune: [.init(topic: "t")])), from: 2, now: now, messageID: Simulation.id)
        #expect(router.score(of: 2, now: now) == -2)
        // Peer 3 disconnects: its deficit (9) too, and it is retained with the rest of its score.
        router.removePeer(3, now: now)
        #expect(router.score(of: 3, now: now) == -18)
    }

    @Test func noDeficitBeforeActivation() {
        var router = Self.router()
        let now = ContinuousClock.now
        _ = router.addPeer(1, protocolID: .meshsub11)
        _ = router.receive(PubSubRPC(subscriptions: [.init(subscribe: true, topic: "t")]), from: 1, now: now, messageID: Simulation.id)
        _ = router.subscribe("t", now: now)
        #expect(router.score(of: 1, now: now + .seconds(4)) == 0)
        #expect(router.score(of: 1, now: now + .seconds(5)) == -9)
        // Pruned before activation: no mesh failure penalty.
        _ = router.receive(PubSubRPC(control: .init(prune: [.init(topic: "t")])), from: 1, now: now + .seconds(1), messageID: Simulation.id)
        #expect(router.score(of: 1, now: now + .seconds(10)) == 0)
    }
}
