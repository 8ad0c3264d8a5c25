// The host's machinery: listeners, dialing, connection and stream
// accounting, inbound stream dispatch, identify. `P2PHost` is its public face.

import Crypto
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import Synchronization

final class Swarm: Sendable {
    let identity: KeyPair
    /// One Noise static key for the host's lifetime (the spec allows it; never stored).
    let staticKey = Curve25519.KeyAgreement.PrivateKey()
    let swarmKey: SwarmKey?
    let limits: P2PHost.Limits
    let logger: Logger
    let agentVersion: String
    let group: any EventLoopGroup
    let peerstore = Peerstore()
    let protections = Protections()
    let requestedListenAddresses: [Multiaddr]

    struct State {
        var running = false
        var stopped = false
        var listeners: [Channel] = []
        var boundAddresses: [Multiaddr] = []
        var connections: [PeerID: [Connection]] = [:]
        var established = 0
        var pending = 0
        var streams: [PeerID: Int] = [:]
        var handlers: [String: P2PHost.StreamHandler] = [:]
        var identifyTasks: [UInt64: Task<Void, Never>] = [:]
        /// The connection manager's periodic trim (P2PHost.start).
        var trimmer: Task<Void, Never>?
        var nextConnectionID: UInt64 = 1
    }

    let state = Mutex(State())

    init(identity: KeyPair, listenAddresses: [Multiaddr], swarmKey: SwarmKey?, limits: P2PHost.Limits,
         agentVersion: String, group: any EventLoopGroup, logger: Logger) {
        self.identity = identity
        self.requestedListenAddresses = listenAddresses
        self.swarmKey = swarmKey
        self.limits = limits
        self.agentVersion = agentVersion
        self.group = group
        var logger = logger
        logger[metadataKey: "self"] = "\(identity.peerID)"
        self.logger = logger
    }

    // MARK: Accounting

    func nextConnectionID() -> UInt64 {
        state.withLock { state in
            defer { state.nextConnectionID += 1 }
            return state.nextConnectionID
        }
    }

    func checkRunning() throws(P2PError) {
        guard state.withLock({ $0.running }) else { throw P2PError(.notRunning, "the host is not started") }
    }

    /// Takes a slot for a connection being set up.
    func reservePending() -> Bool {
        state.withLock { state in
            guard state.running, state.pending + state.established < limits.maxConnections else { return false }
            state.pending += 1
            return true
        }
    }

    func releasePending() { state.withLock { $0.pending -= 1 } }

    /// Turns a pending connection into an established one (on its event loop).
    func register(_ connection: Connection) -> P2PError? {
        guard connection.remotePeer != identity.peerID else {
            return P2PError(.peerIDMismatch, "the remote is this host itself")
        }
        let ok = state.withLock { state -> Bool in
            guard state.running else { return false }
            state.pending -= 1
            state.established += 1
            state.connections[connection.remotePeer, default: []].append(connection)
            return true
        }
        guard ok else { return P2PError(.notRunning, "the host is shutting down") }
        logger.debug("\(connection.direction) connection with \(connection.remotePeer) at \(connection.remoteAddress?.description ?? "?")")
        let task = Task { await self.runIdentify(connection) }
        state.withLock { $0.identifyTasks[connection.id] = task }
        return nil
    }

    func unregister(_ connection: Connection) {
        let task = state.withLock { state -> Task<Void, Never>? in
            guard var list = state.connections[connection.remotePeer],
                let index = list.firstIndex(where: { $0 === connection })
            else { return nil }
            list.remove(at: index)
            state.connections[connection.remotePeer] = list.isEmpty ? nil : list
            state.established -= 1
            return state.identifyTasks.removeValue(forKey: connection.id)
        }
        task?.cancel()
        logger.debug("connection with \(connection.remotePeer) closed")
    }

    func reserveStream(_ peer: PeerID) -> Bool {
        state.withLock { state in
            let count = state.streams[peer, default: 0]
            guard count < limits.maxStreamsPerPeer else { return false }
            state.streams[peer] = count + 1
            return true
        }
    }

    func releaseStream(_ peer: PeerID) {
        state.withLock { state in
            let count = state.streams[peer, default: 1] - 1
            state.streams[peer] = count > 0 ? count : nil
        }
    }

    func connections(to peer: PeerID?) -> [Connection] {
        state.withLock { state in
            if let peer { return state.connections[peer] ?? [] }
            return state.connections.values.flatMap { $0 }
        }
    }

    func identifyTask(for connection: Connection) -> Task<Void, Never>? {
        state.withLock { $0.identifyTasks[connection.id] }
    }

    // MARK: Handlers

    func setHandler(_ protocolID: String, _ handler: P2PHost.StreamHandler?) {
        state.withLock { $0.handlers[protocolID] = handler }
    }

    var protocols: [String] { state.withLock { $0.handlers.keys.sorted() } }

    /// Negotiates an inbound stream's protocol and runs its handler.
    func acceptStream(_ core: StreamCore, on connection: Connection) {
        let supported = Set(state.withLock { $0.handlers.keys })
        let timeout = limits.negotiationTimeout
        let maxLength = limits.maxProtocolLength
        Task {
            let timer = core.eventLoop.scheduleTask(in: timeout) {
                core.handler.value.resetStream(core, error: P2PError(.timeout, "protocol negotiation took longer than \(timeout)"))
            }
            let selected: String
            do {
                selected = try await Self.negotiate(core, MultistreamSelect(supporting: supported, maxLineLength: maxLength))
                timer.cancel()
            } catch {
                timer.cancel()
                logger.debug("inbound stream from \(connection.remotePeer): \(error)")
                core.reset()
                return
            }
            guard let handler = state.withLock({ $0.handlers[selected] }) else {
                core.reset()
                return
            }
            let stream = P2PStream(core: core, protocolID: selected, connection: connection)
            do {
                try await handler(stream)
                await stream.close()
            } catch {
                logger.debug("\(selected) handler for \(connection.remotePeer) failed: \(error)")
                stream.reset()
            }
        }
    }

    /// Runs multistream-select on a stream until a protocol is agreed.
    static func negotiate(_ core: StreamCore, _ negotiation: MultistreamSelect) async throws -> String {
        var negotiation = negotiation
        var output = ByteBuffer()
        negotiation.start(into: &output)
        if output.readableBytes > 0 { try await core.write(output) }
        var input = ByteBuffer()
        while true {
            guard var chunk = try await core.read() else {
                throw P2PError(.closed, "the stream closed during protocol negotiation")
            }
            input.writeBuffer(&chunk)
            output = ByteBuffer()
            let outcome = try negotiation.receive(&input, output: &output)
            if output.readableBytes > 0 { try await core.write(output) }
            if case .selected(let name) = outcome {
                core.unread(input)
                return name
            }
        }
    }

    /// Opens a stream on `connection` and negotiates `protocolID`.
    func openStream(on connection: Connection, protocol protocolID: String) async throws -> P2PStream {
        let core = try await connection.openStream()
        let timeout = limits.negotiationTimeout
        let timer = core.eventLoop.scheduleTask(in: timeout) {
            core.handler.value.resetStream(core, error: P2PError(.timeout, "protocol negotiation took longer than \(timeout)"))
        }
        defer { timer.cancel() }
        do {
            let selected = try await Self.negotiate(
                core, MultistreamSelect(proposing: [protocolID], maxLineLength: limits.maxProtocolLength))
            return P2PStream(core: core, protocolID: selected, connection: connection)
        } catch {
            core.reset()
            throw error
        }
    }

    // MARK: Pipelines

    func installHandlers(on channel: Channel, direction: Direction, expectedPeer: PeerID?,
                         established: EventLoopPromise<Connection>) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            if let swarmKey { try operations.addHandler(PnetHandler(key: swarmKey)) }
            try operations.addHandler(NoiseHandler(initiator: direction == .outbound, identity: identity, staticKey: staticKey,
                                                   expectedPeer: expectedPeer, maxProtocolLength: limits.maxProtocolLength))
            try operations.addHandler(ConnectionHandler(direction: direction, swarm: self, established: established))
        }
    }

    private var recvAllocator: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 64 * 1024, maximum: limits.maxReadSize)
    }

    private var waterMark: ChannelOptions.Types.WriteBufferWaterMark {
        ChannelOptions.Types.WriteBufferWaterMark(low: limits.writeBufferLowWaterMark, high: limits.writeBufferHighWaterMark)
    }

    func listen(_ address: Multiaddr) async throws -> Channel {
        guard let (host, port) = address.tcpTarget, address.peerID == nil else {
            throw P2PError(.unsupported, "cannot listen on \(address): use /ip4/…/tcp/… or /ip6/…/tcp/…")
        }
        let ip: String
        switch host {
        case .ip4, .ip6: ip = host.valueText!
        default: throw P2PError(.unsupported, "cannot listen on a DNS name (\(address))")
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: waterMark)
            .childChannelOption(.recvAllocator, value: recvAllocator)
            .childChannelInitializer { channel in self.accept(channel) }
        do {
            return try await bootstrap.bind(host: ip, port: Int(port)).get()
        } catch {
            throw P2PError(.io, "cannot listen on \(address): \(error)")
        }
    }

    private func accept(_ channel: Channel) -> EventLoopFuture<Void> {
        let remote = channel.remoteAddress.flatMap(Multiaddr.init(socketAddress:))?.description ?? "?"
        guard reservePending() else {
            logger.warning("refusing connection from \(remote): \(limits.maxConnections) connections open or opening")
            return channel.close()
        }
        let promise = channel.eventLoop.makePromise(of: Connection.self)
        promise.futureResult.whenFailure { error in
            self.releasePending()
            self.logFailure(error, direction: .inbound, remote: "from " + remote)
        }
        return installHandlers(on: channel, direction: .inbound, expectedPeer: nil, established: promise)
    }

    /// Dials `address` (`/ip4|ip6|dns|dns4|dns6/…/tcp/…[/p2p/…]`), trying each resolved IP in turn.
    func dial(_ address: Multiaddr) async throws -> Connection {
        try checkRunning()
        guard let (host, port) = address.tcpTarget else {
            throw P2PError(.unsupported, "cannot dial \(address): only TCP addresses are dialable")
        }
        if let peer = address.peerID, peer == identity.peerID {
            throw P2PError(.peerIDMismatch, "cannot dial this host itself")
        }
        let targets = try await Self.resolve(host, port: port)
        var lastError: Error = P2PError(.notConnected, "\(address) resolved to no address")
        for target in targets.prefix(4) {
            do {
                return try await dial(target, expectedPeer: address.peerID, label: address.description)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private func dial(_ target: SocketAddress, expectedPeer: PeerID?, label: String) async throws -> Connection {
        guard reservePending() else {
            throw P2PError(.limitExceeded, "\(limits.maxConnections) connections open or opening")
        }
        let loop = group.next()
        let promise = loop.makePromise(of: Connection.self)
        promise.futureResult.whenFailure { error in
            self.releasePending()
            self.logFailure(error, direction: .outbound, remote: "to " + label)
        }
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: waterMark)
            .channelOption(.recvAllocator, value: recvAllocator)
            .connectTimeout(limits.dialTimeout)
            .channelInitializer { channel in
                self.installHandlers(on: channel, direction: .outbound, expectedPeer: expectedPeer, established: promise)
            }
        bootstrap.connect(to: target).whenFailure { error in
            promise.fail(P2PError(.io, "cannot connect to \(target): \(error)"))
        }
        return try await promise.futureResult.get()
    }

    /// Logs why a connection failed, with a hint when a private network key
    /// is the likely cause.
    private func logFailure(_ error: Error, direction: Direction, remote: String) {
        var message = "\(direction) connection \(remote) failed: \(error)"
        if let error = error as? P2PError {
            let securityStage = error.detail.hasPrefix("security protocol negotiation")
                || error.code == .decryptionFailed || error.code == .timeout
            if securityStage, let swarmKey {
                message += " (this node is in the private network of \(swarmKey); a peer without the same swarm key fails like this)"
            } else if securityStage, error.code == .negotiationFailed || error.code == .malformed || error.code == .limitExceeded {
                message += " (if the peer is in a private network, this node needs its swarm key)"
            }
        }
        logger.warning("\(message)")
    }

    /// The socket addresses of a host component, for dialing.
    static func resolve(_ host: Multiaddr.Component, port: UInt16) async throws -> [SocketAddress] {
        let family: Int32
        let name: String
        switch host {
        case .ip4, .ip6:
            return [try SocketAddress(ipAddress: host.valueText!, port: Int(port))]
        case .dns(let n):
            (family, name) = (AF_UNSPEC, n)
        case .dns4(let n):
            (family, name) = (AF_INET, n)
        case .dns6(let n):
            (family, name) = (AF_INET6, n)
        default:
            throw P2PError(.unsupported, "cannot dial \(host)")
        }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = family
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(name, String(port), &hints, &result)
            guard status == 0, let first = result else {
                throw P2PError(.notConnected, "cannot resolve \(name): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(first) }
            var addresses: [SocketAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let info = cursor {
                if let sockaddr = info.pointee.ai_addr {
                    switch info.pointee.ai_family {
                    case AF_INET:
                        let v4 = UnsafeRawPointer(sockaddr).load(as: sockaddr_in.self)
                        addresses.append(SocketAddress(v4, host: name))
                    case AF_INET6:
                        let v6 = UnsafeRawPointer(sockaddr).load(as: sockaddr_in6.self)
                        addresses.append(SocketAddress(v6, host: name))
                    default:
                        break
                    }
                }
                cursor = info.pointee.ai_next
            }
            guard !addresses.isEmpty else { throw P2PError(.notConnected, "\(name) has no address") }
            return addresses
        }
    }

    // MARK: Identify and addresses

    /// The addresses announced to peers: bound addresses, with unspecified
    /// IPs (0.0.0.0, ::) replaced by each interface's address.
    func advertisedAddresses() -> [Multiaddr] {
        let bound = state.withLock { $0.boundAddresses }
        var result: [Multiaddr] = []
        let devices = (try? System.enumerateDevices()) ?? []
        for address in bound {
            guard let (host, port) = address.tcpTarget else { continue }
            switch host {
            case .ip4(let bytes) where bytes == [0, 0, 0, 0]:
                for device in devices {
                    if let ip = device.address, case .v4 = ip, let local = Multiaddr(socketAddress: ip),
                        case .ip4(let b) = local.components[0], let m = try? Multiaddr(components: [.ip4(b), .tcp(port)]),
                        !result.contains(m)
                    {
                        result.append(m)
                    }
                }
            case .ip6(let bytes) where bytes.allSatisfy({ $0 == 0 }):
                for device in devices {
                    if let ip = device.address, case .v6 = ip, let local = Multiaddr(socketAddress: ip),
                        case .ip6(let b) = local.components[0], let m = try? Multiaddr(components: [.ip6(b), .tcp(port)]),
                        !result.contains(m)
                    {
                        result.append(m)
                    }
                }
            default:
                if !result.contains(address) { result.append(address) }
            }
        }
        return result
    }

    func identifyMessage(for connection: Connection) -> IdentifyMessage {
        IdentifyMessage(
            protocolVersion: IdentifyMessage.defaultProtocolVersion, agentVersion: agentVersion,
            publicKey: identity.publicKey.protobuf, listenAddrs: advertisedAddresses().map(\.bytes),
            observedAddr: connection.remoteAddress?.bytes, protocols: protocols)
    }

    /// Asks the peer of `connection` who it is; records the answer.
    func identify(_ connection: Connection) async throws -> IdentifyMessage {
        let stream = try await openStream(on: connection, protocol: IdentifyMessage.protocolID)
        var message = IdentifyMessage()
        var count = 0
        do {
            while let chunk = try await stream.readLengthPrefixed(maxLength: IdentifyMessage.maxLength) {
                try message.merge(decoding: chunk.readableBytesView)
                count += 1
                guard count <= 16 else { throw P2PError(.limitExceeded, "more than 16 identify messages") }
            }
        } catch {
            stream.reset()
            throw error
        }
        await stream.close()
        guard count > 0 else { throw P2PError(.malformed, "empty identify response") }
        if let key = message.publicKey {
            guard let parsed = try? PublicKey(protobuf: key), connection.remotePeer.matches(parsed) else {
                throw P2PError(.peerIDMismatch, "identify public key does not match \(connection.remotePeer)")
            }
        }
        peerstore.apply(message, from: connection.remotePeer)
        return message
    }

    private func runIdentify(_ connection: Connection) async {
        do {
            _ = try await withTimeout(limits.identifyTimeout) { try await self.identify(connection) }
        } catch {
            logger.debug("identify \(connection.remotePeer) failed: \(error)")
        }
    }
}

/// Runs `operation`, failing with `.timeout` (and cancelling it) after `timeout`.
/// Runs `operation`, throwing `P2PError.timeout` when it takes longer than `timeout` (it is then cancelled).
public func withTimeout<T: Sendable>(_ timeout: TimeAmount, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(max(0, timeout.nanoseconds)))
            throw P2PError(.timeout, "no answer within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
