#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The in-process lock that makes map resizing safe.
///
/// `mdb_env_set_mapsize` remaps the file, so it may run only while no
/// transaction of this process is live (lmdb.h: "the caller must ensure it
/// explicitly"). Every transaction holds this lock shared for its whole life;
/// growing or adopting the map size takes it exclusive.
///
/// The lock prefers the exclusive side, so that a steady stream of short reads
/// cannot starve a resize. That would deadlock a thread that begins a second
/// transaction while a resize waits, so the lock counts transactions per
/// thread (a thread-specific value private to this environment) and only the
/// thread's first transaction takes the lock.
final class MapLock: @unchecked Sendable {
    private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Per-thread count of live transactions on this environment.
    private let depthKey: pthread_key_t

    init() {
        rwlock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        #if canImport(Glibc)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        let status = pthread_rwlock_init(rwlock, &attributes)
        precondition(status == 0, "pthread_rwlock_init failed: \(status)")
        pthread_rwlockattr_destroy(&attributes)
        var key = pthread_key_t()
        let keyStatus = pthread_key_create(&key, nil)
        precondition(keyStatus == 0, "pthread_key_create failed: \(keyStatus)")
        depthKey = key
    }

    deinit {
        pthread_rwlock_destroy(rwlock)
        rwlock.deallocate()
        pthread_key_delete(depthKey)
    }

    /// Live transactions of the calling thread on this environment.
    var depth: Int {
        Int(bitPattern: pthread_getspecific(depthKey))
    }

    private func setDepth(_ value: Int) {
        pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: value))
    }

    /// Called before a transaction begins on this thread.
    func enterTransaction() {
        let current = depth
        if current == 0 { pthread_rwlock_rdlock(rwlock) }
        setDepth(current + 1)
    }

    /// Called after a transaction ended (commit, abort, or a failed begin).
    func leaveTransaction() {
        let current = depth
        precondition(current > 0, "LMDB transaction bookkeeping out of balance")
        setDepth(current - 1)
        if current == 1 { pthread_rwlock_unlock(rwlock) }
    }

    /// Runs `body` while no transaction of this process is live.
    /// - Throws: `LMDBError.wouldDeadlock` if the calling thread holds a transaction.
    func withExclusiveAccess<R>(_ body: () throws(LMDBError) -> R) throws(LMDBError) -> R {
        guard depth == 0 else { throw .wouldDeadlock }
        pthread_rwlock_wrlock(rwlock)
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }
}
