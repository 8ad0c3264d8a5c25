// A secured, multiplexed connection to a peer.

import NIOCore

/// One TCP connection to a peer, secured with Noise and multiplexed with
/// Yamux. Obtained from `P2PHost.connections(to:)`; streams are opened with
/// `P2PHost.newStream`.
public final class Connection: Sendable, Hashable, CustomStringConvertible {
    /// Unique within the host.
    public let id: UInt64
    /// The authenticated remote peer.
    public let remotePeer: PeerID
    /// The remote's identity key (proved in the Noise handshake).
    public let remoteKey: PublicKey
    /// The remote end of the socket (`/ip4/…/tcp/…`), when known.
    public let remoteAddress: Multiaddr?
    /// The local end of the socket.
    public let localAddress: Multiaddr?
    /// Whether this side dialed.
    public let direction: Direction
    /// When the connection became usable.
    public let openedAt: ContinuousClock.Instant
    /// The Noise extensions the remote sent, if any.
    public let remoteExtensions: NoiseExtensions?

    let channel: Channel
    let handler: NIOLoopBound<ConnectionHandler>

    init(id: UInt64, session: NoiseSession, direction: Direction, remoteAddress: Multiaddr?, localAddress: Multiaddr?,
         channel: Channel, handler: NIOLoopBound<ConnectionHandler>) {
        self.id = id
        self.remotePeer = session.remotePeer
        self.remoteKey = session.remoteKey
        self.remoteExtensions = session.remoteExtensions
        self.direction = direction
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.channel = channel
        self.handler = handler
        self.openedAt = .now
    }

    var eventLoop: EventLoop { channel.eventLoop }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Opens a Yamux stream (without protocol negotiation).
    func openStream() async throws -> StreamCore {
        try await eventLoop.submit { try self.handler.value.openStream() }.get()
    }

    /// Sends a Yamux GoAway and closes the connection; open streams fail with `.closed`.
    public func close() async {
        eventLoop.execute { self.handler.value.close() }
        try? await channel.closeFuture.get()
    }

    public static func == (lhs: Connection, rhs: Connection) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    public var description: String {
        "connection \(id) \(direction) \(remoteAddress?.description ?? "?") \(remotePeer)"
    }
}

extension Multiaddr {
    /// `/ip4/…/tcp/port` or `/ip6/…/tcp/port` for an IP socket address.
    public init?(socketAddress: SocketAddress) {
        guard let port = socketAddress.port, let ip = socketAddress.ipAddress else { return nil }
        switch socketAddress {
        case .v4:
            guard let bytes = try? IPText.parse4(ip) else { return nil }
            try? self.init(components: [.ip4(bytes), .tcp(UInt16(port))])
        case .v6:
            let text = ip.split(separator: "%").first.map(String.init) ?? ip
            guard let bytes = try? IPText.parse6(text) else { return nil }
            try? self.init(components: [.ip6(bytes), .tcp(UInt16(port))])
        default:
            return nil
        }
    }
}
