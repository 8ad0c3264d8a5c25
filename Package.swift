// swift-tools-version:6.1
// tau: the storage-centric data plane of a peer-to-peer cloud. See ../shared/DESIGN.md
// for the layering; a target imports only targets of lower layers.
import PackageDescription

let package = Package(
    name: "tau",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tau", targets: ["tau"]),
        .library(name: "Multiformats", targets: ["Multiformats"]),
        .library(name: "Protobuf", targets: ["Protobuf"]),
        .library(name: "Chunking", targets: ["Chunking"]),
        .library(name: "Blocks", targets: ["Blocks"]),
        .library(name: "UnixFS", targets: ["UnixFS"]),
        .library(name: "CAR", targets: ["CAR"]),
        .library(name: "Repo", targets: ["Repo"]),
        .library(name: "ContentCache", targets: ["ContentCache"]),
        .library(name: "P2P", targets: ["P2P"]),
        .library(name: "PubSub", targets: ["PubSub"]),
        .library(name: "DHT", targets: ["DHT"]),
        .library(name: "Hoarder", targets: ["Hoarder"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .library(name: "Bitswap", targets: ["Bitswap"]),
        .library(name: "Sites", targets: ["Sites"]),
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
        .library(name: "Membership", targets: ["Membership"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries (Debian packages, found with pkg-config).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CMalloc"),
        // The Salsa20 kernel for private networks (vector lanes; see its header).
        .target(name: "CSalsa20"),

        // Layer 0: codecs. No I/O, no NIO. `Errors`: the one error pattern.
        .target(name: "Errors"),
        .target(name: "Multiformats", dependencies: ["Errors", "COpenSSL"]),
        .target(name: "Protobuf", dependencies: ["Errors"]),
        .target(name: "Chunking", dependencies: ["Errors"]),
        .target(name: "Blocks", dependencies: ["Errors", "Multiformats"]),
        .target(name: "UnixFS", dependencies: ["Errors", "Multiformats", "Protobuf", "Chunking", "Blocks"]),
        .target(name: "CAR", dependencies: ["Errors", "Multiformats", "Blocks"]),

        // Layer 1: storage. One LMDB environment per repo.
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(name: "Repo", dependencies: ["Errors", "LMDB", "CZstd", "Multiformats", "Blocks", "UnixFS"]),
        .target(name: "ContentCache", dependencies: [
            "Multiformats", "Blocks", "UnixFS",
            .product(name: "Metrics", package: "swift-metrics"),
        ]),

        // Layer 2: network (libp2p, wire-compatible with Kubo and py-libp2p).
        .target(name: "P2P", dependencies: [
            "Errors", "Multiformats", "Protobuf", "COpenSSL", "CSalsa20",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "Bitswap", dependencies: [
            "Errors", "Multiformats", "Protobuf", "Blocks", "P2P", "UnixFS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),

        .target(name: "PubSub", dependencies: [
            "Errors", "Multiformats", "Protobuf", "P2P",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),

        // Kademlia: peers, providers and public-key records; keeps its state in the repo.
        .target(name: "DHT", dependencies: [
            "Errors", "Multiformats", "Protobuf", "P2P", "Repo",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // One HTTP/1.1 core for every HTTP service (gateway, admin API, those to come).
        .target(name: "HTTPServer", dependencies: [
            "Errors",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),

        // SWIM membership with Lifeguard, sans I/O: a state machine returning actions (formats/membership.md).
        .target(name: "Membership", dependencies: ["Errors", "Protobuf"]),
        // A deterministic discrete-event virtual network and clock for simulations of pure state machines.
        .target(name: "Simulation", dependencies: ["Membership", "Protobuf"]),

        // Layer 3: data services, each on the repo's transaction API.
        .target(name: "Sites", dependencies: ["Errors", "Multiformats", "Repo"]),
        // K replicas of every stashed root: placement, registry, repair (formats/hoarder.md).
        .target(name: "Hoarder", dependencies: ["Errors", "Multiformats", "UnixFS"]),

        // Layer 4: edges.
        .target(name: "Gateway", dependencies: [
            "Errors", "Multiformats", "Blocks", "UnixFS", "CAR", "ContentCache", "HTTPServer",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),

        // Layer 5: the node (config, service wiring, lifecycle, admin API).
        .target(name: "Node", dependencies: [
            "Errors", "Multiformats", "Blocks", "UnixFS", "CAR", "Repo", "ContentCache", "Gateway", "HTTPServer", "P2P", "Bitswap", "Sites",
            "PubSub", "DHT",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // Layer 5: the command line.
        .executableTarget(
            name: "tau",
            dependencies: [
                "Multiformats", "Chunking", "Blocks", "UnixFS", "CAR", "Repo", "ContentCache", "CMalloc", "Node", "P2P", "Sites",
                "PubSub", "DHT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Crash safety: writes service records and blocks in repo transactions
        // until killed, and checks a repo after a kill (Tests/CrashSafety/kill-write.sh).
        .executableTarget(name: "tau-crash-writer", dependencies: ["Repo", "Blocks", "Multiformats"],
                          path: "Tests/CrashSafety/CrashWriter"),

        // Tests. TestSupport loads ../shared/vectors and generates inputs.
        .target(name: "TestSupport", dependencies: ["COpenSSL"], path: "Tests/TestSupport"),
        .testTarget(name: "MultiformatsTests", dependencies: ["Multiformats", "TestSupport"]),
        .testTarget(name: "ProtobufTests", dependencies: ["Protobuf"]),
        .testTarget(name: "DHTTests", dependencies: ["DHT", "P2P", "Repo", "Multiformats", "TestSupport"],
                    exclude: ["Peers"]),
        .testTarget(name: "PubSubTests", dependencies: ["PubSub", "P2P", "Multiformats", "TestSupport"],
                    exclude: ["Peers"]),
        .testTarget(name: "HoarderTests", dependencies: [
            "Hoarder", "Multiformats", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ChunkingTests", dependencies: ["Chunking", "TestSupport"]),
        .testTarget(name: "UnixFSTests", dependencies: ["UnixFS", "Blocks", "Multiformats", "Chunking", "TestSupport"]),
        .testTarget(name: "CARTests", dependencies: ["CAR", "Multiformats", "Blocks", "UnixFS", "TestSupport"]),
        .testTarget(name: "RepoTests", dependencies: ["Repo", "LMDB", "Multiformats", "Blocks", "UnixFS", "TestSupport"]),
        .testTarget(name: "SitesTests", dependencies: ["Sites", "Repo", "Blocks", "Multiformats", "UnixFS", "TestSupport"]),
        .testTarget(name: "ContentCacheTests", dependencies: ["ContentCache", "Blocks", "Multiformats", "UnixFS", "TestSupport"]),
        .testTarget(name: "P2PTests", dependencies: [
            "P2P", "Multiformats", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ], exclude: ["Peers"]),
        .testTarget(name: "BitswapTests", dependencies: [
            "Bitswap", "P2P", "Blocks", "Multiformats", "UnixFS", "ContentCache", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ], exclude: ["Peers"]),
        .testTarget(name: "GatewayTests", dependencies: [
            "Gateway", "ContentCache", "Blocks", "Multiformats", "UnixFS", "CAR", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "HTTPServerTests", dependencies: [
            "HTTPServer", "Node", "Repo", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "NodeTests", dependencies: [
            "Node", "Repo", "P2P", "Blocks", "Multiformats", "UnixFS", "TestSupport", "DHT", "Bitswap",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "MembershipTests", dependencies: ["Membership", "Simulation"]),
    ]
)
