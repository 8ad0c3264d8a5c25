import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One part of the node (repo, cache, Bitswap, swarm, gateway, admin API,
/// and the services to come), run as a swift-service-lifecycle `Service`
/// through `ComponentService`. The node starts components in dependency order,
/// each after the one before it has started, and stops them in reverse.
protocol NodeComponent: AnyObject, Sendable {
    /// The name in errors, logs and `node.json` (`gateway`, `admin`, `swarm`, …).
    var name: String { get }
    /// Binds and starts. A throw must leave nothing of this component
    /// running; the components started before it are then stopped.
    func start() async throws
    /// Stops taking new work and finishes what is in flight. Runs once after
    /// a successful `start`. When the node's shutdown bound passes, the task
    /// running it is cancelled: stop must then end promptly (close what is open).
    func stop() async
    /// What it listens on, for `node.json` and `tau dream status`.
    var address: String? { get }
}

extension NodeComponent {
    var address: String? { nil }
}

/// A component that failed to start: `gateway: cannot listen on 127.0.0.1:8080: address in use`.
public struct ServiceStartError: Error, CustomStringConvertible, Sendable {
    public let service: String
    public let reason: String

    public init(service: String, reason: String) {
        self.service = service
        self.reason = reason
    }

    public var description: String { "\(service): \(reason)" }

    /// The reason for a failed bind, in words: NIO's errno, or the error's text.
    static func listenFailure(_ error: any Error, address: String) -> String {
        var code: Int32?
        if let io = error as? IOError { code = io.errnoCode }
        let words: String
        switch code {
        case EADDRINUSE: words = "address in use"
        case EADDRNOTAVAIL: words = "address not available on this machine"
        case EACCES: words = "permission denied"
        default: words = "\(error)"
        }
        return "cannot listen on \(address): \(words)"
    }
}

/// Orders the starts: component `i` starts only once `i - 1` has started.
/// After a failed start the later components never get their turn; each
/// returns when its own graceful shutdown comes (ServiceGroup requires that a
/// service ends only when told to).
final class StartupSequence: Sendable {
    private struct State {
        var started = 0
        var cancelled: Set<Int> = []
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    /// Waits until every component before `index` has started; `false` when
    /// the task is cancelled first (its graceful shutdown came).
    func waitForTurn(_ index: Int) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Bool? = state.withLock { state in
                    if state.cancelled.contains(index) { return false }
                    if state.started >= index { return true }
                    state.waiters[index] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                state.cancelled.insert(index)
                return state.waiters.removeValue(forKey: index)
            }
            waiter?.resume(returning: false)
        }
    }

    /// Component `index` has started: let the next one go.
    func started(_ index: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.started = index + 1
            return state.waiters.removeValue(forKey: index + 1)
        }
        waiter?.resume(returning: true)
    }
}

/// Runs one component under the `ServiceGroup`: waits for its turn, starts
/// it, then waits for graceful shutdown (or cancellation) and stops it.
struct ComponentService: Service, CustomStringConvertible {
    let component: any NodeComponent
    let index: Int
    let sequence: StartupSequence
    let logger: Logger

    var description: String { component.name }

    func run() async throws {
        let go = await cancelWhenGracefulShutdown { await sequence.waitForTurn(index) }
        guard go, !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
        do {
            try await component.start()
        } catch {
            if let already = error as? ServiceStartError { throw already }
            throw ServiceStartError(service: component.name, reason: "\(error)")
        }
        logger.debug("started", metadata: ["service": "\(component.name)"])
        sequence.started(index)
        // Returns on graceful shutdown; throws on cancellation: stop either way.
        try? await gracefulShutdown()
        await component.stop()
        logger.debug("stopped", metadata: ["service": "\(component.name)"])
    }
}

