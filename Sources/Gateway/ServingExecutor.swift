import Foundation

/// A task executor with threads of its own, for the gateway's request tasks.
///
/// Request tasks read blocks (LMDB, UnixFS decoding) and stream bodies; run
/// on the global cooperative pool (one thread per core) they wait whenever
/// other work in the process holds every pool thread, e.g. an import
/// hashing a large file, and the gateway stops answering. On these threads
/// they only compete for the CPU. Tasks started with this executor as their
/// preference (`Task(executorPreference:)`) resume here after every `await`.
///
/// `shared` is made on first use with one thread per active core and lives
/// as long as the process, like NIO's singleton event loop group, so tasks
/// never outlive their executor. Others (the node runs each forwarded CLI
/// command on one of a single thread) end with `stop()`.
public final class ServingExecutor: TaskExecutor, @unchecked Sendable {
    /// The process-wide instance every gateway uses unless given another.
    public static let shared = ServingExecutor(threads: ProcessInfo.processInfo.activeProcessorCount, name: "tau-serving")

    private let condition = NSCondition()
    // Guarded by `condition`: a FIFO as an array and the index of its head.
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var stopping = false

    /// Starts `threads` threads (at least one) named `name-N`.
    public init(threads: Int, name: String) {
        for index in 0..<max(1, threads) {
            // The threads keep the executor alive until `stop` lets them end.
            let thread = Thread { self.run() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the threads once the queued jobs have run (never for `shared`).
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024, head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
