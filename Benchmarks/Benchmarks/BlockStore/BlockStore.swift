// The LMDB block store (`Repo`) in a temporary directory: durable batched puts of 256 KiB
// blocks, and zero-copy `withBlock` reads of 4 KiB and 256 KiB blocks in random order.
import Benchmark
import BenchSupport
import Blocks
import Foundation
import Multiformats
import Repo

/// A repo in its own temporary directory, removed on `dispose`.
final class StoreFixture: @unchecked Sendable {
    let path: String
    let repo: Repo
    var small: [CID] = []
    var large: [CID] = []
    /// Uniformly random indices, reused round-robin by the read benchmarks.
    var order: [Int] = []
    var generator = SeededGenerator(seed: 0xB10C)

    init() throws {
        var template = Array((NSTemporaryDirectory() + (NSTemporaryDirectory().hasSuffix("/") ? "" : "/")
            + "tau-bench-blockstore.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("mkdtemp failed") }
        path = String(cString: made)
        repo = try Repo(path: path + "/repo")
    }

    func makeBlocks(_ count: Int, size: Int) -> [Block] {
        (0..<count).map { _ in Block(hashing: generator.bytes(size), codec: .raw) }
    }

    /// 16384 blocks of 4 KiB and 256 of 256 KiB (64 MiB each), stored in 4 MiB puts.
    func fill() async throws {
        for _ in 0..<16 {
            let blocks = makeBlocks(1024, size: 4096)
            try await repo.blocks.put(blocks)
            small += blocks.map(\.cid)
        }
        for _ in 0..<16 {
            let blocks = makeBlocks(16, size: 256 << 10)
            try await repo.blocks.put(blocks)
            large += blocks.map(\.cid)
        }
        order = (0..<65536).map { _ in Int.random(in: 0..<Int.max, using: &generator) }
    }

    func dispose() async {
        await repo.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Fixtures to close in the teardown hooks (benchmarks run one after another).
nonisolated(unsafe) var openFixtures: [StoreFixture] = []

func disposeFixtures() async {
    for fixture in openFixtures { await fixture.dispose() }
    openFixtures = []
}

let benchmarks: @Sendable () -> Void = {
    let megabytesPerSecondMetric = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)

    // Each iteration generates and hashes a new batch (not measured), then measures one awaited,
    // synced `put` of 16 blocks of 256 KiB (4 MiB, the size of a `tau add` batch).
    Benchmark(
        "put 16 x 256 KiB (synced batch)",
        configuration: .init(metrics: [.wallClock, .throughput, megabytesPerSecondMetric, .mallocCountTotal],
                             warmupIterations: 2, maxDuration: .seconds(5), maxIterations: 100),
        closure: { (benchmark: Benchmark, fixture: StoreFixture) async in
            let blocks = fixture.makeBlocks(16, size: 256 << 10)
            benchmark.startMeasurement()
            let start = now()
            do { try await fixture.repo.blocks.put(blocks) } catch { benchmark.error("put failed: \(error)") }
            let elapsed = now() - start
            benchmark.stopMeasurement()
            benchmark.measurement(megabytesPerSecondMetric, megabytesPerSecond(bytes: 16 << 18, seconds: elapsed))
        },
        setup: {
            let fixture = try StoreFixture()
            openFixtures.append(fixture)
            return fixture
        },
        teardown: { await disposeFixtures() })

    // 1000 reads per iteration (scaling factor kilo: times are per read), random keys among 16384
    // blocks of 4 KiB or 256 of 256 KiB; the body touches the first and last byte (zero-copy).
    for (label, large) in [("4 KiB", false), ("256 KiB", true)] {
        Benchmark(
            "withBlock \(label), random keys",
            configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                 warmupIterations: 3, scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 2000),
            closure: { (benchmark: Benchmark, fixture: StoreFixture) in
                let cids = large ? fixture.large : fixture.small
                let order = fixture.order
                var cursor = Int.random(in: 0..<order.count)
                var sum = 0
                do {
                    for _ in benchmark.scaledIterations {
                        let cid = cids[order[cursor] % cids.count]
                        cursor = cursor + 1 == order.count ? 0 : cursor + 1
                        sum &+= try fixture.repo.blocks.withBlock(cid) { Int($0[0]) &+ Int($0[$0.count - 1]) } ?? 0
                    }
                } catch {
                    benchmark.error("read failed: \(error)")
                }
                blackHole(sum)
            },
            setup: {
                let fixture = try StoreFixture()
                openFixtures.append(fixture)
                try await fixture.fill()
                return fixture
            },
            teardown: { await disposeFixtures() })
    }
}
