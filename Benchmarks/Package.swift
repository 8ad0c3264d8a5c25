// swift-tools-version:6.1
// Benchmarks for tau, kept out of the root package so that CI (which builds the
// root only) never resolves or builds ordo-one/benchmark. See README.md here.
//
//   swift package --package-path Benchmarks --scratch-path Benchmarks/.build-bench \
//       --allow-writing-to-package-directory benchmark            # micro-benchmarks
//   swift build --package-path Benchmarks --scratch-path Benchmarks/.build-bench -c release \
//       --product tau-bench-chunkers                              # comparisons (see scripts/)
import PackageDescription

let package = Package(
    name: "tau-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tau", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic inputs, timing and table helpers shared by everything below.
        .target(name: "BenchSupport", path: "Sources/BenchSupport"),

        // Side-by-side comparisons with reference implementations (plain executables).
        .executableTarget(
            name: "tau-bench-chunkers",
            dependencies: ["BenchSupport", .product(name: "Chunking", package: "tau")],
            path: "Sources/tau-bench-chunkers"
        ),
        .executableTarget(
            name: "tau-bench-blockstore",
            dependencies: [
                "BenchSupport",
                .product(name: "Repo", package: "tau"),
                .product(name: "Blocks", package: "tau"),
                .product(name: "Multiformats", package: "tau"),
            ],
            path: "Sources/tau-bench-blockstore"
        ),
    ]
)

// ordo-one micro-benchmarks: one executable per directory under Benchmarks/Benchmarks.
let microBenchmarks: [(name: String, products: [String])] = [
    ("Chunkers", ["Chunking"]),
    ("Hashing", ["Multiformats"]),
    ("DAGPB", ["UnixFS", "Multiformats", "Blocks"]),
    ("BlockStore", ["Repo", "Blocks", "Multiformats"]),
]
for benchmark in microBenchmarks {
    package.targets.append(.executableTarget(
        name: benchmark.name,
        dependencies: ["BenchSupport", .product(name: "Benchmark", package: "benchmark")]
            + benchmark.products.map { .product(name: $0, package: "tau") },
        path: "Benchmarks/\(benchmark.name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ))
}

// libp2p throughput (P2P: one stream through TCP + Noise + Yamux, plain TCP,
// py-libp2p), driven by scripts/p2p-throughput.sh. Its own block so it can be
// read and removed on its own.
package.dependencies.append(.package(url: "https://github.com/apple/swift-nio", from: "2.101.3"))
package.targets.append(.executableTarget(
    name: "tau-bench-p2p",
    dependencies: [
        .product(name: "P2P", package: "tau"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
    ],
    path: "Sources/tau-bench-p2p"
))

// HTTP gateway against nginx: tau-bench-gateway hosts the Gateway over a
// memory block store for scripts/gateway-vs-nginx.sh. Its own block so it can
// be read and removed on its own.
package.dependencies.append(.package(url: "https://github.com/apple/swift-log", from: "1.16.2"))
package.targets.append(.executableTarget(
    name: "tau-bench-gateway",
    dependencies: [
        .product(name: "Gateway", package: "tau"),
        .product(name: "ContentCache", package: "tau"),
        .product(name: "Blocks", package: "tau"),
        .product(name: "UnixFS", package: "tau"),
        .product(name: "Multiformats", package: "tau"),
        .product(name: "Logging", package: "swift-log"),
    ],
    path: "Sources/tau-bench-gateway"
))

// Bitswap stage by stage (store read, protobuf, Noise, pnet, Yamux, SHA-256,
// LMDB write): CPU cost per byte of each, for scripts/bitswap-stages.sh.
package.targets.append(.executableTarget(
    name: "tau-bench-stages",
    dependencies: [
        "BenchSupport",
        .product(name: "Bitswap", package: "tau"),
        .product(name: "P2P", package: "tau"),
        .product(name: "Repo", package: "tau"),
        .product(name: "Blocks", package: "tau"),
        .product(name: "Multiformats", package: "tau"),
        .product(name: "NIOCore", package: "swift-nio"),
    ],
    path: "Sources/tau-bench-stages"
))

// The adaptive want window on a netem link, for scripts/bitswap-window.sh.
package.targets.append(.executableTarget(
    name: "tau-bench-window",
    dependencies: [
        "BenchSupport",
        .product(name: "Bitswap", package: "tau"),
        .product(name: "P2P", package: "tau"),
        .product(name: "Blocks", package: "tau"),
        .product(name: "Multiformats", package: "tau"),
    ],
    path: "Sources/tau-bench-window"
))

// DHT lookups over an in-process network of real DHT instances, for scripts/dht-lookups.sh.
package.targets.append(.executableTarget(
    name: "tau-bench-dht",
    dependencies: [
        .product(name: "DHT", package: "tau"),
        .product(name: "P2P", package: "tau"),
        .product(name: "Multiformats", package: "tau"),
        .product(name: "Logging", package: "swift-log"),
    ],
    path: "Sources/tau-bench-dht"
))
