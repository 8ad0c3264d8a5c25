// GossipSub control messages and the heartbeat. Format: formats/pubsub.md §5.

extension GossipRouter {
    // MARK: Control

    mutating func handleGrafts(_ grafts: [PubSubRPC.Graft], from peer: Peer, now: ContinuousClock.Instant,
                               into actions: inout GossipActions<Peer>) {
        for graft in grafts {
            let topic = graft.topic
            guard subscriptions.contains(topic) else {
                // Not our topic: refuse without peer exchange (spec: no PX for unknown topics).
                actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.pruneBackoff, exchange: false)) }
                continue
            }
            if mesh[topic]?.contains(peer) == true { continue }
            if inBackoff(peer, topic, now) {
                // Grafting during a backoff is misbehaviour; the backoff starts again.
                peers[peer]?.penalties += 1
                score.penalize(peer)
                setBackoff(peer, topic, now + configuration.pruneBackoff)
                actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.pruneBackoff, exchange: false)) }
                continue
            }
            if score(of: peer, now: now) < 0 {
                // A peer with a negative score stays out of our mesh.
                setBackoff(peer, topic, now + configuration.pruneBackoff)
                actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.pruneBackoff, exchange: false)) }
                continue
            }
            // Over D_hi is accepted here; the next heartbeat prunes back to D.
            mesh[topic, default: []].insert(peer)
            score.grafted(peer, topic, now: now)
        }
    }

    mutating func handlePrunes(_ prunes: [PubSubRPC.Prune], from peer: Peer, now: ContinuousClock.Instant,
                               into actions: inout GossipActions<Peer>) {
        for entry in prunes {
            mesh[entry.topic]?.remove(peer)
            score.pruned(peer, entry.topic, now: now)
            let seconds = entry.backoff.map { min($0, 86_400) }
            setBackoff(peer, entry.topic, now + (seconds.map { .seconds($0) } ?? configuration.pruneBackoff))
            // Peer exchange only from peers we trust enough (acceptPX).
            if subscriptions.contains(entry.topic),
               !configuration.scoring || score(of: peer, now: now) >= configuration.scoreThresholds.acceptPX {
                actions.exchangedPeers += entry.peers.map(\.peerID).filter { !$0.isEmpty }
            }
        }
    }

    mutating func handleIHave(_ ihaves: [PubSubRPC.IHave], from peer: Peer, now: ContinuousClock.Instant,
                              into actions: inout GossipActions<Peer>) {
        var wanted: [[UInt8]] = []
        for ihave in ihaves where subscriptions.contains(ihave.topic) {
            guard var state = peers[peer], state.ihaves < configuration.maxIHaveMessages else { break }
            state.ihaves += 1
            for id in ihave.messageIDs where state.iwanted < configuration.maxIHaveLength {
                if seen.contains(id, now: now) || cache.contains(id) || wanted.contains(id) { continue }
                wanted.append(id)
                state.iwanted += 1
            }
            peers[peer] = state
        }
        if !wanted.isEmpty { actions.control(peer) { $0.iwant.append(.init(messageIDs: wanted)) } }
    }

    mutating func handleIWant(_ iwants: [PubSubRPC.IWant], from peer: Peer, into actions: inout GossipActions<Peer>) {
        for iwant in iwants {
            for id in iwant.messageIDs {
                guard let message = cache.message(for: id, to: peer) else { continue }
                actions.edit(peer) { $0.messages.append(message) }
            }
        }
    }

    // MARK: Heartbeat

    /// Once per `heartbeatInterval`: meshes back between D_lo and D_hi,
    /// fanouts expired or refilled, gossip (IHAVE) to D_lazy peers per
    /// topic, the message cache shifted, expired backoffs dropped.
    public mutating func heartbeat(now: ContinuousClock.Instant) -> GossipActions<Peer> {
        var actions = GossipActions<Peer>()
        heartbeats += 1
        score.decay(now: now)
        // Arrival times matter only within the P3 window (milliseconds).
        firstArrivals = firstArrivals.filter { now - $0.value < .seconds(1) }
        for peer in peers.keys {
            peers[peer]?.ihaves = 0
            peers[peer]?.iwanted = 0
        }
        for (topic, members) in mesh {
            var members = members.filter { isGossipPeer($0, in: topic) }
            // Peers whose score went negative leave the mesh (no peer exchange for them).
            for peer in members where score(of: peer, now: now) < 0 {
                members.remove(peer)
                score.pruned(peer, topic, now: now)
                setBackoff(peer, topic, now + configuration.pruneBackoff)
                actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.pruneBackoff, exchange: false)) }
            }
            if members.count < configuration.dLow {
                let added = pick(configuration.d - members.count, from: candidates(for: topic, excluding: members, now: now))
                for peer in added {
                    score.grafted(peer, topic, now: now)
                    actions.control(peer) { $0.graft.append(.init(topic: topic)) }
                }
                members.formUnion(added)
            }
            if members.count > configuration.dHigh {
                // Keep the best-scored half of D, fill the rest at random (the spec's D_score, here D/2).
                let ranked = members.sorted { score(of: $0, now: now) > score(of: $1, now: now) || (score(of: $0, now: now) == score(of: $1, now: now) && $0 < $1) }
                let kept = Set(ranked.prefix(configuration.d / 2))
                let rest = pick(configuration.d - kept.count, from: members.subtracting(kept))
                for peer in members.subtracting(kept).subtracting(rest) {
                    members.remove(peer)
                    score.pruned(peer, topic, now: now)
                    setBackoff(peer, topic, now + configuration.pruneBackoff)
                    actions.control(peer) { $0.prune.append(prune(topic, for: peer, backoff: configuration.pruneBackoff, among: kept.union(rest))) }
                }
            }
            if configuration.scoring, heartbeats % configuration.opportunisticGraftTicks == 0, members.count > 1 {
                // Opportunistic grafting: a mesh whose median score is low takes better peers.
                let scores = members.map { score(of: $0, now: now) }.sorted()
                let median = scores[scores.count / 2]
                if median < configuration.scoreThresholds.opportunisticGraft {
                    let better = candidates(for: topic, excluding: members, now: now).filter { score(of: $0, now: now) > median }
                    for peer in pick(configuration.opportunisticGraftPeers, from: better) {
                        members.insert(peer)
                        score.grafted(peer, topic, now: now)
                        actions.control(peer) { $0.graft.append(.init(topic: topic)) }
                    }
                }
            }
            mesh[topic] = members
        }
        for (topic, published) in fanoutPublished where now - published > configuration.fanoutTTL {
            fanout[topic] = nil
            fanoutPublished[topic] = nil
        }
        for (topic, members) in fanout {
            var members = members.filter { peers[$0]?.topics.contains(topic) == true }
            if members.count < configuration.d {
                members.formUnion(pick(configuration.d - members.count, from: candidates(for: topic, excluding: members, now: nil)))
            }
            fanout[topic] = members
        }
        for (topic, members) in mesh { emitGossip(topic, excluding: members, now: now, into: &actions) }
        for (topic, members) in fanout { emitGossip(topic, excluding: members, now: now, into: &actions) }
        cache.shift()
        for topic in backoff.keys {
            backoff[topic] = backoff[topic]?.filter { $0.value > now }
            if backoff[topic]?.isEmpty == true { backoff[topic] = nil }
        }
        return actions
    }

    mutating func emitGossip(_ topic: String, excluding members: Set<Peer>, now: ContinuousClock.Instant,
                             into actions: inout GossipActions<Peer>) {
        let ids = cache.gossipIDs(topic: topic)
        guard !ids.isEmpty else { return }
        let floor = configuration.scoreThresholds.gossip
        let eligible = Set(peers.filter { entry in
            entry.value.protocolID.isGossip && entry.value.topics.contains(topic) && score(of: entry.key, now: now) >= floor
        }.keys).subtracting(members)
        let count = max(configuration.dLazy, Int(configuration.gossipFactor * Double(eligible.count)))
        let announced = Array(ids.prefix(configuration.maxIHaveLength))
        for peer in pick(count, from: eligible) {
            actions.control(peer) { $0.ihave.append(.init(topic: topic, messageIDs: announced)) }
        }
    }

    // MARK: Helpers

    func isGossipPeer(_ peer: Peer, in topic: String) -> Bool {
        guard let state = peers[peer] else { return false }
        return state.protocolID.isGossip && state.topics.contains(topic)
    }

    func floodsubPeers(in topic: String) -> Set<Peer> {
        Set(peers.filter { $0.value.protocolID == .floodsub && $0.value.topics.contains(topic) }.keys)
    }

    /// Gossip peers in `topic`, not in `excluding`, and (when `now` is given)
    /// not in backoff and not of negative score.
    func candidates(for topic: String, excluding: Set<Peer>, now: ContinuousClock.Instant?) -> Set<Peer> {
        Set(peers.keys.filter { peer in
            guard isGossipPeer(peer, in: topic), !excluding.contains(peer) else { return false }
            guard let now else { return true }
            return !inBackoff(peer, topic, now) && score(of: peer, now: now) >= 0
        })
    }

    func inBackoff(_ peer: Peer, _ topic: String, _ now: ContinuousClock.Instant) -> Bool {
        (backoff[topic]?[peer]).map { $0 > now } ?? false
    }

    mutating func setBackoff(_ peer: Peer, _ topic: String, _ until: ContinuousClock.Instant) {
        let current = backoff[topic]?[peer]
        if current == nil || current! < until { backoff[topic, default: [:]][peer] = until }
    }

    /// A PRUNE for `peer`; v1.1 peers get the backoff and, when `exchange`,
    /// up to `prunePeers` other mesh members (`among`, or the topic's mesh).
    mutating func prune(_ topic: String, for peer: Peer, backoff: Duration, exchange: Bool = true,
                        among: Set<Peer>? = nil) -> PubSubRPC.Prune {
        guard peers[peer]?.protocolID == .meshsub11 else { return .init(topic: topic) }
        var offered: [PubSubRPC.PeerExchange] = []
        if exchange {
            var others = among ?? mesh[topic] ?? []
            others.remove(peer)
            offered = pick(configuration.prunePeers, from: others).sorted().map { .init(peerID: peerIDBytes($0)) }
        }
        return .init(topic: topic, peers: offered, backoff: UInt64(backoff.components.seconds))
    }

    /// `count` peers of `set`, chosen at random (deterministic for a seed), in sorted order first for stability.
    mutating func pick(_ count: Int, from set: Set<Peer>) -> Set<Peer> {
        guard count > 0 else { return [] }
        guard count < set.count else { return set }
        var all = set.sorted()
        all.shuffle(using: &random)
        return Set(all.prefix(count))
    }
}

/// A small seeded generator, so a simulation replays exactly.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
