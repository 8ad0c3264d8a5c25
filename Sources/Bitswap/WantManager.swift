// The client side of Bitswap as a pure state machine: which peer is asked for
// which block, moving on after DONT_HAVE or a stalled peer, rebroadcasts,
// cancels once a block arrives, and which received blocks were asked for.
// No I/O and no clock: the caller passes `now` and sends the entries it gets.
// Format: formats/bitswap.md, section 5 (client rules C1-C10).

import Blocks
import Multiformats

/// Wants of one node towards its peers. Not thread-safe: keep it behind a lock.
public struct WantManager<Peer: Hashable & Sendable>: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public struct Configuration: Hashable, Sendable {
        /// A want-block whose peer has sent nothing at all for this long moves
        /// on to the next candidate. 5 s.
        public var blockTimeout: Duration = .seconds(5)
        /// A want without a peer asked for the block is re-sent (want-have to
        /// everyone, want-block to the best candidate) this often. 2 s.
        public var rebroadcastInterval: Duration = .seconds(2)
        /// Blocks recently received, remembered so that late duplicates from
        /// peers that were asked are not taken for unwanted blocks. 8192.
        public var recentBlocks = 8192
        /// How long a peer's late answer to a want is accepted after the
        /// want ended (cancelled or served by another peer). 60 s.
        public var askedMemory: Duration = .seconds(60)

        public init(blockTimeout: Duration = .seconds(5), rebroadcastInterval: Duration = .seconds(2),
                    recentBlocks: Int = 8192, askedMemory: Duration = .seconds(60)) {
            self.blockTimeout = blockTimeout
            self.rebroadcastInterval = rebroadcastInterval
            self.recentBlocks = recentBlocks
            self.askedMemory = askedMemory
        }
    }

    /// What the caller must do after an event.
    public struct Actions: Sendable {
        /// Wantlist entries to send, per peer (in order).
        public var entries: [Peer: [BitswapMessage.Entry]] = [:]
        /// Wanted blocks that arrived, named by the CID they were wanted under.
        public var delivered: [Block] = []
        /// Peers that sent blocks nobody asked them for (or whose bytes hash to
        /// no CID asked): disconnect them and drop the blocks.
        public var misbehaving: [Peer] = []

        public var isEmpty: Bool { entries.isEmpty && delivered.isEmpty && misbehaving.isEmpty }

        mutating func send(_ entry: BitswapMessage.Entry, to peer: Peer) {
            entries[peer, default: []].append(entry)
        }
    }

    struct Want {
        var cid: CID
        var priority: Int32
        /// The peer asked for the block now, and since when.
        var blockPeer: Peer?
        var blockSince: Instant
        /// Peers sent anything for this want (they get the cancel).
        var asked: Set<Peer> = []
        /// Peers that said HAVE and were not tried yet, in order.
        var haves: [Peer] = []
        /// Peers that said DONT_HAVE or let a want-block time out.
        var excluded: Set<Peer> = []
        var lastBroadcast: Instant
    }

    public let configuration: Configuration
    private var wants: [Multihash: Want] = [:]
    private var peers: [Peer] = []
    private var rotation = 0
    private var lastActivity: [Peer: Instant] = [:]
    /// Blocks each peer delivered: the preferred peer for a want-block is the most useful one.
    private var delivered: [Peer: Int] = [:]
    /// What each peer was asked for and when the want ended (nil: still open).
    private var askedOf: [Peer: [Multihash: Instant?]] = [:]
    private var recent = Set<Multihash>()
    private var recentOrder: [Multihash] = []
    private var recentHead = 0
    private var lastPrune: Instant?
    /// Peers on Bitswap 1.0.0 or 1.1.0: they take no want-have and send no
    /// HAVE or DONT_HAVE, so they are asked with want-block only (rule C11).
    private var withoutPresences: Set<Peer> = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    // MARK: Events

    /// Wants `cids` (ones already wanted are left as they are).
    public mutating func want(_ cids: [CID], priority: Int32 = 1, now: Instant) -> Actions {
        var actions = Actions()
        for cid in cids {
            let key = cid.multihash
            guard wants[key] == nil else { continue }
            var want = Want(cid: cid, priority: priority, blockPeer: nil, blockSince: now, lastBroadcast: now)
            broadcast(&want, key: key, now: now, into: &actions)
            wants[key] = want
        }
        return actions
    }

    /// Stops wanting `cids`; peers that were asked get a cancel.
    public mutating func cancel(_ cids: [CID], now: Instant) -> Actions {
        var actions = Actions()
        for cid in cids {
            let key = cid.multihash
            guard let want = wants.removeValue(forKey: key) else { continue }
            for peer in want.asked {
                askedOf[peer]?[key] = .some(now)
                actions.send(.cancel(want.cid), to: peer)
            }
        }
        return actions
    }

    /// A peer speaking Bitswap connected: it is asked for everything wanted
    /// (want-block where no peer is asked for the block, want-have elsewhere).
    /// `sendsPresences` false: the peer speaks Bitswap 1.0.0 or 1.1.0.
    public mutating func peerConnected(_ peer: Peer, sendsPresences: Bool = true, now: Instant) -> Actions {
        var actions = Actions()
        guard !peers.contains(peer) else { return actions }
        peers.append(peer)
        if !sendsPresences { withoutPresences.insert(peer) }
        lastActivity[peer] = now
        for key in Array(wants.keys) {
            guard var want = wants[key] else { continue }
            if want.blockPeer == nil {
                askBlock(&want, key: key, peer: peer, now: now, into: &actions)
            } else {
                askHave(&want, key: key, peer: peer, now: now, into: &actions)
            }
            wants[key] = want
        }
        return actions
    }

    /// A connected peer turned out to speak Bitswap 1.0.0 or 1.1.0 (its
    /// stream was negotiated so): it never answers the want-haves it was
    /// counted for, so wants that wait for a HAVE ask it for the block.
    public mutating func peerSendsNoPresences(_ peer: Peer, now: Instant) -> Actions {
        var actions = Actions()
        guard peers.contains(peer), withoutPresences.insert(peer).inserted else { return actions }
        for key in Array(wants.keys) {
            guard var want = wants[key], want.blockPeer == nil, !want.excluded.contains(peer) else { continue }
            askBlock(&want, key: key, peer: peer, now: now, into: &actions)
            wants[key] = want
        }
        return actions
    }

    /// A peer went away: wants it was asked for move on.
    public mutating func peerDisconnected(_ peer: Peer, now: Instant) -> Actions {
        var actions = Actions()
        peers.removeAll { $0 == peer }
        withoutPresences.remove(peer)
        lastActivity[peer] = nil
        askedOf[peer] = nil
        for key in Array(wants.keys) {
            guard var want = wants[key] else { continue }
            want.asked.remove(peer)
            want.haves.removeAll { $0 == peer }
            want.excluded.remove(peer)
            if want.blockPeer == peer {
                want.blockPeer = nil
                moveOn(&want, key: key, now: now, into: &actions)
            }
            wants[key] = want
        }
        return actions
    }

    /// A message from `peer` arrived: its blocks (named by hashing their
    /// bytes) and presences.
    public mutating func received(from peer: Peer, blocks: [Block], presences: [BitswapMessage.Presence],
                                  now: Instant) -> Actions {
        var actions = Actions()
        lastActivity[peer] = now
        for block in blocks {
            let key = block.cid.multihash
            if let want = wants.removeValue(forKey: key) {
                actions.delivered.append(want.cid == block.cid ? block : Block(cid: want.cid, bytes: block.bytes))
                delivered[peer, default: 0] += 1
                remember(key)
                for other in want.asked {
                    askedOf[other]?[key] = .some(now)
                    if other != peer { actions.send(.cancel(want.cid), to: other) }
                }
                askedOf[peer]?[key] = nil
            } else if askedOf[peer]?[key] != nil || recent.contains(key) {
                askedOf[peer]?[key] = nil
            } else if !actions.misbehaving.contains(peer) {
                actions.misbehaving.append(peer)
            }
        }
        for presence in presences {
            let key = presence.cid.multihash
            guard var want = wants[key] else { continue }
            switch presence.type {
            case .have:
                if want.blockPeer == nil {
                    askBlock(&want, key: key, peer: peer, now: now, into: &actions)
                } else if want.blockPeer != peer && !want.haves.contains(peer) && !want.excluded.contains(peer) {
                    want.haves.append(peer)
                }
            case .dontHave:
                want.excluded.insert(peer)
                want.haves.removeAll { $0 == peer }
                if want.blockPeer == peer {
                    want.blockPeer = nil
                    moveOn(&want, key: key, now: now, into: &actions)
                }
            }
            wants[key] = want
        }
        return actions
    }

    /// Time passed: stalled want-blocks move on, idle wants are rebroadcast.
    public mutating func tick(now: Instant) -> Actions {
        var actions = Actions()
        for key in Array(wants.keys) {
            guard var want = wants[key] else { continue }
            if let peer = want.blockPeer {
                let active = max(want.blockSince, lastActivity[peer] ?? want.blockSince)
                if now - active >= configuration.blockTimeout {
                    want.excluded.insert(peer)
                    want.blockPeer = nil
                    moveOn(&want, key: key, now: now, into: &actions)
                }
            }
            if want.blockPeer == nil && now - want.lastBroadcast >= configuration.rebroadcastInterval {
                want.excluded = []
                want.haves = []
                broadcast(&want, key: key, now: now, into: &actions)
            }
            wants[key] = want
        }
        if lastPrune.map({ now - $0 >= .seconds(1) }) ?? true {
            lastPrune = now
            for peer in Array(askedOf.keys) {
                askedOf[peer] = askedOf[peer]?.filter { _, ended in
                    guard let ended else { return true }
                    return now - ended < configuration.askedMemory
                }
            }
        }
        return actions
    }

    // MARK: Policy

    /// Initial dispatch: want-block to the best candidate, want-have to the others.
    private mutating func broadcast(_ want: inout Want, key: Multihash, now: Instant, into actions: inout Actions) {
        want.lastBroadcast = now
        guard let first = bestCandidate(excluding: want.excluded) else { return }
        askBlock(&want, key: key, peer: first, now: now, into: &actions)
        for peer in peers where peer != first && !want.excluded.contains(peer) {
            askHave(&want, key: key, peer: peer, now: now, into: &actions)
        }
    }

    /// After DONT_HAVE, a timeout or a disconnect: the next peer that said
    /// HAVE, else the next peer that cannot say HAVE (1.0.0, 1.1.0) and was
    /// not tried. Without one the want waits for a HAVE or the next rebroadcast.
    private mutating func moveOn(_ want: inout Want, key: Multihash, now: Instant, into actions: inout Actions) {
        while !want.haves.isEmpty {
            let peer = want.haves.removeFirst()
            if peers.contains(peer) && !want.excluded.contains(peer) {
                askBlock(&want, key: key, peer: peer, now: now, into: &actions)
                return
            }
        }
        if !withoutPresences.isEmpty,
           let peer = peers.first(where: { withoutPresences.contains($0) && !want.excluded.contains($0) }) {
            askBlock(&want, key: key, peer: peer, now: now, into: &actions)
        }
    }

    private mutating func askBlock(_ want: inout Want, key: Multihash, peer: Peer, now: Instant,
                                   into actions: inout Actions) {
        want.blockPeer = peer
        want.blockSince = now
        want.asked.insert(peer)
        want.haves.removeAll { $0 == peer }
        askedOf[peer, default: [:]][key] = .some(nil)
        actions.send(BitswapMessage.Entry(cid: want.cid, priority: want.priority, wantType: .block,
                                          sendDontHave: true), to: peer)
    }

    private mutating func askHave(_ want: inout Want, key: Multihash, peer: Peer, now: Instant,
                                  into actions: inout Actions) {
        // A want-have would be dropped on the wire; moveOn asks such a peer for the block.
        guard !withoutPresences.contains(peer) else { return }
        want.asked.insert(peer)
        askedOf[peer, default: [:]][key] = .some(nil)
        actions.send(BitswapMessage.Entry(cid: want.cid, priority: want.priority, wantType: .have,
                                          sendDontHave: true), to: peer)
    }

    /// The connected peer that delivered most, ties broken round-robin.
    private mutating func bestCandidate(excluding excluded: Set<Peer>) -> Peer? {
        let candidates = peers.filter { !excluded.contains($0) }
        guard !candidates.isEmpty else { return nil }
        rotation &+= 1
        let start = rotation % candidates.count
        var best = candidates[start]
        var bestScore = delivered[best] ?? 0
        for offset in 1..<max(1, candidates.count) {
            let peer = candidates[(start + offset) % candidates.count]
            let score = delivered[peer] ?? 0
            if score > bestScore {
                best = peer
                bestScore = score
            }
        }
        return best
    }

    private mutating func remember(_ key: Multihash) {
        guard configuration.recentBlocks > 0, !recent.contains(key) else { return }
        if recentOrder.count < configuration.recentBlocks {
            recentOrder.append(key)
        } else {
            recent.remove(recentOrder[recentHead])
            recentOrder[recentHead] = key
            recentHead = (recentHead + 1) % recentOrder.count
        }
        recent.insert(key)
    }

    // MARK: Inspection

    /// Whether `cid` is wanted.
    public func isWanted(_ cid: CID) -> Bool { wants[cid.multihash] != nil }
    /// The peer asked for `cid`'s block now, if any.
    public func blockPeer(for cid: CID) -> Peer? { wants[cid.multihash]?.blockPeer }
    /// Number of open wants.
    public var wantCount: Int { wants.count }
    /// Connected Bitswap peers, in the order they connected.
    public var connectedPeers: [Peer] { peers }
}
