import Metrics
import Synchronization

/// A server's swift-metrics instruments, made once per server, named after
/// its service (`prefix`, e.g. `tau_gateway`):
///
/// - `PREFIX_requests_total{class="1xx"…"5xx"}`: responses by status class.
/// - `PREFIX_sent_bytes_total`: response bytes handed to sockets (heads and bodies).
/// - `PREFIX_request_duration_seconds`: from a request's head to its last byte written.
/// - `PREFIX_connections`: open connections.
/// - `PREFIX_connections_refused_total`: connections over the limit, answered 503.
public final class HTTPServerMetrics: Sendable {
    private let requestsByClass: [Counter]
    let sentBytes: Counter
    let duration: Timer
    private let connections: Gauge
    private let openConnections = Atomic<Int>(0)
    let refusedConnections: Counter

    public init(prefix: String, factory: any MetricsFactory = MetricsSystem.factory) {
        requestsByClass = (1...5).map {
            Counter(label: "\(prefix)_requests_total", dimensions: [("class", "\($0)xx")], factory: factory)
        }
        sentBytes = Counter(label: "\(prefix)_sent_bytes_total", factory: factory)
        duration = Timer(label: "\(prefix)_request_duration_seconds", factory: factory)
        connections = Gauge(label: "\(prefix)_connections", factory: factory)
        refusedConnections = Counter(label: "\(prefix)_connections_refused_total", factory: factory)
    }

    /// Connections open now.
    public var openConnectionCount: Int { openConnections.load(ordering: .relaxed) }

    /// A connection opened (+1) or closed (-1).
    func connectionsChanged(by delta: Int) {
        connections.record(openConnections.add(delta, ordering: .relaxed).newValue)
    }

    func recordResponse(status: UInt, bytes: Int, nanoseconds: Int64) {
        let index = min(max(Int(status / 100), 1), 5) - 1
        requestsByClass[index].increment()
        if bytes > 0 { sentBytes.increment(by: bytes) }
        duration.recordNanoseconds(nanoseconds)
    }
}
