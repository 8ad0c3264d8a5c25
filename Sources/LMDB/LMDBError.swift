// Swift wrappers over LMDB (liblmdb 0.9). Format of tau's repo: formats/lmdb.md.
import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from LMDB: one of its own codes (`MDB_NOTFOUND`, `MDB_MAP_FULL`, …)
/// or an `errno` value from a system call it made (`ENOSPC`, `EIO`, …).
///
/// Modelled on swift-system's `Errno`: a code, named static members to match
/// against, and the library's own text (`mdb_strerror`, which also covers errno).
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw code: negative for LMDB's own errors, positive for errno values.
    public let code: Int32

    public init(code: Int32) { self.code = code }

    /// LMDB's description of the code (`mdb_strerror`; `strerror` for errno values).
    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "LMDB error \(code): \(message)" }

    // MARK: LMDB's own codes (lmdb.h, "Return Codes")

    /// `MDB_KEYEXIST`: key/data pair already exists (a put with `noOverwrite`).
    public static let keyExists = LMDBError(code: MDB_KEYEXIST)
    /// `MDB_NOTFOUND`: no matching key/data pair. The Swift API answers `nil`
    /// instead of throwing this where absence is an ordinary outcome.
    public static let notFound = LMDBError(code: MDB_NOTFOUND)
    /// `MDB_PAGE_NOTFOUND`: a requested page was not found (usually corruption).
    public static let pageNotFound = LMDBError(code: MDB_PAGE_NOTFOUND)
    /// `MDB_CORRUPTED`: located page was the wrong type.
    public static let corrupted = LMDBError(code: MDB_CORRUPTED)
    /// `MDB_PANIC`: an earlier fatal error (a failed meta page write); the
    /// environment must be closed and reopened.
    public static let panic = LMDBError(code: MDB_PANIC)
    /// `MDB_VERSION_MISMATCH`: the environment was written by another LMDB version.
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH)
    /// `MDB_INVALID`: the file is not an LMDB file.
    public static let invalid = LMDBError(code: MDB_INVALID)
    /// `MDB_MAP_FULL`: the map size is reached. `Environment.write` grows the map
    /// and retries instead of surfacing it.
    public static let mapFull = LMDBError(code: MDB_MAP_FULL)
    /// `MDB_DBS_FULL`: more named databases than `maxDatabases`.
    public static let databasesFull = LMDBError(code: MDB_DBS_FULL)
    /// `MDB_READERS_FULL`: every reader slot is taken.
    public static let readersFull = LMDBError(code: MDB_READERS_FULL)
    /// `MDB_TLS_FULL`: too many TLS keys in use (never with `MDB_NOTLS`).
    public static let tlsFull = LMDBError(code: MDB_TLS_FULL)
    /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
    public static let transactionFull = LMDBError(code: MDB_TXN_FULL)
    /// `MDB_CURSOR_FULL`: cursor stack too deep (internal error).
    public static let cursorFull = LMDBError(code: MDB_CURSOR_FULL)
    /// `MDB_PAGE_FULL`: page has not enough space (internal error).
    public static let pageFull = LMDBError(code: MDB_PAGE_FULL)
    /// `MDB_MAP_RESIZED`: another process grew the map beyond this process's
    /// mapping; transactions adopt the new size and retry on their own.
    public static let mapResized = LMDBError(code: MDB_MAP_RESIZED)
    /// `MDB_INCOMPATIBLE`: the operation or database flags are incompatible.
    public static let incompatible = LMDBError(code: MDB_INCOMPATIBLE)
    /// `MDB_BAD_RSLOT`: invalid reuse of a reader slot.
    public static let badReaderSlot = LMDBError(code: MDB_BAD_RSLOT)
    /// `MDB_BAD_TXN`: the transaction must abort (an earlier error), has a
    /// child, or is invalid.
    public static let badTransaction = LMDBError(code: MDB_BAD_TXN)
    /// `MDB_BAD_VALSIZE`: unsupported size of key or data (an empty key, or a
    /// key longer than `Environment.maxKeySize`).
    public static let badValueSize = LMDBError(code: MDB_BAD_VALSIZE)
    /// `MDB_BAD_DBI`: the database handle was changed unexpectedly.
    public static let badDatabase = LMDBError(code: MDB_BAD_DBI)

    // MARK: errno values LMDB passes through

    /// `ENOSPC`: the file system is full. The failed commit left the
    /// environment as it was before the transaction.
    public static let noSpace = LMDBError(code: ENOSPC)
    /// `EIO`: an I/O error (LMDB also reports a short `pwrite` this way).
    public static let ioError = LMDBError(code: EIO)
    /// `EACCES`: permission denied.
    public static let permissionDenied = LMDBError(code: EACCES)
    /// `ENOENT`: the directory does not exist.
    public static let noSuchFile = LMDBError(code: ENOENT)
    /// `EINVAL`: an invalid parameter.
    public static let invalidArgument = LMDBError(code: EINVAL)
    /// `EDEADLK`: the operation would deadlock (growing the map while this
    /// thread still holds a transaction on the environment).
    public static let wouldDeadlock = LMDBError(code: EDEADLK)

    /// Throws `LMDBError(code:)` unless `code` is `MDB_SUCCESS`.
    static func check(_ code: Int32) throws(LMDBError) {
        if code != MDB_SUCCESS { throw LMDBError(code: code) }
    }
}
