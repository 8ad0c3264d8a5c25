// dag-pb encoding and decoding: leaves of 256 KiB chunks (hashing included, as the importer
// does it), and a balanced-DAG parent of 174 links (Kubo's default width).
import Benchmark
import BenchSupport
import Blocks
import Multiformats
import UnixFS

let benchmarks: @Sendable () -> Void = {
    let megabytesPerSecondMetric = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    let chunkSize = 256 << 10
    let chunk = AlignedBuffer.seeded(count: chunkSize, seed: 0xDA6)

    let leafConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, megabytesPerSecondMetric, .mallocCountTotal],
        warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 5000)
    let leafEncoders: [(String, LeafEncoder)] = [
        ("dag-pb UnixFS leaf, CIDv0", LeafEncoder(format: .unixfs(.file), cids: CIDBuilder())),
        ("raw leaf, CIDv1", LeafEncoder(format: .raw, cids: CIDBuilder(version: .v1))),
    ]
    for (label, encoder) in leafEncoders {
        Benchmark("LeafEncoder.encode 256 KiB, \(label)", configuration: leafConfiguration) { benchmark in
            let start = now()
            let leaf = encoder.encode(chunk.bytes)
            let elapsed = now() - start
            blackHole(leaf)
            benchmark.measurement(megabytesPerSecondMetric, megabytesPerSecond(bytes: chunkSize, seconds: elapsed))
        }
    }

    // A full parent of a balanced file DAG: 174 CIDv0 links to 256 KiB leaves, UnixFS File data with blocksizes.
    var generator = SeededGenerator(seed: 0x174)
    let links = (0..<174).map { _ in
        DAGPBLink(cid: .v0(Multihash(hashing: generator.bytes(32), with: .sha2_256)), name: "", tsize: 262_158)
    }
    let data = UnixFSData(kind: .file, fileSize: 174 * 262_144, blockSizes: Array(repeating: 262_144, count: 174))
    let parent = DAGPBNode(links: links, data: data.encoded())
    let encodedParent = parent.encoded()
    let nodeConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 100, scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 10000)
    Benchmark("DAGPBNode.encoded, 174 links (\(encodedParent.count) bytes)", configuration: nodeConfiguration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(parent.encoded())
        }
    }
    Benchmark("DAGPBNode.decodeView, 174 links (\(encodedParent.count) bytes)", configuration: nodeConfiguration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! DAGPBNode.decodeView(encodedParent))
        }
    }
}
