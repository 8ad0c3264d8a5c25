// SWIM membership with Lifeguard, sans I/O: a value whose mutating methods
// take what happened (a message, the passing of time) and return what to do
// (messages to send, view changes to report). The driver owns sockets and
// clocks. Format: formats/membership.md.

/// One member's view of the cluster and its part in the protocol.
public struct Membership: Sendable {
    public let local: MemberID
    public let configuration: MembershipConfiguration
    public internal(set) var statistics = MembershipStatistics()
    public internal(set) var health: LocalHealth

    let signer: any MemberSigner
    let verifier: any MemberVerifier
    var random: SeededGenerator
    /// The local member's current signed alive update.
    var localAlive: AliveUpdate
    var leaving = false

    struct Record: Sendable {
        var state: MemberState
        /// The latest signed alive update accepted for this member (what push-pull passes on).
        var alive: AliveUpdate
    }

    var records: [MemberID: Record] = [:]
    var queue = UpdateQueue()
    var suspicions: [MemberID: Suspicion] = [:]
    /// Dead and left members and when they are reaped.
    var tombstones: [MemberID: MembershipInstant] = [:]

    // Probing (rules 1 and 2).
    struct Probe: Sendable {
        let target: MemberID
        let sequence: UInt64
        let directDeadline: MembershipInstant
        let end: MembershipInstant
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
    }

    /// A ping sent for another member's ping-request.
    struct Forward: Sendable {
        let requester: MemberID
        let requesterSequence: UInt64
        let deadline: MembershipInstant
    }

    var probeOrder: [MemberID] = []
    var probeIndex = 0
    var probe: Probe?
    var forwards: [UInt64: Forward] = [:]
    var sequence: UInt64 = 0
    var nextProbe: MembershipInstant
    var nextGossip: MembershipInstant
    var nextPushPull: MembershipInstant
    var nextReconnect: MembershipInstant

    /// A member at `addresses` with `tags`, alone in its view until it joins.
    /// `seed` fixes every random choice (probe order, targets), so runs repeat.
    public init(local: MemberID, addresses: [String], tags: MemberTags = MemberTags(), load: UInt64 = 0,
                incarnation: UInt64 = 0, configuration: MembershipConfiguration = .lan, seed: UInt64,
                now: MembershipInstant, signer: some MemberSigner, verifier: some MemberVerifier) {
        self.local = local
        self.configuration = configuration
        self.signer = signer
        self.verifier = verifier
        random = SeededGenerator(seed: seed)
        health = LocalHealth(limit: configuration.awarenessMaxMultiplier)
        localAlive = AliveUpdate(member: local, incarnation: incarnation, addresses: addresses, tags: tags, load: load)
        localAlive.signature = signer.sign(localAlive.signedBytes)
        // Spread the first probe and gossip over one period, so members started together do not act in lockstep.
        nextProbe = now + configuration.probeInterval.scaled(by: Double(random.next() % 1000) / 1000)
        nextGossip = now + configuration.gossipInterval.scaled(by: Double(random.next() % 1000) / 1000)
        nextPushPull = now + configuration.pushPullInterval
        nextReconnect = now + configuration.pushPullInterval
        records[local] = Record(state: Self.state(of: localAlive, status: .alive), alive: localAlive)
    }

    static func state(of alive: AliveUpdate, status: MemberStatus) -> MemberState {
        MemberState(id: alive.member, addresses: alive.addresses, tags: alive.tags, load: alive.load, status: status,
                    incarnation: alive.incarnation)
    }

    // MARK: The view

    /// Every member in the view, the local one included, tombstones too, sorted by ID.
    public var members: [MemberState] { records.values.map(\.state).sorted { $0.id < $1.id } }

    public func member(_ id: MemberID) -> MemberState? { records[id]?.state }

    /// IDs of alive and suspect members (the local one included): the live set.
    public var liveMembers: Set<MemberID> {
        Set(records.values.lazy.filter { !$0.state.status.isGone }.map(\.state.id))
    }

    public var incarnation: UInt64 { localAlive.incarnation }

    /// Updates waiting to be piggybacked.
    public var pendingUpdates: Int { queue.count }

    /// The deadline of the running suspicion of `member`, if one runs.
    public func suspicionDeadline(of member: MemberID) -> MembershipInstant? { suspicions[member]?.deadline }

    /// The earliest instant at which `tick` has something to do.
    public var nextDeadline: MembershipInstant {
        var earliest = min(nextGossip, nextPushPull, nextReconnect)
        if let probe {
            earliest = min(earliest, probe.indirectSent ? probe.end : probe.directDeadline)
        } else if !leaving {
            earliest = min(earliest, nextProbe)
        }
        for suspicion in suspicions.values { earliest = min(earliest, suspicion.deadline) }
        for forward in forwards.values { earliest = min(earliest, forward.deadline) }
        for reap in tombstones.values { earliest = min(earliest, reap) }
        return earliest
    }

    // MARK: Driver entry points

    /// Contacts `seeds` (an ID when known, and addresses) with a push-pull
    /// join request carrying this member's view (rule 8).
    public mutating func join(seeds: [(MemberID?, [String])], now: MembershipInstant) -> [MembershipAction] {
        var actions: [MembershipAction] = []
        // Push-pull news is not re-gossiped (rule 8.3): the joiner spreads its own arrival.
        queue.enqueue(.alive(localAlive))
        for (id, addresses) in seeds where id != local {
            send(.pushPullRequest(join: true), updates: syncUpdates(), to: id, addresses: addresses, into: &actions)
            statistics.pushPulls += 1
        }
        return actions
    }

    /// Advances timers: probes, indirect probes, suspicion timeouts, gossip,
    /// push-pull, reaping. Call at `nextDeadline` or every `tickInterval`.
    public mutating func tick(now: MembershipInstant) -> [MembershipAction] {
        var actions: [MembershipAction] = []
        reapTombstones(now: now, into: &actions)
        expireSuspicions(now: now, into: &actions)
        expireForwards(now: now, into: &actions)
        advanceProbe(now: now, into: &actions)
        gossipIfDue(now: now, into: &actions)
        pushPullIfDue(now: now, into: &actions)
        return actions
    }

    /// Handles one message from `from`: its piggybacked updates first, then the message itself.
    public mutating func receive(_ message: MembershipMessage, from: MemberID, now: MembershipInstant)
        -> [MembershipAction]
    {
        var actions: [MembershipAction] = []
        let regossip: Bool = switch message.kind {
        case .pushPullRequest, .pushPullResponse: false
        default: true
        }
        for update in message.updates { apply(update, regossip: regossip, now: now, into: &actions) }
        handle(message.kind, from: from, now: now, into: &actions)
        return actions
    }

    /// Leaves gracefully: a dead update from self, gossiped at once to
    /// `gossipFanout` members; the member stops probing (rule 6).
    public mutating func leave(now: MembershipInstant) -> [MembershipAction] {
        guard !leaving else { return [] }
        leaving = true
        probe = nil
        let update = MembershipUpdate.dead(member: local, incarnation: incarnation, from: local)
        records[local]?.state.status = .left
        queue.enqueue(update)
        var actions: [MembershipAction] = []
        gossip(into: &actions)
        nextGossip = now + configuration.gossipInterval
        return actions
    }

    /// Announces new tags (and load): a new incarnation, signed and gossiped (rule 9).
    public mutating func updateTags(_ tags: MemberTags, load: UInt64? = nil, now: MembershipInstant)
        -> [MembershipAction]
    {
        announce(incarnation: incarnation + 1, tags: tags, load: load ?? localAlive.load)
        return [.changed(.updated(records[local]!.state))]
    }

    /// Signs and queues a new alive update about the local member.
    mutating func announce(incarnation: UInt64, tags: MemberTags? = nil, load: UInt64? = nil) {
        localAlive.incarnation = incarnation
        if let tags { localAlive.tags = tags }
        if let load { localAlive.load = load }
        localAlive.signature = []
        localAlive.signature = signer.sign(localAlive.signedBytes)
        records[local] = Record(state: Self.state(of: localAlive, status: leaving ? .left : .alive), alive: localAlive)
        queue.enqueue(.alive(localAlive))
    }

    // MARK: Sending

    /// Appends a send of `kind` with piggybacked updates (or `updates`, for push-pull).
    mutating func send(_ kind: MembershipMessage.Kind, updates: [MembershipUpdate]? = nil, to id: MemberID?,
                       addresses: [String]? = nil, into actions: inout [MembershipAction]) {
        var message = MembershipMessage(kind)
        message.updates = updates ?? piggyback(headerSize: message.headerSize)
        statistics.messagesSent += 1
        statistics.updatesSent += message.updates.count
        let addresses = addresses ?? id.flatMap { records[$0]?.state.addresses } ?? []
        actions.append(.send(message, to: id, addresses: addresses))
    }

    mutating func piggyback(headerSize: Int) -> [MembershipUpdate] {
        let limits = configuration.limits
        return queue.take(maxBytes: min(configuration.maxPiggybackBytes, limits.maxMessageBytes - headerSize),
                          maxCount: min(configuration.maxPiggybackUpdates, limits.maxUpdates),
                          retransmitLimit: configuration.retransmitLimit(memberCount: records.count))
    }

    /// The view for a push-pull (rule 8): the local member first, then the
    /// others from a random starting point, as many as fit the message limit.
    mutating func syncUpdates() -> [MembershipUpdate] {
        let limits = configuration.limits
        var updates: [MembershipUpdate] = [.alive(localAlive)]
        if leaving { updates.append(.dead(member: local, incarnation: incarnation, from: local)) }
        var bytes = 16 + updates.reduce(0) { $0 + $1.encodedSize }
        let others = records.keys.filter { $0 != local }.sorted()
        guard !others.isEmpty else { return updates }
        let start = Int(random.next() % UInt64(others.count))
        for offset in 0..<others.count {
            guard let record = records[others[(start + offset) % others.count]] else { continue }
            let state = record.state
            var entry: [MembershipUpdate] = []
            switch state.status {
            case .alive: entry = [.alive(record.alive)]
            case .suspect:
                entry = [.alive(record.alive), .suspect(member: state.id, incarnation: state.incarnation, from: local)]
            case .dead: entry = [.dead(member: state.id, incarnation: state.incarnation, from: local)]
            case .left: entry = [.dead(member: state.id, incarnation: state.incarnation, from: state.id)]
            }
            let size = entry.reduce(0) { $0 + $1.encodedSize }
            guard bytes + size <= limits.maxMessageBytes, updates.count + entry.count <= limits.maxUpdates else {
                break
            }
            bytes += size
            updates += entry
        }
        return updates
    }
}
