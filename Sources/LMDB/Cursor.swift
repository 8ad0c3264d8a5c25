import CLMDB

/// An LMDB cursor (`MDB_cursor`), lent by `Transaction.withCursor`.
///
/// Ownership: closed in `deinit`, which `withCursor` runs before its
/// transaction can end. Keys and values it hands out point into the memory
/// map and are valid only inside the closure that receives them (and, in a
/// write transaction, only until the next write).
public struct Cursor: ~Copyable {
    private let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }

    deinit { mdb_cursor_close(handle) }

    /// Where to move the cursor.
    public enum Position {
        case first
        case last
        case next
        case previous
        /// Stay on the current entry.
        case current
        /// The entry whose key equals the given bytes (`MDB_SET_KEY`).
        case exactly(UnsafeRawBufferPointer)
        /// The first entry whose key is greater than or equal to the given bytes (`MDB_SET_RANGE`).
        case atOrAfter(UnsafeRawBufferPointer)
    }

    /// Moves to `position` and lends that entry's key and value to `body`.
    /// - Returns: `body`'s result, or `nil` if there is no such entry (end of the
    ///   database, or key not found).
    public mutating func move<R>(
        to position: Position, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var key = MDB_val()
        var value = MDB_val()
        let operation: MDB_cursor_op
        switch position {
        case .first: operation = MDB_FIRST
        case .last: operation = MDB_LAST
        case .next: operation = MDB_NEXT
        case .previous: operation = MDB_PREV
        case .current: operation = MDB_GET_CURRENT
        case .exactly(let bytes):
            operation = MDB_SET_KEY
            key = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
        case .atOrAfter(let bytes):
            operation = MDB_SET_RANGE
            key = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
        }
        let status = mdb_cursor_get(handle, &key, &value, operation)
        if status == MDB_NOTFOUND { return nil }
        try LMDBError.check(status)
        return try body(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                        UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// Visits entries in key order, from the first key `>= start` (or the
    /// first entry), until `body` returns `false` or the database ends.
    /// - Returns: how many entries `body` saw.
    @discardableResult
    public mutating func forEach(
        from start: UnsafeRawBufferPointer? = nil,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws -> Int {
        var visited = 0
        var position: Position = start.map { .atOrAfter($0) } ?? .first
        while let keepGoing = try move(to: position, { key, value in
            visited += 1
            return try body(key, value)
        }) {
            if !keepGoing { break }
            position = .next
        }
        return visited
    }

    /// Deletes the entry under the cursor (write transactions only). The cursor
    /// then sits where `.next` finds the following entry.
    public mutating func deleteCurrent() throws(LMDBError) {
        try LMDBError.check(mdb_cursor_del(handle, 0))
    }
}
