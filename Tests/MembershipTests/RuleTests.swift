// The protocol's rules one at a time, on members driven by hand:
// formats/membership.md, sections 3–10.

import Membership
import Simulation
import Testing

@Suite struct ProbeTests {
    /// Member 0 knowing members 1…4; returns it and its first probe's target and actions.
    func startProbe() -> (Membership, MemberID, [MembershipAction], MembershipInstant) {
        var member = makeMember(0)
        introduce([1, 2, 3, 4], to: &member, from: 1)
        // Tick at each deadline (gossip rounds come first) until the first probe goes out.
        while true {
            let start = member.nextDeadline
            let actions = member.tick(now: start)
            if let ping = sends(actions).first(where: { $0.message.kind.isPing }) {
                return (member, ping.to!, actions, start)
            }
        }
    }

    @Test func probeIsAnsweredByAck() {
        var (prober, target, actions, start) = startProbe()
        let ping = sends(actions).first { $0.message.kind.isPing }!
        guard case .ping(let sequence, let pinged) = ping.message.kind else { Issue.record(); return }
        #expect(pinged == target)
        var targetMember = makeMember(Int(target.bytes[3]))
        let answer = sends(targetMember.receive(ping.message, from: id(0), now: start))
        #expect(answer.count == 1 && answer[0].message.kind == .ack(sequence: sequence) && answer[0].to == id(0))
        _ = prober.receive(answer[0].message, from: target, now: start + .milliseconds(10))
        #expect(prober.statistics.acksReceived == 1)
        // The period ends without a suspicion.
        let later = runTimers(&prober, from: start, to: start + .seconds(1))
        #expect(!later.contains { if case .changed(.suspected) = $0.1 { true } else { false } })
    }

    @Test func missingAckAsksKOthersWhoseAckCountsAsIndirect() {
        var (prober, target, actions, start) = startProbe()
        let sequence = sends(actions).first { $0.message.kind.isPing }!.message.kind.sequence!
        let timeout = start + MembershipConfiguration.lan.probeTimeout
        #expect(sends(prober.tick(now: timeout - .milliseconds(1))).isEmpty)
        let requests = sends(prober.tick(now: timeout)).filter { $0.message.kind.isPingRequest }
        #expect(requests.count == 3)
        #expect(Set(requests.compactMap(\.to)).count == 3 && !requests.contains { $0.to == target || $0.to == id(0) })
        #expect(prober.statistics.indirectProbesSent == 3)
        // A helper pings the target with its own sequence and forwards the ack under the prober's.
        let helperID = requests[0].to!
        var helper = makeMember(Int(helperID.bytes[3]))
        introduce([Int(target.bytes[3])], to: &helper, from: 0)
        let forwarded = sends(helper.receive(requests[0].message, from: id(0), now: timeout))
        #expect(forwarded.count == 1 && forwarded[0].to == target && forwarded[0].message.kind.isPing)
        var targetMember = makeMember(Int(target.bytes[3]))
        let ack = sends(targetMember.receive(forwarded[0].message, from: helperID, now: timeout))[0]
        let relayed = sends(helper.receive(ack.message, from: target, now: timeout))
        #expect(relayed.count == 1 && relayed[0].to == id(0) && relayed[0].message.kind == .ack(sequence: sequence))
        _ = prober.receive(relayed[0].message, from: helperID, now: timeout)
        #expect(prober.statistics.acksReceived == 1)
        let rest = runTimers(&prober, from: timeout, to: start + .seconds(1))
        #expect(!rest.contains { if case .changed(.suspected) = $0.1 { true } else { false } })
    }

    @Test func helperWithoutAnswerSendsNack() {
        var helper = makeMember(1)
        introduce([2], to: &helper, from: 0)
        let request = MembershipMessage(.pingRequest(sequence: 77, target: id(2), addresses: []))
        _ = helper.receive(request, from: id(0), now: .zero)
        let nacks = sends(helper.tick(now: .zero + MembershipConfiguration.lan.probeTimeout))
            .filter { $0.message.kind == .nack(sequence: 77) }
        #expect(nacks.count == 1 && nacks[0].to == id(0))
    }

    @Test func silenceMakesSuspectThenDeadAfterTheMaximumTimeout() {
        var (prober, target, _, start) = startProbe()
        let actions = runTimers(&prober, from: start, to: start + .seconds(1))
        let suspected = actions.first { if case .changed(.suspected(let state)) = $0.1 { state.id == target } else { false } }
        #expect(suspected?.0 == start + .seconds(1))
        #expect(prober.member(target)?.status == .suspect)
        // Five members, no confirmations: the timeout is the maximum, 6 · 4 · log10(5) · 1 s.
        let (minimum, maximum) = MembershipConfiguration.lan.suspicionTimeouts(memberCount: 5)
        #expect(minimum == .nanoseconds(Int64(4 * 0.698_970_004_336_018_8 * 1e9)))
        #expect(maximum == minimum * 6)
        let suspectedAt = start + .seconds(1)
        #expect(prober.suspicionDeadline(of: target) == suspectedAt + maximum)
        let later = runTimers(&prober, from: suspectedAt, to: suspectedAt + maximum)
        let died = later.first { if case .changed(.died(let state)) = $0.1 { state.id == target } else { false } }
        #expect(died?.0 == suspectedAt + maximum)
        #expect(prober.member(target)?.status == .dead && prober.statistics.deaths == 1)
        // Lifeguard: three ping-requests and no nacks raise the local health score by 3.
        #expect(prober.health.score >= 3)
    }

    @Test func confirmationsShrinkTheTimeout() {
        var member = makeMember(0)
        introduce([1, 2, 3, 4], to: &member, from: 1)
        let (minimum, maximum) = MembershipConfiguration.lan.suspicionTimeouts(memberCount: 5)
        func suspect(from: Int) { _ = member.receive(MembershipMessage(.gossip, updates: [.suspect(member: id(4), incarnation: 0, from: id(from))]), from: id(from), now: .zero) }
        suspect(from: 1)
        #expect(member.suspicionDeadline(of: id(4)) == MembershipInstant.zero + maximum)
        suspect(from: 1)  // the same member again does not count
        #expect(member.suspicionDeadline(of: id(4)) == MembershipInstant.zero + maximum)
        suspect(from: 2)
        let one = MembershipConfiguration.suspicionTimeout(confirmations: 1, expected: 2, minimum: minimum, maximum: maximum)
        #expect(one < maximum && one > minimum)
        #expect(member.suspicionDeadline(of: id(4)) == MembershipInstant.zero + one)
        suspect(from: 3)
        #expect(member.suspicionDeadline(of: id(4)) == MembershipInstant.zero + minimum)
    }

    @Test func lifeguardFormula() {
        let minimum = Duration.seconds(2), maximum = Duration.seconds(12)
        #expect(MembershipConfiguration.suspicionTimeout(confirmations: 0, expected: 3, minimum: minimum, maximum: maximum) == maximum)
        // max − (max − min) · log(2)/log(4) = 12 − 10 · 0.5 = 7 s.
        #expect(MembershipConfiguration.suspicionTimeout(confirmations: 1, expected: 3, minimum: minimum, maximum: maximum) == .seconds(7))
        #expect(MembershipConfiguration.suspicionTimeout(confirmations: 3, expected: 3, minimum: minimum, maximum: maximum) == minimum)
        #expect(MembershipConfiguration.lan.retransmitLimit(memberCount: 10) == 8)
        #expect(MembershipConfiguration.lan.retransmitLimit(memberCount: 1000) == 16)
    }

    @Test func healthyMemberAckLowersScoreAndScaledIntervalFollowsIt() {
        var (prober, _, _, start) = startProbe()
        _ = runTimers(&prober, from: start, to: start + .seconds(1))
        let score = prober.health.score
        #expect(score > 0)
        // The next probe period is the interval times score + 1: two probes that far apart.
        #expect(prober.health.scale(.seconds(1)) == .seconds(score + 1))
        let pings = runTimers(&prober, from: start + .seconds(1), to: start + .seconds(30))
            .filter { if case .send(let message, _, _) = $0.1 { message.kind.isPing } else { false } }.map(\.0)
        #expect(pings.count >= 2)
        if pings.count >= 2 { #expect(pings[1] - pings[0] >= .seconds(score)) }
    }
}

@Suite struct UpdateRuleTests {
    @Test func refutationRaisesIncarnationAndIsBelievedOverTheSuspicion() {
        var accused = makeMember(1)
        var observer = makeMember(0)
        introduce([1, 2, 3], to: &observer, from: 2)
        let suspicion = MembershipMessage(.gossip, updates: [.suspect(member: id(1), incarnation: 0, from: id(2))])
        _ = observer.receive(suspicion, from: id(2), now: .zero)
        #expect(observer.member(id(1))?.status == .suspect)
        let actions = accused.receive(suspicion, from: id(2), now: .zero)
        #expect(events(actions) == [.refuted(incarnation: 1)])
        #expect(accused.incarnation == 1 && accused.statistics.refutations == 1 && accused.health.score == 1)
        // The refutation rides the next message the accused sends.
        let answer = sends(accused.receive(MembershipMessage(.ping(sequence: 5, target: id(1))), from: id(0), now: .zero))
        #expect(answer[0].message.updates.contains { $0 == .alive(signedAlive(1, incarnation: 1)) })
        let recovered = events(observer.receive(answer[0].message, from: id(1), now: .zero))
        #expect(recovered.contains { if case .recovered(let state) = $0 { state.id == id(1) } else { false } })
        #expect(observer.member(id(1))?.status == .alive && observer.member(id(1))?.incarnation == 1)
        #expect(observer.statistics.falseSuspicions == 1)
        // Declared dead while alive: refuted the same way.
        _ = accused.receive(MembershipMessage(.gossip, updates: [.dead(member: id(1), incarnation: 1, from: id(2))]), from: id(2), now: .zero)
        #expect(accused.incarnation == 2)
    }

    /// Rules 4.1–4.5 as a table: the view of member 1 at (status, incarnation) before, an update, and after.
    static let precedence: [(String, [MembershipUpdate], MemberStatus, UInt64)] = [
        ("alive(1) overrides alive(0)", [.alive(signedAlive(1, incarnation: 1))], .alive, 1),
        ("alive(0) does not override alive(0)", [.alive(signedAlive(1, incarnation: 0, load: 5))], .alive, 0),
        ("suspect(0) overrides alive(0)", [.suspect(member: id(1), incarnation: 0, from: id(2))], .suspect, 0),
        ("suspect(2) overrides alive(0)", [.suspect(member: id(1), incarnation: 2, from: id(2))], .suspect, 2),
        ("alive(1) overrides suspect(0)", [.suspect(member: id(1), incarnation: 0, from: id(2)), .alive(signedAlive(1, incarnation: 1))], .alive, 1),
        ("alive(0) does not override suspect(0)", [.suspect(member: id(1), incarnation: 0, from: id(2)), .alive(signedAlive(1, incarnation: 0))], .suspect, 0),
        ("dead(0) overrides alive(0)", [.dead(member: id(1), incarnation: 0, from: id(2))], .dead, 0),
        ("dead(0) overrides suspect(0)", [.suspect(member: id(1), incarnation: 0, from: id(2)), .dead(member: id(1), incarnation: 0, from: id(2))], .dead, 0),
        ("dead(0) does not override alive(1)", [.alive(signedAlive(1, incarnation: 1)), .dead(member: id(1), incarnation: 0, from: id(2))], .alive, 1),
        ("suspect(0) does not override alive(1)", [.alive(signedAlive(1, incarnation: 1)), .suspect(member: id(1), incarnation: 0, from: id(2))], .alive, 1),
        ("suspect does not override dead", [.dead(member: id(1), incarnation: 0, from: id(2)), .suspect(member: id(1), incarnation: 3, from: id(2))], .dead, 0),
        ("alive(0) does not revive dead(0)", [.dead(member: id(1), incarnation: 0, from: id(2)), .alive(signedAlive(1, incarnation: 0))], .dead, 0),
        ("alive(1) revives dead(0)", [.dead(member: id(1), incarnation: 0, from: id(2)), .alive(signedAlive(1, incarnation: 1))], .alive, 1),
        ("dead from the member itself is a leave", [.dead(member: id(1), incarnation: 0, from: id(1))], .left, 0),
    ]

    @Test(arguments: precedence.indices)
    func precedenceTable(index: Int) {
        let (name, updates, status, incarnation) = Self.precedence[index]
        var member = makeMember(0)
        introduce([1, 2], to: &member, from: 2)
        _ = member.receive(MembershipMessage(.gossip, updates: updates), from: id(2), now: .zero)
        #expect(member.member(id(1))?.status == status, "\(name)")
        #expect(member.member(id(1))?.incarnation == incarnation, "\(name)")
    }

    @Test func updatesAboutUnknownMembersOtherThanAliveAreIgnored() {
        var member = makeMember(0)
        _ = member.receive(MembershipMessage(.gossip, updates: [.suspect(member: id(5), incarnation: 0, from: id(2)),
                                                                .dead(member: id(6), incarnation: 0, from: id(2))]),
                           from: id(2), now: .zero)
        #expect(member.members.map(\.id) == [id(0)])
    }

    @Test func forgedAndUnsignedAliveUpdatesAreDroppedAndCounted() {
        var member = makeMember(0)
        var forged = signedAlive(1)
        forged.tags = MemberTags(["gateway": [1]])  // altered after signing
        var unsigned = signedAlive(2)
        unsigned.signature = []
        var impostor = AliveUpdate(member: id(3), incarnation: 0, addresses: [], tags: MemberTags(), load: 0)
        impostor.signature = SimulatedSignature(member: id(4)).sign(impostor.signedBytes)  // signed by another member
        _ = member.receive(MembershipMessage(.gossip, updates: [.alive(forged), .alive(unsigned), .alive(impostor)]),
                           from: id(9), now: .zero)
        #expect(member.statistics.rejectedUpdates == 3)
        #expect(member.members.count == 1)
        _ = member.receive(MembershipMessage(.gossip, updates: [.alive(signedAlive(1))]), from: id(9), now: .zero)
        #expect(member.members.count == 2 && member.statistics.rejectedUpdates == 3)
    }

    @Test func tagChangePropagatesWithANewIncarnation() {
        var owner = makeMember(1, tags: MemberTags(["hoarder": [1]]))
        var observer = makeMember(0)
        _ = observer.receive(MembershipMessage(.gossip, updates: [.alive(signedAlive(1, tags: MemberTags(["hoarder": [1]])))]),
                             from: id(1), now: .zero)
        _ = owner.updateTags(MemberTags(["hoarder": [2], "gateway": Array("1.2.3.4:80".utf8)]), load: 7, now: .zero)
        #expect(owner.incarnation == 1)
        let ack = sends(owner.receive(MembershipMessage(.ping(sequence: 1, target: id(1))), from: id(0), now: .zero))[0]
        let seen = events(observer.receive(ack.message, from: id(1), now: .zero))
        guard case .updated(let state)? = seen.first else { Issue.record("no update event: \(seen)"); return }
        #expect(state.tags["hoarder"] == [2] && state.tags["gateway"] == Array("1.2.3.4:80".utf8))
        #expect(state.load == 7 && state.incarnation == 1)
    }

    @Test func leaveIsGossipedAndNotRefuted() {
        var leaver = makeMember(1)
        var observer = makeMember(0)
        introduce([0, 2], to: &leaver, from: 0)
        introduce([1, 2], to: &observer, from: 1)
        let actions = leaver.leave(now: .zero)
        let gossip = sends(actions)
        #expect(!gossip.isEmpty && gossip.allSatisfy { $0.message.kind == .gossip })
        #expect(gossip[0].message.updates.contains(.dead(member: id(1), incarnation: 0, from: id(1))))
        let seen = events(observer.receive(gossip[0].message, from: id(1), now: .zero))
        #expect(seen.contains { if case .left(let state) = $0 { state.id == id(1) } else { false } })
        #expect(observer.member(id(1))?.status == .left)
        // The leaver stops probing and does not refute its own leave.
        #expect(leaver.incarnation == 0)
        #expect(!sends(leaver.tick(now: at(5))).contains { $0.message.kind.isPing })
    }

    @Test func tombstonesAreReapedAndAForgottenMemberCanRejoin() {
        var member = makeMember(0)
        introduce([1, 2], to: &member, from: 2)
        _ = member.receive(MembershipMessage(.gossip, updates: [.dead(member: id(1), incarnation: 0, from: id(2))]),
                           from: id(2), now: at(1))
        let reap = at(1) + MembershipConfiguration.lan.tombstoneTime
        _ = member.tick(now: reap - .milliseconds(1))
        #expect(member.member(id(1))?.status == .dead)
        let reaped = runTimers(&member, from: reap - .milliseconds(1), to: reap)
        #expect(reaped.contains { $0.1 == .changed(.forgotten(id(1))) })
        #expect(member.member(id(1)) == nil)
        // A fresh start at incarnation 0 is a join again.
        let rejoin = events(member.receive(MembershipMessage(.gossip, updates: [.alive(signedAlive(1))]), from: id(1), now: reap))
        #expect(rejoin.contains { if case .joined(let state) = $0 { state.id == id(1) } else { false } })
    }

    @Test func pushPullGivesAJoinerTheFullView() {
        var seed = makeMember(0)
        introduce(Array(1...20), to: &seed, from: 1)
        _ = seed.receive(MembershipMessage(.gossip, updates: [.suspect(member: id(5), incarnation: 0, from: id(1))]), from: id(1), now: .zero)
        var joiner = makeMember(99)
        let request = sends(joiner.join(seeds: [(nil, [MembershipNode.address(of: id(0))])], now: .zero))
        #expect(request.count == 1 && request[0].to == nil && request[0].message.kind == .pushPullRequest(join: true))
        let response = sends(seed.receive(request[0].message, from: id(99), now: .zero))
        #expect(seed.member(id(99))?.status == .alive)
        #expect(response.count == 1 && response[0].message.kind == .pushPullResponse && response[0].to == id(99))
        _ = joiner.receive(response[0].message, from: id(0), now: .zero)
        #expect(Set(joiner.members.map(\.id)) == Set(seed.members.map(\.id)))
        #expect(joiner.member(id(5))?.status == .suspect)
        // The encoded sync fits the codec limit and decodes.
        let bytes = response[0].message.encoded()
        #expect(bytes.count <= MembershipMessage.Limits.standard.maxMessageBytes)
        #expect((try? MembershipMessage(decoding: bytes)) == response[0].message)
    }

    @Test func pushPullIsBoundedByTheMessageLimit() {
        var configuration = MembershipConfiguration.lan
        configuration.limits.maxMessageBytes = 1024
        var seed = makeMember(0, configuration: configuration)
        introduce(Array(1...200), to: &seed, from: 1)
        let response = sends(seed.receive(MembershipMessage(.pushPullRequest(join: true)), from: id(1), now: .zero))
        let bytes = response[0].message.encoded()
        #expect(bytes.count <= 1024 && response[0].message.updates.count < 200)
        #expect(response[0].message.updates.first == .alive(seed.members.first { $0.id == id(0) }.map { _ in signedAlive(0) }!))
    }

    @Test func maxMembersBoundsTheView() {
        var configuration = MembershipConfiguration.lan
        configuration.maxMembers = 5
        var member = makeMember(0, configuration: configuration)
        introduce(Array(1...10), to: &member, from: 1)
        #expect(member.members.count == 5 && member.statistics.droppedMembers == 6)
    }

    @Test func newerUpdatesReplaceOlderInTheQueue() {
        var member = makeMember(0)
        introduce([1], to: &member, from: 1)
        #expect(member.pendingUpdates == 1)
        _ = member.receive(MembershipMessage(.gossip, updates: [.suspect(member: id(1), incarnation: 0, from: id(2))]), from: id(2), now: .zero)
        #expect(member.pendingUpdates == 1)
        let ack = sends(member.receive(MembershipMessage(.ping(sequence: 1, target: id(0))), from: id(1), now: .zero))[0]
        #expect(ack.message.updates == [.suspect(member: id(1), incarnation: 0, from: id(2))])
    }
}
