import Blocks
import LMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-transaction state shared by the requests of one group: the byte
/// counters they change, written to `meta-v1` once, just before the commit.
final class WriteContext {
    let databases: RepoDatabases
    var blockBytesDelta = 0
    var recordBytesDelta = 0
    /// Whether anyone observes added blocks (`Repo.observeAddedBlocks`).
    let collectsAddedBlocks: Bool
    /// Blocks this transaction inserted (not those already present), when collected.
    var addedBlocks: [Block] = []
    /// Pins this transaction wrote (new, or renamed), for `Repo.observeAddedPins`.
    var addedPins: [Pin] = []
    /// Drops the map pages this process has resident (formats/lmdb.md rule
    /// 11); long walks inside the transaction call it every so often.
    let dropResidentPages: () -> Void

    init(databases: RepoDatabases, collectsAddedBlocks: Bool, dropResidentPages: @escaping () -> Void = {}) {
        self.databases = databases
        self.collectsAddedBlocks = collectsAddedBlocks
        self.dropResidentPages = dropResidentPages
    }

    func reset() {
        blockBytesDelta = 0
        recordBytesDelta = 0
        addedBlocks.removeAll(keepingCapacity: true)
        addedPins.removeAll(keepingCapacity: true)
    }

    /// Folds the deltas into the stored counters.
    func finish(_ transaction: borrowing Transaction) throws {
        guard blockBytesDelta != 0 || recordBytesDelta != 0 else { return }
        try add(blockBytesDelta, to: MetaKey.blockBytes, in: transaction)
        try add(recordBytesDelta, to: MetaKey.recordBytes, in: transaction)
    }

    private func add(_ delta: Int, to key: [UInt8], in transaction: borrowing Transaction) throws {
        let current = try transaction.value(forKey: key, in: databases.meta) { LittleEndian.read(UInt64.self, from: $0) } ?? nil
        let updated = Int64(clamping: current ?? 0) + Int64(delta)
        try transaction.put(LittleEndian.bytes(UInt64(max(0, updated))), forKey: key, in: databases.meta)
    }
}

/// A unit of work for the writer: it may run several times (after the map
/// grows, or when another request of its group failed), so `apply` must have
/// no effect outside the transaction; `complete` runs once, after the commit.
final class WriteRequest: @unchecked Sendable {
    let estimatedBytes: Int
    let apply: (borrowing Transaction, WriteContext) throws -> Void
    let complete: (Result<Void, any Error>) -> Void

    init(estimatedBytes: Int, apply: @escaping (borrowing Transaction, WriteContext) throws -> Void,
         complete: @escaping (Result<Void, any Error>) -> Void) {
        self.estimatedBytes = estimatedBytes
        self.apply = apply
        self.complete = complete
    }
}

/// Counters of the writer's work, for tests and metrics.
public struct WriterStatistics: Hashable, Sendable {
    /// Write transactions committed.
    public var commits: Int
    /// Requests (put batches, pin changes, sweeps) committed or failed.
    public var requests: Int
    /// Times the map was doubled after `MDB_MAP_FULL`.
    public var mapGrowths: Int
}

/// The single writer of a repo: a dedicated thread that takes every request
/// queued since its last commit and applies them in one write transaction
/// with one sync (group commit), then completes them all.
///
/// Requests whose `apply` throws are dropped and the rest of the group runs
/// again without them, so one bad request never fails its neighbours. On
/// `MDB_MAP_FULL` the writer aborts, doubles the map — possible because the
/// writer holds no transaction at that point and `Environment.growMap` waits
/// for this process's readers — and runs the group again.
final class GroupCommitWriter: @unchecked Sendable {
    /// Bytes of requests one transaction takes at most (a single larger request
    /// still runs, alone). Bounds the dirty pages LMDB keeps in memory.
    static let groupByteBudget = 32 << 20

    /// `TAU_LMDB_KEEP_MAPPED_PAGES=1` skips dropping the map's resident pages
    /// after each commit (formats/lmdb.md rule 11): a diagnostic switch, so
    /// `Benchmarks/scripts/lmdb-resident.sh` can measure what dropping them saves.
    static let dropsResidentPages = getenv("TAU_LMDB_KEEP_MAPPED_PAGES").map { String(cString: $0) } != "1"

    private let storage: RepoStorage
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeUp: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`:
    private var queue: [WriteRequest] = []
    private var stopping = false
    private var onExit: [() -> Void] = []
    private var exited = false

    /// Called after each commit that inserted blocks (`Repo.observeAddedBlocks`).
    private let observers = Mutex<[@Sendable ([Block]) -> Void]>([])
    /// Called after each commit that wrote pins (`Repo.observeAddedPins`).
    private let pinObservers = Mutex<[@Sendable ([Pin]) -> Void]>([])
    private let commitCount = Atomic<Int>(0)
    private let requestCount = Atomic<Int>(0)
    private let growthCount = Atomic<Int>(0)

    init(storage: RepoStorage) {
        self.storage = storage
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        wakeUp = .allocate(capacity: 1)
        pthread_cond_init(wakeUp, nil)
        DedicatedThread.start { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(wakeUp)
        wakeUp.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    var statistics: WriterStatistics {
        WriterStatistics(commits: commitCount.load(ordering: .relaxed), requests: requestCount.load(ordering: .relaxed),
                         mapGrowths: growthCount.load(ordering: .relaxed))
    }

    /// Queues `request`; fails it with `RepoError.closed` once stopping.
    func submit(_ request: WriteRequest) {
        pthread_mutex_lock(mutex)
        if stopping {
            pthread_mutex_unlock(mutex)
            request.complete(.failure(RepoError.closed))
            return
        }
        queue.append(request)
        pthread_cond_signal(wakeUp)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` in a write transaction (grouped with others) and returns its
    /// result once committed and synced.
    func perform<R: Sendable>(
        estimatedBytes: Int = 0, _ body: @escaping @Sendable (borrowing Transaction, WriteContext) throws -> R
    ) async throws -> R {
        let box = ResultBox<R>()
        return try await withCheckedThrowingContinuation { continuation in
            submit(WriteRequest(
                estimatedBytes: estimatedBytes,
                apply: { transaction, context in box.value = try body(transaction, context) },
                complete: { result in
                    switch result {
                    case .success: continuation.resume(returning: box.value!)
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                }))
        }
    }

    func addObserver(_ observer: @escaping @Sendable ([Block]) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func addPinObserver(_ observer: @escaping @Sendable ([Pin]) -> Void) {
        pinObservers.withLock { $0.append(observer) }
    }

    /// Finishes every queued request, then stops the thread and closes the
    /// environment; `completion` runs once that is done.
    func stop(completion: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        if exited {
            pthread_mutex_unlock(mutex)
            completion()
            return
        }
        stopping = true
        onExit.append(completion)
        pthread_cond_signal(wakeUp)
        pthread_mutex_unlock(mutex)
    }

    /// Stops without waiting (from `deinit` of the repo).
    func stopEventually() { stop {} }

    // MARK: The writer thread

    private func run() {
        while let group = nextGroup() {
            process(group)
        }
        storage.close()
        pthread_mutex_lock(mutex)
        exited = true
        let callbacks = onExit
        onExit = []
        pthread_mutex_unlock(mutex)
        for callback in callbacks { callback() }
    }

    /// Waits for requests and takes as many as fit the byte budget (at least
    /// one); `nil` when stopping with nothing left.
    private func nextGroup() -> [WriteRequest]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while queue.isEmpty && !stopping {
            pthread_cond_wait(wakeUp, mutex)
        }
        if queue.isEmpty { return nil }
        var taken = 0
        var bytes = 0
        for request in queue {
            if taken > 0 && bytes + request.estimatedBytes > Self.groupByteBudget { break }
            bytes += request.estimatedBytes
            taken += 1
        }
        let group = Array(queue.prefix(taken))
        queue.removeFirst(taken)
        return group
    }

    private enum Outcome {
        case committed
        case mapFull
        case requestFailed(index: Int, error: any Error)
        case groupFailed(any Error)
    }

    private func process(_ group: [WriteRequest]) {
        var pending = group
        let observing = observers.withLock { $0 }
        let storage = storage
        let context = WriteContext(databases: storage.databases, collectsAddedBlocks: !observing.isEmpty) {
            guard Self.dropsResidentPages else { return }
            try? storage.withEnvironment { environment in environment.unmapResidentPages() }
        }
        while !pending.isEmpty {
            var sizeBefore = 0
            let outcome: Outcome
            do {
                outcome = try storage.withEnvironment { environment in
                    sizeBefore = environment.info().mapSize
                    return attempt(pending, in: environment, context: context)
                }
            } catch {
                outcome = .groupFailed(error)
            }
            switch outcome {
            case .committed:
                commitCount.add(1, ordering: .relaxed)
                // Observers first, so a write's caller that returns knows they heard.
                if !context.addedBlocks.isEmpty {
                    let added = context.addedBlocks
                    for observer in observing { observer(added) }
                }
                if !context.addedPins.isEmpty {
                    let pins = context.addedPins
                    for observer in pinObservers.withLock({ $0 }) { observer(pins) }
                }
                finish(pending, with: .success(()))
                context.dropResidentPages()
                return
            case .mapFull:
                do {
                    try storage.withEnvironment { environment in try environment.growMap(from: sizeBefore) }
                    growthCount.add(1, ordering: .relaxed)
                } catch {
                    finish(pending, with: .failure(error.asRepoError(path: storage.path)))
                    return
                }
            case .requestFailed(let index, let error):
                if let lmdb = error as? LMDBError, lmdb == .transactionFull, index > 0 {
                    // Too much for one transaction: commit what fits, then the rest.
                    process(Array(pending[..<index]))
                    pending = Array(pending[index...])
                } else {
                    finish([pending[index]], with: .failure(error.asRepoError(path: storage.path)))
                    pending.remove(at: index)
                }
            case .groupFailed(let error):
                finish(pending, with: .failure(error.asRepoError(path: storage.path)))
                return
            }
        }
    }

    /// One try at the whole group in one transaction. Returning ends the
    /// transaction (its `deinit` aborts unless committed).
    private func attempt(_ requests: [WriteRequest], in environment: borrowing Environment, context: WriteContext) -> Outcome {
        context.reset()
        let transaction: Transaction
        do {
            transaction = try environment.beginTransaction(readOnly: false)
        } catch {
            return .groupFailed(error)
        }
        for (index, request) in requests.enumerated() {
            do {
                try request.apply(transaction, context)
            } catch let error as LMDBError where error == .mapFull {
                return .mapFull
            } catch {
                return .requestFailed(index: index, error: error)
            }
        }
        do {
            try context.finish(transaction)
            try transaction.commit()
        } catch let error as LMDBError where error == .mapFull {
            return .mapFull
        } catch {
            return .groupFailed(error)
        }
        return .committed
    }

    private func finish(_ requests: [WriteRequest], with result: Result<Void, any Error>) {
        requestCount.add(requests.count, ordering: .relaxed)
        for request in requests { request.complete(result) }
    }
}

/// Carries a request's result from the writer thread to the resumed task
/// (the continuation's resume orders the write before the read).
private final class ResultBox<Value>: @unchecked Sendable {
    var value: Value?
}
