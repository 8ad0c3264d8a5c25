// What the host knows about peers, fed by identify and by dialing.

import Synchronization

/// A peer as the peerstore knows it.
public struct PeerInfo: Sendable, Hashable {
    public let peerID: PeerID
    /// Addresses the peer listens on (from identify, and addresses dialed successfully).
    public var addresses: [Multiaddr] = []
    /// Protocols the peer announced in identify.
    public var protocols: [String] = []
    public var agentVersion: String?
    public var protocolVersion: String?
    public var publicKey: PublicKey?
    /// The address the peer saw this host connect from.
    public var observedAddress: Multiaddr?

    public init(peerID: PeerID) { self.peerID = peerID }
}

/// Peer addresses, protocols and agents. Thread-safe.
///
/// Limits: at most `maxPeers` peers (a new peer beyond that replaces the
/// one least recently updated: DHT lookups learn of many peers, and the ones
/// the host deals with now matter more) and `maxAddressesPerPeer`
/// addresses each (the oldest go first).
public final class Peerstore: Sendable {
    public static let maxPeers = 4096
    public static let maxAddressesPerPeer = 32

    private let peers = Mutex<[PeerID: PeerInfo]>([:])
    /// When each peer was last updated, in update order (for eviction).
    private let updated = Mutex<(clock: UInt64, at: [PeerID: UInt64])>((0, [:]))

    public init() {}

    /// What is known about `peer`.
    public func info(_ peer: PeerID) -> PeerInfo? { peers.withLock { $0[peer] } }

    /// Every known peer.
    public func all() -> [PeerInfo] { peers.withLock { Array($0.values) } }

    /// The peer's known addresses (without `/p2p`).
    public func addresses(_ peer: PeerID) -> [Multiaddr] { peers.withLock { $0[peer]?.addresses ?? [] } }

    /// Records addresses for `peer` (a trailing `/p2p/…` is removed).
    public func addAddresses(_ addresses: [Multiaddr], for peer: PeerID) {
        update(peer) { info in
            for address in addresses {
                guard let plain = address.withoutPeerID, !info.addresses.contains(plain) else { continue }
                info.addresses.append(plain)
            }
            if info.addresses.count > Self.maxAddressesPerPeer {
                info.addresses.removeFirst(info.addresses.count - Self.maxAddressesPerPeer)
            }
        }
    }

    /// Forgets `peer`.
    public func remove(_ peer: PeerID) {
        _ = peers.withLock { $0.removeValue(forKey: peer) }
        _ = updated.withLock { $0.at.removeValue(forKey: peer) }
    }

    func update(_ peer: PeerID, _ body: (inout PeerInfo) -> Void) {
        // Lock order: peers, then updated.
        peers.withLock { all in
            updated.withLock { order in
                if all[peer] == nil, all.count >= Self.maxPeers,
                   let oldest = order.at.min(by: { $0.value < $1.value })?.key {
                    all[oldest] = nil
                    order.at[oldest] = nil
                }
                order.clock += 1
                order.at[peer] = order.clock
            }
            if all[peer] == nil { all[peer] = PeerInfo(peerID: peer) }
            body(&all[peer]!)
        }
    }

    /// Applies an identify message from `peer`: fields it carries replace ours.
    func apply(_ message: IdentifyMessage, from peer: PeerID) {
        let listen = message.parsedListenAddrs
        update(peer) { info in
            if let version = message.protocolVersion { info.protocolVersion = version }
            if let agent = message.agentVersion { info.agentVersion = agent }
            if let key = message.parsedPublicKey { info.publicKey = key }
            if !message.protocols.isEmpty { info.protocols = message.protocols }
            if let observed = message.parsedObservedAddr { info.observedAddress = observed }
            for address in listen {
                guard let plain = address.withoutPeerID, !info.addresses.contains(plain) else { continue }
                info.addresses.append(plain)
            }
            if info.addresses.count > Self.maxAddressesPerPeer {
                info.addresses.removeFirst(info.addresses.count - Self.maxAddressesPerPeer)
            }
        }
    }
}
