import Blocks
import Chunking
import Dispatch
import Foundation
import Multiformats
import Testing
import TestSupport
import UnixFS

/// Every row of ../shared/vectors/dagger/convergence-go.tsv: go-ipfs CIDs for
/// 10 inputs (up to 5 GiB) × 8 chunkers × trickle × raw leaves × CID version ×
/// inline limit. Each input is decompressed once and chunked once per chunker;
/// each chunk is hashed once per leaf encoding (raw, dag-pb File, dag-pb Raw)
/// and the 32 variants then share those digests, each building its own DAG
/// through the public BalancedLayout/TrickleLayout and CIDBuilder. Small inputs
/// also go through FileImporter end to end, row by row.
@Suite("dagger convergence vectors")
struct ConvergenceTests {
    struct Row: Sendable {
        let dataFile: String
        let trickle: Bool
        let rawLeaves: Bool
        let inlineLimit: Int
        let cidVersion: Int
        let chunker: String
        let cid: String
    }

    static func rows() throws -> [Row] {
        let url = TestEnvironment.vectors.appendingPathComponent("dagger/convergence-go.tsv")
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").map { line in
            var fields: [String: String] = [:]
            for column in line.split(separator: "\t") {
                let pair = column.split(separator: ":", maxSplits: 1).map(String.init)
                fields[pair[0]] = pair.count > 1 ? pair[1] : ""
            }
            return Row(
                dataFile: URL(fileURLWithPath: fields["Data"]!).lastPathComponent,
                trickle: fields["Trickle"] == "true", rawLeaves: fields["RawLeaves"] == "true",
                inlineLimit: Int(fields["Inlining"]!)!, cidVersion: Int(fields["CidVer"]!)!,
                chunker: fields["Chunker"]!, cid: fields["CID"]!)
        }
    }

    static func dataFiles() throws -> [String] {
        Array(Set(try rows().map(\.dataFile))).sorted()
    }

    /// The expected CIDs compare by multihash: the TSV shows CIDv0 results upgraded to v1.
    static func sameMultihash(_ ours: CID, _ expected: String) -> Bool {
        guard let theirs = try? CID(expected) else { return false }
        return ours.multihashBytes == theirs.multihashBytes && ours.codec == theirs.codec
    }

    @Test("all variants of one input", arguments: try dataFiles())
    func input(_ dataFile: String) async throws {
        let (mismatches, checked, expected) = try await onOwnThread { try Self.checkAllVariants(of: dataFile) }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(checked) CIDs differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
        #expect(checked == expected)
    }

    /// Every variant of `dataFile`: the rows whose CID differs (described),
    /// how many were checked, and how many rows the file has.
    static func checkAllVariants(of dataFile: String) throws -> (mismatches: [String], checked: Int, expected: Int) {
        let rows = try Self.rows().filter { $0.dataFile == dataFile }
        let url = TestEnvironment.vectors.appendingPathComponent("dagger/\(dataFile)")
        let chunkers = Array(Set(rows.map(\.chunker))).sorted()
        let pipelines = try chunkers.map { name in
            ChunkerPipeline(spec: try ChunkerSpec(parsing: name), variants: rows.filter { $0.chunker == name })
        }
        try forEachDecompressedPiece(of: url) { piece in
            // The chunkers are independent: run them on both cores.
            nonisolated(unsafe) let shared = piece
            DispatchQueue.concurrentPerform(iterations: pipelines.count) { pipelines[$0].write(shared) }
        }
        DispatchQueue.concurrentPerform(iterations: pipelines.count) { pipelines[$0].finish() }
        var mismatches: [String] = []
        var checked = 0
        for pipeline in pipelines {
            for (row, root) in zip(pipeline.rows, pipeline.roots) {
                if !sameMultihash(root, row.cid) {
                    mismatches.append("\(dataFile) \(row.chunker) trickle=\(row.trickle) raw=\(row.rawLeaves) v\(row.cidVersion) inline=\(row.inlineLimit): \(root) != \(row.cid)")
                }
                checked += 1
            }
        }
        return (mismatches, checked, rows.count)
    }

    /// Small inputs: every row through FileImporter itself, as `tau add` runs it.
    @Test("FileImporter end to end on small inputs")
    func smallInputsThroughImporter() throws {
        let rows = try Self.rows().filter { $0.dataFile.hasPrefix("uicro") || $0.dataFile.hasPrefix("zero") }
        #expect(!rows.isEmpty)
        var inputs: [String: [UInt8]] = [:]
        for row in rows {
            if inputs[row.dataFile] == nil {
                var data: [UInt8] = []
                try forEachDecompressedPiece(of: TestEnvironment.vectors.appendingPathComponent("dagger/\(row.dataFile)")) {
                    data += $0
                }
                inputs[row.dataFile] = data
            }
            var options = ImportOptions()
            options.chunker = row.chunker
            options.trickle = row.trickle
            options.rawLeaves = row.rawLeaves
            options.cidVersion = row.cidVersion
            var parameters = try options.resolve().file
            // go-ipfs accepted inline limits that Kubo now caps at 128 (the CLI
            // does too); the importer itself takes any limit.
            parameters.cids.inlineLimit = row.inlineLimit > 0 ? row.inlineLimit : nil
            let (root, _) = importFile(inputs[row.dataFile]!, parameters, pieceSize: 7)
            #expect(Self.sameMultihash(root.cid, row.cid), "\(row)")
        }
    }
}

/// One chunker over one input, feeding the leaf links of all its variants.
final class ChunkerPipeline: @unchecked Sendable {
    /// One (trickle, raw leaves, CID version, inline limit) combination.
    struct Variant {
        var layout: any FileLayout
        let trickle: Bool
        let rawLeaves: Bool
        let cids: CIDBuilder
        var leafCount = 0
        var onlyLeaf: FileLink?
    }

    let rows: [ConvergenceTests.Row]
    private var chunker: any Chunker
    private var pending: [UInt8] = []
    private var variants: [Variant]
    private var scratch: [Block] = []
    private(set) var roots: [CID] = []

    init(spec: ChunkerSpec, variants rows: [ConvergenceTests.Row]) {
        self.rows = rows
        self.chunker = spec.makeChunker()
        self.variants = rows.map { row in
            let cids = CIDBuilder(version: row.cidVersion == 1 ? .v1 : .v0, inlineLimit: row.inlineLimit > 0 ? row.inlineLimit : nil)
            let layout: any FileLayout = row.trickle
                ? TrickleLayout(maxLinks: 174, cids: cids) : BalancedLayout(maxLinks: 174, cids: cids)
            return Variant(layout: layout, trickle: row.trickle, rawLeaves: row.rawLeaves, cids: cids)
        }
        pending.reserveCapacity(spec.maxChunkSize)
    }

    func write(_ piece: UnsafeRawBufferPointer) {
        var rest = piece
        while !rest.isEmpty {
            guard let cut = chunker.nextCut(in: rest) else {
                pending.append(contentsOf: rest)
                return
            }
            if pending.isEmpty {
                leaf(UnsafeRawBufferPointer(rebasing: rest[..<cut]))
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<cut]))
                pending.withUnsafeBytes { leaf($0) }
                pending.removeAll(keepingCapacity: true)
            }
            rest = UnsafeRawBufferPointer(rebasing: rest[cut...])
        }
    }

    func finish() {
        if !pending.isEmpty {
            pending.withUnsafeBytes { leaf($0) }
            pending.removeAll()
        }
        for index in variants.indices {
            var variant = variants[index]
            let root: CID
            if let built = variant.layout.finish(attributes: FileAttributes(), blocks: &scratch) {
                root = built.cid
            } else if let only = variant.onlyLeaf {
                root = only.cid
            } else {
                // The empty file: one empty leaf.
                let encoder = LeafEncoder(format: variant.rawLeaves ? .raw : .unixfs(.file), cids: variant.cids)
                root = encoder.encode(UnsafeRawBufferPointer(start: nil, count: 0)).1.cid
            }
            scratch.removeAll(keepingCapacity: true)
            variants[index] = variant
            roots.append(root)
        }
    }

    /// Hashes each leaf encoding once and hands every variant its link.
    private func leaf(_ chunk: UnsafeRawBufferPointer) {
        var encodings: [LeafEncoder.Format: (bytes: [UInt8], digest: Multihash)] = [:]
        func encoding(_ format: LeafEncoder.Format) -> (bytes: [UInt8], digest: Multihash) {
            if let known = encodings[format] { return known }
            // Any CIDBuilder gives the same sha2-256 digest; the bytes are what matter.
            let (block, _) = LeafEncoder(format: format, cids: CIDBuilder(version: .v1)).encode(chunk)
            let value = (block.bytes, block.cid.multihash)
            encodings[format] = value
            return value
        }
        for index in variants.indices {
            let format: LeafEncoder.Format = variants[index].rawLeaves ? .raw : .unixfs(variants[index].trickle ? .raw : .file)
            let (bytes, digest) = encoding(format)
            let codec: Multicodec = variants[index].rawLeaves ? .raw : .dagPB
            let cids = variants[index].cids
            let cid: CID
            if let limit = cids.inlineLimit, bytes.count <= limit {
                cid = cids.cid(for: bytes, codec: codec)
            } else if codec == .dagPB && cids.version == .v0 {
                cid = .v0(digest)
            } else {
                cid = .v1(codec, digest)
            }
            let link = FileLink(cid: cid, fileSize: UInt64(chunk.count), tsize: UInt64(bytes.count))
            variants[index].leafCount += 1
            if !variants[index].trickle {
                // Balanced: a lone leaf is the root; hold the first one back.
                if variants[index].leafCount == 1 {
                    variants[index].onlyLeaf = link
                    continue
                }
                if let first = variants[index].onlyLeaf {
                    variants[index].layout.append(first, blocks: &scratch)
                    variants[index].onlyLeaf = nil
                }
            }
            variants[index].layout.append(link, blocks: &scratch)
            scratch.removeAll(keepingCapacity: true)
        }
    }
}
