import Foundation
import HTTPServer
import Logging
import NIOCore
import Synchronization
import Testing
import TestSupport

/// The core over real sockets on 127.0.0.1, with curl and raw clients.
@Suite struct SocketTests {
    /// Routes of the test server; `gate` holds `/slow` bodies unread until opened.
    final class Gate: Sendable {
        let open = Atomic<Bool>(false)
    }

    static func start(limits: HTTPServer.Limits = .init(), gate: Gate = Gate()) async throws -> (HTTPServer, Int) {
        var router = HTTPRouter()
        router.add([.get, .head], "/hello") { _, response in
            response.send(.ok, fields: [("Content-Type", "text/plain")], body: ByteBuffer(string: "hello\n"))
        }
        // Streams the body back as it arrives.
        router.add([.post, .put], "/echo", maxBodyBytes: 64 << 20) { request, response in
            let task = Task {
                do {
                    try await response.begin(head: HTTPHeadWriter(status: .ok).buffer, status: .ok, framing: .streamed)
                    for try await piece in request.body { try await response.write(piece) }
                    response.end()
                } catch {
                    response.abort()
                }
            }
            response.cancelOnClose(task)
        }
        router.add([.post], "/small", maxBodyBytes: 1 << 20) { request, response in
            Task {
                let count = (try? await request.body.collect(upTo: 1 << 20).readableBytes) ?? -1
                response.sendText(.ok, "\(count)")
            }
        }
        router.add([.post], "/slow", maxBodyBytes: 256 << 20) { request, response in
            Task {
                while !gate.open.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
                var count = 0
                do {
                    for try await piece in request.body { count += piece.readableBytes }
                    response.sendText(.ok, "\(count)")
                } catch {
                    response.sendText(.internalServerError, "\(error)")
                }
            }
        }
        var logger = Logger(label: "http-test")
        logger.logLevel = .warning
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, name: "test", limits: limits),
                                router: router, logger: logger)
        let address = try await server.start()
        return (server, address.port!)
    }

    static func scratchFile(_ bytes: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tau-http-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url
    }

    @Test func curlStreamsBodiesBothWays() async throws {
        let (server, port) = try await Self.start()
        var generator = SeededBytes(seed: 11)
        let content = generator.bytes(8 << 20)
        let file = try Self.scratchFile(content)
        defer { try? FileManager.default.removeItem(at: file) }
        // Content-Length with Expect: 100-continue, then chunked.
        for extra in [["-H", "Expect: 100-continue"], ["-H", "Transfer-Encoding: chunked"]] {
            let result = try await run("/usr/bin/curl", ["-sS", "-v", "--fail", "--data-binary", "@\(file.path)",
                                                         "http://127.0.0.1:\(port)/echo"] + extra)
            #expect(result.status == 0, "\(result.err.suffix(500))")
            #expect(result.out == Data(content), "the body came back whole (\(result.out.count) bytes)")
            if extra[1].hasPrefix("Expect") {
                #expect(result.err.contains("HTTP/1.1 100 Continue"), "curl saw the 100")
            }
        }
        let hello = try await run("/usr/bin/curl", ["-sS", "--fail", "http://127.0.0.1:\(port)/hello",
                                                    "http://127.0.0.1:\(port)/hello"])
        #expect(String(decoding: hello.out, as: UTF8.self) == "hello\nhello\n")
        await server.shutdown()
    }

    @Test func curlGets413WithoutA100() async throws {
        let (server, port) = try await Self.start()
        let file = try Self.scratchFile([UInt8](repeating: 7, count: 2 << 20))
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await run("/usr/bin/curl", ["-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}",
                                                     "-H", "Expect: 100-continue", "--data-binary", "@\(file.path)",
                                                     "http://127.0.0.1:\(port)/small"])
        #expect(String(decoding: result.out, as: UTF8.self) == "413")
        #expect(!result.err.contains("100 Continue"))
        let fits = try await run("/usr/bin/curl", ["-sS", "--data-binary", "0123456789", "http://127.0.0.1:\(port)/small"])
        #expect(String(decoding: fits.out, as: UTF8.self) == "10\n")
        await server.shutdown()
    }

    @Test func rawPipeliningWithBodies() async throws {
        let (server, port) = try await Self.start()
        let connection = try await RawConnection.connect(port: port)
        defer { connection.close() }
        try await connection.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n"
            + "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
        let text = await connection.waitFor { text, _ in text.components(separatedBy: "HTTP/1.1 ").count > 5 && text.hasSuffix("1\n") }
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "200", "200", "404", "200"], "\(text)")
        let order = ["3\n", "hello\n", "wxyz", "no such resource", "1\n"].map { text.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order.map { $0! } == order.map { $0! }.sorted(), "\(text)")
        #expect(!connection.isClosed)
        await server.shutdown()
    }

    /// A handler that does not read holds the client back: what the client
    /// can push is bounded by socket buffers and a few reads, not the body size.
    @Test func aBodyNobodyReadsStopsTheClient() async throws {
        let gate = Gate()
        let (server, port) = try await Self.start(gate: gate)
        let connection = try await RawConnection.connect(port: port)
        defer { connection.close() }
        let pieces = 96, size = 1 << 20
        try await connection.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: \(pieces * size)\r\n\r\n")
        let written = Atomic<Int>(0)
        let piece = ByteBuffer(repeating: 0x61, count: size)
        let writes = Task {
            for _ in 0..<pieces {
                try await connection.send(piece)
                written.add(size, ordering: .relaxed)
            }
        }
        // Wait until the client's writes stop making progress.
        var last = -1
        var stableSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let now = written.load(ordering: .relaxed)
            if now != last {
                last = now
                stableSince = ContinuousClock.now
            } else if ContinuousClock.now - stableSince > .milliseconds(500) {
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(last < 24 * size, "the client got \(last >> 20) MiB through to a handler that reads nothing")
        gate.open.store(true, ordering: .relaxed)
        try await writes.value
        let text = await connection.waitFor { text, _ in text.hasSuffix("\(pieces * size)\n") }
        #expect(text.hasPrefix("HTTP/1.1 200") && text.hasSuffix("\(pieces * size)\n"))
        await server.shutdown()
    }

    /// Sends `raw` on a new connection and expects `status`, then the close.
    static func expectAnswer(_ status: String, to raw: String, port: Int, unreset: Bool = false) async throws {
        let connection = try await RawConnection.connect(port: port)
        // The server may answer and close before it has read all of a
        // refused request; the write then fails, and the answer counts.
        _ = try? await connection.send(raw)
        let text = await connection.waitFor { _, closed in closed }
        #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(raw.prefix(50)): \(text.prefix(200))")
        #expect(connection.isClosed)
        if unreset { #expect(!connection.wasReset, "the server reset the connection instead of lingering") }
    }

    @Test func limitsAndTimeoutsGetClearAnswers() async throws {
        // Refusals on a server whose timeouts a starved test cannot reach;
        // the 408s on one with short ones.
        let patient = HTTPServer.Limits(maxHeaderBytes: 1024, idleTimeout: .seconds(30), requestHeadTimeout: .seconds(30),
                                        lingeringCloseBytes: 4 << 20)
        let (refusing, refusingPort) = try await Self.start(limits: patient)
        for (raw, status) in [
            ("GET /hello HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 1500))\r\n\r\n", "431"),
            // Far more than the server reads: lingering close keeps the
            // answer from being destroyed by a reset.
            ("GET /hello HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 200_000))\r\n\r\n", "431"),
            ("GET /hello HTTP/1.1\r\n\r\n", "400"),
            ("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n", "413"),
            ("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n\(String(repeating: "b", count: 2_000_000))", "413"),
            ("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
            ("POST /small HTTP/1.1\r\nHost: x\r\nExpect: later\r\nContent-Length: 1\r\n\r\n", "417"),
        ] {
            // Bytes unread at close would make the kernel send a reset.
            try await Self.expectAnswer(status, to: raw, port: refusingPort, unreset: raw.utf8.count > 100_000)
        }
        await refusing.shutdown()

        let limits = HTTPServer.Limits(maxHeaderBytes: 1024, idleTimeout: .seconds(3),
                                       requestHeadTimeout: .milliseconds(500), maxConnections: 3)
        let (server, port) = try await Self.start(limits: limits)
        for raw in [
            "GET /hello HTTP/1.1\r\nHost: x\r\n",  // a head that never ends
            "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  // a body that never ends
        ] {
            try await Self.expectAnswer("408", to: raw, port: port)
        }
        // Idle connections close; past the connection limit, 503.
        let idle = try await RawConnection.connect(port: port)
        #expect(await idle.waitForClose(timeout: .seconds(10)))
        let held = try await [RawConnection.connect(port: port), RawConnection.connect(port: port), RawConnection.connect(port: port)]
        let refused = try await RawConnection.connect(port: port)
        let refusal = await refused.waitFor { _, closed in closed }
        #expect(refusal.hasPrefix("HTTP/1.1 503"))
        #expect(refusal.contains("\r\nDate: ") && refusal.hasSuffix("Connection: close\r\n\r\n"), "\(refusal)")
        for connection in held { connection.close() }
        await server.shutdown()
    }
}
