// Chunker throughput over a 64 MiB buffer of xorshift64 bytes, fed in one piece.
// `MB/s` is a custom metric (10^6 bytes per second, per iteration); wall clock is per 64 MiB.
import Benchmark
import BenchSupport
import Chunking

let inputSize = 64 << 20

let benchmarks: @Sendable () -> Void = {
    let input = AlignedBuffer.seeded(count: inputSize, seed: 0xC4)
    let megabytesPerSecondMetric = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, megabytesPerSecondMetric, .mallocCountTotal],
        warmupIterations: 1, maxDuration: .seconds(3), maxIterations: 40)

    let specs: [ChunkerSpec] = [
        .size(262_144),
        try! ChunkerSpec(parsing: "rabin"),
        .buzhash,
        .fastCDC(min: 65536, average: 262_144, max: 1_048_576),
    ]
    for spec in specs {
        Benchmark("chunk 64 MiB, \(spec)", configuration: configuration) { benchmark in
            var chunker = spec.makeChunker()
            let start = now()
            let ends = chunkBoundaries(of: input.bytes, using: &chunker)
            let elapsed = now() - start
            blackHole(ends)
            benchmark.measurement(megabytesPerSecondMetric, megabytesPerSecond(bytes: inputSize, seconds: elapsed))
        }
    }
}
