import Blocks
import Multiformats

/// Stores the blocks a `CARReader` yields into a `BlockSink`, in batches, and
/// keeps the header's roots. Pinning them is the caller's business.
///
/// Identity-CID sections are verified by the reader but not stored: any
/// `BlockSource` answers identity CIDs from the CID itself.
///
/// Memory: one batch (at most `batchBlockLimit` blocks or about
/// `batchByteLimit` bytes) besides what the sink holds.
public struct CARImporter<Sink: BlockSink>: Sendable {
    public let sink: Sink
    public let batchBlockLimit: Int
    public let batchByteLimit: Int

    /// The header, once the reader has produced it.
    public private(set) var header: CARHeader?
    /// Blocks read (identity sections included).
    public private(set) var blockCount = 0
    /// Bytes of block data read.
    public private(set) var byteCount: UInt64 = 0

    private var batch: [Block] = []
    private var batchBytes = 0

    public init(into sink: Sink, batchBlockLimit: Int = 1024, batchByteLimit: Int = 8 << 20) {
        precondition(batchBlockLimit > 0 && batchByteLimit > 0, "batch limits must be positive")
        self.sink = sink
        self.batchBlockLimit = batchBlockLimit
        self.batchByteLimit = batchByteLimit
    }

    /// Takes the reader's events, writing a batch to the sink whenever one fills up.
    public mutating func consume(_ events: [CARReader.Event]) async throws {
        for event in events {
            switch event {
            case .header(let header):
                self.header = header
            case .block(let block):
                blockCount += 1
                byteCount += UInt64(block.bytes.count)
                guard !block.cid.isIdentity else { continue }
                batch.append(block)
                batchBytes += block.bytes.count
                if batch.count >= batchBlockLimit || batchBytes >= batchByteLimit { try await flush() }
            case .index:
                break
            }
        }
    }

    /// Writes the last batch and returns what was imported.
    /// - Throws: `CARError.truncated` if no header was seen; whatever the sink throws.
    public mutating func finish() async throws -> CARImport.Summary {
        try await flush()
        guard let header else { throw CARError(.truncated, "no CAR header was read") }
        return CARImport.Summary(header: header, blockCount: blockCount, byteCount: byteCount)
    }

    private mutating func flush() async throws {
        guard !batch.isEmpty else { return }
        let blocks = batch
        batch = []
        batchBytes = 0
        try await sink.put(blocks)
    }
}

/// Loading a whole CAR into a block store.
public enum CARImport {
    /// What an import stored.
    public struct Summary: Hashable, Sendable {
        public var header: CARHeader
        /// Blocks read, identity sections included.
        public var blockCount: Int
        /// Bytes of block data read.
        public var byteCount: UInt64

        /// The roots the CAR names, to pin.
        public var roots: [CID] { header.roots }
    }

    /// Reads a CAR arriving in pieces of any size, verifies every block
    /// (unless `verifyingBlocks` is false) and stores them into `sink` in batches.
    /// - Returns: the roots and counts. Nothing is pinned.
    /// - Throws: the reader's `CARError` (the blocks of batches already written
    ///   stay in the sink, unpinned, for GC to collect), or what `pieces` or `sink` throw.
    public static func load<Pieces: AsyncSequence, Sink: BlockSink>(
        from pieces: Pieces, into sink: Sink, limits: CARLimits = .default, verifyingBlocks: Bool = true,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> Summary where Pieces.Element == [UInt8] {
        var reader = CARReader(limits: limits, verifyingBlocks: verifyingBlocks)
        var importer = CARImporter(into: sink)
        for try await piece in pieces {
            try await importer.consume(try reader.parse(piece))
        }
        try await importer.consume(try reader.finish())
        return try await importer.finish()
    }
}
