import Metrics
import Synchronization

/// The gateway's swift-metrics instruments, made once per server:
///
/// - `tau_gateway_requests_total{class="1xx"…"5xx"}`: responses by status class.
/// - `tau_gateway_sent_bytes_total`: response bytes handed to sockets (heads and bodies).
/// - `tau_gateway_request_duration_seconds`: from a request's head to its last byte written.
/// - `tau_gateway_connections`: open connections.
/// - `tau_gateway_connections_refused_total`: connections over the limit, answered 503.
final class GatewayMetrics: Sendable {
    private let requestsByClass: [Counter]
    let sentBytes: Counter
    let duration: Timer
    private let connections: Gauge
    private let openConnections = Atomic<Int>(0)
    let refusedConnections: Counter

    init(factory: any MetricsFactory) {
        requestsByClass = (1...5).map {
            Counter(label: "tau_gateway_requests_total", dimensions: [("class", "\($0)xx")], factory: factory)
        }
        sentBytes = Counter(label: "tau_gateway_sent_bytes_total", factory: factory)
        duration = Timer(label: "tau_gateway_request_duration_seconds", factory: factory)
        connections = Gauge(label: "tau_gateway_connections", factory: factory)
        refusedConnections = Counter(label: "tau_gateway_connections_refused_total", factory: factory)
    }

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
