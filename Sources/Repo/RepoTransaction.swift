import Blocks
import LMDB
import Multiformats

/// The part of one write transaction a service's `Repo.write` body sees: its
/// own databases (`ServiceDatabase`), blocks and pins. Everything it does
/// commits together with the blocks passed to `write(blocks:)`, or nothing
/// does. Rules: formats/lmdb.md §3.6 and §5.
///
/// Valid only inside the `write` body that received it, on the writer's
/// thread; it cannot be copied or escape (it is `~Copyable` and borrowed).
/// Byte buffers lent to closures are LMDB's pages: valid until the closure
/// returns, never after.
public struct RepoTransaction: ~Copyable {
    let transaction: UnsafePointer<Transaction>
    let context: WriteContext
    let core: RepoCore

    // MARK: Service records

    /// Lends the value under `key` in `database` to `body`; `nil` when absent.
    /// Sees this transaction's own writes.
    public func withValue<R>(forKey key: some LMDBBytes, in database: ServiceDatabase,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let handle = try context.databases.services.handle(database)
        return try transaction.pointee.value(forKey: key, in: handle, body)
    }

    /// A copy of the value under `key`, or `nil`.
    public func value(forKey key: some LMDBBytes, in database: ServiceDatabase) throws -> [UInt8]? {
        try withValue(forKey: key, in: database) { Array($0) }
    }

    /// Stores `value` under `key`, replacing what was there.
    /// - Throws: `.keyTooLong` beyond LMDB's key limit (511 bytes), `.unknownDatabase`.
    public func put(_ value: some LMDBBytes, forKey key: some LMDBBytes, in database: ServiceDatabase) throws {
        let handle = try context.databases.services.handle(database)
        try key.withLMDBBytes { keyBytes in
            guard !keyBytes.isEmpty, keyBytes.count <= core.maxKeyLength else {
                throw RepoError(.keyTooLong, "\(keyBytes.count)-byte key in \(database) (1…\(core.maxKeyLength))")
            }
            try value.withLMDBBytes { valueBytes in _ = try transaction.pointee.put(valueBytes, forKey: keyBytes, in: handle) }
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(key: some LMDBBytes, in database: ServiceDatabase) throws -> Bool {
        let handle = try context.databases.services.handle(database)
        return try transaction.pointee.delete(key: key, in: handle)
    }

    /// Visits entries in key order from the first key ≥ `start` (or the
    /// first), until `body` returns `false`. Deleting or putting in the same
    /// database inside `body` is not allowed (collect keys, then change).
    public func forEach(in database: ServiceDatabase, from start: [UInt8]? = nil,
                        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws {
        let handle = try context.databases.services.handle(database)
        try transaction.pointee.withCursor(on: handle) { cursor in
            try RepoCore.withOptionalBytes(start) { start in _ = try cursor.forEach(from: start, body) }
        }
    }

    // MARK: Blocks and pins

    /// Whether the block is in the repo (including blocks this transaction wrote).
    public func containsBlock(_ cid: CID) throws -> Bool {
        try RepoCore.blockExists(cid, in: transaction.pointee, blocks: context.databases.blocks)
    }

    /// Stores a block (uncompressed; pass large batches to `write(blocks:)`,
    /// which prepares them before the transaction). A block already there is kept.
    public func putBlock(_ block: Block) throws {
        guard !block.cid.isIdentity else { return }
        let prepared = try core.prepare(block, compress: false)
        try RepoCore.store(prepared, in: transaction.pointee, context: context)
    }

    /// Adds or changes a pin. A recursive pin is checked complete in this
    /// transaction (`.dagIncomplete` names the first missing block).
    public func pin(_ pin: Pin) throws {
        try core.validate(pin)
        try RepoCore.writePin(pin, in: transaction.pointee, context: context)
    }

    /// The pin of `cid`, or `nil`.
    public func pin(for cid: CID) throws -> Pin? {
        let key = PinRecord.key(for: cid)
        return try transaction.pointee.value(forKey: key, in: context.databases.pins) { value in
            try key.withUnsafeBytes { try PinRecord.decode(key: $0, value: value) }
        } ?? nil
    }

    /// Removes the pin of `cid`; returns it, or `nil` when there was none.
    @discardableResult
    public func unpin(_ cid: CID) throws -> Pin? {
        guard let existing = try pin(for: cid) else { return nil }
        _ = try transaction.pointee.delete(key: PinRecord.key(for: cid), in: context.databases.pins)
        return existing
    }
}

/// A consistent read-only view of the repo: every read sees the same
/// committed state. Valid only inside the `Repo.read` body; never hold one
/// across an `await` (it pins an LMDB reader slot and old pages).
public struct RepoSnapshot: ~Copyable {
    let transaction: UnsafePointer<Transaction>
    let databases: RepoDatabases

    public func withValue<R>(forKey key: some LMDBBytes, in database: ServiceDatabase,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try transaction.pointee.value(forKey: key, in: try databases.services.handle(database), body)
    }

    public func value(forKey key: some LMDBBytes, in database: ServiceDatabase) throws -> [UInt8]? {
        try withValue(forKey: key, in: database) { Array($0) }
    }

    public func forEach(in database: ServiceDatabase, from start: [UInt8]? = nil,
                        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws {
        let handle = try databases.services.handle(database)
        try transaction.pointee.withCursor(on: handle) { cursor in
            try RepoCore.withOptionalBytes(start) { start in _ = try cursor.forEach(from: start, body) }
        }
    }

    public func containsBlock(_ cid: CID) throws -> Bool {
        try RepoCore.blockExists(cid, in: transaction.pointee, blocks: databases.blocks)
    }

    public func pin(for cid: CID) throws -> Pin? {
        let key = PinRecord.key(for: cid)
        return try transaction.pointee.value(forKey: key, in: databases.pins) { value in
            try key.withUnsafeBytes { try PinRecord.decode(key: $0, value: value) }
        } ?? nil
    }
}

extension Repo {
    /// Commits `blocks`, then whatever `body` does to the service's databases
    /// and to pins, in one write transaction through the group-commit writer:
    /// all of it or none of it, durable when this returns.
    ///
    /// `body` runs on the writer thread and may run more than once (after the
    /// map grows, or when a neighbour in its group failed): it must have no
    /// effect outside the transaction. Keep it short; it holds up every other
    /// write. A throw aborts this request only. The GC lock is held shared for
    /// the call, so blocks written here cannot be swept before `body` pins them.
    ///
    /// ```swift
    /// let db = ServiceDatabase(name: "kv-state", version: 1)
    /// try await repo.write(blocks: [delta]) { txn in
    ///     try txn.put(delta.cid.bytes, forKey: Array("head".utf8), in: db)
    ///     try txn.pin(Pin(cid: delta.cid, kind: .recursive, name: "kv:head"))
    /// }
    /// ```
    @discardableResult
    public func write<R: Sendable>(
        blocks: [Block] = [], isolation: isolated (any Actor)? = #isolation,
        _ body: @escaping @Sendable (borrowing RepoTransaction) throws -> R
    ) async throws -> R {
        let core = self.core
        let compress = core.configuration.compressBlocks
        let prepared = try blocks.filter { !$0.cid.isIdentity }.map { try core.prepare($0, compress: compress) }
        let estimated = prepared.reduce(0) { $0 + $1.recordLength }
        return try await withAddSession { _ in
            try await core.writer.perform(estimatedBytes: estimated) { transaction, context in
                for item in prepared { try RepoCore.store(item, in: transaction, context: context) }
                return try withUnsafePointer(to: transaction) { pointer in
                    try body(RepoTransaction(transaction: pointer, context: context, core: core))
                }
            }
        }
    }

    /// Runs `body` on one read-only snapshot. Synchronous I/O on the calling
    /// thread: call it off the NIO event loops and the cooperative pool for
    /// anything that may touch the disk.
    public func read<R>(_ body: (borrowing RepoSnapshot) throws -> R) throws -> R {
        let databases = core.storage.databases
        return try core.storage.read { transaction in
            try withUnsafePointer(to: transaction) { pointer in
                try body(RepoSnapshot(transaction: pointer, databases: databases))
            }
        }
    }

    /// The service databases registered when the repo opened.
    public var serviceDatabases: [ServiceDatabase] { core.storage.databases.services.registered }

    /// Calls `observer` on the writer thread after every commit that stored
    /// new blocks, with those blocks (blocks already present are not
    /// reported). It must return quickly and never wait on the repo: hand the
    /// work to another thread or task. Used by Bitswap to serve peers who
    /// already want what was just added.
    public func observeAddedBlocks(_ observer: @escaping @Sendable ([Block]) -> Void) {
        core.writer.addObserver(observer)
    }

    /// Calls `observer` on the writer thread after every commit that wrote
    /// pins (new ones, or new names), with those pins — also when their
    /// blocks were already in the repo. The same rules as `observeAddedBlocks`.
    /// Used by the DHT to announce a root as soon as it is pinned.
    public func observeAddedPins(_ observer: @escaping @Sendable ([Pin]) -> Void) {
        core.writer.addPinObserver(observer)
    }
}
