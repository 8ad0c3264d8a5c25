import Foundation
import NIOCore
import NIOPosix
import Synchronization

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// A raw TCP client over NIO: sends bytes as given and collects what comes back.
final class RawConnection: Sendable {
    private let channel: any Channel
    private let collector: Collector

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))
        /// The connection ended in an error (a reset) rather than the server's FIN.
        let failed = Atomic<Bool>(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            failed.store(true, ordering: .relaxed)
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(port: Int) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    func send(_ text: String) async throws {
        try await send(ByteBuffer(string: text))
    }

    func send(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer).get()
    }

    var isClosed: Bool { collector.state.withLock { $0.closed } }
    /// The connection failed (reset by the server) instead of closing with a FIN.
    var wasReset: Bool { collector.failed.load(ordering: .relaxed) }
    var text: String { collector.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
    var bytes: [UInt8] { collector.state.withLock { $0.bytes } }
    var byteCount: Int { collector.state.withLock { $0.bytes.count } }
    /// The first and last `count` bytes received, as text (cheap on large responses).
    func ends(_ count: Int) -> (prefix: String, suffix: String) {
        collector.state.withLock { state in
            (String(decoding: state.bytes.prefix(count), as: UTF8.self), String(decoding: state.bytes.suffix(count), as: UTF8.self))
        }
    }

    /// Waits until what arrived satisfies `condition`; returns it (or what there is after `timeout`).
    @discardableResult
    func waitFor(timeout: Duration = .seconds(20), _ condition: (String, Bool) -> Bool) async -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (text, closed) = collector.state.withLock { (String(decoding: $0.bytes, as: UTF8.self), $0.closed) }
            if condition(text, closed) || ContinuousClock.now >= deadline { return text }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Waits until the server closes the connection; false on timeout.
    func waitForClose(timeout: Duration = .seconds(20)) async -> Bool {
        _ = await waitFor(timeout: timeout) { _, closed in closed }
        return isClosed
    }

    func close() { channel.close(promise: nil) }
}

/// Runs a program to completion on a thread of its own (never blocking the
/// cooperative pool the servers' handlers need); stdout, stderr and the exit status.
func run(_ program: String, _ arguments: [String], input: Data? = nil) async throws -> (out: Data, err: String, status: Int32) {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try runBlocking(program, arguments, input: input) })
        }
        thread.start()
    }
}

private func runBlocking(_ program: String, _ arguments: [String], input: Data? = nil) throws -> (out: Data, err: String, status: Int32) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    let inputPipe = Pipe()
    if input != nil { process.standardInput = inputPipe }
    try process.run()
    if let input {
        let writer = Thread {
            inputPipe.fileHandleForWriting.write(input)
            try? inputPipe.fileHandleForWriting.close()
        }
        writer.start()
    }
    // Read both pipes while the program runs, so that neither fills up.
    let errorData = Mutex(Data())
    let errorReader = Thread { errorData.withLock { $0 = error.fileHandleForReading.readDataToEndOfFile() } }
    errorReader.start()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while errorReader.isExecuting || !errorReader.isFinished { usleep(1000) }
    return (out, String(decoding: errorData.withLock { $0 }, as: UTF8.self), process.terminationStatus)
}
