// Where wanted blocks are delivered to the task that wants them.

import Blocks
import Synchronization

/// Blocks delivered to one fetch (a `get`, a DAG fetch, a prefetch), taken
/// in arrival order. One task takes at a time; a wait ends with nil at its
/// deadline (checked by the engine's tick), when the mailbox closes, or when
/// the waiting task is cancelled.
final class Mailbox: Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct State {
        var blocks: [Block] = []
        var head = 0
        var waiter: CheckedContinuation<Block?, Never>?
        var deadline: Instant?
        var closed = false

        mutating func pop() -> Block? {
            guard head < blocks.count else { return nil }
            let block = blocks[head]
            head += 1
            if head == blocks.count {
                blocks.removeAll(keepingCapacity: true)
                head = 0
            }
            return block
        }
    }

    let id: UInt64
    private let state = Mutex(State())

    init(id: UInt64) { self.id = id }

    func put(_ block: Block) {
        let waiter = state.withLock { state -> CheckedContinuation<Block?, Never>? in
            guard !state.closed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.deadline = nil
                return waiter
            }
            state.blocks.append(block)
            return nil
        }
        waiter?.resume(returning: block)
    }

    /// The next block, or nil at `deadline`, on close or on cancellation.
    func next(deadline: Instant) async -> Block? {
        if let block = state.withLock({ $0.pop() }) { return block }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Block?, Never>) in
                let now = state.withLock { state -> (Block?, Bool) in
                    if let block = state.pop() { return (block, true) }
                    if state.closed || Task.isCancelled { return (nil, true) }
                    state.waiter = continuation
                    state.deadline = deadline
                    return (nil, false)
                }
                if now.1 { continuation.resume(returning: now.0) }
            }
        } onCancel: {
            wake()
        }
    }

    /// Ends a wait whose deadline passed.
    func expire(now: Instant) {
        let waiter = state.withLock { state -> CheckedContinuation<Block?, Never>? in
            guard let deadline = state.deadline, deadline <= now else { return nil }
            defer {
                state.waiter = nil
                state.deadline = nil
            }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Ends a pending wait with nil.
    private func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Block?, Never>? in
            defer {
                state.waiter = nil
                state.deadline = nil
            }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    func close() {
        state.withLock { state in
            state.closed = true
            state.blocks = []
            state.head = 0
        }
        wake()
    }
}
