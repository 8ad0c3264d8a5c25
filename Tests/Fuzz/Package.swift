// swift-tools-version:6.1
// libFuzzer harnesses for tau's parsers. Build and run them with ./run, never
// with a plain `swift build`: the targets have no main of their own (libFuzzer
// supplies it). See README.md.
import PackageDescription

/// One executable per parser. To add one: a name here, Sources/<Name>/<Name>.swift
/// with an `LLVMFuzzerTestOneInput`, and seeds in Corpus/<Name>/.
let fuzzTargets: [(name: String, products: [String])] = [
    ("FuzzVarint", ["Multiformats"]),
    ("FuzzMultibase", ["Multiformats"]),
    ("FuzzCID", ["Multiformats"]),
    ("FuzzDAGCBOR", ["Multiformats"]),
    ("FuzzDAGPB", ["Multiformats", "UnixFS"]),
    ("FuzzCAR", ["CAR", "Blocks", "Multiformats"]),
    ("FuzzMultistream", ["P2P", "NIOCore"]),
    ("FuzzYamux", ["P2P", "NIOCore"]),
    ("FuzzNoise", ["P2P", "NIOCore", "Crypto"]),
    ("FuzzMultiaddr", ["P2P"]),
    ("FuzzIdentify", ["P2P"]),
    ("FuzzBitswapMessage", ["Bitswap"]),
    ("FuzzPubSubRPC", ["PubSub"]),
    ("FuzzDHTMessage", ["DHT", "P2P"]),
]

/// Products that come from packages other than tau (P2P's API speaks NIO's
/// ByteBuffer, and the Noise target builds fixed keys with swift-crypto).
let otherProducts: [String: String] = ["NIOCore": "swift-nio", "Crypto": "swift-crypto"]

let package = Package(
    name: "TauFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The tau package itself (the repository root), named so that this
        // manifest does not depend on the checkout's directory name.
        .package(name: "tau", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Multiformats", package: "tau")]),
    ] + fuzzTargets.map { target in
        .executableTarget(
            name: target.name,
            dependencies: ["FuzzSupport"] + target.products.map { .product(name: $0, package: otherProducts[$0] ?? "tau") }
        )
    }
)
