import Blocks
import CAR
import Foundation
import Multiformats
import TestSupport
import UnixFS

/// The link reader every export in these tests uses: the one tau's CLI passes.
let dagLinks: CARExport.LinkReader = DAGLinks.links(of:block:)

/// The gateway-conformance CARs under ../shared/vectors, by path relative to that folder.
enum Fixtures {
    static var directory: URL { TestEnvironment.vectors.appendingPathComponent("gateway-conformance") }

    /// Every `.car` below `directory`, recursively, sorted.
    static func names() -> [String] {
        let root = directory.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".car") }.sorted()
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}

/// How a test cuts an input into pieces.
enum Pieces: CustomStringConvertible, Sendable {
    case whole
    case fixed(Int)
    /// Sizes 1...max drawn from a seeded generator.
    case random(seed: UInt64, max: Int)

    var description: String {
        switch self {
        case .whole: "whole"
        case .fixed(let size): "\(size)-byte pieces"
        case .random(let seed, let max): "random pieces ≤ \(max) (seed \(seed))"
        }
    }

    /// `bytes` cut into pieces of this shape.
    func split(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var generator = SeededBytes(seed: { if case .random(let seed, _) = self { return seed }; return 1 }())
        var pieces: [ArraySlice<UInt8>] = []
        var offset = 0
        while offset < bytes.count {
            let size: Int
            switch self {
            case .whole: size = bytes.count
            case .fixed(let fixed): size = fixed
            case .random(_, let max): size = 1 + Int(generator.next() % UInt64(max))
            }
            let end = min(bytes.count, offset + size)
            pieces.append(bytes[offset..<end])
            offset = end
        }
        return pieces
    }
}

/// Reads a whole CAR fed in `pieces`, returning every event (finish included).
func readCAR(_ bytes: [UInt8], pieces: Pieces = .whole, reader: CARReader = CARReader()) throws(CARError) -> [CARReader.Event] {
    var reader = reader
    var events: [CARReader.Event] = []
    for piece in pieces.split(bytes) {
        events += try piece.withUnsafeBytes { raw in Result { () throws(CARError) in try reader.parse(raw) } }.get()
    }
    events += try reader.finish()
    return events
}

/// The error reading `bytes` throws, or `nil` if it reads.
func readError(_ bytes: [UInt8], pieces: Pieces = .whole, reader: CARReader = CARReader()) -> CARError? {
    do {
        _ = try readCAR(bytes, pieces: pieces, reader: reader)
        return nil
    } catch {
        return error
    }
}

extension Array where Element == CARReader.Event {
    var header: CARHeader? {
        for case .header(let header) in self { return header }
        return nil
    }

    var blocks: [Block] {
        compactMap { if case .block(let block) = $0 { return block } else { return nil } }
    }

    var index: CARIndex? {
        for case .index(let index) in self { return index }
        return nil
    }
}

/// Exports and returns the bytes in one array, with the summary.
func exportCAR(roots: [CID], from source: some BlockSource, version: Int = 1,
               options: CARExport.Options = CARExport.Options()) async throws -> (bytes: [UInt8], summary: CARExport.Summary) {
    var bytes: [UInt8] = []
    let summary: CARExport.Summary
    if version == 2 {
        summary = try await CARExport.writeV2(roots: roots, from: source, links: dagLinks, options: options) { bytes += $0 }
    } else {
        summary = try await CARExport.writeV1(roots: roots, from: source, links: dagLinks, options: options) { bytes += $0 }
    }
    return (bytes, summary)
}

/// A store holding `blocks`.
func store(_ blocks: [Block]) async throws -> MemoryBlockStore {
    let store = MemoryBlockStore()
    try await store.put(blocks)
    return store
}

/// The CIDs reachable from `roots` through `blocks`, found by a plain recursive
/// walk independent of `CARExport.walk`; `missing` collects CIDs linked but absent.
func reachable(from roots: [CID], in blocks: [CID: [UInt8]], missing: inout Set<CID>) throws -> Set<CID> {
    var found = Set<CID>()
    func visit(_ cid: CID) throws {
        guard found.insert(cid).inserted else { return }
        let bytes = cid.isIdentity ? Array(cid.digest) : blocks[cid]
        guard let bytes else {
            found.remove(cid)
            missing.insert(cid)
            return
        }
        for child in try DAGLinks.links(of: cid, block: bytes) ?? [] { try visit(child) }
    }
    for root in roots { try visit(root) }
    return found
}

/// A small DAG with every kind of block an export meets: a UnixFS file of
/// several CIDv1 raw leaves, a dag-cbor node linking to it, to a raw block
/// twice (deduplicated) and to an identity CID, and a dag-cbor root above.
func mixedDAG() -> (root: CID, blocks: [Block]) {
    var parameters = FileImportParameters(chunker: .size(1000), rawLeaves: true)
    parameters.cids = CIDBuilder(version: .v1)
    var importer = FileImporter(parameters: parameters)
    var generator = SeededBytes(seed: 7)
    importer.write(generator.bytes(3500))
    let file = importer.finish()
    var blocks = importer.takeBlocks()
    let raw = Block(hashing: Array("shared leaf".utf8), codec: .raw)
    let identity = CID.v1(.raw, Multihash(code: HashFunction.identity.rawValue, digest: Array("inline".utf8)))
    let node = Block(hashing: try! DAGCBOR.map([
        "file": .link(file.cid), "again": .link(raw.cid), "leaf": .link(raw.cid), "tiny": .link(identity),
    ]).encoded(), codec: .dagCBOR)
    let root = Block(hashing: try! DAGCBOR.map(["node": .link(node.cid), "name": "root"]).encoded(), codec: .dagCBOR)
    blocks += [raw, node, root]
    return (root.cid, blocks)
}

/// Hex of `bytes`.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}
