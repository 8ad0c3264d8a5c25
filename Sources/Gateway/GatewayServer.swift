// The HTTP gateway: path and trustless gateway, website hosting. Behaviour,
// status codes and limits: formats/gateway.md.
import ContentCache
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// The HTTP/1.1 gateway server: `/ipfs/{cid}/{path}` (path and trustless
/// gateway), and websites for the hosts a `SiteResolver` knows.
///
/// A lean SwiftNIO server: one hand-written channel handler per connection
/// (`ConnectionHandler`) over a pure request parser, with no framework in
/// between. Warm requests are answered on the event loop from ready
/// responses in the content cache; the rest run in tasks that read blocks
/// through the `BlockService` and stream large bodies with backpressure.
public final class GatewayServer: Sendable {
    public let configuration: GatewayConfiguration
    private let services: GatewayServices
    private let group: any EventLoopGroup
    private let state = Mutex(ServerState())

    private struct ServerState: Sendable {
        var channel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    /// - Parameters:
    ///   - blocks: the read path for blocks (cache → store → network).
    ///   - cache: the content cache `blocks` reads through; the gateway also
    ///     keeps resolved paths, ready responses and parsed `_redirects` files there.
    ///   - sites: maps `Host` to websites.
    ///   - eventLoopGroup: where connections run; default NIO's shared
    ///     group, one loop per core. The server never shuts a group down.
    ///   - executor: where request tasks run; default `ServingExecutor.shared`.
    ///   - metricsFactory: default the bootstrapped `MetricsSystem.factory`.
    public init(configuration: GatewayConfiguration, blocks: BlockService, cache: ContentCache, sites: any SiteResolver,
                logger: Logger, eventLoopGroup: (any EventLoopGroup)? = nil, executor: (any TaskExecutor)? = nil,
                metricsFactory: (any MetricsFactory)? = nil) {
        self.configuration = configuration
        group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        let metrics = GatewayMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        services = GatewayServices(
            configuration: configuration,
            responder: GatewayResponder(configuration: configuration, blocks: blocks, cache: cache, logger: logger),
            cache: cache, sites: sites, metrics: metrics, logger: logger,
            executor: executor ?? ServingExecutor.shared)
    }

    /// Binds and starts accepting connections.
    /// - Returns: the bound address (with the port picked when the configuration says 0).
    public func start() async throws -> SocketAddress {
        let limits = configuration.limits
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
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLock { $0.channel = channel }
        services.logger.info("gateway listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
        return address
    }

    /// Stops accepting, lets in-flight responses finish (idle connections
    /// close at once), and closes what is still open after the grace period.
    public func shutdown() async throws {
        let (server, connections) = state.withLock { state in
            state.shuttingDown = true
            return (state.channel, Array(state.connections.values))
        }
        try? await server?.close()
        let grace = TimeAmount(configuration.limits.shutdownGracePeriod)
        var forced: [Scheduled<Void>] = []
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(GatewayShutdownEvent())
            forced.append(connection.eventLoop.scheduleTask(in: grace) { connection.close(promise: nil) })
        }
        for connection in connections {
            try? await connection.closeFuture.get()
        }
        for task in forced { task.cancel() }
        services.logger.info("gateway stopped")
    }

    /// Admits a new connection, or answers 503 when over the limit or shutting down.
    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        let limit = configuration.limits.maxConcurrentConnections
        let admitted = state.withLock { state in
            guard !state.shuttingDown, state.connections.count < limit else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            services.metrics.refusedConnections.increment()
            let refusal = ByteBuffer(string: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            channel.writeAndFlush(refusal).whenComplete { _ in channel.close(promise: nil) }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let services = services
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionHandler(services: services, dates: HTTPDateCache()))
        }
    }
}
