// The public face of the libp2p stack. Format: formats/libp2p.md.

import Logging
import NIOCore
import NIOPosix

/// A libp2p host: listens and dials over TCP, secures connections with
/// Noise (`/noise`), multiplexes them with Yamux (`/yamux/1.0.0`), runs
/// identify (`/ipfs/id/1.0.0`, answering pushes on `/ipfs/id/push/1.0.0`)
/// and ping (`/ipfs/ping/1.0.0`), and dispatches inbound streams to the
/// protocol handlers registered with `handle(_:_:)`. With a swarm key it
/// only talks to peers of the same private network.
///
/// ```swift
/// let host = P2PHost(identity: try KeyPair.load(from: keyPath),
///                 listenAddresses: [try Multiaddr("/ip4/0.0.0.0/tcp/4001")])
/// host.handle("/echo/1.0.0") { stream in
///     while let chunk = try await stream.read() { try await stream.write(chunk) }
/// }
/// try await host.start()
/// let peer = try await host.connect(try Multiaddr("/ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…"))
/// let stream = try await host.newStream(to: peer, protocol: "/echo/1.0.0")
/// try await stream.write(ByteBuffer(string: "hello"))
/// try await stream.closeWrite()
/// let echoed = try await stream.readToEnd(maxBytes: 1 << 20)
/// await host.shutdown()
/// ```
///
/// All methods are safe to call from any task.
public final class P2PHost: Sendable {
    /// Limits and timeouts; every field has a documented default.
    public struct Limits: Sendable {
        /// Connections open or being set up, both directions (more are refused).
        public var maxConnections = 256
        /// Streams open with one peer over all its connections, both directions
        /// (inbound ones beyond are reset, outbound ones fail with `.limitExceeded`).
        public var maxStreamsPerPeer = 1024
        /// A connection without streams for this long is closed.
        public var idleTimeout: TimeAmount = .seconds(120)
        /// TCP connect.
        public var dialTimeout: TimeAmount = .seconds(10)
        /// From socket open to a usable connection (pnet, multistream, Noise, Yamux).
        public var handshakeTimeout: TimeAmount = .seconds(10)
        /// multistream-select on each new stream.
        public var negotiationTimeout: TimeAmount = .seconds(10)
        /// The identify exchange run on every new connection.
        public var identifyTimeout: TimeAmount = .seconds(10)
        /// The longest protocol ID (multistream line) accepted.
        public var maxProtocolLength = MultistreamSelect.defaultMaxLineLength
        /// Yamux windows, stream counts and frame size.
        public var yamux = YamuxConfiguration()
        /// The socket write buffer water marks: writers pause above the high
        /// mark until the buffer drains below the low one (1 MiB instead of
        /// NIO's 64 KiB default: one TCP connection on loopback moved 4.45 GB/s
        /// with 1 MiB against 2.85 GB/s with 64 KiB, measured on this machine kind).
        public var writeBufferLowWaterMark = 256 * 1024
        public var writeBufferHighWaterMark = 1024 * 1024
        /// The largest single socket read.
        public var maxReadSize = 1024 * 1024
        /// Connected peers kept between water marks (32/96; `trimConnections`).
        public var connectionManager = ConnectionManagerPolicy()
        /// How often the host trims when above the high water mark: 10 s.
        public var trimInterval: Duration = .seconds(10)

        public init() {}
    }

    /// A protocol handler: called with each inbound stream that negotiated
    /// its protocol. When it returns the stream is closed; when it throws
    /// the stream is reset.
    public typealias StreamHandler = @Sendable (P2PStream) async throws -> Void

    let swarm: Swarm

    /// - Parameters:
    ///   - identity: the host's key pair; its peer ID is the host's.
    ///   - listenAddresses: `/ip4|ip6/…/tcp/…` addresses to listen on (port 0
    ///     picks one; see `listenAddresses` after `start()`). None: dial only.
    ///   - swarmKey: a private network key; the host then only talks to
    ///     peers with the same key.
    ///   - limits: connection, stream and time limits.
    ///   - agentVersion: what identify announces.
    ///   - group: the event loops connections run on.
    ///   - logger: connection failures are logged at warning level, the rest at debug.
    public init(identity: KeyPair, listenAddresses: [Multiaddr] = [], swarmKey: SwarmKey? = nil,
                limits: Limits = Limits(), agentVersion: String = "tau/0.1.0",
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "tau.p2p")) {
        swarm = Swarm(identity: identity, listenAddresses: listenAddresses, swarmKey: swarmKey, limits: limits,
                      agentVersion: agentVersion, group: group, logger: logger)
        installServices()
    }

    /// This host's peer ID.
    public var peerID: PeerID { swarm.identity.peerID }
    /// This host's key pair.
    public var identity: KeyPair { swarm.identity }
    /// What this host knows about other peers (fed by identify and dialing).
    public var peerstore: Peerstore { swarm.peerstore }
    /// The limits the host was created with.
    public var limits: Limits { swarm.limits }

    /// The private network's key, when the host is in one.
    public var swarmKey: SwarmKey? { swarm.swarmKey }

    /// Starts listening. Throws if an address cannot be bound (nothing stays bound then).
    public func start() async throws {
        let first = swarm.state.withLock { state -> Bool in
            guard !state.running, !state.stopped else { return false }
            state.running = true
            return true
        }
        guard first else { throw P2PError(.notRunning, "start() called twice or after shutdown()") }
        var channels: [Channel] = []
        do {
            for address in swarm.requestedListenAddresses { channels.append(try await swarm.listen(address)) }
        } catch {
            for channel in channels { try? await channel.close() }
            swarm.state.withLock { $0.running = false }
            throw error
        }
        let bound = channels.compactMap { $0.localAddress.flatMap(Multiaddr.init(socketAddress:)) }
        swarm.state.withLock { state in
            state.listeners = channels
            state.boundAddresses = bound
        }
        let interval = limits.trimInterval
        let trimmer = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.trimConnections()
            }
        }
        swarm.state.withLock { $0.trimmer = trimmer }
        if !bound.isEmpty {
            swarm.logger.info("listening on \(bound.map(\.description).joined(separator: ", ")) as \(peerID)")
        }
    }

    /// Stops listening and closes every connection (Yamux GoAway); streams fail with `.closed`.
    public func shutdown() async {
        let (listeners, connections, tasks) = swarm.state.withLock { state in
            state.running = false
            state.stopped = true
            defer {
                state.listeners = []
                state.identifyTasks = [:]
            }
            return (state.listeners, state.connections.values.flatMap { $0 }, Array(state.identifyTasks.values))
        }
        for task in tasks { task.cancel() }
        swarm.state.withLock { $0.trimmer }?.cancel()
        for listener in listeners { try? await listener.close() }
        for connection in connections { await connection.close() }
    }

    /// The bound listen addresses (with the ports chosen for port 0).
    public var listenAddresses: [Multiaddr] { swarm.state.withLock { $0.boundAddresses } }

    /// The addresses announced in identify: listen addresses with 0.0.0.0
    /// and :: replaced by the interfaces' addresses.
    public var addresses: [Multiaddr] { swarm.advertisedAddresses() }

    /// Registers (or replaces) the handler for `protocolID`. Identify, its
    /// push and ping are registered already.
    public func handle(_ protocolID: String, _ handler: @escaping StreamHandler) {
        swarm.setHandler(protocolID, handler)
    }

    /// Removes the handler for `protocolID`.
    public func removeHandler(_ protocolID: String) { swarm.setHandler(protocolID, nil) }

    /// The protocols this host handles, sorted.
    public var protocols: [String] { swarm.protocols }

    /// Connects to `address` (`/ip4|ip6|dns|dns4|dns6/…/tcp/…`, usually with
    /// `/p2p/<peer>`, which the remote must prove to be) unless already
    /// connected to that peer, waits for identify (bounded by
    /// `limits.identifyTimeout`), and returns the peer.
    /// - Throws: `.peerIDMismatch` when the remote is another peer,
    ///   `.io` or `.timeout` when it cannot be reached, `.limitExceeded`
    ///   at `maxConnections`, and handshake errors.
    @discardableResult
    public func connect(_ address: Multiaddr) async throws -> PeerID {
        try swarm.checkRunning()
        if let peer = address.peerID, swarm.connections(to: peer).contains(where: \.isActive) { return peer }
        let connection = try await swarm.dial(address)
        if let plain = address.withoutPeerID { peerstore.addAddresses([plain], for: connection.remotePeer) }
        await swarm.identifyTask(for: connection)?.value
        return connection.remotePeer
    }

    /// Opens a stream to `peer` for `protocolID`, over an existing
    /// connection or by dialing the peerstore's addresses for it.
    /// - Throws: `.notConnected` when there is no connection and no address
    ///   works, `.protocolNotSupported` when the peer does not speak the protocol.
    public func newStream(to peer: PeerID, protocol protocolID: String) async throws -> P2PStream {
        try swarm.checkRunning()
        let connection = try await connection(to: peer)
        return try await swarm.openStream(on: connection, protocol: protocolID)
    }

    /// Opens a stream for `protocolID` to the peer at `address`, connecting first if needed.
    public func newStream(to address: Multiaddr, protocol protocolID: String) async throws -> P2PStream {
        try swarm.checkRunning()
        if let peer = address.peerID, let existing = swarm.connections(to: peer).last(where: \.isActive) {
            return try await swarm.openStream(on: existing, protocol: protocolID)
        }
        let peer = try await connect(address)
        return try await newStream(to: peer, protocol: protocolID)
    }

    private func connection(to peer: PeerID) async throws -> Connection {
        if let existing = swarm.connections(to: peer).last(where: \.isActive) { return existing }
        guard peer != peerID else { throw P2PError(.notConnected, "cannot open a stream to this host itself") }
        var lastError: Error = P2PError(.notConnected, "no connection to \(peer) and no known address")
        for address in peerstore.addresses(peer) {
            do {
                _ = try await connect(address.withPeerID(peer))
                if let connection = swarm.connections(to: peer).last(where: \.isActive) { return connection }
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// The peers with at least one open connection.
    public func peers() -> [PeerID] {
        Array(Set(swarm.connections(to: nil).filter(\.isActive).map(\.remotePeer))).sorted()
    }

    /// Open connections, to `peer` or to everyone.
    public func connections(to peer: PeerID? = nil) -> [Connection] {
        swarm.connections(to: peer).filter(\.isActive)
    }

    /// Closes every connection to `peer`.
    public func disconnect(_ peer: PeerID) async {
        for connection in swarm.connections(to: peer) { await connection.close() }
    }

    /// Measures the round trip of one ping (32 random bytes echoed) to `peer`.
    public func ping(_ peer: PeerID) async throws -> Duration {
        let stream = try await newStream(to: peer, protocol: Ping.protocolID)
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<Ping.payloadLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await stream.write(payload)
            let echo = try await stream.read(exactly: Ping.payloadLength)
            guard Array(echo.readableBytesView) == payload else {
                throw P2PError(.protocolViolation, "ping answer differs from the ping")
            }
        } catch {
            stream.reset()
            throw error
        }
        let elapsed = clock.now - start
        await stream.close()
        return elapsed
    }

    /// Runs identify with `peer` now (connecting if needed) and returns what the peerstore then knows.
    public func identify(_ peer: PeerID) async throws -> PeerInfo {
        try swarm.checkRunning()
        let connection = try await connection(to: peer)
        _ = try await withTimeout(limits.identifyTimeout) { try await self.swarm.identify(connection) }
        return peerstore.info(peer) ?? PeerInfo(peerID: peer)
    }

    private func installServices() {
        let swarm = self.swarm
        handle(IdentifyMessage.protocolID) { stream in
            try await stream.writeLengthPrefixed(swarm.identifyMessage(for: stream.connection).encoded)
            try await stream.closeWrite()
        }
        handle(IdentifyMessage.pushProtocolID) { stream in
            var message = IdentifyMessage()
            var count = 0
            while let chunk = try await stream.readLengthPrefixed(maxLength: IdentifyMessage.maxLength) {
                try message.merge(decoding: chunk.readableBytesView)
                count += 1
                guard count <= 16 else { throw P2PError(.limitExceeded, "more than 16 identify push messages") }
            }
            if let key = message.publicKey {
                guard let parsed = try? PublicKey(protobuf: key), stream.remotePeer.matches(parsed) else {
                    throw P2PError(.peerIDMismatch, "identify push key does not match \(stream.remotePeer)")
                }
            }
            swarm.peerstore.apply(message, from: stream.remotePeer)
        }
        handle(Ping.protocolID) { stream in
            // An echo: ping payloads are 32 bytes, and echoing chunks as they
            // come returns the same bytes in the same order.
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
    }
}
