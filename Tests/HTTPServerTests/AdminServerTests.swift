import Foundation
import HTTPServer
import Logging
import NIOCore
import Node
import Repo
import Synchronization
import Testing
import TestSupport

/// The admin API on the HTTP core: endpoints, the token, forwarded commands
/// with streamed input and output, and idle connections that cost no threads.
@Suite(.serialized) struct AdminServerTests {
    static let token = "0123456789abcdef"

    /// A node's admin API over a scratch repo, with test commands:
    /// `echo` (input to output, "done" on error), `spew N` (N bytes), `exit N`.
    struct Admin {
        let server: AdminServer
        let port: Int
        let repo: Repo
        let directory: URL
        let finished: Finished

        func stop() async {
            await server.stop(timeout: 5)
            await repo.close()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Commands that returned, by name.
    final class Finished: Sendable {
        let names = Mutex<[String]>([])
    }

    static func start() async throws -> Admin {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tau-admin-\(UUID().uuidString)")
        let repo = try Repo(path: directory.path)
        let finished = Finished()
        let routes = AdminServer.Routes(
            repo: repo, token: token,
            metrics: { Array("tau_test_metric 1\n".utf8) },
            identity: { Array("{\"ID\":\"test\"}".utf8) },
            runCommand: { invocation in
                defer { finished.names.withLock { $0.append(invocation.arguments.first ?? "") } }
                return Self.runTestCommand(invocation)
            })
        var logger = Logger(label: "admin-test")
        logger.logLevel = .warning
        let server = AdminServer(address: try HostPort("127.0.0.1:0"), routes: routes, logger: logger)
        let bound = try await server.listen()
        return Admin(server: server, port: bound.port, repo: repo, directory: directory, finished: finished)
    }

    /// Blocking I/O on the pipes, as real commands do (on the command's own thread).
    static func runTestCommand(_ invocation: CommandInvocation) -> Int32 {
        func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count <= 0 { return false }
                offset += count
            }
            return true
        }
        switch invocation.arguments.first {
        case "echo":
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(invocation.input, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                guard buffer.withUnsafeBytes({ writeAll(invocation.output, UnsafeRawBufferPointer(rebasing: $0[..<count])) }) else { return 1 }
            }
            _ = Array("done".utf8).withUnsafeBytes { writeAll(invocation.error, $0) }
            return 0
        case "spew":
            var remaining = Int(invocation.arguments[1]) ?? 0
            let block = [UInt8](repeating: 0x73, count: 64 << 10)
            while remaining > 0 {
                let count = min(remaining, block.count)
                guard block.withUnsafeBytes({ writeAll(invocation.output, UnsafeRawBufferPointer(rebasing: $0[..<count])) }) else { return 1 }
                remaining -= count
            }
            return 0
        case "exit":
            return Int32(invocation.arguments[1]) ?? 1
        default:
            return 2
        }
    }

    /// What a forwarded command sent back.
    struct CommandResult {
        var status: Int
        var output: [UInt8] = []
        var error: [UInt8] = []
        var exitStatus: Int32?
    }

    /// Forwards `arguments` as the CLI does (chunked standard input), and decodes the frames.
    static func command(_ arguments: [String], port: Int, input: [UInt8]? = nil, token: String = token,
                        connection existing: RawConnection? = nil) async throws -> CommandResult {
        let connection: RawConnection
        if let existing { connection = existing } else { connection = try await RawConnection.connect(port: port) }
        defer { if existing == nil { connection.close() } }
        var head = "POST /api/v0/command HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        head += "X-Tau-Arguments: \(try CommandProtocol.encodeArguments(arguments))\r\n"
        head += "X-Tau-Directory: \(CommandProtocol.encodeText("/"))\r\nX-Tau-Terminal: \r\n"
        head += input == nil ? "Content-Length: 0\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n"
        try await connection.send(head)
        if let input {
            var offset = 0
            while offset < input.count {
                let piece = input[offset..<min(input.count, offset + (256 << 10))]
                var chunk = ByteBuffer(string: String(piece.count, radix: 16) + "\r\n")
                chunk.writeBytes(piece)
                chunk.writeString("\r\n")
                try await connection.send(chunk)
                offset += piece.count
            }
            try await connection.send("0\r\n\r\n")
        }
        // A frame stream ends with the last chunk; an error is one short text body.
        let deadline = ContinuousClock.now + .seconds(60)
        while !connection.isClosed, ContinuousClock.now < deadline {
            let (prefix, suffix) = connection.ends(512)
            if prefix.hasPrefix("HTTP/1.1 200") ? suffix.hasSuffix("\r\n0\r\n\r\n")
                : prefix.contains("\r\n\r\n") && suffix.hasSuffix("\n") { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        guard let result = Self.decode(connection.bytes) else {
            throw TestClientError(description: "no response: \(connection.ends(200).prefix)")
        }
        return result
    }

    /// Head, de-chunked body and frames; nil while the head is incomplete.
    static func decode(_ bytes: [UInt8]) -> CommandResult? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: 0),
              let status = Int(String(decoding: bytes[9..<12], as: UTF8.self)) else { return nil }
        var result = CommandResult(status: status)
        guard status == 200 else { return result }
        var body: [UInt8] = []
        var position = headEnd + 4
        while let lineEnd = find([13, 10], in: bytes, from: position),
              let size = Int(String(decoding: bytes[position..<lineEnd], as: UTF8.self), radix: 16),
              size > 0, bytes.count >= lineEnd + 2 + size + 2 {
            body += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
            position = lineEnd + 2 + size + 2
        }
        var offset = 0
        while body.count - offset >= 5 {
            let length = Int(body[offset + 1]) << 24 | Int(body[offset + 2]) << 16 | Int(body[offset + 3]) << 8 | Int(body[offset + 4])
            guard body.count - offset - 5 >= length else { break }
            let payload = body[(offset + 5)..<(offset + 5 + length)]
            switch body[offset] {
            case 1: result.output += payload
            case 2: result.error += payload
            default: result.exitStatus = payload.reduce(0) { $0 << 8 | Int32($1) }
            }
            offset += 5 + length
        }
        return result
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }

    static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    @Test func fiveHundredIdleConnectionsCostNoThreads() async throws {
        let admin = try await Self.start()
        let before = Self.threadCount()
        var idle: [RawConnection] = []
        for _ in 0..<500 { idle.append(try await RawConnection.connect(port: admin.port)) }
        let deadline = ContinuousClock.now + .seconds(20)
        while admin.server.connectionCount < 500, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(admin.server.connectionCount == 500)
        let during = Self.threadCount()
        #expect(during - before < 50, "threads went from \(before) to \(during) for 500 idle connections")
        // A command still runs, on a connection of its own and on one of the idle ones.
        var generator = SeededBytes(seed: 5)
        let input = generator.bytes(1 << 20)
        let result = try await Self.command(["echo"], port: admin.port, input: input)
        #expect(result.status == 200 && result.exitStatus == 0 && result.output == input)
        #expect(String(decoding: result.error, as: UTF8.self) == "done")
        let onIdle = try await Self.command(["exit", "4"], port: admin.port, connection: idle[0])
        #expect(onIdle.exitStatus == 4)
        for connection in idle { connection.close() }
        await admin.stop()
    }

    @Test func commandsStreamTheirInputAndOutput() async throws {
        let admin = try await Self.start()
        var generator = SeededBytes(seed: 6)
        let input = generator.bytes(24 << 20)
        let echoed = try await Self.command(["echo"], port: admin.port, input: input)
        #expect(echoed.exitStatus == 0 && echoed.output.count == input.count && echoed.output == input)
        let spewed = try await Self.command(["spew", "\(20 << 20)"], port: admin.port)
        #expect(spewed.exitStatus == 0 && spewed.output.count == 20 << 20)
        let failed = try await Self.command(["exit", "7"], port: admin.port)
        #expect(failed.status == 200 && failed.exitStatus == 7 && failed.output.isEmpty)
        let unauthorized = try await Self.command(["exit", "0"], port: admin.port, token: "wrong")
        #expect(unauthorized.status == 401)
        #expect(admin.finished.names.withLock { $0 }.filter { $0 == "exit" }.count == 1, "a refused command never runs")

        // Bad argument headers: 400.
        let connection = try await RawConnection.connect(port: admin.port)
        defer { connection.close() }
        try await connection.send("POST /api/v0/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
            + "X-Tau-Arguments: !!\r\nContent-Length: 0\r\n\r\n")
        #expect(await connection.waitFor { text, _ in text.contains("\r\n\r\n") }.hasPrefix("HTTP/1.1 400"))
        await admin.stop()
    }

    @Test func endpointsAndTheToken() async throws {
        let admin = try await Self.start()
        let base = "http://127.0.0.1:\(admin.port)"
        func curl(_ arguments: [String]) async throws -> String {
            let result = try await run("/usr/bin/curl", ["-s", "-o", "-", "-w", " %{http_code}"] + arguments)
            return String(decoding: result.out, as: UTF8.self)
        }
        #expect(try await curl([base + "/metrics"]) == "tau_test_metric 1\n 200")
        #expect(try await curl(["-X", "POST", base + "/metrics"]).hasSuffix(" 405"))
        #expect(try await curl([base + "/api/v0/id"]).hasSuffix(" 401"))
        #expect(try await curl(["-H", "Authorization: Bearer nope", base + "/api/v0/id"]).hasSuffix(" 401"))
        #expect(try await curl(["-H", "Authorization: Bearer \(Self.token)", base + "/api/v0/id"]) == "{\"ID\":\"test\"} 200")
        #expect(try await curl(["-H", "Authorization: Bearer \(Self.token)", base + "/api/v0/nope"]).hasSuffix(" 404"))
        #expect(try await curl([base + "/elsewhere"]).hasSuffix(" 404"))
        await admin.stop()
    }

    /// A client that disconnects does not stop its command: the output is drained and dropped.
    @Test func aClientThatLeavesDoesNotStopTheCommand() async throws {
        let admin = try await Self.start()
        let connection = try await RawConnection.connect(port: admin.port)
        var head = "POST /api/v0/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
        head += "X-Tau-Arguments: \(try CommandProtocol.encodeArguments(["spew", "\(256 << 20)"]))\r\n"
        head += "X-Tau-Directory: \(CommandProtocol.encodeText("/"))\r\nContent-Length: 0\r\n\r\n"
        try await connection.send(head)
        let started = ContinuousClock.now
        while connection.byteCount < 100_000, ContinuousClock.now - started < .seconds(30) {
            try await Task.sleep(for: .milliseconds(5))
        }
        connection.close()
        let deadline = ContinuousClock.now + .seconds(60)
        while !admin.finished.names.withLock({ $0.contains("spew") }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(admin.finished.names.withLock { $0.contains("spew") })
        await admin.stop()
    }
}
