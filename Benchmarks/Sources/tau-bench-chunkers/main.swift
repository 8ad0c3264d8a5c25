// tau-bench-chunkers: throughput of tau's chunkers over one large in-memory buffer.
//
//   tau-bench-chunkers [FILE] [--size-mib 256] [--runs 5] [--cuts-dir DIR] [--tsv FILE] [--only fastcdc]
//   tau-bench-chunkers --generate FILE [--size-mib 256]
//
// Without FILE it generates SIZE MiB of xorshift64 bytes (seed 0x7A0); with FILE it chunks
// that file's content (read into memory first, not timed). For every chunker it prints the
// number of chunks, an FNV-1a-64 checksum of the chunk end offsets (each as 8 little-endian
// bytes) and MB/s (10^6 bytes per second) as the median of RUNS runs, with min–max.
//
// Two ways of feeding the chunker are timed: the whole buffer in one piece (as pyfastcdc's
// `cut_buf` does), and 1 MiB pieces, as `tau add` reads a file (the chunker is a streaming
// state machine; cut points are the same either way, which the tool checks).
//
// (`size-N` is left out: it never reads the bytes, so its MB/s says nothing; see the micro-benchmarks.)
//
// scripts/chunkers.sh runs this next to pyfastcdc on the same file and compares cut points.
import BenchSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Chunking

struct Result {
    var spec: ChunkerSpec
    var feed: String
    var ends: [Int]
    var samples: Samples
}

func chunk(_ data: UnsafeRawBufferPointer, spec: ChunkerSpec, pieceSize: Int) -> (ends: [Int], seconds: Double) {
    var chunker = spec.makeChunker()
    var ends: [Int] = []
    let elapsed = seconds {
        ends = chunkBoundaries(of: data, using: &chunker, pieceSize: pieceSize)
    }
    return (ends, elapsed)
}

func main() throws {
    let arguments = try Arguments(valueOptions: ["size-mib", "runs", "cuts-dir", "tsv", "generate", "only"])
    let sizeMiB = try arguments.int("size-mib", default: 256)
    let runs = try arguments.int("runs", default: 5)
    let seed: UInt64 = 0x7A0

    if let path = arguments.string("generate") {
        try AlignedBuffer.seeded(count: sizeMiB << 20, seed: seed).write(toFile: path)
        return
    }
    let input: AlignedBuffer
    let source: String
    if let path = arguments.positional.first {
        input = try AlignedBuffer.contents(ofFile: path)
        source = "\(path) (\(input.count) bytes)"
    } else {
        input = AlignedBuffer.seeded(count: sizeMiB << 20, seed: seed)
        source = "\(sizeMiB) MiB of xorshift64 bytes, seed 0x7A0"
    }
    let data = input.bytes

    // pyfastcdc's defaults are min = avg/4, max = avg*4: FastCDC(65536) and FastCDC(262144).
    var specs: [ChunkerSpec] = [
        .fastCDC(min: 16384, average: 65536, max: 262_144),
        .fastCDC(min: 65536, average: 262_144, max: 1_048_576),
        try ChunkerSpec(parsing: "rabin"),
        .buzhash,
    ]
    if let only = arguments.string("only") {
        specs = specs.filter { $0.description.hasPrefix(only) }
    }
    let feeds: [(name: String, pieceSize: Int)] = [("whole buffer", .max), ("1 MiB pieces", 1 << 20)]

    say("tau-bench-chunkers: \(source); median of \(runs) runs; MB = 10^6 bytes")
    var results: [Result] = []
    for spec in specs {
        for feed in feeds {
            _ = chunk(data, spec: spec, pieceSize: feed.pieceSize)  // warm-up
            var samples = Samples()
            var ends: [Int] = []
            for _ in 0..<runs {
                let run = chunk(data, spec: spec, pieceSize: feed.pieceSize)
                if !ends.isEmpty && run.ends != ends { throw BenchError("\(spec): cut points differ between runs") }
                ends = run.ends
                samples.append(run.seconds)
            }
            if let first = results.last(where: { $0.spec == spec }), first.ends != ends {
                throw BenchError("\(spec): cut points differ between \(first.feed) and \(feed.name)")
            }
            results.append(Result(spec: spec, feed: feed.name, ends: ends, samples: samples))
        }
    }

    let megabytes = Double(data.count) / 1e6
    var table = Table(["chunker", "feed", "chunks", "cut checksum (fnv1a64)", "MB/s", "min–max MB/s"], leftColumns: 2)
    for result in results {
        table.add([
            result.spec.description, result.feed, String(result.ends.count), hex(fnv1a64(result.ends)),
            fixed(megabytes / result.samples.median, 0),
            fixed(megabytes / result.samples.slowest, 0) + "–" + fixed(megabytes / result.samples.fastest, 0),
        ])
    }
    say(table.render())

    if let directory = arguments.string("cuts-dir") {
        for result in results where result.feed == feeds[0].name {
            let text = result.ends.map(String.init).joined(separator: "\n") + "\n"
            try writeText(text, toFile: "\(directory)/\(result.spec.description).txt")
        }
    }
    if let path = arguments.string("tsv") {
        var lines = ["spec\tfeed\tchunks\tfnv1a64\tmbps\tmbps_min\tmbps_max"]
        for result in results {
            lines.append([
                result.spec.description, result.feed, String(result.ends.count), hex(fnv1a64(result.ends)),
                fixed(megabytes / result.samples.median, 1), fixed(megabytes / result.samples.slowest, 1),
                fixed(megabytes / result.samples.fastest, 1),
            ].joined(separator: "\t"))
        }
        try writeText(lines.joined(separator: "\n") + "\n", toFile: path)
    }
}

do {
    try main()
} catch {
    print("error: \(error)")
    exit(1)
}
