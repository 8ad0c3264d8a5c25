import Bitswap
import Testing

/// The adaptive want window against a modelled link: the seed sends blocks
/// one after another at `rate`, each way takes half the round trip. No
/// sockets, no clock: the simulation passes the instants.
@Suite("Bitswap want window")
struct WantWindowTests {
    struct Outcome {
        /// Bytes per second over the second half of the transfer.
        var throughput: Double
        /// Largest and final window.
        var largestWindow: Int
        var finalWindow: Int
    }

    /// Fetches `blocks` blocks of `blockBytes` over a link of `rate` bytes/s
    /// and `roundTrip`, keeping `window.size` wants in flight.
    static func simulate(rate: Double, roundTrip: Duration, blocks: Int, blockBytes: Int = 256 << 10,
                         window: WantWindow = WantWindow()) -> Outcome {
        var window = window
        let start = ContinuousClock.now
        let oneWay = roundTrip / 2
        let perBlock = Duration.nanoseconds(Int64(Double(blockBytes) / rate * 1e9))
        var now = start
        var seedFree = start
        var sent = 0
        var inFlight: [(sentAt: ContinuousClock.Instant, arrives: ContinuousClock.Instant)] = []
        var largest = window.size
        var halfwayAt: ContinuousClock.Instant?
        var delivered = 0
        while delivered < blocks {
            while inFlight.count < window.size && sent < blocks {
                let atSeed = max(now + oneWay, seedFree)
                seedFree = atSeed + perBlock
                inFlight.append((now, seedFree + oneWay))
                sent += 1
            }
            let next = inFlight.removeFirst()  // FIFO: arrivals are in order
            now = next.arrives
            delivered += 1
            if delivered == blocks / 2 { halfwayAt = now }
            window.delivered(bytes: blockBytes, latency: now - next.sentAt, now: now)
            largest = max(largest, window.size)
        }
        let elapsed = (now - halfwayAt!).components
        let secondHalf = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return Outcome(throughput: Double((blocks - blocks / 2) * blockBytes) / secondHalf,
                       largestWindow: largest, finalWindow: window.size)
    }

    @Test func aSlowLinkGetsAShortQueue() {
        // 1 MB/s, 100 ms: about 1.4 blocks in flight fill it; the fixed 256 would queue 64 s, the minimum 8 s.
        let outcome = Self.simulate(rate: 1e6, roundTrip: .milliseconds(100), blocks: 400)
        #expect(outcome.finalWindow == 32, "the minimum")
        #expect(outcome.throughput >= 0.95e6)
    }

    @Test func aLongFatLinkIsKeptFull() {
        // 100 MB/s, 80 ms: about 32 blocks in flight.
        let outcome = Self.simulate(rate: 100e6, roundTrip: .milliseconds(80), blocks: 4000)
        #expect(outcome.throughput >= 0.9 * 100e6, "\(outcome.throughput / 1e6) MB/s")
        #expect((40...140).contains(outcome.finalWindow), "\(outcome.finalWindow)")
    }

    @Test func aVeryLongFatLinkGrowsTheWindowFromItsStart() {
        // 1 GB/s, 100 ms: about 380 blocks in flight; the window starts at 64.
        let outcome = Self.simulate(rate: 1e9, roundTrip: .milliseconds(100), blocks: 16000)
        #expect(outcome.throughput >= 0.9 * 1e9, "\(outcome.throughput / 1e6) MB/s")
        #expect(outcome.finalWindow > 500, "\(outcome.finalWindow)")
    }

    @Test func loopbackNeedsOnlyTheMinimum() {
        let outcome = Self.simulate(rate: 1e9, roundTrip: .microseconds(50), blocks: 2000)
        #expect(outcome.finalWindow == 32)
        #expect(outcome.throughput >= 0.95 * 1e9)
    }

    @Test func theMaximumCapsIt() {
        let window = WantWindow(configuration: .init(maximum: 128))
        let outcome = Self.simulate(rate: 1e9, roundTrip: .milliseconds(100), blocks: 4000, window: window)
        #expect(outcome.largestWindow == 128)
        #expect(outcome.throughput < 0.5e9, "the cap limits the rate to 128 blocks per round trip")
    }

    @Test func theShortestLatencyIsKept() {
        var window = WantWindow()
        let start = ContinuousClock.now
        #expect(window.minLatency == nil && window.rate == nil && window.size == 32)
        window.delivered(bytes: 1000, latency: .milliseconds(5), now: start)
        window.delivered(bytes: 1000, latency: .milliseconds(50), now: start + .seconds(60))
        #expect(window.minLatency == .milliseconds(5))
    }
}
