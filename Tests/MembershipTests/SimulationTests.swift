// Whole clusters on the virtual network, deterministic by seed:
// formats/membership.md, section 11.

import Membership
import Simulation
import Testing

@Suite struct SimulationTests {
    static let configuration = MembershipConfiguration.lan

    func joinedCluster(_ count: Int, loss: Double = 0, seed: UInt64 = 1) -> MembershipCluster {
        var cluster = MembershipCluster(count: count, configuration: Self.configuration,
                                        conditions: NetworkConditions(loss: loss), seed: seed)
        cluster.joinAll()
        let converged = cluster.run(until: { $0.converged() }, step: .milliseconds(500),
                                            limit: .seconds(60))
        #expect(converged, "\(count) members did not converge")
        return cluster
    }

    @Test(arguments: [10, 100])
    func membersConvergeAndDetectAKilledMemberWithinTheBound(count: Int) {
        var cluster = joinedCluster(count)
        #expect(cluster.converged())
        let victim = cluster.ids[count / 2]
        cluster.network.crash(victim)
        let killedAt = cluster.network.now
        // Bound: one pass of probes finds it (the first prober is usually much sooner), a failed period,
        // the longest suspicion, and a few gossip rounds to spread the death.
        let (_, maximum) = Self.configuration.suspicionTimeouts(memberCount: count)
        let bound = Self.configuration.probeInterval * 5 + maximum + Self.configuration.gossipInterval * 20
        let detected = cluster.run(until: { $0.allSeeGone(victim) }, step: .milliseconds(100),
                                           limit: bound)
        #expect(detected, "not every member saw the crash within \(bound)")
        print("members \(count): crash seen by all after \(cluster.network.now - killedAt) (bound \(bound))")
        // Nobody else died.
        #expect(cluster.total(\.deaths) <= count - 1)
        for id in cluster.network.runningNodeIDs {
            #expect(cluster.liveView(of: id) == Set(cluster.network.runningNodeIDs))
        }
    }

    @Test func onePercentLossDeclaresNobodyDeadWrongly() {
        var cluster = joinedCluster(100, loss: 0.01, seed: 7)
        cluster.network.run(for: .seconds(120))
        #expect(cluster.total(\.deaths) == 0)
        #expect(cluster.converged())
        print("1% loss, 100 members, 120 s: false suspicions \(cluster.total(\.falseSuspicions)), refutations \(cluster.total(\.refutations))")
    }

    @Test func partitionSplitsAndHeals() {
        var cluster = joinedCluster(10, seed: 3)
        let left = Array(cluster.ids[0..<5]), right = Array(cluster.ids[5..<10])
        cluster.network.partition([left, right])
        let split = cluster.run(until: { cluster in
            left.allSatisfy { cluster.liveView(of: $0) == Set(left) } && right.allSatisfy { cluster.liveView(of: $0) == Set(right) }
        }, step: .milliseconds(500), limit: .seconds(60))
        #expect(split, "the halves did not each see the other as dead")
        cluster.network.heal()
        let healed = cluster.run(until: { $0.converged() },
                                         step: .milliseconds(500), limit: .seconds(120))
        #expect(healed, "views did not converge after the heal")
    }

    @Test func runsAreDeterministicBySeed() {
        let first = joinedCluster(10, seed: 42), second = joinedCluster(10, seed: 42)
        #expect(first.network.eventsProcessed == second.network.eventsProcessed)
        #expect(first.network.traffic == second.network.traffic)
    }

    /// Steady-state messages per member per second for `count` members (after convergence and quiet queues).
    func messageRate(_ count: Int) -> Double {
        var cluster = joinedCluster(count, seed: 5)
        cluster.network.run(for: .seconds(30))
        let before = cluster.network.traffic.values.reduce(0) { $0 + $1.messagesSent }
        cluster.network.run(for: .seconds(60))
        let after = cluster.network.traffic.values.reduce(0) { $0 + $1.messagesSent }
        return Double(after - before) / Double(count) / 60
    }

    @Test func messagesPerMemberStayFlatFrom10To100() {
        let small = messageRate(10), large = messageRate(100)
        print("messages per member per second: 10 members \(small), 100 members \(large)")
        #expect(large / small < 2 && small / large < 2)
    }
}
