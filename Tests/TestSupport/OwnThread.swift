import Foundation

/// Runs CPU-heavy or blocking test work on a thread of its own and awaits it.
///
/// Swift Testing runs tests on the cooperative pool, which has one thread per
/// core (two on CI). A test that computes for a minute on a pool thread stalls
/// every server under test in the same process (their request tasks wait for a
/// free thread) until their clients time out; on its own thread it only takes
/// its share of the CPU.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
