import CLMDB
import Synchronization

/// Read-only transactions kept reset (`mdb_txn_reset`) for reuse.
///
/// `mdb_txn_begin` allocates a transaction and, with `MDB_NOTLS`, takes the
/// reader-table mutex to claim a slot; `mdb_txn_renew` of a reset transaction
/// does neither. A reset transaction keeps its reader slot but pins no
/// snapshot (lmdb.h: it "does not hold a snapshot, and does not block writers
/// from reusing pages"), and holds no pointer into the map, so it may stay
/// idle across a map resize. At most `capacity` idle transactions (and so
/// reader slots) are kept per environment.
final class ReaderPool: @unchecked Sendable {
    static let capacity = 16

    /// An idle transaction, owned by the pool while it is in `idle`.
    private struct Idle: @unchecked Sendable {
        let handle: OpaquePointer
    }

    private let idle = Mutex<[Idle]>([])

    /// A reset transaction to renew, if one is idle.
    func take() -> OpaquePointer? {
        idle.withLock { $0.popLast()?.handle }
    }

    /// Resets `transaction` and keeps it, or aborts it when the pool is full.
    func giveBack(_ transaction: OpaquePointer) {
        mdb_txn_reset(transaction)
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < Self.capacity else { return false }
            idle.append(Idle(handle: transaction))
            return true
        }
        if !kept { mdb_txn_abort(transaction) }
    }

    /// Aborts every idle transaction (before the environment closes).
    func drain() {
        let all = idle.withLock { idle -> [Idle] in
            defer { idle = [] }
            return idle
        }
        for transaction in all { mdb_txn_abort(transaction.handle) }
    }
}
