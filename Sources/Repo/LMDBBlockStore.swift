import Blocks
import LMDB
import Multiformats

/// The repo's block store: `blocks-v1` in the repo's LMDB environment.
/// Format: formats/lmdb.md, "blocks-v1".
///
/// - Keys are multihashes: CIDv0 and CIDv1 of the same bytes share one entry.
/// - Identity CIDs are never stored; reads answer them from the CID.
/// - `put` returns once its blocks are committed and synced; concurrent puts
///   share commits (group commit, see `GroupCommitWriter`).
/// - Reads are short read-only transactions on the calling thread; the
///   `BlockingBlockSource` calls read many blocks in one.
/// - Blocks written outside an add session are not protected from a
///   concurrent garbage collection until pinned (see `Repo.withAddSession`).
public final class LMDBBlockStore: BlockStore, BlockingBlockSource {
    let core: RepoCore

    init(core: RepoCore) { self.core = core }

    // MARK: Reading

    /// Lends the bytes of `cid`'s block to `body`.
    ///
    /// Ownership: the buffer points into LMDB's memory map (zero-copy) and is
    /// valid only inside `body`; for a compressed block it is a temporary
    /// decompressed copy, and for an identity CID the CID's own digest. Keep
    /// `body` short: it runs inside a read transaction.
    /// - Returns: `body`'s result, or `nil` if the block is absent.
    /// - Throws: `RepoError.corruptBlock` if the stored record is unreadable.
    public func withBlock<R>(_ cid: CID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        if cid.isIdentity { return try cid.digest.withUnsafeBytes(body) }
        let blocks = core.storage.databases.blocks
        return try core.storage.read { transaction in
            try cid.multihashBytes.withUnsafeBytes { key in
                try transaction.value(forKey: key, in: blocks) { record in
                    do {
                        return try BlockRecord.withBlockBytes(in: record, body)
                    } catch let problem as BlockRecord.Problem {
                        throw RepoError(.corruptBlock, problem.description, cid: cid)
                    }
                }
            }
        }
    }

    public func get(_ cid: CID) async throws -> [UInt8]? {
        try withBlock(cid) { Array($0) }
    }

    public func has(_ cid: CID) async throws -> Bool {
        try contains(cid)
    }

    /// Whether the block is stored (always true for identity CIDs).
    public func contains(_ cid: CID) throws -> Bool {
        if cid.isIdentity { return true }
        let blocks = core.storage.databases.blocks
        return try core.storage.read { transaction in
            try cid.multihashBytes.withUnsafeBytes { key in
                try transaction.value(forKey: key, in: blocks) { _ in true } ?? false
            }
        }
    }

    /// `BlockingBlockSource`: the blocks of `cids` this store has, read in
    /// one transaction on the calling thread.
    /// - Throws: `RepoError.corruptBlock` if a stored record is unreadable.
    public func blockingBlocks(_ cids: [CID]) throws -> [CID: [UInt8]] {
        let blocks = core.storage.databases.blocks
        var found: [CID: [UInt8]] = [:]
        found.reserveCapacity(cids.count)
        try core.storage.read { transaction in
            for cid in cids where found[cid] == nil {
                if cid.isIdentity {
                    found[cid] = Array(cid.digest)
                    continue
                }
                let bytes = try cid.multihashBytes.withUnsafeBytes { key in
                    try transaction.value(forKey: key, in: blocks) { record in
                        do {
                            return try BlockRecord.withBlockBytes(in: record) { Array($0) }
                        } catch let problem as BlockRecord.Problem {
                            throw RepoError(.corruptBlock, problem.description, cid: cid)
                        }
                    }
                }
                if let bytes { found[cid] = bytes }
            }
        }
        return found
    }

    /// `BlockingBlockSource`: block lengths from the records' headers (no
    /// decompression, no copy), in one transaction on the calling thread.
    /// - Throws: `RepoError.corruptBlock` if a record's header is unreadable.
    public func blockingSizes(_ cids: [CID]) throws -> [CID: Int] {
        let blocks = core.storage.databases.blocks
        var sizes: [CID: Int] = [:]
        sizes.reserveCapacity(cids.count)
        try core.storage.read { transaction in
            for cid in cids where sizes[cid] == nil {
                if cid.isIdentity {
                    sizes[cid] = cid.digest.count
                    continue
                }
                let size = try cid.multihashBytes.withUnsafeBytes { key in
                    try transaction.value(forKey: key, in: blocks) { record in
                        do {
                            return try BlockRecord.header(of: record).blockLength
                        } catch {
                            throw RepoError(.corruptBlock, "\(error)", cid: cid)
                        }
                    }
                }
                if let size { sizes[cid] = size }
            }
        }
        return sizes
    }

    /// How a block is stored.
    public struct StoredForm: Hashable, Sendable {
        /// Whether the record holds a zstd frame.
        public var isCompressed: Bool
        /// Length of the block.
        public var blockLength: Int
        /// Length of the stored record (header included).
        public var recordLength: Int
    }

    /// How `cid`'s block is stored, or `nil` if it is absent (or an identity CID).
    public func storedForm(of cid: CID) throws -> StoredForm? {
        if cid.isIdentity { return nil }
        let blocks = core.storage.databases.blocks
        return try core.storage.read { transaction in
            try cid.multihashBytes.withUnsafeBytes { key in
                try transaction.value(forKey: key, in: blocks) { record in
                    do {
                        let header = try BlockRecord.header(of: record)
                        return StoredForm(isCompressed: header.isCompressed, blockLength: header.blockLength,
                                          recordLength: record.count)
                    } catch {
                        throw RepoError(.corruptBlock, "\(error)", cid: cid)
                    }
                }
            }
        }
    }

    /// Every stored multihash, read in short transactions of a few thousand keys.
    public func allMultihashes() async throws -> [Multihash] {
        var result: [Multihash] = []
        try core.forEachBlockKeyChunk { keys in
            for key in keys {
                // Keys are written from parsed CIDs, so they parse; skip anything else.
                if let multihash = try? Multihash(bytes: key) { result.append(multihash) }
            }
        }
        return result
    }

    // MARK: Writing

    /// Stores `blocks` and returns once they are durable (committed and synced).
    /// Identity blocks are skipped; blocks already present are left as they are.
    /// - Throws: `BlockError.tooLarge` for a block over `Block.maxSize`,
    ///   `RepoError.keyTooLong`, `RepoError.diskFull`, `RepoError.closed`.
    public func put(_ blocks: [Block]) async throws {
        try await core.putBlocks(blocks)
    }

    /// Deletes `cid`'s block unless it is pinned (directly, as a recursive
    /// pin's root, or inside a recursive pin's DAG). Deleting an absent block
    /// is not an error.
    ///
    /// Holds the GC lock exclusive, like Kubo's `block rm`, so it waits for add
    /// sessions and walks every pinned DAG: use it for a few blocks, and `gc`
    /// to reclaim space.
    /// - Throws: `RepoError.pinned`; `RepoError.wouldDeadlock` inside an add session.
    public func delete(_ cid: CID) async throws {
        try await delete([cid])
    }

    /// Deletes several blocks at once (one pin walk, one transaction); nothing
    /// is deleted if any of them is pinned.
    public func delete(_ cids: [CID]) async throws {
        let targets = cids.filter { !$0.isIdentity }
        guard !targets.isEmpty else { return }
        try core.refuseInsideAddSession("delete")
        let hold = try await core.gcLock.acquire(.exclusive)
        defer { core.gcLock.release(hold) }
        let pinned = try await core.markPinnedBlocks()
        if let protected = targets.first(where: { pinned.contains(Array($0.multihashBytes)) }) {
            throw RepoError(.pinned, "belongs to a pinned DAG", cid: protected)
        }
        let keys = targets.map { Array($0.multihashBytes) }
        _ = try await core.deleteBlocks(keys)
    }
}

extension RepoCore {
    /// A block ready for the writer: compressed (off the writer thread) when
    /// the repo compresses and it pays.
    struct PreparedBlock: Sendable {
        let block: Block
        /// The whole record (header + zstd frame) when compression was kept.
        let compressedRecord: [UInt8]?
        /// The `links-v1` entry, when the block links to something.
        let linkRecord: [UInt8]?

        var recordLength: Int { compressedRecord?.count ?? BlockRecord.plainHeaderLength + block.bytes.count }
    }

    /// Requests bigger than this are split, so that one large `put` can share
    /// commits with others and never exceeds one transaction's budget.
    static let maxPutRequestBytes = GroupCommitWriter.groupByteBudget / 4

    /// Checks a block against the limits and builds its records (compressing
    /// when asked and it pays). Runs before the writer, on the caller's thread.
    func prepare(_ block: Block, compress: Bool) throws -> PreparedBlock {
        guard block.bytes.count <= Block.maxSize else {
            throw BlockError(.tooLarge, "\(block.bytes.count) bytes for \(block.cid)")
        }
        guard block.cid.multihashBytes.count <= maxKeyLength else {
            throw RepoError(.keyTooLong, "multihash of \(block.cid.multihashBytes.count) bytes", cid: block.cid)
        }
        let record = compress ? block.bytes.withUnsafeBytes { BlockRecord.compressedRecord(for: $0) } : nil
        return PreparedBlock(block: block, compressedRecord: record, linkRecord: LinkRecord.record(for: block))
    }

    func putBlocks(_ blocks: [Block]) async throws {
        var prepared: [PreparedBlock] = []
        prepared.reserveCapacity(blocks.count)
        for block in blocks where !block.cid.isIdentity {
            prepared.append(try prepare(block, compress: configuration.compressBlocks))
        }
        var requests: [[PreparedBlock]] = []
        var current: [PreparedBlock] = []
        var currentBytes = 0
        for item in prepared {
            if !current.isEmpty && currentBytes + item.recordLength > Self.maxPutRequestBytes {
                requests.append(current)
                current = []
                currentBytes = 0
            }
            current.append(item)
            currentBytes += item.recordLength
        }
        if !current.isEmpty { requests.append(current) }

        if requests.count == 1 {
            try await storeRequest(requests[0])
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for request in requests {
                group.addTask { try await self.storeRequest(request) }
            }
            try await group.waitForAll()
        }
    }

    private func storeRequest(_ items: [PreparedBlock]) async throws {
        let bytes = items.reduce(0) { $0 + $1.recordLength }
        try await writer.perform(estimatedBytes: bytes) { transaction, context in
            for item in items { try Self.store(item, in: transaction, context: context) }
        }
    }

    static func store(_ item: PreparedBlock, in transaction: borrowing Transaction, context: WriteContext) throws {
        let blocks = context.databases.blocks
        let inserted = try item.block.cid.multihashBytes.withUnsafeBytes { key in
            if let record = item.compressedRecord {
                return try record.withUnsafeBytes { value in
                    try transaction.put(value, forKey: key, in: blocks, flags: .noOverwrite)
                }
            }
            return try item.block.bytes.withUnsafeBytes { bytes in
                try transaction.put(reservingCount: BlockRecord.plainHeaderLength + bytes.count, forKey: key,
                                    in: blocks, flags: .noOverwrite) { output in
                    BlockRecord.writePlain(bytes, into: output)
                }
            }
        }
        if inserted {
            if context.collectsAddedBlocks { context.addedBlocks.append(item.block) }
            context.blockBytesDelta += item.block.bytes.count
            context.recordBytesDelta += item.recordLength
            if let links = item.linkRecord {
                try item.block.cid.multihashBytes.withUnsafeBytes { key in
                    try links.withUnsafeBytes { value in _ = try transaction.put(value, forKey: key, in: context.databases.links) }
                }
            }
        }
    }

    /// Deletes blocks by key in one write transaction; returns how many were
    /// present and their total block length.
    func deleteBlocks(_ keys: [[UInt8]]) async throws -> (count: Int, bytes: Int) {
        try await writer.perform { transaction, context in
            var count = 0
            var bytes = 0
            for key in keys {
                let lengths = try transaction.value(forKey: key, in: context.databases.blocks) { record in
                    (block: (try? BlockRecord.header(of: record))?.blockLength ?? 0, record: record.count)
                }
                guard let lengths else { continue }
                try transaction.delete(key: key, in: context.databases.blocks)
                try transaction.delete(key: key, in: context.databases.links)
                count += 1
                bytes += lengths.block
                context.blockBytesDelta -= lengths.block
                context.recordBytesDelta -= lengths.record
            }
            return (count, bytes)
        }
    }

    /// Calls `body` with successive chunks of block keys (copies), each chunk
    /// read in its own short transaction, so no transaction stays open long.
    func forEachBlockKeyChunk(chunkSize: Int = 4096, _ body: ([[UInt8]]) throws -> Void) throws {
        var resumeAfter: [UInt8]?
        while true {
            let chunk = try readBlockKeys(after: resumeAfter, limit: chunkSize)
            if chunk.isEmpty { return }
            try body(chunk)
            resumeAfter = chunk.last
            if chunk.count < chunkSize { return }
        }
    }

    /// Up to `limit` block keys greater than `after`, in key order.
    func readBlockKeys(after: [UInt8]?, limit: Int) throws -> [[UInt8]] {
        let blocks = storage.databases.blocks
        return try storage.read { transaction in
            try transaction.withCursor(on: blocks) { cursor in
                var keys: [[UInt8]] = []
                keys.reserveCapacity(limit)
                _ = try Self.withOptionalBytes(after) { start in
                    try cursor.forEach(from: start) { key, _ in
                        if let after, key.elementsEqual(after) { return true }
                        keys.append(Array(key))
                        return keys.count < limit
                    }
                }
                return keys
            }
        }
    }

    static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
