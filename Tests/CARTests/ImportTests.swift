import Blocks
import CAR
import Multiformats
import Synchronization
import Testing
import TestSupport

/// A sink that records the batches it is given.
final class RecordingSink: BlockSink {
    private let recorded = Mutex<[[Block]]>([])
    var batches: [[Block]] { recorded.withLock { $0 } }
    func put(_ blocks: [Block]) async throws { recorded.withLock { $0.append(blocks) } }
}

/// A block source that makes up a large DAG on demand: a dag-cbor root linking
/// to `leafCount` raw leaves of `leafSize` pseudo-random bytes each, so
/// exports of hundreds of MiB run without the DAG ever being held.
struct SyntheticDAG: BlockSource {
    let leafCount: Int
    let leafSize: Int
    let leaves: [CID: UInt64]
    let root: Block

    init(leafCount: Int, leafSize: Int) {
        self.leafCount = leafCount
        self.leafSize = leafSize
        var leaves: [CID: UInt64] = [:]
        var links: [DAGCBOR] = []
        for seed in 1...UInt64(leafCount) {
            let cid = Block(hashing: SyntheticDAG.leaf(seed: seed, size: leafSize), codec: .raw).cid
            leaves[cid] = seed
            links.append(.link(cid))
        }
        self.leaves = leaves
        self.root = Block(hashing: try! DAGCBOR.map(["leaves": .array(links)]).encoded(), codec: .dagCBOR)
    }

    static func leaf(seed: UInt64, size: Int) -> [UInt8] {
        var generator = SeededBytes(seed: seed)
        return generator.bytes(size)
    }

    func get(_ cid: CID) async throws -> [UInt8]? {
        if cid == root.cid { return root.bytes }
        return leaves[cid].map { SyntheticDAG.leaf(seed: $0, size: leafSize) }
    }

    func has(_ cid: CID) async throws -> Bool { cid == root.cid || leaves[cid] != nil }
}

@Suite("CAR import")
struct ImportTests {
    @Test func blocksArriveInBoundedBatchesAndIdentitySectionsAreNotStored() async throws {
        let dag = mixedDAG()
        let (car, exported) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks))
        let sink = RecordingSink()
        var importer = CARImporter(into: sink, batchBlockLimit: 3)
        var reader = CARReader()
        for piece in Pieces.fixed(100).split(car) {
            try await importer.consume(try reader.parse(Array(piece)))
        }
        try await importer.consume(try reader.finish())
        let summary = try await importer.finish()

        #expect(summary.roots == [dag.root])
        #expect(summary.header.version == 1)
        #expect(summary.blockCount == exported.blockCount)
        let stored = sink.batches.flatMap { $0 }
        #expect(sink.batches.allSatisfy { !$0.isEmpty && $0.count <= 3 })
        #expect(stored.count == exported.blockCount - 1)
        #expect(stored.allSatisfy { !$0.cid.isIdentity })
        #expect(Set(stored) == Set(try readCAR(car).blocks.filter { !$0.cid.isIdentity }))
        #expect(summary.byteCount == UInt64(try readCAR(car).blocks.reduce(0) { $0 + $1.bytes.count }))
    }

    @Test func byteLimitEndsABatch() async throws {
        let dag = mixedDAG()
        let (car, _) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks))
        let sink = RecordingSink()
        var importer = CARImporter(into: sink, batchByteLimit: 1500)
        try await importer.consume(try readCAR(car))
        _ = try await importer.finish()
        // Four 1000-byte leaves in a row: a batch closes at the second.
        #expect(sink.batches.count >= 2)
        #expect(sink.batches.allSatisfy { $0.dropLast().reduce(0) { $0 + $1.bytes.count } < 1500 })
    }

    @Test func loadReadsACARv2AndReportsBadInput() async throws {
        let dag = mixedDAG()
        let (car, _) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks), version: 2)
        let target = MemoryBlockStore()
        let summary = try await CARImport.load(from: AsyncStream { continuation in
            for piece in Pieces.random(seed: 5, max: 333).split(car) { continuation.yield(Array(piece)) }
            continuation.finish()
        }, into: target)
        #expect(summary.roots == [dag.root])
        #expect(summary.header.v2 != nil)
        #expect(target.count == dag.blocks.count)

        var corrupt = car
        corrupt[corrupt.count / 2] ^= 0x01
        await #expect(throws: CARError.self) {
            try await CARImport.load(from: AsyncStream { $0.yield(corrupt); $0.finish() }, into: MemoryBlockStore())
        }
        await #expect(throws: CARError.truncated) {
            try await CARImport.load(from: AsyncStream { $0.finish() }, into: MemoryBlockStore())
        }
    }

    /// 256 MiB of blocks go from a source through the exporter straight into a
    /// reader, chunk by chunk, with neither side holding the CAR.
    @Test func largeDAGsStreamThroughExportAndRead() async throws {
        let dag = SyntheticDAG(leafCount: 1024, leafSize: 256 << 10)
        for version in [1, 2] {
            var reader = CARReader(readingIndex: true)
            var blocks = 0, bytes = 0, largestChunk = 0
            var index: CARIndex?
            func take(_ events: [CARReader.Event]) {
                for event in events {
                    switch event {
                    case .block(let block): blocks += 1; bytes += block.bytes.count
                    case .index(let found): index = found
                    case .header: break
                    }
                }
            }
            let options = CARExport.Options(chunkSize: 1 << 20)
            let emit: ([UInt8]) throws -> Void = { chunk in
                largestChunk = max(largestChunk, chunk.count)
                take(try reader.parse(chunk))
            }
            let summary = version == 1
                ? try await CARExport.writeV1(roots: [dag.root.cid], from: dag, links: dagLinks, options: options, emit: emit)
                : try await CARExport.writeV2(roots: [dag.root.cid], from: dag, links: dagLinks, options: options, emit: emit)
            take(try reader.finish())
            #expect(blocks == dag.leafCount + 1)
            #expect(bytes == dag.leafCount * dag.leafSize + dag.root.bytes.count)
            #expect(largestChunk == 1 << 20)
            #expect(reader.bytesConsumed == summary.totalSize)
            #expect((index?.count ?? 0) == (version == 2 ? dag.leafCount + 1 : 0))
        }
    }
}
