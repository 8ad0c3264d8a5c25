// How many wants one fetch keeps in flight: sized to the bandwidth-delay
// product the fetch observes, so a fast link is kept full and a slow one
// is not sent a queue of minutes. Pure: the caller passes `now` (the
// simulator in the tests drives it with a modelled link).
// Format: formats/bitswap.md, section 5 (rule C12).

/// The adaptive want window of one fetch (rule C12).
///
/// The window follows `2 × rate × minLatency / blockBytes`, clamped: `rate`
/// is what the last deliveries brought per second, `minLatency` the
/// shortest want-to-block time lately seen (the link's round trip plus one
/// block, without queueing). Too small a window limits the rate to
/// `window / latency`, so the target doubles until the rate stops growing
/// and latency begins to rise (a queue of about one bandwidth-delay product
/// forms at the sender): a Vegas-like equilibrium, with no loss needed.
public struct WantWindow: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public struct Configuration: Hashable, Sendable {
        /// Never fewer wants in flight: 32. The shortest latency misses the
        /// overlap of a pipeline (the seed batches up to 1 MiB of blocks while
        /// the fetcher decodes the last batch): on loopback the 2x rule alone
        /// settles at 16 wants and 330 MB/s, where 32 give 395 MB/s
        /// (Benchmarks/README.md, "Want window").
        public var minimum: Int
        /// Never more: `Bitswap.Configuration.window`, 1024 by default.
        public var maximum: Int
        /// Before anything is measured: 32.
        public var initial: Int
        /// Deliveries the rate is measured over: 32.
        public var rateSamples: Int

        public init(minimum: Int = 32, maximum: Int = 1024, initial: Int = 32, rateSamples: Int = 32) {
            self.minimum = max(1, minimum)
            self.maximum = max(self.minimum, maximum)
            self.initial = min(max(initial, self.minimum), self.maximum)
            self.rateSamples = max(4, rateSamples)
        }
    }

    public let configuration: Configuration
    /// Wants to keep in flight now.
    public private(set) var size: Int

    /// The last deliveries (time, bytes), a ring of `rateSamples`.
    private var samples: [(at: Instant, bytes: Int)] = []
    private var next = 0
    private var sampleBytes = 0
    /// Shortest latency this fetch has seen. Never forgotten: a fetch that
    /// forgot it would take its own standing queue for the path's delay and
    /// grow without bound (a fetch is short next to path changes).
    public private(set) var minLatency: Duration?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        size = configuration.initial
    }

    /// Bytes per second over the last deliveries; nil until half the samples are in.
    public var rate: Double? {
        guard samples.count >= configuration.rateSamples / 2 else { return nil }
        let oldest = samples.count < configuration.rateSamples ? samples[0] : samples[next]
        let newest = samples[(next + samples.count - 1) % samples.count]
        let seconds = Self.seconds(newest.at - oldest.at)
        guard seconds > 0 else { return nil }
        // The oldest sample opens the interval; its bytes came before it.
        return Double(sampleBytes - oldest.bytes) / seconds
    }

    /// A wanted block of `bytes` arrived `latency` after its want went out.
    public mutating func delivered(bytes: Int, latency: Duration, now: Instant) {
        minLatency = min(minLatency ?? latency, latency)

        if samples.count < configuration.rateSamples {
            samples.append((now, bytes))
        } else {
            sampleBytes -= samples[next].bytes
            samples[next] = (now, bytes)
            next = (next + 1) % samples.count
        }
        sampleBytes += bytes

        guard let rate, let minLatency else { return }
        let averageBytes = Double(sampleBytes) / Double(samples.count)
        let product = rate * Self.seconds(minLatency) / max(1, averageBytes)
        let target = (2 * product).rounded(.up)
        size = target >= Double(configuration.maximum)
            ? configuration.maximum : min(max(Int(target), configuration.minimum), configuration.maximum)
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
