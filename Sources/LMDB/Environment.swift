import CLMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment (`MDB_env`): one memory-mapped file holding any number
/// of named databases, shared by every thread of the process and, through the
/// lock file, by other processes.
///
/// Ownership: the environment owns its `MDB_env` and closes it in `deinit`.
/// Every transaction begun on it must end before it is closed — the
/// closure-scoped `read` and `write` guarantee that; `beginTransaction` leaves
/// it to the caller, as lmdb.h does.
///
/// Map size: `write` never surfaces `MDB_MAP_FULL`. It aborts, doubles the map
/// (`mdb_env_set_mapsize`, which needs no live transaction in this process:
/// see `MapLock`) and runs the body again. `MDB_MAP_RESIZED` (another process
/// grew the map) is absorbed the same way when a transaction begins.
///
/// Do not open the same environment twice in one process (lmdb.h: closing one
/// handle would drop the other's locks); callers keep one per path.
public struct Environment: ~Copyable, @unchecked Sendable {
    /// Environment flags (`mdb_env_open`).
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `MDB_NOSUBDIR`: `path` is the data file itself, the lock file is `path-lock`.
        public static let noSubdirectory = Flags(rawValue: UInt32(MDB_NOSUBDIR))
        /// `MDB_RDONLY`: open read-only; no write transactions.
        public static let readOnly = Flags(rawValue: UInt32(MDB_RDONLY))
        /// `MDB_NOTLS`: reader slots belong to transactions, not threads, so a
        /// thread may hold several read transactions and a read transaction may
        /// end on another thread.
        public static let noThreadLocalStorage = Flags(rawValue: UInt32(MDB_NOTLS))
        /// `MDB_NORDAHEAD`: no OS readahead (helps random reads of very large maps).
        public static let noReadAhead = Flags(rawValue: UInt32(MDB_NORDAHEAD))
        /// `MDB_NOSYNC`: commits do not fsync. Loses durability; tau never sets it.
        public static let noSync = Flags(rawValue: UInt32(MDB_NOSYNC))
        /// `MDB_NOMETASYNC`: commits fsync data but not the meta page. Loses the
        /// last transaction on power loss; tau never sets it.
        public static let noMetaSync = Flags(rawValue: UInt32(MDB_NOMETASYNC))
    }

    /// Settings applied before `mdb_env_open`.
    public struct Configuration: Sendable {
        /// The initial map size in bytes. `nil` keeps the size recorded in an
        /// existing file (LMDB's default, 1 MiB, for a new one). A smaller value
        /// than the file's never shrinks it.
        public var mapSize: Int?
        /// Maximum named databases (`mdb_env_set_maxdbs`).
        public var maxDatabases: Int
        /// Maximum concurrent read transactions across all processes (`mdb_env_set_maxreaders`).
        public var maxReaders: Int
        public var flags: Flags
        /// Mode of files LMDB creates.
        public var fileMode: mode_t

        public init(mapSize: Int? = nil, maxDatabases: Int = 16, maxReaders: Int = 126,
                    flags: Flags = [.noThreadLocalStorage], fileMode: mode_t = 0o644) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.flags = flags
            self.fileMode = fileMode
        }
    }

    @usableFromInline let handle: OpaquePointer
    let mapLock: MapLock
    let readerPool: ReaderPool
    /// The directory (or, with `noSubdirectory`, the file) the environment lives in.
    public let path: String
    let dataFilePath: String
    let mappedRange = MappedRangeCache()

    /// Opens (creating if needed) the environment at `path`, a directory that must exist.
    public init(path: String, configuration: Configuration = Configuration()) throws(LMDBError) {
        var created: OpaquePointer?
        try LMDBError.check(mdb_env_create(&created))
        guard let env = created else { throw .invalidArgument }
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(configuration.maxDatabases)))
            try LMDBError.check(mdb_env_set_maxreaders(env, UInt32(configuration.maxReaders)))
            try LMDBError.check(mdb_env_open(env, path, configuration.flags.rawValue, configuration.fileMode))
            // Opening without a size adopts the file's; grow to the requested size if
            // larger. No transaction can be live yet, so no lock is needed.
            var opened = MDB_envinfo()
            mdb_env_info(env, &opened)
            if let requested = configuration.mapSize, requested > opened.me_mapsize {
                try LMDBError.check(mdb_env_set_mapsize(env, requested))
            }
        } catch {
            // lmdb.h: after a failed open the handle must be discarded with mdb_env_close.
            mdb_env_close(env)
            throw error
        }
        handle = env
        mapLock = MapLock()
        readerPool = ReaderPool()
        self.path = path
        let canonical = realpath(path, nil).map { pointer -> String in
            defer { free(pointer) }
            return String(cString: pointer)
        } ?? path
        dataFilePath = configuration.flags.contains(.noSubdirectory) ? canonical : canonical + "/data.mdb"
    }

    deinit {
        readerPool.drain()
        mdb_env_close(handle)
    }

    // MARK: Transactions

    /// Begins a transaction. Prefer `read` and `write`, which scope it.
    ///
    /// Ownership: the returned transaction must end (`commit`, `abort`, or its
    /// `deinit`, which aborts) before this environment is closed, and on this
    /// thread. Unavailable from async code so that it can never be held across
    /// an `await`: a write transaction belongs to the thread that began it.
    /// - Throws: `LMDBError`; `MDB_MAP_RESIZED` is handled here by adopting the
    ///   new size and beginning again, unless this thread already holds a
    ///   transaction on the environment.
    @available(*, noasync, message: "LMDB transactions must not be held across await; use read or write")
    public borrowing func beginTransaction(readOnly: Bool) throws(LMDBError) -> Transaction {
        while true {
            mapLock.enterTransaction()
            var status: Int32
            if readOnly, let pooled = readerPool.take() {
                status = mdb_txn_renew(pooled)
                if status == MDB_SUCCESS {
                    return Transaction(handle: pooled, mapLock: mapLock, readerPool: readerPool)
                }
                mdb_txn_abort(pooled)
            } else {
                var created: OpaquePointer?
                status = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &created)
                if status == MDB_SUCCESS, let txn = created {
                    return Transaction(handle: txn, mapLock: mapLock, readerPool: readOnly ? readerPool : nil)
                }
            }
            mapLock.leaveTransaction()
            if status == MDB_MAP_RESIZED, mapLock.depth == 0 {
                try adoptMapSize()
                continue
            }
            throw LMDBError(code: status)
        }
    }

    /// Runs `body` in a read-only transaction and ends it.
    ///
    /// Every value the transaction hands out is valid only inside the closure
    /// that receives it. Keep `body` short: while it runs, this process cannot
    /// grow the map, and old pages it can see cannot be reused by writers.
    @discardableResult
    public borrowing func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let transaction = try beginTransaction(readOnly: true)
        return try body(transaction)
    }

    /// Runs `body` in a write transaction and commits it (durably, unless the
    /// environment was opened with `noSync`); aborts if `body` throws.
    ///
    /// On `MDB_MAP_FULL` — from `body` or from the commit — the transaction is
    /// aborted, the map doubled, and `body` runs again from the start, so it must
    /// have no effects outside the transaction. `body` must let `LMDBError`s it
    /// receives propagate (a swallowed `mapFull` makes the commit fail with
    /// `badTransaction`). Only one write transaction runs at a time across all
    /// processes; `write` blocks until it can begin.
    /// - Throws: `LMDBError.wouldDeadlock` if the map must grow while this thread
    ///   holds another transaction on the environment.
    @discardableResult
    public borrowing func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        while true {
            let sizeBefore = info().mapSize
            do {
                let transaction = try beginTransaction(readOnly: false)
                let result = try body(transaction)
                try transaction.commit()
                return result
            } catch let error as LMDBError where error == .mapFull {
                try growMap(from: sizeBefore)
            }
        }
    }

    // MARK: Map size

    /// Doubles the map if it is still `observedSize` bytes (another thread may
    /// have grown it since the caller saw `MDB_MAP_FULL`). Waits for every live
    /// transaction of this process to end.
    /// - Throws: `LMDBError.wouldDeadlock` if this thread holds a transaction.
    public borrowing func growMap(from observedSize: Int) throws(LMDBError) {
        try mapLock.withExclusiveAccess { () throws(LMDBError) in
            let current = info().mapSize
            guard current <= observedSize else { return }
            let (doubled, overflow) = current.multipliedReportingOverflow(by: 2)
            try LMDBError.check(mdb_env_set_mapsize(handle, overflow ? Int.max : doubled))
        }
    }

    /// Sets the map size (LMDB rounds it up to the space in use). Waits for every
    /// live transaction of this process to end.
    public borrowing func setMapSize(_ bytes: Int) throws(LMDBError) {
        try mapLock.withExclusiveAccess { () throws(LMDBError) in
            try LMDBError.check(mdb_env_set_mapsize(handle, bytes))
        }
    }

    /// Adopts the map size another process recorded (after `MDB_MAP_RESIZED`).
    borrowing func adoptMapSize() throws(LMDBError) {
        try mapLock.withExclusiveAccess { () throws(LMDBError) in
            try LMDBError.check(mdb_env_set_mapsize(handle, 0))
        }
    }

    // MARK: Information

    /// `mdb_env_info`.
    public struct Info: Hashable, Sendable {
        /// Size of this process's map, in bytes.
        public var mapSize: Int
        /// Highest page number in use (pages `0...lastPageNumber` are in the file).
        public var lastPageNumber: Int
        /// ID of the last committed transaction.
        public var lastTransactionID: Int
        public var maxReaders: Int
        /// Reader slots in use, by all processes.
        public var readersInUse: Int
    }

    /// `mdb_env_stat` (page size, and the main database's B-tree).
    public struct Statistics: Hashable, Sendable {
        public var pageSize: Int
        public var depth: Int
        public var branchPages: Int
        public var leafPages: Int
        public var overflowPages: Int
        public var entries: Int

        init(_ stat: MDB_stat) {
            pageSize = Int(stat.ms_psize)
            depth = Int(stat.ms_depth)
            branchPages = stat.ms_branch_pages
            leafPages = stat.ms_leaf_pages
            overflowPages = stat.ms_overflow_pages
            entries = stat.ms_entries
        }

        /// Pages the B-tree occupies (branch, leaf and overflow).
        public var pages: Int { branchPages + leafPages + overflowPages }
    }

    public borrowing func info() -> Info {
        var raw = MDB_envinfo()
        mdb_env_info(handle, &raw)
        return Info(mapSize: raw.me_mapsize, lastPageNumber: raw.me_last_pgno, lastTransactionID: raw.me_last_txnid,
                    maxReaders: Int(raw.me_maxreaders), readersInUse: Int(raw.me_numreaders))
    }

    /// Unmaps the pages of the data file this process has resident, keeping
    /// them in the page cache. With large page-cache folios, reading one
    /// B-tree page maps the whole folio around it (often block data written in
    /// the same commit), so a writer's resident set grows with the data it
    /// wrote though it never reads it; dropping the mappings after a commit
    /// keeps the process's RSS to what it uses. Safe with live readers: a
    /// page they touch again is faulted back in from the page cache.
    ///
    /// LMDB reports its map address only with `MDB_FIXEDMAP`, so the mapping is
    /// found in `/proc/self/maps` by the data file's name (and looked up again
    /// when the map size changes).
    public borrowing func unmapResidentPages() {
        mapLock.enterTransaction()
        defer { mapLock.leaveTransaction() }
        var raw = MDB_envinfo()
        mdb_env_info(handle, &raw)
        guard let range = mappedRange.find(dataFile: dataFilePath, mapSize: raw.me_mapsize) else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: range.lowerBound), range.count, MADV_DONTNEED)
    }

    public borrowing func statistics() -> Statistics {
        var raw = MDB_stat()
        mdb_env_stat(handle, &raw)
        return Statistics(raw)
    }

    /// The longest key LMDB accepts (511 bytes in 0.9).
    public borrowing func maxKeySize() -> Int {
        Int(mdb_env_get_maxkeysize(handle))
    }

    /// Size of the data file in bytes, as the file system reports it.
    public borrowing func fileSize() throws(LMDBError) -> Int {
        var descriptor: Int32 = -1
        try LMDBError.check(mdb_env_get_fd(handle, &descriptor))
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw LMDBError(code: errno) }
        return Int(status.st_size)
    }

    /// Clears reader slots left by dead processes (`mdb_reader_check`); returns how many.
    /// A process killed inside a read transaction leaves its slot taken, which
    /// stops writers from reusing the pages that transaction could see.
    @discardableResult
    public borrowing func clearStaleReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try LMDBError.check(mdb_reader_check(handle, &dead))
        return Int(dead)
    }

    /// Flushes to disk (`mdb_env_sync`). Only needed with `noSync`/`noMetaSync`.
    public borrowing func sync(force: Bool = true) throws(LMDBError) {
        try LMDBError.check(mdb_env_sync(handle, force ? 1 : 0))
    }
}

/// Where this process maps an environment's data file, cached per map size.
final class MappedRangeCache: Sendable {
    private let cached = Mutex<(mapSize: Int, range: Range<Int>)?>(nil)

    func find(dataFile: String, mapSize: Int) -> Range<Int>? {
        if let known = cached.withLock({ $0 }), known.mapSize == mapSize { return known.range }
        guard let range = Self.scan(for: dataFile) else { return nil }
        cached.withLock { $0 = (mapSize, range) }
        return range
    }

    /// The address range of the mapping of `dataFile` in /proc/self/maps.
    static func scan(for dataFile: String) -> Range<Int>? {
        let descriptor = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            contents += chunk[..<count]
        }
        for line in String(decoding: contents, as: UTF8.self).split(separator: "\n") where line.hasSuffix(" " + dataFile) {
            let addresses = line.prefix { $0 != " " }.split(separator: "-")
            guard addresses.count == 2, let start = Int(addresses[0], radix: 16), let end = Int(addresses[1], radix: 16) else { continue }
            return start..<end
        }
        return nil
    }
}
