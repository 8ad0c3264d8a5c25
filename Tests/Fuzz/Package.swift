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
]

let package = Package(
    name: "TauFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The tau package itself (the repository root), named so that this
        // manifest does not depend on the checkout's directory name.
        .package(name: "tau", path: "../.."),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Multiformats", package: "tau")]),
    ] + fuzzTargets.map { target in
        .executableTarget(
            name: target.name,
            dependencies: ["FuzzSupport"] + target.products.map { .product(name: $0, package: "tau") }
        )
    }
)
