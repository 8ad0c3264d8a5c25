// Keeping the number of connected peers between water marks: a pure trim
// policy, and the host's trimming task. Format: formats/libp2p.md, section 9.

import Synchronization

/// Which peers to disconnect when there are too many.
///
/// Rules: nothing happens until more than `highWater` peers are connected;
/// then peers are disconnected until `lowWater` remain. Protected peers and
/// peers connected for less than `gracePeriod` are never chosen. Among the
/// rest the most recently connected go first: long-lived connections (the
/// DHT's routing table, mesh peers) are worth more than the churn of lookups.
public struct ConnectionManagerPolicy: Hashable, Sendable {
    /// Peers kept after a trim: 32 (Kubo's default low water mark).
    public var lowWater: Int
    /// Peers above which a trim starts: 96 (Kubo's high water mark).
    public var highWater: Int
    /// New connections are left alone this long: 20 s (Kubo's).
    public var gracePeriod: Duration

    public init(lowWater: Int = 32, highWater: Int = 96, gracePeriod: Duration = .seconds(20)) {
        self.lowWater = lowWater
        self.highWater = highWater
        self.gracePeriod = gracePeriod
    }

    public struct Candidate: Hashable, Sendable {
        public var peer: PeerID
        /// When the peer's oldest open connection was opened.
        public var connectedAt: ContinuousClock.Instant
        public var isProtected: Bool
        public init(peer: PeerID, connectedAt: ContinuousClock.Instant, isProtected: Bool) {
            self.peer = peer
            self.connectedAt = connectedAt
            self.isProtected = isProtected
        }
    }

    /// The peers to disconnect now.
    public func peersToTrim(_ peers: [Candidate], now: ContinuousClock.Instant) -> [PeerID] {
        guard peers.count > highWater else { return [] }
        let excess = peers.count - lowWater
        let eligible = peers.filter { !$0.isProtected && now - $0.connectedAt >= gracePeriod }
            .sorted { $0.connectedAt > $1.connectedAt || ($0.connectedAt == $1.connectedAt && $0.peer < $1.peer) }
        return eligible.prefix(excess).map(\.peer)
    }
}

/// Protections by tag (`bootstrap`, `hoarder`, …): a peer is protected while any tag holds it.
final class Protections: Sendable {
    private let tags = Mutex<[PeerID: Set<String>]>([:])

    func protect(_ peer: PeerID, tag: String) { tags.withLock { _ = $0[peer, default: []].insert(tag) } }

    /// Returns whether the peer is still protected by another tag.
    @discardableResult
    func unprotect(_ peer: PeerID, tag: String) -> Bool {
        tags.withLock { tags in
            tags[peer]?.remove(tag)
            if tags[peer]?.isEmpty == true { tags[peer] = nil }
            return tags[peer] != nil
        }
    }

    func isProtected(_ peer: PeerID) -> Bool { tags.withLock { $0[peer] != nil } }
}

extension P2PHost {
    /// Keeps `peer` connected through trims while `tag` protects it.
    public func protect(_ peer: PeerID, tag: String) { swarm.protections.protect(peer, tag: tag) }

    /// Drops one protection; returns whether another tag still protects the peer.
    @discardableResult
    public func unprotect(_ peer: PeerID, tag: String) -> Bool { swarm.protections.unprotect(peer, tag: tag) }

    public func isProtected(_ peer: PeerID) -> Bool { swarm.protections.isProtected(peer) }

    /// Disconnects the peers `policy` chooses now; returns them.
    @discardableResult
    public func trimConnections(now: ContinuousClock.Instant = .now) async -> [PeerID] {
        let candidates = swarm.connections(to: nil).filter(\.isActive).reduce(into: [PeerID: ContinuousClock.Instant]()) { oldest, connection in
            let opened = oldest[connection.remotePeer].map { min($0, connection.openedAt) } ?? connection.openedAt
            oldest[connection.remotePeer] = opened
        }.map { ConnectionManagerPolicy.Candidate(peer: $0.key, connectedAt: $0.value, isProtected: isProtected($0.key)) }
        let chosen = limits.connectionManager.peersToTrim(candidates, now: now)
        for peer in chosen { await disconnect(peer) }
        if !chosen.isEmpty { swarm.logger.debug("connection manager: closed \(chosen.count) of \(candidates.count) peers") }
        return chosen
    }
}
