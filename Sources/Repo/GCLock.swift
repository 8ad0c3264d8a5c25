import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kubo's GC lock, across tasks and across processes: add sessions (and pin
/// changes) hold it shared, garbage collection and checked deletes hold it
/// exclusive. Format: formats/lmdb.md, "The GC lock".
///
/// Two layers, taken in this order and released in reverse:
/// 1. In process: an async reader/writer lock (no thread blocks). A waiting
///    exclusive holder stops new shared holders, so adds cannot starve GC.
/// 2. Across processes: `flock` on the repo's `gc.lock`, each holder on a
///    descriptor of its own (LOCK_SH or LOCK_EX). `flock` is tried without
///    blocking and retried with a growing sleep, so no thread waits in the kernel.
///    Layer 1 already excludes conflicts inside the process, so a conflict
///    here always comes from another process.
final class GCLock: Sendable {
    enum Mode { case shared, exclusive }

    /// A held lock; `release` exactly once.
    struct Hold: Sendable {
        let mode: Mode
        let descriptor: Int32
    }

    private struct State {
        var sharedHolders = 0
        var exclusiveHeld = false
        var sharedWaiters: [CheckedContinuation<Void, Never>] = []
        var exclusiveWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let lockFilePath: String
    private let state = Mutex(State())
    private let waiters = Atomic<Int>(0)

    /// Callers in this process waiting for the lock (either layer) now.
    var waiting: Int { waiters.load(ordering: .relaxed) }

    init(lockFilePath: String) {
        self.lockFilePath = lockFilePath
    }

    func acquire(_ mode: Mode) async throws -> Hold {
        waiters.add(1, ordering: .relaxed)
        defer { waiters.subtract(1, ordering: .relaxed) }
        await acquireInProcess(mode)
        do {
            let descriptor = try await acquireFileLock(mode)
            return Hold(mode: mode, descriptor: descriptor)
        } catch {
            releaseInProcess(mode)
            throw error
        }
    }

    func release(_ hold: Hold) {
        flock(hold.descriptor, LOCK_UN)
        close(hold.descriptor)
        releaseInProcess(hold.mode)
    }

    // MARK: In process

    private func acquireInProcess(_ mode: Mode) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                switch mode {
                case .shared:
                    if !state.exclusiveHeld && state.exclusiveWaiters.isEmpty {
                        state.sharedHolders += 1
                        return true
                    }
                    state.sharedWaiters.append(continuation)
                case .exclusive:
                    if !state.exclusiveHeld && state.sharedHolders == 0 {
                        state.exclusiveHeld = true
                        return true
                    }
                    state.exclusiveWaiters.append(continuation)
                }
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func releaseInProcess(_ mode: Mode) {
        let toResume = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            switch mode {
            case .shared: state.sharedHolders -= 1
            case .exclusive: state.exclusiveHeld = false
            }
            // After a GC, the adds that waited for it go first; then the next GC.
            // (Shared waiters only queue behind an exclusive holder or waiter.)
            if mode == .exclusive, !state.sharedWaiters.isEmpty {
                let waiters = state.sharedWaiters
                state.sharedWaiters = []
                state.sharedHolders += waiters.count
                return waiters
            }
            if state.sharedHolders == 0, !state.exclusiveWaiters.isEmpty {
                state.exclusiveHeld = true
                return [state.exclusiveWaiters.removeFirst()]
            }
            return []
        }
        for continuation in toResume { continuation.resume() }
    }

    // MARK: Across processes

    private func acquireFileLock(_ mode: Mode) async throws -> Int32 {
        let descriptor = open(lockFilePath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RepoError(.lockFailed, "open \(lockFilePath): \(String(cString: strerror(errno)))")
        }
        let operation = (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB
        var pause: UInt64 = 1_000_000  // 1 ms, doubling to 50 ms
        while true {
            if flock(descriptor, operation) == 0 { return descriptor }
            let failure = errno
            if failure == EINTR { continue }
            guard failure == EWOULDBLOCK else {
                close(descriptor)
                throw RepoError(.lockFailed, "flock \(lockFilePath): \(String(cString: strerror(failure)))")
            }
            do {
                try await Task.sleep(nanoseconds: pause)
            } catch {
                close(descriptor)
                throw error
            }
            pause = min(pause * 2, 50_000_000)
        }
    }
}
