import CLMDB

/// A database handle (`MDB_dbi`) inside an environment.
///
/// Valid for the life of the environment once the transaction that opened it
/// committed (lmdb.h: handles opened in a transaction that aborts are closed).
public struct Database: Hashable, Sendable {
    public let rawValue: MDB_dbi
    public init(rawValue: MDB_dbi) { self.rawValue = rawValue }
}

/// Bytes that can be lent to LMDB as a key or value without copying.
public protocol LMDBBytes {
    func withLMDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: LMDBBytes where Element == UInt8 {
    @inlinable public func withLMDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension ArraySlice: LMDBBytes where Element == UInt8 {
    @inlinable public func withLMDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer: LMDBBytes {
    @inlinable public func withLMDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self)
    }
}

extension String.UTF8View: LMDBBytes {
    @inlinable public func withLMDBBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Array(self).withUnsafeBytes(body)
    }
}

/// Flags for `Transaction.put`.
public struct WriteFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MDB_NOOVERWRITE`: leave an existing value alone; `put` then returns `false`.
    public static let noOverwrite = WriteFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// `MDB_APPEND`: the key sorts after every key in the database (fast bulk load;
    /// `MDB_KEYEXIST` otherwise).
    public static let append = WriteFlags(rawValue: UInt32(MDB_APPEND))
}

/// An LMDB transaction (`MDB_txn`), read-only or read-write.
///
/// Ownership: the transaction is ended exactly once — by `commit`, by `abort`,
/// or by `deinit`, which aborts (read-only transactions have nothing to commit;
/// ending them releases their reader slot). Values it hands out are pointers
/// into the memory map, lent to a closure: they are valid only inside that
/// closure and, in a write transaction, only until the next write.
///
/// A transaction is not `Sendable`; a write transaction must end on the thread
/// that began it, and none may be held across `await` (`beginTransaction` is
/// unavailable from async code, `Environment.read`/`write` take synchronous bodies).
public struct Transaction: ~Copyable {
    private var handle: OpaquePointer?
    private let mapLock: MapLock
    /// Where a read-only transaction goes when it ends (reset, for reuse).
    private let readerPool: ReaderPool?

    init(handle: OpaquePointer, mapLock: MapLock, readerPool: ReaderPool?) {
        self.handle = handle
        self.mapLock = mapLock
        self.readerPool = readerPool
    }

    deinit {
        if let handle { end(handle) }
    }

    /// Whether this transaction cannot write.
    public var isReadOnly: Bool { readerPool != nil }

    /// Aborts (a read-only transaction: resets it into the pool).
    private func end(_ handle: OpaquePointer) {
        if let readerPool {
            readerPool.giveBack(handle)
        } else {
            mdb_txn_abort(handle)
        }
        mapLock.leaveTransaction()
    }

    private var txn: OpaquePointer {
        // Only `commit` and `abort` clear the handle, and they consume the transaction.
        handle.unsafelyUnwrapped
    }

    /// Commits (durably, unless the environment has `noSync`). Ends the
    /// transaction whether or not it succeeds; on failure nothing was committed.
    /// - Throws: `LMDBError`, e.g. `mapFull` (the freelist needed a page),
    ///   `noSpace` or `ioError` when the disk write failed.
    public consuming func commit() throws(LMDBError) {
        let transaction = txn
        handle = nil
        // A read-only transaction has nothing to commit; ending it is enough.
        if readerPool != nil { return end(transaction) }
        let status = mdb_txn_commit(transaction)
        mapLock.leaveTransaction()
        try LMDBError.check(status)
    }

    /// Abandons every change.
    public consuming func abort() {
        let transaction = txn
        handle = nil
        end(transaction)
    }

    /// The transaction ID (`mdb_txn_id`): the snapshot a read sees, or the ID a
    /// write will commit as.
    public var id: Int { mdb_txn_id(txn) }

    // MARK: Databases

    /// Opens a named database, or the main (unnamed) one when `name` is nil.
    /// - Returns: `nil` if it does not exist and `create` is false.
    /// Ownership: the handle outlives the transaction only if this is a write
    /// transaction that commits, or a read-only one that opened an existing database.
    public borrowing func openDatabase(_ name: String?, create: Bool = false) throws(LMDBError) -> Database? {
        var dbi: MDB_dbi = 0
        let flags = create ? UInt32(MDB_CREATE) : 0
        let status: Int32
        if let name {
            status = mdb_dbi_open(txn, name, flags, &dbi)
        } else {
            status = mdb_dbi_open(txn, nil, flags, &dbi)
        }
        if status == MDB_NOTFOUND { return nil }
        try LMDBError.check(status)
        return Database(rawValue: dbi)
    }

    /// `mdb_stat` of one database.
    public borrowing func statistics(of database: Database) throws(LMDBError) -> Environment.Statistics {
        var raw = MDB_stat()
        try LMDBError.check(mdb_stat(txn, database.rawValue, &raw))
        return Environment.Statistics(raw)
    }

    /// Removes every entry of `database` (`mdb_drop` without deleting it).
    public borrowing func removeAll(in database: Database) throws(LMDBError) {
        try LMDBError.check(mdb_drop(txn, database.rawValue, 0))
    }

    // MARK: Reading

    /// Lends the value stored under `key` to `body`.
    ///
    /// Ownership: the buffer points into the memory map (zero-copy). It is valid
    /// only inside `body`, and `body` must not write through this transaction.
    /// - Returns: `body`'s result, or `nil` when the key is absent.
    public borrowing func value<R>(
        forKey key: UnsafeRawBufferPointer, in database: Database,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var data = MDB_val()
        let status = mdb_get(txn, database.rawValue, &keyValue, &data)
        if status == MDB_NOTFOUND { return nil }
        try LMDBError.check(status)
        return try body(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
    }

    /// Lends the value stored under `key` to `body` (see the pointer variant).
    @inlinable
    public borrowing func value<Key: LMDBBytes, R>(
        forKey key: Key, in database: Database, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try key.withLMDBBytes { keyBytes in try value(forKey: keyBytes, in: database, body) }
    }

    /// A copy of the value stored under `key`, or `nil`.
    @inlinable
    public borrowing func value<Key: LMDBBytes>(forKey key: Key, in database: Database) throws -> [UInt8]? {
        try value(forKey: key, in: database) { Array($0) }
    }

    /// Whether `key` is present.
    @inlinable
    public borrowing func contains<Key: LMDBBytes>(_ key: Key, in database: Database) throws -> Bool {
        try value(forKey: key, in: database) { _ in true } ?? false
    }

    // MARK: Writing

    /// Stores `value` under `key`.
    /// - Returns: `false` when `flags` has `noOverwrite` and the key was already
    ///   present (nothing written); `true` otherwise.
    /// - Throws: `LMDBError`, notably `mapFull` (abort, grow, retry: `Environment.write`
    ///   does it) and `badValueSize` (empty key or key over `maxKeySize`).
    @discardableResult
    public borrowing func put(
        _ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in database: Database,
        flags: WriteFlags = []
    ) throws(LMDBError) -> Bool {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var data = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let status = mdb_put(txn, database.rawValue, &keyValue, &data, flags.rawValue)
        if status == MDB_KEYEXIST && flags.contains(.noOverwrite) { return false }
        try LMDBError.check(status)
        return true
    }

    /// Stores `value` under `key` (see the pointer variant).
    @inlinable @discardableResult
    public borrowing func put<Key: LMDBBytes, Value: LMDBBytes>(
        _ value: Value, forKey key: Key, in database: Database, flags: WriteFlags = []
    ) throws -> Bool {
        try key.withLMDBBytes { keyBytes in
            try value.withLMDBBytes { valueBytes in
                try put(valueBytes, forKey: keyBytes, in: database, flags: flags)
            }
        }
    }

    /// Reserves `count` bytes under `key` (`MDB_RESERVE`) and lets `fill` write
    /// the value straight into the map, saving a copy.
    ///
    /// Ownership: the buffer is valid only inside `fill`, which must initialise
    /// all of it and must not use this transaction.
    /// - Returns: `false` when `flags` has `noOverwrite` and the key was already
    ///   present (`fill` is not called); `true` otherwise.
    @discardableResult
    public borrowing func put(
        reservingCount count: Int, forKey key: UnsafeRawBufferPointer, in database: Database,
        flags: WriteFlags = [], fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> Bool {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var data = MDB_val(mv_size: count, mv_data: nil)
        let status = mdb_put(txn, database.rawValue, &keyValue, &data, flags.rawValue | UInt32(MDB_RESERVE))
        if status == MDB_KEYEXIST && flags.contains(.noOverwrite) { return false }
        try LMDBError.check(status)
        try fill(UnsafeMutableRawBufferPointer(start: data.mv_data, count: count))
        return true
    }

    /// Deletes `key`. - Returns: whether it was present.
    @discardableResult
    public borrowing func delete(key: UnsafeRawBufferPointer, in database: Database) throws(LMDBError) -> Bool {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let status = mdb_del(txn, database.rawValue, &keyValue, nil)
        if status == MDB_NOTFOUND { return false }
        try LMDBError.check(status)
        return true
    }

    /// Deletes `key`. - Returns: whether it was present.
    @inlinable @discardableResult
    public borrowing func delete<Key: LMDBBytes>(key: Key, in database: Database) throws -> Bool {
        try key.withLMDBBytes { try delete(key: $0, in: database) }
    }

    // MARK: Cursors

    /// Opens a cursor on `database` for the duration of `body`.
    ///
    /// Ownership: the cursor is closed when `body` returns, always before the
    /// transaction ends (a write transaction's cursor must not outlive it).
    @discardableResult
    public borrowing func withCursor<R>(on database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var created: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, database.rawValue, &created))
        var cursor = Cursor(handle: created.unsafelyUnwrapped)
        return try body(&cursor)
    }
}
