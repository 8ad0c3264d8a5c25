// The GossipSub v1.1 peer score: per-topic counters and global penalties,
// decayed over time, and the thresholds the router acts on. Pure: the clock
// is passed in. Format: formats/pubsub.md, section 7.

/// Score parameters (the v1.1 spec's P1–P7). go-libp2p-pubsub ships none
/// (scoring is off unless an application sets them); these defaults are
/// tau's, chosen so an honest peer stays at 0 or above and a peer whose
/// messages validators reject, or that grafts during backoffs, goes below
/// every threshold within a handful of offences.
public struct PeerScoreParameters: Hashable, Sendable {
    public struct Topic: Hashable, Sendable {
        /// The topic's share of the score: 1.
        public var topicWeight = 1.0
        /// P1, time in the mesh: 0.01 per second (`timeInMeshQuantum`), up to 3,600 quanta.
        public var timeInMeshWeight = 0.01
        public var timeInMeshQuantum: Duration = .seconds(1)
        public var timeInMeshCap = 3600.0
        /// P2, first deliveries of valid messages: weight 1, decay 0.5 per
        /// decay interval, counted up to 100.
        public var firstMessageDeliveriesWeight = 1.0
        public var firstMessageDeliveriesDecay = 0.5
        public var firstMessageDeliveriesCap = 100.0
        /// P4, messages validators rejected (or whose signature failed):
        /// weight −100 on the square of the count, decay 0.9 (one such message
        /// keeps a peer below the graylist about 2 s, below the gossip
        /// threshold about 11 s; ten keep it graylisted about 24 s).
        public var invalidMessageDeliveriesWeight = -100.0
        public var invalidMessageDeliveriesDecay = 0.9
        /// P3, mesh message deliveries: a mesh peer that, once `activation`
        /// has passed since its GRAFT, delivered fewer than `threshold`
        /// messages (first, or within `window` of the first) scores
        /// `weight · deficit²`. Needs a topic's expected message rate, so it
        /// is off (weight 0) unless set per topic; when on: decay 0.9, cap
        /// 100, threshold 1, activation 30 s, window 10 ms.
        public var meshMessageDeliveriesWeight = 0.0
        public var meshMessageDeliveriesDecay = 0.9
        public var meshMessageDeliveriesCap = 100.0
        public var meshMessageDeliveriesThreshold = 1.0
        public var meshMessageDeliveriesActivation: Duration = .seconds(30)
        /// (The router remembers arrival times for 1 s, so a window longer than that acts as 1 s.)
        public var meshMessageDeliveriesWindow: Duration = .milliseconds(10)
        /// P3b, mesh failure: a peer leaving the mesh with a P3 deficit keeps
        /// `deficit²` here, scored `weight ·` the penalty and decayed by 0.9
        /// (off, weight 0, like P3).
        public var meshFailurePenaltyWeight = 0.0
        public var meshFailurePenaltyDecay = 0.9
        public init() {}

        /// The P3 shortfall of a mesh peer grafted at `grafted` (0 before activation).
        func meshDeliveryDeficit(_ deliveries: Double, grafted: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Double {
            guard meshMessageDeliveriesWeight != 0, now - grafted >= meshMessageDeliveriesActivation,
                  deliveries < meshMessageDeliveriesThreshold else { return 0 }
            return meshMessageDeliveriesThreshold - deliveries
        }
    }

    /// Per-topic parameters; topics not listed use `defaultTopic`.
    public var topics: [String: Topic] = [:]
    public var defaultTopic = Topic()
    /// The topic part of a score is capped here (0: no cap): 0.
    public var topicScoreCap = 0.0
    /// P5, the application's own score of a peer: weight 1.
    public var appSpecificWeight = 1.0
    /// P6, peers sharing one IP address: weight −10 on the square of the
    /// count above 10.
    public var ipColocationFactorWeight = -10.0
    public var ipColocationFactorThreshold = 10
    /// P7, protocol misbehaviour (GRAFT during backoff, broken IHAVE promises):
    /// weight −10 on the square of the count above 0, decay 0.9.
    public var behaviourPenaltyWeight = -10.0
    public var behaviourPenaltyThreshold = 0.0
    public var behaviourPenaltyDecay = 0.9
    /// A disconnected peer's counters are kept this long, so reconnecting
    /// does not clear a bad score: 10 min (time in mesh ends at the disconnect).
    public var retainScore: Duration = .seconds(600)
    /// Counters decay every 1 s; a decayed counter below 0.01 becomes 0.
    public var decayInterval: Duration = .seconds(1)
    public var decayToZero = 0.01

    public init() {}

    public func parameters(for topic: String) -> Topic { topics[topic] ?? defaultTopic }
}

/// The scores at which the router stops dealing with a peer, in falling order.
public struct PeerScoreThresholds: Hashable, Sendable {
    /// Below: no gossip to or from the peer (IHAVE/IWANT): −10.
    public var gossip = -10.0
    /// Below: our own messages are not flood-published to it: −50.
    public var publish = -50.0
    /// Below: every RPC from it is ignored: −80.
    public var graylist = -80.0
    /// At or above: its PRUNE peer exchange is followed: 10.
    public var acceptPX = 10.0
    /// The mesh's median score below which the heartbeat grafts better peers: 1.
    public var opportunisticGraft = 1.0
    public init() {}
}

/// The counters behind each peer's score.
public struct PeerScore<Peer: Hashable & Sendable>: Sendable {
    struct TopicCounters: Sendable {
        var graftedAt: ContinuousClock.Instant?
        var firstMessageDeliveries = 0.0
        var invalidMessageDeliveries = 0.0
        var meshMessageDeliveries = 0.0
        var meshFailurePenalty = 0.0
    }

    struct Counters: Sendable {
        var topics: [String: TopicCounters] = [:]
        var behaviourPenalty = 0.0
        var appSpecific = 0.0
        var address: String?
        /// Set while the peer is gone (its counters retained until `retainScore` passes).
        var disconnectedAt: ContinuousClock.Instant?
    }

    public let parameters: PeerScoreParameters
    public let thresholds: PeerScoreThresholds
    var counters: [Peer: Counters] = [:]
    var peersByAddress: [String: Set<Peer>] = [:]
    var lastDecay: ContinuousClock.Instant?

    public init(parameters: PeerScoreParameters = .init(), thresholds: PeerScoreThresholds = .init()) {
        self.parameters = parameters
        self.thresholds = thresholds
    }

    /// The peer's score now.
    public func score(_ peer: Peer, now: ContinuousClock.Instant) -> Double {
        guard let entry = counters[peer] else { return 0 }
        var topicScore = 0.0
        for (topic, counters) in entry.topics {
            let p = parameters.parameters(for: topic)
            var score = 0.0
            if let grafted = counters.graftedAt {
                let quanta = Double((now - grafted) / p.timeInMeshQuantum)
                score += p.timeInMeshWeight * min(quanta, p.timeInMeshCap)
                let deficit = p.meshDeliveryDeficit(counters.meshMessageDeliveries, grafted: grafted, now: now)
                score += p.meshMessageDeliveriesWeight * deficit * deficit
            }
            score += p.meshFailurePenaltyWeight * counters.meshFailurePenalty
            score += p.firstMessageDeliveriesWeight * counters.firstMessageDeliveries
            score += p.invalidMessageDeliveriesWeight * counters.invalidMessageDeliveries * counters.invalidMessageDeliveries
            topicScore += p.topicWeight * score
        }
        if parameters.topicScoreCap > 0 { topicScore = min(topicScore, parameters.topicScoreCap) }
        var total = topicScore + parameters.appSpecificWeight * entry.appSpecific
        if let address = entry.address {
            let surplus = Double((peersByAddress[address]?.count ?? 0) - parameters.ipColocationFactorThreshold)
            if surplus > 0 { total += parameters.ipColocationFactorWeight * surplus * surplus }
        }
        let excess = entry.behaviourPenalty - parameters.behaviourPenaltyThreshold
        if excess > 0 { total += parameters.behaviourPenaltyWeight * excess * excess }
        return total
    }

    // MARK: Events

    /// A peer connected: a retained score (section 7 rule 8) comes back with it.
    public mutating func addPeer(_ peer: Peer, address: String? = nil) {
        counters[peer, default: Counters()].address = address
        counters[peer]?.disconnectedAt = nil
        if let address { peersByAddress[address, default: []].insert(peer) }
    }

    /// A peer left: its counters are kept for `retainScore` when `now` is
    /// given (dropped at once without), out of the colocation count.
    public mutating func removePeer(_ peer: Peer, now: ContinuousClock.Instant? = nil) {
        guard var entry = counters[peer] else { return }
        if let address = entry.address {
            peersByAddress[address]?.remove(peer)
            if peersByAddress[address]?.isEmpty == true { peersByAddress[address] = nil }
        }
        guard let now else {
            counters[peer] = nil
            return
        }
        entry.address = nil
        entry.disconnectedAt = now
        counters[peer] = entry
        for topic in entry.topics.keys { pruned(peer, topic, now: now) }
    }

    mutating func grafted(_ peer: Peer, _ topic: String, now: ContinuousClock.Instant) {
        counters[peer, default: Counters()].topics[topic, default: TopicCounters()].graftedAt = now
    }

    /// The peer left `topic`'s mesh: a P3 deficit becomes a mesh failure penalty (P3b).
    mutating func pruned(_ peer: Peer, _ topic: String, now: ContinuousClock.Instant) {
        guard var entry = counters[peer]?.topics[topic], let grafted = entry.graftedAt else { return }
        let deficit = parameters.parameters(for: topic).meshDeliveryDeficit(entry.meshMessageDeliveries, grafted: grafted, now: now)
        entry.meshFailurePenalty += deficit * deficit
        entry.graftedAt = nil
        counters[peer]?.topics[topic] = entry
    }

    /// The peer, in `topic`'s mesh, delivered a message first or within the
    /// P3 window of its first delivery.
    mutating func meshDelivery(_ peer: Peer, _ topic: String) {
        guard var entry = counters[peer]?.topics[topic], entry.graftedAt != nil else { return }
        let cap = parameters.parameters(for: topic).meshMessageDeliveriesCap
        entry.meshMessageDeliveries = min(entry.meshMessageDeliveries + 1, cap)
        counters[peer]?.topics[topic] = entry
    }

    /// The peer was first to deliver a message that validated.
    mutating func firstDelivery(_ peer: Peer, _ topic: String) {
        let cap = parameters.parameters(for: topic).firstMessageDeliveriesCap
        var topicCounters = counters[peer, default: Counters()].topics[topic, default: TopicCounters()]
        topicCounters.firstMessageDeliveries = min(topicCounters.firstMessageDeliveries + 1, cap)
        counters[peer, default: Counters()].topics[topic] = topicCounters
    }

    /// A validator rejected a message the peer sent (or its signature failed).
    mutating func invalidDelivery(_ peer: Peer, _ topic: String) {
        counters[peer, default: Counters()].topics[topic, default: TopicCounters()].invalidMessageDeliveries += 1
    }

    mutating func penalize(_ peer: Peer, _ count: Double = 1) {
        counters[peer, default: Counters()].behaviourPenalty += count
    }

    public mutating func setApplicationScore(_ peer: Peer, _ value: Double) {
        counters[peer, default: Counters()].appSpecific = value
    }

    /// Decays every counter once per decay interval that has passed.
    mutating func decay(now: ContinuousClock.Instant) {
        for (peer, entry) in counters {
            if let gone = entry.disconnectedAt, now - gone > parameters.retainScore { counters[peer] = nil }
        }
        guard let last = lastDecay else {
            lastDecay = now
            return
        }
        var rounds = Int((now - last) / parameters.decayInterval)
        guard rounds > 0 else { return }
        lastDecay = last + parameters.decayInterval * rounds
        rounds = min(rounds, 1000)
        let zero = parameters.decayToZero
        func decayed(_ value: Double, _ factor: Double) -> Double {
            var result = value
            for _ in 0..<rounds { result *= factor }
            return result < zero ? 0 : result
        }
        for peer in counters.keys {
            counters[peer]!.behaviourPenalty = decayed(counters[peer]!.behaviourPenalty, parameters.behaviourPenaltyDecay)
            for topic in counters[peer]!.topics.keys {
                let p = parameters.parameters(for: topic)
                var entry = counters[peer]!.topics[topic]!
                entry.firstMessageDeliveries = decayed(entry.firstMessageDeliveries, p.firstMessageDeliveriesDecay)
                entry.invalidMessageDeliveries = decayed(entry.invalidMessageDeliveries, p.invalidMessageDeliveriesDecay)
                entry.meshMessageDeliveries = decayed(entry.meshMessageDeliveries, p.meshMessageDeliveriesDecay)
                entry.meshFailurePenalty = decayed(entry.meshFailurePenalty, p.meshFailurePenaltyDecay)
                counters[peer]!.topics[topic] = entry
            }
        }
    }
}
