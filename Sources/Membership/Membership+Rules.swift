// The precedence rules: how an alive, suspect or dead update changes the
// view, and how the local member refutes what others say about it.
// Format: formats/membership.md, section 4 (rules 4.1–4.7).

extension Membership {
    /// Applies one update. `regossip` is false for updates learned by
    /// push-pull (rule 8.3): they change the view but are not queued again.
    mutating func apply(_ update: MembershipUpdate, regossip: Bool, now: MembershipInstant,
                        into actions: inout [MembershipAction]) {
        switch update {
        case .alive(let alive): applyAlive(alive, regossip: regossip, now: now, into: &actions)
        case .suspect(let member, let incarnation, let from):
            applySuspect(member, incarnation: incarnation, from: from, regossip: regossip, now: now, into: &actions)
        case .dead(let member, let incarnation, let from):
            applyDead(member, incarnation: incarnation, from: from, regossip: regossip, now: now, into: &actions)
        }
    }

    mutating func enqueue(_ update: MembershipUpdate, if regossip: Bool) {
        if regossip { queue.enqueue(update) }
    }

    /// Rules 4.1, 4.2, 4.6 and 10.
    mutating func applyAlive(_ alive: AliveUpdate, regossip: Bool = true, now: MembershipInstant,
                             into actions: inout [MembershipAction]) {
        // An update that cannot change the view needs no signature check (rule 10.3).
        if let known = records[alive.member]?.state.incarnation, alive.incarnation < known
            || (alive.incarnation == known && alive.member != local) { return }
        // Rule 10: only the member itself can say it is alive.
        guard verifier.verify(member: alive.member, payload: alive.signedBytes, signature: alive.signature) else {
            statistics.rejectedUpdates += 1
            return
        }
        if alive.member == local {
            // Rule 4.6: an alive of ours we did not send now (an older life, replayed) is out-voted.
            if alive.incarnation >= incarnation, alive != localAlive, !leaving {
                refute(above: alive.incarnation, into: &actions)
            }
            return
        }
        guard let record = records[alive.member] else {
            // Rule 4.1: a new member.
            guard records.count < configuration.maxMembers else {
                statistics.droppedMembers += 1
                return
            }
            let state = Self.state(of: alive, status: .alive)
            records[alive.member] = Record(state: state, alive: alive)
            insertIntoProbeOrder(alive.member)
            enqueue(.alive(alive), if: regossip)
            actions.append(.changed(.joined(state)))
            return
        }
        // Rule 4.2: only a higher incarnation overrides, whatever the status.
        guard alive.incarnation > record.state.incarnation else { return }
        let previous = record.state
        let state = Self.state(of: alive, status: .alive)
        records[alive.member] = Record(state: state, alive: alive)
        suspicions[alive.member] = nil
        tombstones[alive.member] = nil
        enqueue(.alive(alive), if: regossip)
        switch previous.status {
        case .suspect:
            statistics.falseSuspicions += 1
            actions.append(.changed(.recovered(state)))
        case .dead, .left:
            insertIntoProbeOrder(alive.member)
            actions.append(.changed(.joined(state)))
        case .alive:
            if previous.addresses != state.addresses || previous.tags != state.tags || previous.load != state.load {
                actions.append(.changed(.updated(state)))
            }
        }
    }

    /// Rules 4.3, 4.4 and 4.6.
    mutating func applySuspect(_ member: MemberID, incarnation: UInt64, from: MemberID, regossip: Bool = true,
                               now: MembershipInstant, into actions: inout [MembershipAction]) {
        if member == local {
            if !leaving, incarnation >= self.incarnation { refute(above: incarnation, into: &actions) }
            return
        }
        guard var record = records[member], incarnation >= record.state.incarnation else { return }
        switch record.state.status {
        case .dead, .left:
            return
        case .suspect:
            // Rule 4.4: another member's independent suspicion shortens the timer.
            if suspicions[member]?.confirm(from: from) == true {
                enqueue(.suspect(member: member, incarnation: record.state.incarnation, from: from), if: regossip)
            }
        case .alive:
            record.state.status = .suspect
            record.state.incarnation = incarnation
            records[member] = record
            let (minimum, maximum) = configuration.suspicionTimeouts(memberCount: records.count)
            // memberlist: K = suspicionMult − 2 confirmations expected, none in clusters too small to give them.
            var expected = max(0, Int(configuration.suspicionMultiplier) - 2)
            if records.count - 2 < expected { expected = 0 }
            suspicions[member] = Suspicion(start: now, from: from, expected: expected, minimum: minimum,
                                           maximum: maximum)
            enqueue(.suspect(member: member, incarnation: incarnation, from: from), if: regossip)
            actions.append(.changed(.suspected(record.state)))
        }
    }

    /// Rules 4.5 and 4.6; a dead from the member itself is a leave.
    mutating func applyDead(_ member: MemberID, incarnation: UInt64, from: MemberID, regossip: Bool = true,
                            now: MembershipInstant, into actions: inout [MembershipAction]) {
        if member == local {
            if !leaving, incarnation >= self.incarnation { refute(above: incarnation, into: &actions) }
            return
        }
        guard var record = records[member], incarnation >= record.state.incarnation,
              !record.state.status.isGone else { return }
        record.state.status = from == member ? .left : .dead
        record.state.incarnation = incarnation
        records[member] = record
        suspicions[member] = nil
        tombstones[member] = now + configuration.tombstoneTime
        if probe?.target == member { probe = nil }
        enqueue(.dead(member: member, incarnation: incarnation, from: from), if: regossip)
        if record.state.status == .left {
            actions.append(.changed(.left(record.state)))
        } else {
            statistics.deaths += 1
            actions.append(.changed(.died(record.state)))
        }
    }

    /// Rule 6: out-vote a suspicion or death with a higher incarnation, and
    /// take it as a sign of poor local health (Lifeguard).
    mutating func refute(above incarnation: UInt64, into actions: inout [MembershipAction]) {
        announce(incarnation: max(self.incarnation, incarnation) + 1)
        statistics.refutations += 1
        health.apply(1)
        actions.append(.changed(.refuted(incarnation: self.incarnation)))
    }

    /// New members go to a random place in the probe order (rule 1), so they are probed within one pass.
    mutating func insertIntoProbeOrder(_ member: MemberID) {
        let position = Int(random.next() % UInt64(probeOrder.count + 1))
        probeOrder.insert(member, at: position)
        if position < probeIndex { probeIndex += 1 }
    }
}
