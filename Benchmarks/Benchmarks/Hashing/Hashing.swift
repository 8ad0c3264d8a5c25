// sha2-256 multihashes of 256 KiB and 1 MiB buffers (`Multihash(hashing:with:)`, OpenSSL underneath).
import Benchmark
import BenchSupport
import Multiformats

let benchmarks: @Sendable () -> Void = {
    let megabytesPerSecondMetric = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, megabytesPerSecondMetric, .mallocCountTotal],
        warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 5000)

    for (label, size) in [("256 KiB", 256 << 10), ("1 MiB", 1 << 20)] {
        let input = AlignedBuffer.seeded(count: size, seed: 0x5A)
        Benchmark("sha2-256 multihash, \(label)", configuration: configuration) { benchmark in
            let start = now()
            let multihash = Multihash(hashing: input.bytes, with: .sha2_256)
            let elapsed = now() - start
            blackHole(multihash)
            benchmark.measurement(megabytesPerSecondMetric, megabytesPerSecond(bytes: size, seconds: elapsed))
        }
    }
}
