// The node repo: LMDB block store, pins, garbage collection. Format: formats/lmdb.md.
import Blocks
import LMDB
import Multiformats

/// A tau repo: one directory holding one LMDB environment (`data.mdb`,
/// `lock.mdb`) with the blocks and every index, plus `gc.lock`.
/// Format: formats/lmdb.md.
///
/// Several processes may open the same repo (LMDB is multi-process safe;
/// `gc.lock` orders adds against garbage collection), but one process opens
/// it once: a second `Repo` on the same directory throws `.alreadyOpen` until
/// the first is closed.
public final class Repo: Sendable {
    /// Settings that are not stored in the repo.
    public struct Configuration: Sendable {
        /// Store blocks zstd-compressed (level 1) when that saves at least 1/8.
        /// Off by default: compressing is slower than hashing (zstd level 1
        /// ≈ 350 MB/s here, below SHA-256's rate).
        public var compressBlocks: Bool
        /// Map size to start with, in bytes; the map doubles whenever it fills.
        /// Only address space: the file grows with the data, not with the map.
        public var initialMapSize: Int
        /// Concurrent read transactions across all processes sharing the repo.
        public var maxReaders: Int

        public init(compressBlocks: Bool = false, initialMapSize: Int = 1 << 30, maxReaders: Int = 126) {
            self.compressBlocks = compressBlocks
            self.initialMapSize = initialMapSize
            self.maxReaders = maxReaders
        }
    }

    /// The repo format this code reads and writes (`meta-v1` "format-version").
    public static let formatVersion: UInt32 = 1
    /// The file `flock`ed by add sessions (shared) and GC (exclusive).
    public static let gcLockFileName = "gc.lock"
    /// Named databases allowed in the environment (room for later indexes).
    static let maxDatabases = 32

    /// The repo directory, canonical (symlinks resolved).
    public var path: String { core.path }
    public var configuration: Configuration { core.configuration }
    /// The block store. It stays usable as long as it is referenced, until `close`.
    public let blocks: LMDBBlockStore
    let core: RepoCore

    /// Opens the repo at `path`, creating the directory and an empty repo if needed.
    /// Synchronous I/O (files, one write transaction): open once, at startup.
    /// - Throws: `RepoError.incompatibleVersion` for a repo of another format
    ///   version (nothing is modified), `.notARepo` for another LMDB environment
    ///   or file, `.alreadyOpen` if this process has it open.
    ///   `databases` are the services' own (formats/lmdb.md §3.6), created
    ///   when missing; `.incompatibleVersion` if the repo holds one of them at
    ///   another version, `.invalidDatabase` for a bad or reserved name.
    public init(path: String, configuration: Configuration = Configuration(), databases: [ServiceDatabase] = []) throws {
        core = try RepoCore(path: path, configuration: configuration, services: databases)
        blocks = LMDBBlockStore(core: core)
    }

    /// Finishes queued writes, waits for running reads, and closes the
    /// environment. Later calls on this repo (or its `blocks`) throw `.closed`.
    public func close() async {
        await withCheckedContinuation { continuation in
            core.writer.stop { continuation.resume() }
        }
    }

    /// Counters of the group-commit writer (commits, requests, map growths).
    public var writerStatistics: WriterStatistics { core.writer.statistics }
    /// Add sessions, pin changes, GCs and checked deletes of this process
    /// waiting for the GC lock now (held by a GC, by adds, or by another
    /// process): a GC that does not start shows here.
    public var gcLockWaiters: Int { core.gcLock.waiting }

    /// Lends the raw environment and database handles to `body`, for tools and
    /// tests. Writes made through it bypass every invariant of formats/lmdb.md.
    @discardableResult
    public func withEnvironment<R>(_ body: (borrowing Environment, RepoDatabases) throws -> R) throws -> R {
        try core.storage.withEnvironment { environment in try body(environment, core.storage.databases) }
    }
}

/// What the facades (`Repo`, `LMDBBlockStore`, `AddSession`) share.
final class RepoCore: Sendable {
    let path: String
    let configuration: Repo.Configuration
    let storage: RepoStorage
    let writer: GroupCommitWriter
    let gcLock: GCLock
    /// LMDB's key limit (511 bytes).
    let maxKeyLength: Int

    init(path: String, configuration: Repo.Configuration, services: [ServiceDatabase]) throws {
        try FileSystem.createDirectory(path)
        let canonical = try FileSystem.canonicalPath(path)
        try OpenRepoRegistry.register(canonical)
        do {
            let lockFile = canonical + "/" + Repo.gcLockFileName
            try FileSystem.touch(lockFile)
            let environment = try Self.openEnvironment(canonical, configuration)
            try environment.clearStaleReaders()
            maxKeyLength = environment.maxKeySize()
            let databases = try environment.write { transaction in try Self.prepareDatabases(transaction, services: services) }
            storage = RepoStorage(path: canonical, environment: environment, databases: databases)
            gcLock = GCLock(lockFilePath: lockFile)
        } catch {
            OpenRepoRegistry.unregister(canonical)
            throw error.asRepoError(path: canonical)
        }
        self.path = canonical
        self.configuration = configuration
        writer = GroupCommitWriter(storage: storage)
    }

    deinit {
        writer.stopEventually()
    }

    private static func openEnvironment(_ path: String, _ configuration: Repo.Configuration) throws -> Environment {
        // One catch-all that maps the error: `catch … where` clauses around a
        // returned noncopyable value crash Swift 6.3.1 (MandatoryAllocBoxToStack).
        do {
            return try Environment(path: path, configuration: Environment.Configuration(
                mapSize: configuration.initialMapSize, maxDatabases: Repo.maxDatabases,
                maxReaders: configuration.maxReaders, flags: [.noThreadLocalStorage]))
        } catch {
            throw openFailure(error, path: path)
        }
    }

    private static func openFailure(_ error: LMDBError, path: String) -> RepoError {
        switch error {
        case .invalid:
            RepoError(.notARepo, "\(path)/data.mdb is not an LMDB file", storageError: error)
        case .versionMismatch:
            RepoError(.incompatibleVersion, "data.mdb was written by another LMDB version", storageError: error)
        default:
            RepoError.storage(error, path: path, "opening \(path)")
        }
    }

    /// Checks the format version and opens (or, in a new repo, creates) the
    /// named databases. Throws before writing anything when the repo is not
    /// ours to open, so the caller's transaction aborts and the file is untouched.
    private static func prepareDatabases(_ transaction: borrowing Transaction, services: [ServiceDatabase]) throws -> RepoDatabases {
        let main = try transaction.openDatabase(nil)!
        var names: [String] = []
        try transaction.withCursor(on: main) { cursor in
            try cursor.forEach { key, _ in
                names.append(String(decoding: key, as: UTF8.self))
                return names.count < 256
            }
        }
        let isNew: Bool
        if let meta = try transaction.openDatabase(RepoDatabases.metaName) {
            let version = try transaction.value(forKey: MetaKey.formatVersion, in: meta) {
                LittleEndian.read(UInt32.self, from: $0)
            }
            guard let found = version ?? nil else {
                throw RepoError(.notARepo, "\(RepoDatabases.metaName) has no readable format-version")
            }
            guard found == Repo.formatVersion else {
                throw RepoError(.incompatibleVersion, "repo format version \(found); this tau reads version \(Repo.formatVersion)")
            }
            isNew = false
        } else {
            // No meta: a new environment, or one that tau did not write.
            guard names.isEmpty else {
                let versioned = names.contains(where: hasVersionSuffix)
                throw RepoError(versioned ? .incompatibleVersion : .notARepo,
                                "databases \(names.prefix(8).joined(separator: ", ")) but no \(RepoDatabases.metaName)")
            }
            isNew = true
        }
        let databases = RepoDatabases(
            blocks: try transaction.openDatabase(RepoDatabases.blocksName, create: true)!,
            pins: try transaction.openDatabase(RepoDatabases.pinsName, create: true)!,
            meta: try transaction.openDatabase(RepoDatabases.metaName, create: true)!,
            links: try transaction.openDatabase(RepoDatabases.linksName, create: true)!,
            services: try ServiceDatabaseHandles.open(services, existing: names, in: transaction))
        if isNew {
            try transaction.put(LittleEndian.bytes(Repo.formatVersion), forKey: MetaKey.formatVersion, in: databases.meta)
            try transaction.put(Array("tau".utf8), forKey: MetaKey.createdBy, in: databases.meta)
            try transaction.put(LittleEndian.bytes(UInt64(0)), forKey: MetaKey.blockBytes, in: databases.meta)
            try transaction.put(LittleEndian.bytes(UInt64(0)), forKey: MetaKey.recordBytes, in: databases.meta)
        }
        return databases
    }

    /// Whether a database name ends like tau's (`-v` and digits), i.e. it
    /// looks written by another version of tau rather than by another program.
    private static func hasVersionSuffix(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard let dash = utf8.lastIndex(of: UInt8(ascii: "-")) else { return false }
        let suffix = utf8[(dash + 1)...]
        return suffix.count >= 2 && suffix.first == UInt8(ascii: "v")
            && suffix.dropFirst().allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}
