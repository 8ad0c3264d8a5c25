import CoreMetrics
import Prometheus
import Synchronization

/// The process's metrics: swift-metrics backed by one Prometheus registry,
/// served as text on the admin address's `/metrics`.
public enum NodeMetrics {
    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics once per process (later calls reuse the first
    /// registry) and returns the registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        registry.withLock { current in
            if let current { return current }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            current = created
            return created
        }
    }

    /// The Prometheus text exposition of every metric.
    public static func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        bootstrap().emit(into: &buffer)
        return buffer
    }
}
