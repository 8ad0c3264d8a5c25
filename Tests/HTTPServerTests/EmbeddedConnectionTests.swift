import Foundation
import HTTPServer
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The connection handler on a test channel, no sockets: pipelining, bodies
/// with backpressure, 100-continue, early rejections, routing.
@Suite struct EmbeddedConnectionTests {
    /// Counts the reads the connection handler lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let reads = Atomic<Int>(0)

        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// What handlers saw, for the test to wait on.
    final class Observed: Sendable {
        let bodies = Mutex<[String: [UInt8]]>([:])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let released = Atomic<Bool>(false)

        func release() {
            released.store(true, ordering: .relaxed)
            gate.withLock { $0?.resume(); $0 = nil }
        }

        func waitForRelease() async {
            await withCheckedContinuation { continuation in
                if released.load(ordering: .relaxed) {
                    continuation.resume()
                } else {
                    gate.withLock { $0 = continuation }
                }
            }
        }
    }

    struct Harness {
        let channel: NIOAsyncTestingChannel
        let reads: ReadCounter
        let observed: Observed

        /// Everything written so far, as text.
        func output() async throws -> String {
            var text = ""
            while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        /// Reads outbound bytes until `text` contains `needle` (or fails after a while).
        func output(containing needle: String, after earlier: String = "") async throws -> String {
            var text = earlier
            let deadline = ContinuousClock.now + .seconds(10)
            while !text.contains(needle) {
                if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                    text += String(buffer: buffer)
                } else {
                    guard ContinuousClock.now < deadline else { break }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            return text
        }

        func send(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }
    }

    static func harness(limits: HTTPServer.Limits = .init()) async throws -> Harness {
        let observed = Observed()
        var router = HTTPRouter()
        router.add([.get, .head], "/hello") { request, response in
            response.send(.ok, fields: [("Content-Type", "text/plain")], body: ByteBuffer(string: "hello " + request.head.target))
        }
        // Echoes the body once it is complete.
        router.add([.post, .put], "/echo/*", maxBodyBytes: 1 << 20) { request, response in
            let task = Task {
                do {
                    let body = try await request.body.collect(upTo: 1 << 20)
                    observed.bodies.withLock { $0[request.head.target] = Array(body.readableBytesView) }
                    response.send(.ok, body: body)
                } catch {
                    observed.bodies.withLock { $0[request.head.target] = Array("error: \(error)".utf8) }
                }
            }
            response.cancelOnClose(task)
        }
        // Holds the body unread until released, then counts it.
        router.add([.post], "/slow", maxBodyBytes: 64 << 20) { request, response in
            Task {
                await observed.waitForRelease()
                var count = 0
                do {
                    for try await piece in request.body { count += piece.readableBytes }
                    response.send(.ok, body: ByteBuffer(string: "\(count)"))
                } catch {
                    response.sendText(.internalServerError, "\(error)")
                }
            }
        }
        // Refuses at once, without looking at the body.
        router.add([.post], "/refuse") { _, response in
            response.sendText(.forbidden, "no")
        }
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, name: "test", limits: limits),
                                router: router, logger: Logger(label: "test"))
        let channel = NIOAsyncTestingChannel()
        let reads = ReadCounter()
        try await channel.pipeline.addHandler(reads)
        try await server.configure(channel).get()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).get()
        return Harness(channel: channel, reads: reads, observed: observed)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let harness = try await Self.harness()
        try await harness.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
            + "GET /hello?again HTTP/1.1\r\nHost: x\r\n\r\n"
            + "PUT /echo/2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
            + "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
            + "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try await harness.output(containing: "HTTP/1.1 405")
        let bodies = ["hello /hello", "first", "hello /hello?again", "second", "no such resource"]
        var position = text.startIndex
        for body in bodies {
            guard let found = text.range(of: body, range: position..<text.endIndex) else {
                Issue.record("\(body) missing or out of order in \(text)")
                return
            }
            position = found.upperBound
        }
        #expect(text.contains("Allow: GET, HEAD"))
        #expect(harness.channel.isActive)
    }

    /// A client that pipelines and does not read: while the socket is not
    /// writable no further request starts, so unread responses stay bounded.
    @Test func anUnwritableSocketHoldsPipelinedRequestsBack() async throws {
        let harness = try await Self.harness()
        let channel = harness.channel
        func setWritable(_ writable: Bool) async throws {
            channel.isWritable = writable
            try await channel.testingEventLoop.executeInContext { channel.pipeline.fireChannelWritabilityChanged() }
        }
        try await harness.send("GET /hello?1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await harness.output().contains("hello /hello?1"), "a writable socket is answered at once")
        try await setWritable(false)
        let readsBefore = harness.reads.reads.load(ordering: .relaxed)
        try await harness.send("GET /hello?2 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?3 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await harness.output() == "", "no request starts while earlier answers cannot drain")
        try await channel.testingEventLoop.executeInContext { channel.pipeline.read() }
        #expect(harness.reads.reads.load(ordering: .relaxed) == readsBefore, "and the socket is not read")
        try await setWritable(true)
        let text = try await harness.output(containing: "hello /hello?3")
        let second = text.range(of: "hello /hello?2"), third = text.range(of: "hello /hello?3")
        #expect(second != nil && third != nil && second!.lowerBound < third!.lowerBound, "\(text)")
        #expect(channel.isActive)
    }

    @Test func expectContinueIsAnsweredAtOnce() async throws {
        let harness = try await Self.harness()
        try await harness.send("POST /echo/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try await harness.output(containing: "\r\n\r\n")
        #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n")
        try await harness.send("body")
        let final = try await harness.output(containing: "body")
        #expect(final.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func earlyRejectionsSendNoContinueAndClose() async throws {
        // A Content-Length over the route's limit: 413, no 100, closed.
        let harness = try await Self.harness()
        try await harness.send("POST /echo/big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n")
        let text = try await harness.output(containing: "bytes\n")
        #expect(text.hasPrefix("HTTP/1.1 413 Content Too Large\r\n") && !text.contains("100 Continue"))
        #expect(text.contains("Connection: close"))
        try await harness.channel.closeFuture.get()

        // A handler that answers before the body: no 100, and the client
        // may never send the body, so the connection closes.
        let refusing = try await Self.harness()
        try await refusing.send("POST /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
        let refused = try await refusing.output(containing: "no\n")
        #expect(refused.hasPrefix("HTTP/1.1 403 Forbidden\r\n") && refused.contains("Connection: close"))
        try await refusing.channel.closeFuture.get()

        // Without Expect the unread body is read and dropped, and the next request served.
        let draining = try await Self.harness()
        try await draining.send("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let drained = try await draining.output(containing: "hello /hello")
        #expect(drained.hasPrefix("HTTP/1.1 403") && !drained.contains("Connection: close"))
    }

    @Test func aChunkedBodyPastTheLimitGets413() async throws {
        let harness = try await Self.harness()
        try await harness.send("POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = String(repeating: "a", count: 1 << 16)
        for _ in 0..<17 {
            guard harness.channel.isActive else { break }
            try await harness.send(String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n")
        }
        let text = try await harness.output(containing: "too large")
        #expect(text.hasPrefix("HTTP/1.1 413"))
        try await harness.channel.closeFuture.get()
    }

    @Test func malformedChunksGet400() async throws {
        let harness = try await Self.harness()
        try await harness.send("POST /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        let text = try await harness.output(containing: "chunked")
        #expect(text.hasPrefix("HTTP/1.1 400"))
        try await harness.channel.closeFuture.get()
    }

    /// A consumer that lags stops the reads; it catches up and they resume.
    @Test func aLaggingBodyConsumerStopsTheReads() async throws {
        let harness = try await Self.harness()
        let piece = String(repeating: "b", count: 1 << 16)
        let total = 64
        try await harness.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: \(total * piece.utf8.count)\r\n\r\n")
        var held = false
        var sent = 0
        // The socket would deliver reads only when asked: ask before each
        // piece, as NIO's autoRead does, and stop once the handler holds them.
        while sent < total {
            let before = harness.reads.reads.load(ordering: .relaxed)
            harness.channel.read()
            if harness.reads.reads.load(ordering: .relaxed) == before {
                held = true
                break
            }
            try await harness.send(piece)
            sent += 1
        }
        #expect(held, "reads are held while the body waits for its consumer")
        #expect(sent < 16, "at most a few reads are buffered (\(sent))")
        harness.observed.release()
        // Once the consumer reads, reads resume; feed the rest as they are asked for.
        let deadline = ContinuousClock.now + .seconds(20)
        while sent < total, ContinuousClock.now < deadline {
            let before = harness.reads.reads.load(ordering: .relaxed)
            harness.channel.read()
            if harness.reads.reads.load(ordering: .relaxed) > before {
                try await harness.send(piece)
                sent += 1
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        #expect(sent == total)
        let text = try await harness.output(containing: "\(total * piece.utf8.count)")
        #expect(text.hasPrefix("HTTP/1.1 200"))
    }

    @Test func routingBySpecificity() async throws {
        var router = HTTPRouter()
        let handler = { (name: String) in
            HTTPClosureHandler { _, response in response.send(.ok, body: ByteBuffer(string: name)) }
        }
        router.add([.get], "/*", handler: handler("any"))
        router.add([.get], "/api/*", handler: handler("api"))
        router.add([.get], "/api/v0/*", handler: handler("v0"))
        router.add([.get], "/api/v0/id", handler: handler("id"))
        router.add([.post], "/api/v0/id", handler: handler("post-id"))
        router.add([.get], "/*", host: .exact("s3.example"), handler: handler("s3"))
        router.add([.get], "/*", host: .subdomains(of: "example"), handler: handler("sub"))
        func name(_ method: HTTPMethod, _ target: String, host: String? = "x") -> String {
            switch router.route(HTTPRequestHead(method: method, target: target, host: host)) {
            case .route(let route): return route.path.text + (route.methods?.map(\.rawValue).joined() ?? "") + "@\(route.host)"
            case .notFound: return "404"
            case .methodNotAllowed(let allow): return "405 " + allow.map(\.rawValue).joined(separator: ",")
            }
        }
        #expect(name(.get, "/") == "/*GET@any")
        #expect(name(.get, "/api") == "/*GET@any")
        #expect(name(.get, "/api/x") == "/api/*GET@any")
        #expect(name(.get, "/api/v0/other?q") == "/api/v0/*GET@any")
        #expect(name(.get, "/api/v0/id?x=1") == "/api/v0/idGET@any")
        #expect(name(.post, "/api/v0/id") == "/api/v0/idPOST@any")
        #expect(name(.delete, "/api/v0/id") == "405 GET,POST")
        #expect(name(.delete, "/elsewhere") == "405 GET")
        #expect(name(.get, "/a", host: "s3.example") == "/*GET@exact(\"s3.example\")")
        #expect(name(.get, "/a", host: "b.example") == "/*GET@subdomains(of: \"example\")")
        #expect(name(.get, "/a", host: "example") == "/*GET@any")
        #expect(name(.get, "/a", host: nil) == "/*GET@any")
        #expect(HTTPRouter().route(HTTPRequestHead(method: .get, target: "/")).isNotFound)
    }
}

extension HTTPRouter.Match {
    var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }
}
