// The HTTP gateway: path and trustless gateway, website hosting. Behaviour,
// status codes and limits: formats/gateway.md; the HTTP core under it: formats/http.md.
import ContentCache
import HTTPServer
import Logging
import Metrics
import NIOCore
import NIOPosix

/// The HTTP/1.1 gateway server: `/ipfs/{cid}/{path}` (path and trustless
/// gateway), and websites for the hosts a `SiteResolver` knows.
///
/// The gateway is an `HTTPHandler` on the HTTP core (`HTTPServer`): warm
/// requests are answered on the event loop from ready responses in the
/// content cache; the rest run in tasks that read blocks through the
/// `BlockService` and stream large bodies with backpressure. This type runs
/// it on a server of its own; `register(on:)` adds it to another router.
public final class GatewayServer: Sendable {
    public let configuration: GatewayConfiguration
    private let handler: GatewayHandler
    private let server: HTTPServer

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
        handler = GatewayHandler(services: GatewayServices(
            configuration: configuration,
            responder: GatewayResponder(configuration: configuration, blocks: blocks, cache: cache, logger: logger),
            cache: cache, sites: sites, logger: logger, executor: executor ?? ServingExecutor.shared))
        var router = HTTPRouter()
        Self.register(handler, on: &router, host: .any)
        server = HTTPServer(
            configuration: HTTPServer.Configuration(host: configuration.host, port: configuration.port, name: "gateway",
                                                    limits: configuration.limits.serverLimits),
            router: router, logger: logger, eventLoopGroup: eventLoopGroup,
            metrics: HTTPServerMetrics(prefix: "tau_gateway", factory: metricsFactory ?? MetricsSystem.factory))
    }

    /// Adds the gateway to another server's routes: every method and path
    /// (it answers 405 to methods other than GET and HEAD itself) of `host`.
    public func register(on router: inout HTTPRouter, host: HTTPHostPattern = .any) {
        Self.register(handler, on: &router, host: host)
    }

    private static func register(_ handler: GatewayHandler, on router: inout HTTPRouter, host: HTTPHostPattern) {
        router.add(nil, "/*", host: host, handler: handler)
    }

    /// Binds and starts accepting connections.
    /// - Returns: the bound address (with the port picked when the configuration says 0).
    public func start() async throws -> SocketAddress {
        try await server.start()
    }

    /// Connections open now (as the `tau_gateway_connections` gauge counts them).
    public var connectionCount: Int { server.connectionCount }

    /// Stops accepting, lets in-flight responses finish (idle connections
    /// close at once), and closes what is still open after the grace period.
    public func shutdown() async throws {
        await server.shutdown()
    }
}
