import Foundation
import NIOCore
import P2P
import Synchronization
import Testing
import TestSupport

@Suite("P2PHost: Swift with Swift over loopback")
struct HostTests {
    @Test func echoPingAndIdentify() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        b.handle("/echo/1.0.0") { stream in
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
        let peer = try await a.connect(b.dialAddress)
        #expect(peer == b.peerID)
        let stream = try await a.newStream(to: b.peerID, protocol: "/echo/1.0.0")
        #expect(stream.protocolID == "/echo/1.0.0")
        try await stream.write(ByteBuffer(string: "hello, tau"))
        try await stream.closeWrite()
        let echoed = try await stream.readToEnd(maxBytes: 1 << 20)
        #expect(String(buffer: echoed) == "hello, tau")

        let rtt = try await a.ping(b.peerID)
        #expect(rtt < .seconds(1))

        let info = try #require(a.peerstore.info(b.peerID))
        #expect(info.agentVersion == "tau/0.1.0")
        #expect(info.protocols.contains("/echo/1.0.0"))
        #expect(info.addresses.contains(b.listenAddresses[0]))
        #expect(a.peers() == [b.peerID])
        #expect(await eventually { b.peers() == [a.peerID] })
        await a.shutdown()
        await b.shutdown()
    }

    static func quickLimits() -> P2PHost.Limits {
        var limits = P2PHost.Limits()
        limits.handshakeTimeout = .seconds(3)
        return limits
    }

    @Test func privateNetworks() async throws {
        let key = SwarmKey.generate()
        let log = CapturedLog()
        let a = try await startedHost(swarmKey: key, limits: Self.quickLimits(), logger: log.logger)
        let b = try await startedHost(swarmKey: key, limits: Self.quickLimits())
        let other = try await startedHost(swarmKey: .generate(), limits: Self.quickLimits())
        let open = try await startedHost(limits: Self.quickLimits())
        #expect(try await a.connect(b.dialAddress) == b.peerID)
        #expect(try await a.ping(b.peerID) < .seconds(1))
        await #expect(throws: P2PError.self) { try await other.connect(a.dialAddress) }
        await #expect(throws: P2PError.self) { try await open.connect(a.dialAddress) }
        await #expect(throws: P2PError.self) { try await a.connect(open.dialAddress) }
        #expect(a.peers() == [b.peerID])
        #expect(await eventually {
            log.all.contains { $0.contains("inbound connection") && $0.contains("private network of swarm key \(key.fingerprint)") }
        }, "\(log.all)")
        for host in [a, b, other, open] { await host.shutdown() }
    }

    @Test func connectionLimit() async throws {
        var limits = Self.quickLimits()
        limits.maxConnections = 1
        let log = CapturedLog()
        let a = try await startedHost(limits: limits, logger: log.logger)
        let b = try await startedHost()
        let c = try await startedHost()
        try await b.connect(a.dialAddress)
        await #expect(throws: P2PError.self) { try await c.connect(a.dialAddress) }
        #expect(log.all.contains { $0.contains("refusing connection") })
        #expect(a.peers() == [b.peerID])
        for host in [a, b, c] { await host.shutdown() }
    }

    @Test func streamsPerPeerLimit() async throws {
        var limits = P2PHost.Limits()
        limits.maxStreamsPerPeer = 2
        let a = try await startedHost(limits: limits)
        let b = try await startedHost()
        a.handle("/hold/1.0.0") { stream in _ = try await stream.readToEnd(maxBytes: 1 << 20) }
        try await b.connect(a.dialAddress)
        // Identify's streams are done once connect returns; two streams fit.
        let first = try await b.newStream(to: a.peerID, protocol: "/hold/1.0.0")
        let second = try await b.newStream(to: a.peerID, protocol: "/hold/1.0.0")
        await #expect(throws: P2PError.streamReset) { try await b.newStream(to: a.peerID, protocol: "/hold/1.0.0") }
        try await first.closeWrite()
        _ = try await first.readToEnd(maxBytes: 10)
        #expect(await eventually {
            (try? await b.newStream(to: a.peerID, protocol: "/hold/1.0.0")) != nil
        })
        second.reset()
        await a.shutdown()
        await b.shutdown()
    }

    @Test func idleConnectionsClose() async throws {
        var limits = P2PHost.Limits()
        limits.idleTimeout = .milliseconds(300)
        let a = try await startedHost(limits: limits)
        let b = try await startedHost()
        try await b.connect(a.dialAddress)
        #expect(await eventually(timeout: .seconds(5)) { b.peers().isEmpty && a.peers().isEmpty })
        await a.shutdown()
        await b.shutdown()
    }

    @Test func resetsAndUnknownProtocols() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        a.handle("/reset/1.0.0") { stream in
            _ = try await stream.read()
            stream.reset()
        }
        let gotReset = AsyncStream<Bool>.makeStream()
        a.handle("/wait/1.0.0") { stream in
            do {
                while try await stream.read() != nil {}
                gotReset.continuation.yield(false)
            } catch let error as P2PError {
                gotReset.continuation.yield(error == .streamReset)
            }
        }
        try await b.connect(a.dialAddress)
        let resetByServer = try await b.newStream(to: a.peerID, protocol: "/reset/1.0.0")
        try await resetByServer.write(ByteBuffer(string: "x"))
        await #expect(throws: P2PError.streamReset) { _ = try await resetByServer.readToEnd(maxBytes: 10) }
        await #expect(throws: P2PError.self) {
            for _ in 0..<100 {
                try await resetByServer.write(ByteBuffer(string: "more"))
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let resetByClient = try await b.newStream(to: a.peerID, protocol: "/wait/1.0.0")
        try await resetByClient.write(ByteBuffer(string: "x"))
        resetByClient.reset()
        var iterator = gotReset.stream.makeAsyncIterator()
        #expect(await iterator.next() == true)
        await #expect(throws: P2PError.protocolNotSupported) { try await b.newStream(to: a.peerID, protocol: "/nope/1.0.0") }
        // The connection survives all of it.
        #expect(try await b.ping(a.peerID) < .seconds(1))
        await a.shutdown()
        await b.shutdown()
    }

    /// A reader that does not read holds the writer at the stream window.
    @Test func backpressure() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        let release = AsyncStream<Void>.makeStream()
        a.handle("/slow/1.0.0") { stream in
            var iterator = release.stream.makeAsyncIterator()
            await iterator.next()
            _ = try await stream.readToEnd(maxBytes: 16 << 20)
        }
        try await b.connect(a.dialAddress)
        let stream = try await b.newStream(to: a.peerID, protocol: "/slow/1.0.0")
        let written = Counter()
        let writer = Task {
            let chunk = ByteBuffer(repeating: 7, count: 64 * 1024)
            for _ in 0..<128 {
                try await stream.write(chunk)
                written.add(chunk.readableBytes)
            }
            try await stream.closeWrite()
        }
        // The writer fills the peer's window, then stops: wait until it has
        // begun and its count holds still.
        #expect(await eventually(timeout: .seconds(10)) { written.value > 0 })
        var stalled = written.value
        var stableSince = ContinuousClock.now
        while ContinuousClock.now - stableSince < .milliseconds(300) {
            try await Task.sleep(for: .milliseconds(10))
            if written.value != stalled { stalled = written.value; stableSince = ContinuousClock.now }
            if stalled > YamuxConfiguration.initialWindow + 64 * 1024 { break }
        }
        #expect(stalled <= YamuxConfiguration.initialWindow + 64 * 1024, "\(stalled) bytes accepted while nobody read")
        release.continuation.yield()
        try await writer.value
        #expect(written.value == 128 * 64 * 1024)
        await a.shutdown()
        await b.shutdown()
    }

    @Test func shutdownClosesStreamsAndConnections() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        a.handle("/hold/1.0.0") { stream in _ = try await stream.readToEnd(maxBytes: 1 << 20) }
        try await b.connect(a.dialAddress)
        let stream = try await b.newStream(to: a.peerID, protocol: "/hold/1.0.0")
        await a.shutdown()
        await #expect(throws: P2PError.self) { _ = try await stream.readToEnd(maxBytes: 10) }
        #expect(await eventually { b.peers().isEmpty })
        await #expect(throws: P2PError.notRunning) { try await a.connect(b.dialAddress) }
        await b.shutdown()
    }

    @Test func dialFormsAndSelf() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        b.handle("/echo/1.0.0") { stream in
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
        let port = b.listenAddresses[0].tcpTarget!.port
        // A DNS name, and an address without a peer ID (anyone may answer).
        #expect(try await a.connect(try Multiaddr("/dns4/localhost/tcp/\(port)/p2p/\(b.peerID)")) == b.peerID)
        await a.disconnect(b.peerID)
        #expect(await eventually { a.peers().isEmpty })
        #expect(try await a.connect(try Multiaddr("/ip4/127.0.0.1/tcp/\(port)")) == b.peerID)
        // newStream by address reuses the connection.
        let stream = try await a.newStream(to: b.dialAddress, protocol: "/echo/1.0.0")
        #expect(a.connections(to: b.peerID).count == 1)
        await stream.close()
        await #expect(throws: P2PError.peerIDMismatch) { try await a.connect(a.dialAddress) }
        await #expect(throws: P2PError.unsupported) { try await a.connect(try Multiaddr("/ip4/127.0.0.1/udp/1/quic-v1")) }
        await #expect(throws: P2PError.self) { try await a.connect(try Multiaddr("/ip4/127.0.0.1/tcp/1")) }
        // A peer known only by ID is dialed from the peerstore.
        await a.disconnect(b.peerID)
        #expect(await eventually { a.peers().isEmpty })
        #expect(try await a.ping(b.peerID) < .seconds(1))
        await a.shutdown()
        await b.shutdown()
    }

    /// 64 MiB each way over 16 concurrent streams, Swift to Swift.
    @Test func manyStreamsIntegrity() async throws {
        let a = try await startedHost()
        let b = try await startedHost()
        b.handle("/echo/1.0.0") { stream in
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
        try await a.connect(b.dialAddress)
        let size = 4 << 20
        let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    let data = chachaKeystream(seed: "swift-\(index)", count: size)
                    let stream = try await a.newStream(to: b.peerID, protocol: "/echo/1.0.0")
                    async let echoed = stream.readToEnd(maxBytes: size)
                    var offset = 0
                    while offset < size {
                        let end = min(offset + 1 << 20, size)
                        try await stream.write(ByteBuffer(bytes: data[offset..<end]))
                        offset = end
                    }
                    try await stream.closeWrite()
                    return Array(try await echoed.readableBytesView) == data
                }
            }
            var all = true
            for try await result in group { all = all && result }
            return all
        }
        #expect(ok)
        await a.shutdown()
        await b.shutdown()
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
}
