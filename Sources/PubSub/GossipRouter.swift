// The GossipSub v1.1 router as a pure state machine: peers, subscriptions,
// meshes, fanout, gossip and backoff. It sends nothing itself; every call
// returns the RPCs to send and the messages to deliver or validate, so the
// same code runs in a node and in a simulator. Format: formats/pubsub.md §5.

/// What a router call asks its driver to do.
public struct GossipActions<Peer: Hashable & Sendable>: Sendable {
    /// RPCs to send, at most one per peer per call.
    public var send: [Peer: PubSubRPC] = [:]
    /// New messages to validate; the driver answers with `validated`.
    public var validate: [(id: [UInt8], message: PubSubMessage, from: Peer)] = []
    /// Peers offered by PRUNE peer exchange (peer ID bytes), to dial if wanted.
    public var exchangedPeers: [[UInt8]] = []
    /// The RPC was ignored: its sender's score is below the graylist threshold.
    public var graylisted = false

    public init() {}

    public var isEmpty: Bool { send.isEmpty && validate.isEmpty && exchangedPeers.isEmpty }

    mutating func edit(_ peer: Peer, _ body: (inout PubSubRPC) -> Void) {
        var rpc = send[peer] ?? PubSubRPC()
        body(&rpc)
        send[peer] = rpc
    }

    mutating func control(_ peer: Peer, _ body: (inout PubSubRPC.Control) -> Void) {
        edit(peer) { rpc in
            var control = rpc.control ?? PubSubRPC.Control()
            body(&control)
            rpc.control = control
        }
    }
}

/// What a topic validator decided (the driver reports it with `validated`).
public enum ValidationResult: Hashable, Sendable {
    /// Delivered locally and forwarded.
    case accept
    /// Dropped; the sender misbehaved (counted against it).
    case reject
    /// Dropped quietly.
    case ignore
}

public struct GossipRouter<Peer: Hashable & Comparable & Sendable>: Sendable {
    public let configuration: GossipConfiguration
    public internal(set) var peers: [Peer: PeerState] = [:]
    public internal(set) var subscriptions: Set<String> = []
    public internal(set) var mesh: [String: Set<Peer>] = [:]
    public internal(set) var fanout: [String: Set<Peer>] = [:]
    var fanoutPublished: [String: ContinuousClock.Instant] = [:]
    /// Until when a peer may not be grafted into a topic's mesh.
    var backoff: [String: [Peer: ContinuousClock.Instant]] = [:]
    var cache: MessageCache<Peer>
    var seen: SeenCache
    /// Messages waiting for validation: who sent them.
    var validating: [[UInt8]: (message: PubSubMessage, from: Peer)] = [:]
    /// When each recent message first arrived, kept only for topics that
    /// score mesh deliveries (P3): a copy from a mesh peer within the window counts.
    var firstArrivals: [[UInt8]: ContinuousClock.Instant] = [:]
    var random: SplitMix64
    /// The v1.1 peer score (section 7).
    public internal(set) var score: PeerScore<Peer>
    var heartbeats = 0

    public struct PeerState: Hashable, Sendable {
        public var protocolID: PubSubProtocol
        public var topics: Set<String> = []
        /// IHAVEs taken and message IDs asked for since the last heartbeat.
        var ihaves = 0, iwanted = 0
        /// Misbehaviour seen (rejected messages, grafts during backoff).
        public var penalties = 0
    }

    /// A peer's ID bytes, for PRUNE peer exchange.
    let peerIDBytes: @Sendable (Peer) -> [UInt8]

    /// - Parameters:
    ///   - peerIDBytes: a peer's ID as bytes (what PRUNE's peer exchange sends).
    ///   - seed: for the random choices (mesh members, gossip targets), so a simulation replays.
    public init(configuration: GossipConfiguration = .standard, seed: UInt64 = 0x7461_7521,
                peerIDBytes: @escaping @Sendable (Peer) -> [UInt8]) {
        self.configuration = configuration
        self.peerIDBytes = peerIDBytes
        cache = MessageCache(historyLength: configuration.historyLength, historyGossip: configuration.historyGossip,
                             maxTransmissions: configuration.gossipRetransmission)
        seen = SeenCache(ttl: configuration.seenTTL)
        random = SplitMix64(seed: seed)
        score = PeerScore(parameters: configuration.scoreParameters, thresholds: configuration.scoreThresholds)
    }

    /// The peer's score (0 when scoring is off).
    public func score(of peer: Peer, now: ContinuousClock.Instant) -> Double {
        configuration.scoring ? score.score(peer, now: now) : 0
    }

    /// The application's own score of a peer (P5).
    public mutating func setApplicationScore(_ peer: Peer, _ value: Double) { score.setApplicationScore(peer, value) }

    /// A message from `peer` failed its signature check before validation:
    /// counted as an invalid delivery.
    public mutating func invalidMessage(from peer: Peer, topic: String) {
        peers[peer]?.penalties += 1
        score.invalidDelivery(peer, topic)
    }

    // MARK: Peers

    /// A peer opened a pubsub stream: it learns our subscriptions.
    /// - Parameter address: the peer's IP address, for the colocation penalty (P6).
    public mutating func addPeer(_ peer: Peer, protocolID: PubSubProtocol, address: String? = nil) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        peers[peer] = PeerState(protocolID: protocolID)
        score.addPeer(peer, address: address)
        if !subscriptions.isEmpty {
            actions.edit(peer) { rpc in
                rpc.subscriptions = subscriptions.sorted().map { .init(subscribe: true, topic: $0) }
            }
        }
        return actions
    }

    /// A peer left; its score is retained for `retainScore` after `now`.
    public mutating func removePeer(_ peer: Peer, now: ContinuousClock.Instant = .now) {
        peers[peer] = nil
        score.removePeer(peer, now: now)
        for topic in mesh.keys { mesh[topic]?.remove(peer) }
        for topic in fanout.keys { fanout[topic]?.remove(peer) }
    }

    // MARK: Subscriptions

    /// Joins `topic`: every peer is told, and the mesh is formed from the
    /// fanout and from peers in the topic, up to D, each sent a GRAFT.
    public mutating func subscribe(_ topic: String, now: ContinuousClock.Instant) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        guard subscriptions.insert(topic).inserted else { return actions }
        for peer in peers.keys { actions.edit(peer) { $0.subscriptions.append(.init(subscribe: true, topic: topic)) } }
        var members = fanout.removeValue(forKey: topic) ?? []
        fanoutPublished[topic] = nil
        members = members.filter { isGossipPeer($0, in: topic) && !inBackoff($0, topic, now) }
        if members.count < configuration.d {
            let more = pick(configuration.d - members.count, from: candidates(for: topic, excluding: members, now: now))
            members.formUnion(more)
        }
        mesh[topic] = members
        for peer in members {
            score.grafted(peer, topic, now: now)
            actions.control(peer) { $0.graft.append(.init(topic: topic)) }
        }
        return actions
    }

    /// Leaves `topic`: every peer is told; mesh peers get a PRUNE with the unsubscribe backoff.
    public mutating func unsubscribe(_ topic: String, now: ContinuousClock.Instant) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        guard subscriptions.remove(topic) != nil else { return actions }
        for peer in peers.keys { actions.edit(peer) { $0.subscriptions.append(.init(subscribe: false, topic: topic)) } }
        for peer in mesh.removeValue(forKey: topic) ?? [] {
            score.pruned(peer, topic, now: now)
            setBackoff(peer, topic, now + configuration.unsubscribeBackoff)
            actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.unsubscribeBackoff)) }
        }
        return actions
    }

    // MARK: Publishing

    /// Publishes our own message (signed by the caller) under `id`.
    /// - Returns: the sends; empty when the ID was published or seen before.
    public mutating func publish(_ message: PubSubMessage, id: [UInt8], now: ContinuousClock.Instant) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        guard seen.insert(id, now: now) else { return actions }
        cache.put(message, id: id)
        let topic = message.topic
        var targets: Set<Peer>
        if configuration.floodPublish {
            let floor = configuration.scoreThresholds.publish
            targets = Set(peers.filter { $0.value.topics.contains(topic) && score(of: $0.key, now: now) >= floor }.keys)
        } else if let members = mesh[topic] {
            targets = members.union(floodsubPeers(in: topic))
        } else {
            var members = fanout[topic] ?? []
            if members.isEmpty {
                members = pick(configuration.d, from: candidates(for: topic, excluding: [], now: nil))
                fanout[topic] = members
            }
            targets = members.union(floodsubPeers(in: topic))
        }
        if mesh[topic] == nil, configuration.floodPublish, fanout[topic] == nil {
            fanout[topic] = pick(configuration.d, from: candidates(for: topic, excluding: [], now: nil))
        }
        if mesh[topic] == nil { fanoutPublished[topic] = now }
        for peer in targets { actions.edit(peer) { $0.messages.append(message) } }
        return actions
    }

    // MARK: Receiving

    /// Takes one RPC from `peer`. New messages come back in `validate`
    /// (signatures are the driver's to check first); control is answered.
    public mutating func receive(_ rpc: PubSubRPC, from peer: Peer, now: ContinuousClock.Instant,
                                 messageID: (PubSubMessage) -> [UInt8]) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        guard peers[peer] != nil else { return actions }
        guard score(of: peer, now: now) >= configuration.scoreThresholds.graylist else {
            actions.graylisted = true
            return actions
        }
        for subscription in rpc.subscriptions {
            if subscription.subscribe {
                guard (peers[peer]?.topics.count ?? 0) < configuration.maxTopicsPerPeer else { continue }
                peers[peer]?.topics.insert(subscription.topic)
            } else {
                peers[peer]?.topics.remove(subscription.topic)
                if mesh[subscription.topic]?.remove(peer) != nil { score.pruned(peer, subscription.topic, now: now) }
                fanout[subscription.topic]?.remove(peer)
            }
        }
        for message in rpc.messages {
            let id = messageID(message)
            let scoresMeshDeliveries = configuration.scoring
                && configuration.scoreParameters.parameters(for: message.topic).meshMessageDeliveriesWeight != 0
            guard seen.insert(id, now: now) else {
                if scoresMeshDeliveries, let first = firstArrivals[id],
                   now - first <= configuration.scoreParameters.parameters(for: message.topic).meshMessageDeliveriesWindow,
                   mesh[message.topic]?.contains(peer) == true {
                    score.meshDelivery(peer, message.topic)
                }
                continue
            }
            if scoresMeshDeliveries { firstArrivals[id] = now }
            validating[id] = (message, peer)
            actions.validate.append((id, message, peer))
        }
        if let control = rpc.control, peers[peer]?.protocolID.isGossip == true {
            handleGrafts(control.graft, from: peer, now: now, into: &actions)
            handlePrunes(control.prune, from: peer, now: now, into: &actions)
            // No gossip with peers below the gossip threshold, either way.
            if score(of: peer, now: now) >= configuration.scoreThresholds.gossip {
                handleIHave(control.ihave, from: peer, now: now, into: &actions)
                handleIWant(control.iwant, from: peer, into: &actions)
            }
        }
        return actions
    }

    /// The validator's answer for a message `receive` returned: an accepted
    /// message is cached and forwarded to the topic's mesh (or, for FloodSub
    /// peers, every peer in the topic) except its sender.
    public mutating func validated(_ id: [UInt8], _ result: ValidationResult) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        guard let (message, from) = validating.removeValue(forKey: id) else { return actions }
        switch result {
        case .ignore: return actions
        case .reject:
            peers[from]?.penalties += 1
            score.invalidDelivery(from, message.topic)
            return actions
        case .accept: break
        }
        cache.put(message, id: id)
        let topic = message.topic
        if peers[from] != nil {
            score.firstDelivery(from, topic)
            if mesh[topic]?.contains(from) == true { score.meshDelivery(from, topic) }
        }
        let targets = (mesh[topic] ?? []).union(floodsubPeers(in: topic))
        // The author needs no copy: its own seen cache drops it.
        for peer in targets where peer != from {
            actions.edit(peer) { $0.messages.append(message) }
        }
        return actions
    }
}
