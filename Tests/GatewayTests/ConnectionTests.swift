import Blocks
import Foundation
import Gateway
import Multiformats
import TestSupport
import Testing
import UnixFS

/// Bad input, limits, timeouts, keep-alive and shutdown, over real sockets:
/// each misbehaving client gets the right status or a closed connection, and
/// the server keeps serving everyone else.
@Suite struct ConnectionTests {
    static let dirWithFiles = "path_gateway_unixfs/dir-with-files.car"

    static func start(limits: GatewayConfiguration.Limits = .init()) async throws -> (TestGateway, CID) {
        let (store, roots) = try await Fixtures.store([dirWithFiles])
        return (try await TestGateway.start(store: store, limits: limits), roots[dirWithFiles]!)
    }

    /// A healthy request still works.
    static func expectServing(_ gateway: TestGateway, _ root: CID) async throws {
        let response = try await gateway.request("/ipfs/\(root)/hello.txt")
        #expect(response.status == 200 && response.text == "hello world\n")
    }

    @Test func badPathsAndCIDs() async throws {
        let (gateway, root) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        for (target, status) in [
            ("/ipfs/not-a-cid", 400),
            ("/ipfs/bafy", 400),
            ("/ipfs/QmInvalidInvalidInvalidInvalidInvalidInvalid", 400),
            ("/ipfs/", 400),
            ("/ipfs/\(root)/../\(root)/hello.txt", 400),
            ("/ipfs/\(root)/%2e%2e/hello.txt", 400),
            ("/ipfs/\(root)/%2E%2E/hello.txt", 400),
            ("/ipfs/\(root)/./hello.txt", 400),
            ("/ipfs/\(root)/a%2fb", 400),
            ("/ipfs/\(root)/a%2Fb", 400),
            ("/ipfs/\(root)/a%00b", 400),
            ("/ipfs/\(root)/%zz", 400),
            ("/ipfs/\(root)/%C3", 400),
            ("/ipfs/\(root)/missing.txt", 404),
            ("/ipfs/\(root)/hello.txt/below", 404),
            ("/ipns/example.com", 501),
            ("/", 404),
            ("/favicon.ico", 404),
        ] {
            let response = try await gateway.request(target)
            #expect(response.status == status, "\(target): \(response.text)")
            #expect(response["Content-Type"] == "text/plain; charset=utf-8", "\(target)")
            #expect(!response.text.isEmpty)
        }
        // A service worker may not claim a whole CID without its trailing slash.
        let worker = try await gateway.request("/ipfs/\(root)", headers: [("Service-Worker", "script")])
        #expect(worker.status == 400)
        try await Self.expectServing(gateway, root)
    }

    @Test func methodsOtherThanGetAndHead() async throws {
        let (gateway, root) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"] {
            let response = try await gateway.request("/ipfs/\(root)/hello.txt", method: method)
            #expect(response.status == 405, "\(method)")
            #expect(response["Allow"] == "GET, HEAD")
        }
        // A body we cannot skip: answered and closed.
        let connection = try await gateway.connect()
        try await connection.send("POST /ipfs/\(root) HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        #expect(try await connection.readResponse().status == 405)
        #expect(await connection.waitForClose())
        let chunked = try await gateway.connect()
        try await chunked.send("GET /ipfs/\(root) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(try await chunked.readResponse().status == 400)
        #expect(await chunked.waitForClose())
        try await Self.expectServing(gateway, root)
    }

    @Test func malformedHeadsAndLimits() async throws {
        let limits = GatewayConfiguration.Limits(maxURILength: 1024, maxHeaderBytes: 2048, maxHeaderCount: 20)
        let (gateway, root) = try await Self.start(limits: limits)
        defer { Task { try await gateway.stop() } }
        let long = String(repeating: "a", count: 1100)
        for (raw, status) in [
            ("GET /ipfs/\(root)/\(long) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
            ("GET /ipfs/\(root)/\(long + long + long)", 414),  // a request line that never ends
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 3000))\r\n\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<30).map { "X-\($0): y\r\n" }.joined() + "\r\n", 431),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\n\r\n", 400),  // no Host
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\nHost: x\n\n\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("\u{01}\u{02}\u{03} garbage\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ] {
            let connection = try await gateway.connect()
            try await connection.send(raw)
            let response = try await connection.readResponse()
            #expect(response.status == status, "\(raw.prefix(60))")
            #expect(await connection.waitForClose(), "the connection closes after a refused head")
        }
        try await Self.expectServing(gateway, root)
    }

    @Test func keepAlivePipeliningAndHTTP10() async throws {
        let (gateway, root) = try await Self.start()
        defer { Task { try await gateway.stop() } }
        let connection = try await gateway.connect()
        defer { connection.close() }
        // Three requests in one write: three responses, in order.
        let paths = ["hello.txt", "ascii.txt", "missing"]
        try await connection.send(paths.map { TestConnection.requestText("/ipfs/\(root)/\($0)") }.joined())
        #expect(try await connection.readResponse().text == "hello world\n")
        #expect(try await connection.readResponse().text == "hello application/vnd.ipld.car\n")
        #expect(try await connection.readResponse().status == 404)
        // And the connection is still open for more, one at a time.
        for _ in 0..<3 {
            try await connection.send(TestConnection.requestText("/ipfs/\(root)/hello.txt", method: "HEAD"))
            #expect(try await connection.readResponse(isHead: true).status == 200)
        }
        #expect(!connection.isClosed)

        let closing = try await gateway.connect()
        try await closing.send(TestConnection.requestText("/ipfs/\(root)/hello.txt", headers: [("Connection", "close")]))
        let last = try await closing.readResponse()
        #expect(last.status == 200 && last["Connection"] == "close")
        #expect(await closing.waitForClose())

        let http10 = try await gateway.connect()
        try await http10.send("GET /ipfs/\(root)/hello.txt HTTP/1.0\r\n\r\n")
        #expect(try await http10.readResponse().text == "hello world\n")
        #expect(await http10.waitForClose(), "HTTP/1.0 without keep-alive closes")

        let http10KeepAlive = try await gateway.connect()
        defer { http10KeepAlive.close() }
        try await http10KeepAlive.send("GET /ipfs/\(root)/hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let kept = try await http10KeepAlive.readResponse()
        #expect(kept["Connection"] == "keep-alive")
        try await http10KeepAlive.send("GET /ipfs/\(root)/hello.txt?format=car HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let car = try await http10KeepAlive.readResponse()
        #expect(car.status == 200 && car["Transfer-Encoding"] == nil, "no chunked encoding for HTTP/1.0: the close ends the CAR")
        #expect(!car.body.isEmpty)

        let limited = try await TestGateway.start(store: gateway.store, limits: .init(keepAliveRequests: 2))
        defer { Task { try await limited.stop() } }
        let budget = try await limited.connect()
        try await budget.send(TestConnection.requestText("/ipfs/\(root)/hello.txt"))
        #expect(try await budget.readResponse()["Connection"] == nil)
        try await budget.send(TestConnection.requestText("/ipfs/\(root)/hello.txt"))
        #expect(try await budget.readResponse()["Connection"] == "close")
        #expect(await budget.waitForClose())
    }

    @Test func slowAndIdleClientsAreTimedOut() async throws {
        let limits = GatewayConfiguration.Limits(idleTimeout: .milliseconds(1500), requestHeadTimeout: .milliseconds(1000))
        let (gateway, root) = try await Self.start(limits: limits)
        defer { Task { try await gateway.stop() } }

        // A head trickling in (slowloris): 408, then closed. A test starved
        // past the timeouts between connecting and sending finds the
        // connection rightly closed as silent and tries again; three such
        // tries fail it.
        var timedOut: TestResponse?
        for _ in 0..<3 where timedOut == nil {
            let slow = try await gateway.connect()
            guard (try? await slow.send("GET /ipfs/\(root)/hello.txt HTTP/1.1\r\n")) != nil else { continue }
            // The head timeout may already have closed it; the 408 must be there either way.
            try? await slow.send("Host: x\r\n")
            guard let response = try? await slow.readResponse() else { continue }
            timedOut = response
            #expect(await slow.waitForClose())
        }
        #expect(timedOut?.status == 408)

        // An idle keep-alive connection: closed without a word. The server
        // can close no earlier than the idle timeout after the request went
        // out (a starved client may see the close late).
        var idleClosed = false
        for _ in 0..<3 where !idleClosed {
            let idle = try await gateway.connect()
            let start = ContinuousClock.now
            guard (try? await idle.send(TestConnection.requestText("/ipfs/\(root)/hello.txt"))) != nil,
                  let response = try? await idle.readResponse() else { continue }
            #expect(response.status == 200)
            idleClosed = await idle.waitForClose(timeout: .seconds(10))
            #expect(idleClosed)
            #expect(ContinuousClock.now - start >= .milliseconds(1500))
        }
        #expect(idleClosed)

        // A connection that never sends anything goes the same way.
        let silent = try await gateway.connect()
        #expect(await silent.waitForClose(timeout: .seconds(5)))
        try await Self.expectServing(gateway, root)
    }

    /// A client that asks for a large file and never reads: the write timeout
    /// closes it, and others are served meanwhile.
    @Test func aClientThatStopsReadingIsCutOff() async throws {
        var generator = SeededBytes(seed: 9)
        let content = generator.bytes(48 << 20)
        var dag = DAGBuilder()
        let file = dag.file(content)
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let hello = dag.file(Array("hi".utf8))
        try await store.put(dag.blocks)
        let gateway = try await TestGateway.start(store: store, limits: .init(writeTimeout: .milliseconds(500)))
        defer { Task { try await gateway.stop() } }

        let stuck = try await gateway.connect(autoRead: false)
        try await stuck.send(TestConnection.requestText("/ipfs/\(file.cid)"))
        stuck.readOnce()
        // Meanwhile another client is served.
        let other = try await gateway.request("/ipfs/\(hello.cid)")
        #expect(other.text == "hi")
        // A client that does not read does not see the close either: wait
        // until the server has dropped it (the other client's connection is
        // closed too), then read what is left. A closed connection ends long
        // before the 48 MiB are through.
        #expect(await gateway.waitForConnections(atMost: 0, timeout: .seconds(20)), "the server closes the stalled connection")
        #expect(await stuck.drainUntilClosed(timeout: .seconds(10)), "the stalled connection is closed")
        #expect(stuck.receivedByteCount < content.count)
        let again = try await gateway.request("/ipfs/\(hello.cid)")
        #expect(again.text == "hi")
    }

    @Test func connectionsOverTheLimitAreRefused() async throws {
        let (gateway, root) = try await Self.start(limits: .init(maxConcurrentConnections: 2))
        defer { Task { try await gateway.stop() } }
        let first = try await gateway.connect()
        let second = try await gateway.connect()
        defer { first.close(); second.close() }
        try await first.send(TestConnection.requestText("/ipfs/\(root)/hello.txt"))
        #expect(try await first.readResponse().status == 200)
        let third = try await gateway.connect()
        #expect(try await third.readResponse().status == 503)
        #expect(await third.waitForClose())
        second.close()
        #expect(await gateway.waitForConnections(atMost: 1), "the server sees the second connection go")
        let fourth = try await gateway.connect()
        defer { fourth.close() }
        try await fourth.send(TestConnection.requestText("/ipfs/\(root)/hello.txt"))
        #expect(try await fourth.readResponse().status == 200)
    }

    /// Shutdown lets a response under way finish, closes idle connections,
    /// and stops accepting.
    @Test func gracefulShutdown() async throws {
        var generator = SeededBytes(seed: 3)
        // Larger than the socket buffers and the write high-water mark, so the
        // response is under way when shutdown starts; the grace period is
        // long because a client on a loaded machine reads slowly.
        let content = generator.bytes(6 << 20)
        var dag = DAGBuilder()
        let file = dag.file(content)
        let store = MemoryBlockStore()
        try await store.put(dag.blocks)
        let gateway = try await TestGateway.start(store: store, limits: GatewayConfiguration.Limits(shutdownGracePeriod: .seconds(60)))

        let idle = try await gateway.connect()
        let busy = try await gateway.connect(autoRead: false)
        try await busy.send(TestConnection.requestText("/ipfs/\(file.cid)"))
        busy.readOnce()
        // Shutdown starts once the response is under way.
        #expect(await waitUntil(timeout: .seconds(20)) { busy.receivedByteCount > 0 }, "the response has begun")
        let shutdown = Task { try await gateway.stop() }
        #expect(await idle.waitForClose(), "an idle connection closes at once")
        // Now read the whole body: it arrives complete, then the connection closes.
        let reader = Task {
            while !busy.isClosed {
                busy.readOnce()
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let response = try await busy.readResponse(timeout: .seconds(60))
        reader.cancel()
        #expect(response.status == 200 && response.complete && response.body == content)
        try await shutdown.value
        await #expect(throws: (any Error).self) { _ = try await TestConnection.connect(port: gateway.port) }
    }
}
