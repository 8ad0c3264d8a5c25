// The timed half of the protocol: probes and indirect probes, suspicion
// timeouts, gossip rounds, push-pull syncs, tombstone reaping; and the
// answers to pings, ping-requests and syncs. Format: formats/membership.md, sections 3–8.

extension Membership {
    mutating func handle(_ kind: MembershipMessage.Kind, from: MemberID, now: MembershipInstant,
                         into actions: inout [MembershipAction]) {
        switch kind {
        case .ping(let sequence, let target):
            // A ping meant for a member this one no longer is (a stale address) gets no ack.
            guard target == local, !leaving else { return }
            send(.ack(sequence: sequence), to: from, into: &actions)
        case .pingRequest(let requesterSequence, let target, let addresses):
            guard target != local, !leaving else { return }
            sequence += 1
            forwards[sequence] = Forward(requester: from, requesterSequence: requesterSequence,
                                         deadline: now + configuration.probeTimeout)
            let known = records[target]?.state.addresses ?? []
            send(.ping(sequence: sequence, target: target), to: target,
                 addresses: addresses.isEmpty ? known : addresses, into: &actions)
        case .ack(let acked):
            if let forward = forwards.removeValue(forKey: acked) {
                send(.ack(sequence: forward.requesterSequence), to: forward.requester, into: &actions)
            } else if probe?.sequence == acked {
                statistics.acksReceived += 1
                health.apply(-1)
                probe = nil
            }
        case .nack(let nacked):
            if probe?.sequence == nacked {
                statistics.nacksReceived += 1
                probe?.nacks += 1
            }
        case .pushPullRequest:
            // Rule 8: answer with the view after merging, so a refutation the request caused goes back at once.
            send(.pushPullResponse, updates: syncUpdates(), to: from, into: &actions)
        case .pushPullResponse, .gossip:
            break
        }
    }

    // MARK: Timers

    mutating func reapTombstones(now: MembershipInstant, into actions: inout [MembershipAction]) {
        for (member, reap) in tombstones where reap <= now {
            tombstones[member] = nil
            records[member] = nil
            actions.append(.changed(.forgotten(member)))
        }
    }

    mutating func expireSuspicions(now: MembershipInstant, into actions: inout [MembershipAction]) {
        for (member, suspicion) in suspicions where suspicion.deadline <= now {
            guard let state = records[member]?.state else { continue }
            applyDead(member, incarnation: state.incarnation, from: local, now: now, into: &actions)
        }
    }

    mutating func expireForwards(now: MembershipInstant, into actions: inout [MembershipAction]) {
        for (sequence, forward) in forwards where forward.deadline <= now {
            forwards[sequence] = nil
            send(.nack(sequence: forward.requesterSequence), to: forward.requester, into: &actions)
        }
    }

    /// Rules 1–3: finish the running probe or start the next one.
    mutating func advanceProbe(now: MembershipInstant, into actions: inout [MembershipAction]) {
        guard !leaving else { return }
        if let running = probe {
            if !running.indirectSent, now >= running.directDeadline {
                sendIndirectProbes(for: running, into: &actions)
            }
            if now >= running.end {
                failProbe(running, now: now, into: &actions)
            }
        }
        guard probe == nil, now >= nextProbe else { return }
        let period = health.scale(configuration.probeInterval)
        nextProbe = now + period
        guard let target = nextProbeTarget() else { return }
        sequence += 1
        probe = Probe(target: target, sequence: sequence,
                      directDeadline: now + health.scale(configuration.probeTimeout), end: now + period)
        statistics.probesSent += 1
        send(.ping(sequence: sequence, target: target), to: target, into: &actions)
    }

    /// Rule 2: up to k other live members ping the target for us.
    mutating func sendIndirectProbes(for running: Probe, into actions: inout [MembershipAction]) {
        probe?.indirectSent = true
        let helpers = randomLiveMembers(count: configuration.indirectChecks, excluding: running.target,
                                        aliveOnly: true)
        probe?.expectedNacks = helpers.count
        let addresses = records[running.target]?.state.addresses ?? []
        for helper in helpers {
            statistics.indirectProbesSent += 1
            send(.pingRequest(sequence: running.sequence, target: running.target, addresses: addresses),
                 to: helper, into: &actions)
        }
    }

    /// Rule 3 and Lifeguard: no ack by the end of the period makes the target
    /// suspect; missing nacks count against local health.
    mutating func failProbe(_ running: Probe, now: MembershipInstant, into actions: inout [MembershipAction]) {
        probe = nil
        health.apply(running.expectedNacks > 0 ? running.expectedNacks - running.nacks : 1)
        guard let state = records[running.target]?.state, state.status == .alive else { return }
        statistics.suspicionsRaised += 1
        applySuspect(running.target, incarnation: state.incarnation, from: local, now: now, into: &actions)
    }

    /// Rule 1: randomised round-robin over live members, reshuffled each pass.
    mutating func nextProbeTarget() -> MemberID? {
        for _ in 0...probeOrder.count {
            if probeIndex >= probeOrder.count {
                probeOrder = probeOrder.filter { records[$0].map { !$0.state.status.isGone } ?? false }
                probeOrder.shuffle(using: &random)
                probeIndex = 0
                if probeOrder.isEmpty { return nil }
            }
            let candidate = probeOrder[probeIndex]
            probeIndex += 1
            if candidate != local, let state = records[candidate]?.state, !state.status.isGone { return candidate }
        }
        return nil
    }

    /// Up to `count` random alive (or alive and suspect) members other than self and `excluding`.
    mutating func randomLiveMembers(count: Int, excluding: MemberID? = nil, aliveOnly: Bool = false) -> [MemberID] {
        guard count > 0 else { return [] }
        var chosen: [MemberID] = []
        // Sample from the probe order (every live member is in it) without building a candidate list.
        let pool = probeOrder
        guard !pool.isEmpty else { return [] }
        var attempts = 0
        while chosen.count < count, attempts < 4 * count + pool.count / 8 + 8 {
            attempts += 1
            let candidate = pool[Int(random.next() % UInt64(pool.count))]
            guard candidate != local, candidate != excluding, !chosen.contains(candidate),
                  let status = records[candidate]?.state.status, !status.isGone,
                  !aliveOnly || status == .alive else { continue }
            chosen.append(candidate)
        }
        if chosen.count < count, pool.count <= 4 * count {
            // Small views: take every eligible member rather than rely on sampling.
            for candidate in pool.shuffled(using: &random) where chosen.count < count {
                guard candidate != local, candidate != excluding, !chosen.contains(candidate),
                      let status = records[candidate]?.state.status, !status.isGone,
                      !aliveOnly || status == .alive else { continue }
                chosen.append(candidate)
            }
        }
        return chosen
    }

    /// Rule 7: each gossip interval, the queue's updates go to `gossipFanout` random members.
    mutating func gossipIfDue(now: MembershipInstant, into actions: inout [MembershipAction]) {
        guard now >= nextGossip else { return }
        nextGossip = now + configuration.gossipInterval
        gossip(into: &actions)
    }

    mutating func gossip(into actions: inout [MembershipAction]) {
        guard !queue.isEmpty else { return }
        for target in randomLiveMembers(count: configuration.gossipFanout) {
            guard !queue.isEmpty else { break }
            send(.gossip, to: target, into: &actions)
        }
    }

    /// Rule 8: a full sync with one random live member; when tombstones exist,
    /// another with one of them, so the halves of a healed partition find each other.
    mutating func pushPullIfDue(now: MembershipInstant, into actions: inout [MembershipAction]) {
        if now >= nextPushPull {
            nextPushPull = now + configuration.pushPullPeriod(memberCount: records.count)
            if !leaving, let peer = randomLiveMembers(count: 1).first {
                statistics.pushPulls += 1
                send(.pushPullRequest(join: false), updates: syncUpdates(), to: peer, into: &actions)
            }
        }
        if now >= nextReconnect {
            nextReconnect = now + configuration.pushPullPeriod(memberCount: records.count)
            let dead = tombstones.keys.filter { records[$0]?.state.status == .dead }.sorted()
            if !leaving, !dead.isEmpty {
                let peer = dead[Int(random.next() % UInt64(dead.count))]
                statistics.pushPulls += 1
                send(.pushPullRequest(join: false), updates: syncUpdates(), to: peer, into: &actions)
            }
        }
    }
}
