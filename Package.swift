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
        .library(name: "Chunking", targets: ["Chunking"]),
        .library(name: "Blocks", targets: ["Blocks"]),
        .library(name: "UnixFS", targets: ["UnixFS"]),
        .library(name: "CAR", targets: ["CAR"]),
        .library(name: "Repo", targets: ["Repo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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

        // Layer 0: codecs. No I/O, no NIO.
        .target(name: "Multiformats", dependencies: ["COpenSSL"]),
        .target(name: "Chunking"),
        .target(name: "Blocks", dependencies: ["Multiformats"]),
        .target(name: "UnixFS", dependencies: ["Multiformats", "Chunking", "Blocks"]),
        .target(name: "CAR", dependencies: ["Multiformats", "Blocks"]),

        // Layer 1: storage. One LMDB environment per repo.
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(name: "Repo", dependencies: ["LMDB", "CZstd", "Multiformats", "Blocks", "UnixFS"]),

        // Layer 5: the command line.
        .executableTarget(
            name: "tau",
            dependencies: [
                "Multiformats", "Chunking", "Blocks", "UnixFS", "CAR", "Repo", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests. TestSupport loads ../shared/vectors and generates inputs.
        .target(name: "TestSupport", dependencies: ["COpenSSL"], path: "Tests/TestSupport"),
        .testTarget(name: "MultiformatsTests", dependencies: ["Multiformats", "TestSupport"]),
        .testTarget(name: "ChunkingTests", dependencies: ["Chunking", "TestSupport"]),
        .testTarget(name: "UnixFSTests", dependencies: ["UnixFS", "Blocks", "Multiformats", "Chunking", "TestSupport"]),
        .testTarget(name: "CARTests", dependencies: ["CAR", "Multiformats", "Blocks", "UnixFS", "TestSupport"]),
        .testTarget(name: "RepoTests", dependencies: ["Repo", "LMDB", "Multiformats", "Blocks", "UnixFS", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
    ]
)
