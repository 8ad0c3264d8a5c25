import Foundation
import Synchronization

/// A Python interop peer (a script of `Tests/*/Peers`, run by the venv's
/// Python) as a subprocess. Its stdout is read line by line on a thread of
/// its own; `stop()` always ends it (quit, SIGTERM, SIGKILL).
open class PythonProcess: @unchecked Sendable {
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errorURL: URL
    /// Lines read so far, and whether stdout ended.
    private let state = Mutex<(lines: [String], ended: Bool)>(([], false))

    /// Starts `script` (a path relative to the package root) with `arguments`.
    public init(script: String, _ arguments: [String]) throws {
        signal(SIGPIPE, SIG_IGN)
        errorURL = FileManager.default.temporaryDirectory.appendingPathComponent("tau-peer-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = TestEnvironment.python
        process.arguments = [TestEnvironment.packageRoot.appendingPathComponent(script).path] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        let handle = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    state.withLock { $0.lines.append(line) }
                }
            }
            state.withLock { $0.ended = true }
        }
    }

    deinit { stop() }

    /// The next stdout line, waiting at most `timeout`.
    public func nextLine(timeout: Duration = .seconds(25)) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (line, done) = state.withLock { state -> (String?, Bool) in
                (state.lines.isEmpty ? nil : state.lines.removeFirst(), state.ended)
            }
            if let line { return line }
            if done { throw PeerFailure("peer exited without output; stderr:\n\(stderrTail)") }
            if clock.now > deadline { throw PeerFailure("no output from the peer within \(timeout); stderr:\n\(stderrTail)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// The last lines of the peer's stderr, for failure messages.
    public var stderrTail: String {
        let text = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// Ends the process: quit, then SIGTERM, then SIGKILL.
    public func stop() {
        if process.isRunning {
            try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate() }
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: errorURL)
    }
}

/// A failure of an interop peer: what it printed, or that it printed nothing.
public struct PeerFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
