import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// One HTTP/1.1 server on SwiftNIO, for any service: a hand-written channel
/// handler per connection (`HTTPConnectionHandler`) over a pure parser and
/// state machine, with no framework in between. Requests go to the handlers
/// an `HTTPRouter` names, on the connection's event loop. Behaviour, limits
/// and defaults: formats/http.md.
public final class HTTPServer: Sendable {
    /// Every limit, with its default. formats/http.md, "Limits", lists them all.
    public struct Limits: Hashable, Sendable {
        /// Longest request-target. Default 8 KiB; longer: 414 and the connection closes.
        public var maxURILength: Int
        /// Largest header section (after the request line). Default 16 KiB; larger: 431.
        public var maxHeaderBytes: Int
        /// Most header fields in a request. Default 100; more: 431.
        public var maxHeaderCount: Int
        /// Largest request body a route reads, unless the route sets its own.
        /// Default 1 MiB; a larger `Content-Length` gets 413 before the body is
        /// read (and no 100 Continue), a chunked body that grows past it gets 413 then.
        public var maxBodyBytes: Int
        /// How long an idle keep-alive connection stays open, and how long a
        /// handler waits for body bytes that do not come. Default 60 s.
        public var idleTimeout: Duration
        /// How long a client may take to send a whole request head once it has
        /// started one (slowloris). Default 10 s; then 408 and the connection closes.
        public var requestHeadTimeout: Duration
        /// How long a response may wait for a client that reads nothing
        /// (the socket stays unwritable). Default 60 s; then the connection closes.
        public var writeTimeout: Duration
        /// Requests served on one connection before it closes; 0 turns keep-alive off. Default 10,000.
        public var keepAliveRequests: Int
        /// Open connections at most; more are answered 503 and closed. Default 10,000.
        public var maxConnections: Int
        /// Socket write-buffer water marks: writing pauses above the high mark and
        /// resumes below the low one. Raised from NIO's 32/64 KiB for bulk
        /// transfer. Defaults 256 KiB and 1 MiB.
        public var writeBufferLowWaterMark: Int
        public var writeBufferHighWaterMark: Int
        /// How long `shutdown` waits for exchanges under way before closing
        /// their connections. Default 10 s.
        public var shutdownGracePeriod: Duration
        /// Lingering close: when the server ends a connection, it sends its
        /// FIN first and reads and drops what the client still sends, for at
        /// most this long or `lingeringCloseBytes`, before it closes. A close
        /// with unread bytes makes the kernel send a reset, which can destroy
        /// the last response (a 413, 431 or 408) before the client reads it.
        /// Default 2 s; zero closes at once.
        public var lingeringCloseTimeout: Duration
        /// Most bytes dropped while lingering; more close at once. Default 1 MiB.
        public var lingeringCloseBytes: Int

        public init(maxURILength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100,
                    maxBodyBytes: Int = 1 << 20,
                    idleTimeout: Duration = .seconds(60), requestHeadTimeout: Duration = .seconds(10),
                    writeTimeout: Duration = .seconds(60), keepAliveRequests: Int = 10_000,
                    maxConnections: Int = 10_000,
                    writeBufferLowWaterMark: Int = 256 << 10, writeBufferHighWaterMark: Int = 1 << 20,
                    shutdownGracePeriod: Duration = .seconds(10),
                    lingeringCloseTimeout: Duration = .seconds(2), lingeringCloseBytes: Int = 1 << 20) {
            self.maxURILength = maxURILength
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
            self.idleTimeout = idleTimeout
            self.requestHeadTimeout = requestHeadTimeout
            self.writeTimeout = writeTimeout
            self.keepAliveRequests = keepAliveRequests
            self.maxConnections = maxConnections
            self.writeBufferLowWaterMark = writeBufferLowWaterMark
            self.writeBufferHighWaterMark = writeBufferHighWaterMark
            self.shutdownGracePeriod = shutdownGracePeriod
            self.lingeringCloseTimeout = lingeringCloseTimeout
            self.lingeringCloseBytes = lingeringCloseBytes
        }

        var parserLimits: HTTPRequestParser.Limits {
            HTTPRequestParser.Limits(maxURILength: maxURILength, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
        }
    }

    /// Where a server listens, under which name it logs, and its limits.
    public struct Configuration: Hashable, Sendable {
        /// Address to bind (an IP literal or a name NIO resolves).
        public var host: String
        /// Port to bind; 0 picks a free one (`start` returns it).
        public var port: Int
        /// The service, for log messages ("gateway", "admin").
        public var name: String
        public var limits: Limits

        public init(host: String, port: Int, name: String, limits: Limits = Limits()) {
            self.host = host
            self.port = port
            self.name = name
            self.limits = limits
        }
    }

    public let configuration: Configuration
    public let metrics: HTTPServerMetrics
    private let services: HTTPConnectionServices
    private let group: any EventLoopGroup
    private let state = Mutex(ServerState())

    private struct ServerState: Sendable {
        var channel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    /// - Parameters:
    ///   - router: the routes every request is matched against.
    ///   - eventLoopGroup: where connections run; default NIO's shared
    ///     group, one loop per core. The server never shuts a group down.
    ///   - metrics: default instruments named `tau_http_*`.
    public init(configuration: Configuration, router: HTTPRouter, logger: Logger,
                eventLoopGroup: (any EventLoopGroup)? = nil, metrics: HTTPServerMetrics? = nil) {
        self.configuration = configuration
        group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        let metrics = metrics ?? HTTPServerMetrics(prefix: "tau_http")
        self.metrics = metrics
        services = HTTPConnectionServices(router: router, limits: configuration.limits, metrics: metrics, logger: logger)
    }

    /// Binds and starts accepting connections.
    /// - Returns: the bound address (with the port picked when the configuration says 0).
    public func start() async throws -> SocketAddress {
        try await bind().get()
    }

    /// `start`, as a future (for callers that are not async).
    public func bind() -> EventLoopFuture<SocketAddress> {
        let limits = configuration.limits
        let name = configuration.name
        let logger = services.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark,
                                value: .init(low: limits.writeBufferLowWaterMark, high: limits.writeBufferHighWaterMark))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                accept(channel)
            }
        return bootstrap.bind(host: configuration.host, port: configuration.port).flatMapThrowing { [self] channel in
            state.withLock { $0.channel = channel }
            guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
            logger.info("\(name) listening", metadata: ["address": "\(address)"])
            return address
        }
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? {
        state.withLock { $0.channel?.localAddress }
    }

    /// Connections open now.
    public var connectionCount: Int {
        state.withLock { $0.connections.count }
    }

    /// Stops accepting, lets exchanges under way finish (idle connections
    /// close at once), and closes what is still open after the grace period.
    public func shutdown() async {
        try? await stop().get()
    }

    /// `shutdown`, as a future; `gracePeriod` overrides the configuration's.
    public func stop(gracePeriod: Duration? = nil) -> EventLoopFuture<Void> {
        let (server, connections) = state.withLock { state in
            state.shuttingDown = true
            return (state.channel, Array(state.connections.values))
        }
        let eventLoop = group.any()
        let grace = TimeAmount(gracePeriod ?? configuration.limits.shutdownGracePeriod)
        let closed = (server?.close() ?? eventLoop.makeSucceededVoidFuture()).flatMapErrorThrowing { _ in }
        var waits: [EventLoopFuture<Void>] = [closed]
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(HTTPShutdownEvent())
            let forced = connection.eventLoop.scheduleTask(in: grace) { connection.close(promise: nil) }
            waits.append(connection.closeFuture.always { _ in forced.cancel() })
        }
        let name = configuration.name
        let logger = services.logger
        return EventLoopFuture.andAllComplete(waits, on: eventLoop).map { logger.info("\(name) stopped") }
    }

    /// Serves HTTP on a channel the server did not accept (a test channel, or
    /// one with TLS in front): adds the connection handler at the end of its
    /// pipeline. Such channels are not counted or closed by `shutdown`.
    public func configure(_ channel: any Channel) -> EventLoopFuture<Void> {
        let services = services
        return channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(services: services))
        }
    }

    /// Admits a new connection, or answers 503 when over the limit or shutting down.
    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        let limit = configuration.limits.maxConnections
        let admitted = state.withLock { state in
            guard !state.shuttingDown, state.connections.count < limit else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            services.metrics.refusedConnections.increment()
            var refusal = ByteBuffer(string: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n")
            var tail = HTTPDateCache().tail(.close)
            refusal.writeBuffer(&tail)
            channel.writeAndFlush(refusal).whenComplete { _ in channel.close(promise: nil) }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let services = services
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(services: services))
        }
    }
}
