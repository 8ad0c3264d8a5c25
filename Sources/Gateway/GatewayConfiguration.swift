import HTTPServer
import Multiformats

/// Where the gateway listens and the limits it enforces. Every limit has a
/// documented default; formats/gateway.md, section 7 ("Connections and limits"), lists them all.
public struct GatewayConfiguration: Hashable, Sendable {
    /// Address to bind. Default "127.0.0.1".
    public var host: String
    /// Port to bind; 0 picks a free one (`GatewayServer.start` returns it). Default 8080.
    public var port: Int
    public var limits: Limits
    /// `Cache-Control` of responses served for a website (`Host` names a site):
    /// its root changes when the site is republished, so clients revalidate
    /// (cheap: a strong `ETag` makes it a 304). Default "public, max-age=0, must-revalidate".
    public var siteCacheControl: String

    public struct Limits: Hashable, Sendable {
        /// Longest request-target. Default 8 KiB; longer: 414 and the connection closes.
        public var maxURILength: Int
        /// Largest header section (after the request line). Default 16 KiB; larger: 431.
        public var maxHeaderBytes: Int
        /// Most header fields in a request. Default 100; more: 431.
        public var maxHeaderCount: Int
        /// How long an idle keep-alive connection stays open. Default 60 s.
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
        public var maxConcurrentConnections: Int
        /// Socket write-buffer water marks: writing pauses above the high mark and
        /// resumes below the low one. Raised from NIO's 32/64 KiB for bulk
        /// transfer. Defaults 256 KiB and 1 MiB.
        public var writeBufferLowWaterMark: Int
        public var writeBufferHighWaterMark: Int
        /// Size of the pieces a streamed body is written in. Default 256 KiB.
        public var streamChunkSize: Int
        /// Largest body kept as a ready response in the content cache (head and
        /// body, answered without touching blocks). Default 256 KiB.
        public var maxPreparedBodyBytes: Int
        /// Most entries a generated directory listing shows. Default 10,000.
        public var maxListingEntries: Int
        /// Most sections in one CAR response with `dups=y` (a DAG that shares
        /// subtrees can repeat them exponentially). Default 1,000,000.
        public var maxCARBlocks: Int
        /// How long `shutdown` waits for in-flight responses before closing
        /// their connections. Default 10 s.
        public var shutdownGracePeriod: Duration

        public init(maxURILength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100,
                    idleTimeout: Duration = .seconds(60), requestHeadTimeout: Duration = .seconds(10),
                    writeTimeout: Duration = .seconds(60), keepAliveRequests: Int = 10_000,
                    maxConcurrentConnections: Int = 10_000,
                    writeBufferLowWaterMark: Int = 256 << 10, writeBufferHighWaterMark: Int = 1 << 20,
                    streamChunkSize: Int = 256 << 10, maxPreparedBodyBytes: Int = 256 << 10,
                    maxListingEntries: Int = 10_000, maxCARBlocks: Int = 1_000_000,
                    shutdownGracePeriod: Duration = .seconds(10)) {
            self.maxURILength = maxURILength
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.idleTimeout = idleTimeout
            self.requestHeadTimeout = requestHeadTimeout
            self.writeTimeout = writeTimeout
            self.keepAliveRequests = keepAliveRequests
            self.maxConcurrentConnections = maxConcurrentConnections
            self.writeBufferLowWaterMark = writeBufferLowWaterMark
            self.writeBufferHighWaterMark = writeBufferHighWaterMark
            self.streamChunkSize = streamChunkSize
            self.maxPreparedBodyBytes = maxPreparedBodyBytes
            self.maxListingEntries = maxListingEntries
            self.maxCARBlocks = maxCARBlocks
            self.shutdownGracePeriod = shutdownGracePeriod
        }

        /// The HTTP core's limits these set (formats/http.md); the gateway reads
        /// no request bodies, so the core's default body limit applies.
        var serverLimits: HTTPServer.Limits {
            HTTPServer.Limits(maxURILength: maxURILength, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount,
                              idleTimeout: idleTimeout, requestHeadTimeout: requestHeadTimeout, writeTimeout: writeTimeout,
                              keepAliveRequests: keepAliveRequests, maxConnections: maxConcurrentConnections,
                              writeBufferLowWaterMark: writeBufferLowWaterMark, writeBufferHighWaterMark: writeBufferHighWaterMark,
                              shutdownGracePeriod: shutdownGracePeriod)
        }
    }

    public init(host: String = "127.0.0.1", port: Int = 8080, limits: Limits = Limits(),
                siteCacheControl: String = "public, max-age=0, must-revalidate") {
        self.host = host
        self.port = port
        self.limits = limits
        self.siteCacheControl = siteCacheControl
    }
}

/// A website: the root of the UnixFS directory it serves.
public struct Site: Hashable, Sendable {
    public var root: CID
    /// A single-page application: paths that name nothing fall back to
    /// `/index.html` (as the `_redirects` rule `/* /index.html 200` would),
    /// after the site's own `_redirects` rules.
    public var spa: Bool

    public init(root: CID, spa: Bool = false) {
        self.root = root
        self.spa = spa
    }
}

/// Maps a request's `Host` to the website it names. The node implements it
/// from its registry. Called once per request, on an event loop: it must not
/// block. The `Site` returned is a snapshot: the whole request is served from
/// the root it names, whatever happens to the registry meanwhile.
public protocol SiteResolver: Sendable {
    /// `host` is lowercased, without port or trailing dot.
    func site(forHost host: String) -> Site?
}

/// A resolver with no sites: every request is a path-gateway request.
public struct NoSites: SiteResolver {
    public init() {}
    public func site(forHost host: String) -> Site? { nil }
}
