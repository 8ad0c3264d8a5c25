import LMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The named databases of a repo. Format: formats/lmdb.md.
public struct RepoDatabases: Sendable {
    /// `blocks-v1`: multihash → block record.
    public let blocks: Database
    /// `pins-v1`: CIDv1 → pin record.
    public let pins: Database
    /// `meta-v1`: ASCII name → value (format version, byte counters).
    public let meta: Database
    /// `links-v1`: multihash → the links out of that block, for blocks that have
    /// any (or that could not be decoded). Written with the block, so DAG walks
    /// (pins, GC) never read block data.
    public let links: Database
    /// The services' own databases (formats/lmdb.md §3.6), registered at open.
    let services: ServiceDatabaseHandles

    public static let blocksName = "blocks-v1"
    public static let pinsName = "pins-v1"
    public static let metaName = "meta-v1"
    public static let linksName = "links-v1"
}

/// Keys and values of `meta-v1`.
enum MetaKey {
    /// u32 little-endian: the repo format version (`Repo.formatVersion`).
    static let formatVersion = Array("format-version".utf8)
    /// UTF-8, informational: which program created the repo.
    static let createdBy = Array("created-by".utf8)
    /// u64 little-endian: sum of the lengths of all stored blocks.
    static let blockBytes = Array("block-bytes".utf8)
    /// u64 little-endian: sum of the lengths of all stored block records (after compression).
    static let recordBytes = Array("record-bytes".utf8)
}

enum LittleEndian {
    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func read<T: FixedWidthInteger>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) -> T? {
        guard bytes.count == MemoryLayout<T>.size else { return nil }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: bytes) }
        return T(littleEndian: value)
    }
}

/// Paths this process has open: LMDB forbids opening one environment twice
/// in a process (closing either handle would drop the other's file locks).
enum OpenRepoRegistry {
    private static let paths = Mutex<Set<String>>([])

    static func register(_ path: String) throws(RepoError) {
        let added = paths.withLock { $0.insert(path).inserted }
        guard added else { throw RepoError(.alreadyOpen, path) }
    }

    static func unregister(_ path: String) {
        _ = paths.withLock { $0.remove(path) }
    }
}

/// Owns the LMDB environment of one repo and closes it deterministically.
///
/// Every use of the environment holds `closeLock` shared (reader-preferring,
/// so that nested uses on one thread never wait for a pending close); `close`
/// takes it exclusive, so the environment is never closed under a transaction.
final class RepoStorage: @unchecked Sendable {
    let path: String
    let databases: RepoDatabases
    private var environment: Environment?
    private let closeLock: UnsafeMutablePointer<pthread_rwlock_t>

    init(path: String, environment: consuming Environment, databases: RepoDatabases) {
        self.path = path
        self.databases = databases
        self.environment = consume environment
        closeLock = .allocate(capacity: 1)
        pthread_rwlock_init(closeLock, nil)
    }

    deinit {
        if environment != nil {
            environment = nil
            OpenRepoRegistry.unregister(path)
        }
        pthread_rwlock_destroy(closeLock)
        closeLock.deallocate()
    }

    /// Lends the environment to `body`. - Throws: `RepoError.closed` after `close`.
    @discardableResult
    func withEnvironment<R>(_ body: (borrowing Environment) throws -> R) throws -> R {
        pthread_rwlock_rdlock(closeLock)
        defer { pthread_rwlock_unlock(closeLock) }
        switch environment {
        case .some(let environment): return try body(environment)
        case .none: throw RepoError.closed
        }
    }

    /// A short read-only transaction; LMDB errors become `RepoError`s.
    @discardableResult
    func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        do {
            return try withEnvironment { environment in try environment.read(body) }
        } catch {
            throw error.asRepoError(path: path)
        }
    }

    /// Waits for every use to end, then closes the environment. Idempotent.
    func close() {
        pthread_rwlock_wrlock(closeLock)
        let wasOpen = environment != nil
        environment = nil
        pthread_rwlock_unlock(closeLock)
        if wasOpen { OpenRepoRegistry.unregister(path) }
    }
}
