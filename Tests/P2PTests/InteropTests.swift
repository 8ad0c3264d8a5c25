import Foundation
import Logging
import Multiformats
import NIOCore
import P2P
import Testing
import TestSupport

/// tau against py-libp2p 0.8.1 (Tests/P2PTests/Peers/peer.py) over loopback:
/// TCP, multistream-select, Noise, Yamux, identify, ping, a custom echo
/// protocol, failures, and private networks. Serialized: each test runs a
/// Python process or two on a 2-core CI machine.
@Suite("Interop with py-libp2p", .serialized)
struct InteropTests {
    static let echo = "/echo/1.0.0"

    static func echoHost(swarmKey: SwarmKey? = nil, logger: Logger = Logger(label: "test")) async throws -> P2PHost {
        var limits = P2PHost.Limits()
        limits.handshakeTimeout = .seconds(5)
        let host = try await startedHost(swarmKey: swarmKey, limits: limits, logger: logger)
        host.handle(echo) { stream in
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        }
        return host
    }

    @Test func swiftDialsPython() async throws {
        let (python, address) = try await PythonPeer.listen()
        defer { python.stop() }
        let host = try await Self.echoHost()
        defer { Task { await host.shutdown() } }
        let peer = try await host.connect(address)
        #expect(peer == address.peerID)
        for _ in 0..<3 { #expect(try await host.ping(peer) < .seconds(2)) }

        // What identify told us about py-libp2p.
        let info = try #require(host.peerstore.info(peer))
        #expect(info.protocolVersion == "ipfs/0.1.0")
        #expect(info.agentVersion?.contains("py-libp2p") == true, "agent \(info.agentVersion ?? "nil")")
        #expect(info.protocols.contains("/ipfs/id/1.0.0"))
        #expect(info.protocols.contains("/ipfs/ping/1.0.0"))
        #expect(info.protocols.contains(Self.echo))
        #expect(info.addresses.contains(try #require(address.withoutPeerID)))
        let connection = try #require(host.connections(to: peer).first)
        #expect(info.observedAddress == connection.localAddress, "py-libp2p saw us at our socket address")
        #expect(info.publicKey.map { peer.matches($0) } == true)

        // What py-libp2p's own identify learned about us.
        var learned: [String: Any] = [:]
        for _ in 0..<50 {
            python.send("info \(host.peerID)")
            let line = try await python.nextLine()
            learned = try JSONSerialization.jsonObject(with: Data(line.dropFirst(5).utf8)) as? [String: Any] ?? [:]
            if (learned["protocols"] as? [String])?.contains(Self.echo) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(learned["connected"] as? Bool == true)
        #expect((learned["protocols"] as? [String])?.contains(Self.echo) == true, "\(learned)")
        #expect((learned["protocols"] as? [String])?.contains("/ipfs/ping/1.0.0") == true)
        #expect((learned["addrs"] as? [String])?.contains(host.listenAddresses[0].description) == true, "\(learned)")
    }

    @Test func pythonDialsSwift() async throws {
        let host = try await Self.echoHost()
        defer { Task { await host.shutdown() } }
        let seed = String(repeating: "42", count: 32)
        let pythonPeer = try KeyPair(seed: bytes(hex: seed)).peerID

        let ping = try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--seed", seed])
        #expect(ping.hasPrefix("ok ping "), "\(ping)")

        let line = try await PythonPeer.dial(host.dialAddress, ["identify"], options: ["--seed", seed])
        #expect(line.hasPrefix("ok identify "), "\(line)")
        let answer = try JSONSerialization.jsonObject(with: Data(line.dropFirst(12).utf8)) as? [String: Any] ?? [:]
        #expect(answer["protocolVersion"] as? String == "ipfs/0.1.0")
        #expect(answer["agentVersion"] as? String == "tau/0.1.0")
        #expect(answer["publicKey"] as? String == hex(host.identity.publicKey.protobuf))
        #expect(answer["framed"] as? Bool == true, "varint-length-prefixed, as py-libp2p expects")
        let protocols = answer["protocols"] as? [String] ?? []
        #expect(Set(protocols) == Set(host.protocols))
        #expect(protocols.contains(Self.echo) && protocols.contains("/ipfs/ping/1.0.0") && protocols.contains("/ipfs/id/1.0.0"))
        #expect((answer["listenAddrs"] as? [String]) == [host.listenAddresses[0].description])
        let observed = try Multiaddr(try #require(answer["observedAddr"] as? String))
        #expect(observed.description.hasPrefix("/ip4/127.0.0.1/tcp/"), "\(observed)")
        #expect(observed != host.listenAddresses[0], "the observed address is the dialer's socket, not ours")

        // Our identify of the inbound py-libp2p connection reached the peerstore too.
        #expect(await eventually { host.peerstore.info(pythonPeer)?.agentVersion?.contains("py-libp2p") == true })
    }

    /// 64 MiB each way over 16 concurrent streams, py-libp2p dialing and
    /// sending through our echo handler.
    @Test func echo64MiBPythonToSwift() async throws {
        let host = try await Self.echoHost()
        defer { Task { await host.shutdown() } }
        let line = try await PythonPeer.dial(host.dialAddress, ["echo", "16", String(4 << 20)], options: ["--timeout", "28"])
        let words = line.split(separator: " ")
        #expect(words.count == 5 && words[0] == "ok", "\(line)")
        if words.count == 5 { #expect(words[3] == words[4], "SHA-256 of sent and echoed data") }
    }

    /// 64 MiB each way over 16 concurrent streams, tau dialing and sending
    /// through py-libp2p's echo handler.
    @Test func echo64MiBSwiftToPython() async throws {
        let (python, address) = try await PythonPeer.listen()
        defer { python.stop() }
        let host = try await Self.echoHost()
        defer { Task { await host.shutdown() } }
        let peer = try await host.connect(address)
        let size = 4 << 20
        let results = try await withThrowingTaskGroup(of: (Int, Multihash, Multihash).self) { group in
            for index in 0..<16 {
                group.addTask {
                    let data = chachaKeystream(seed: "interop-\(index)", count: size)
                    let stream = try await host.newStream(to: peer, protocol: Self.echo)
                    async let echoed = stream.readToEnd(maxBytes: size)
                    var offset = 0
                    while offset < size {
                        let end = min(offset + 256 * 1024, size)
                        try await stream.write(ByteBuffer(bytes: data[offset..<end]))
                        offset = end
                    }
                    try await stream.closeWrite()
                    let back = try await echoed
                    return (index, Multihash(hashing: data, with: .sha2_256),
                            Multihash(hashing: Array(back.readableBytesView), with: .sha2_256))
                }
            }
            var all: [(Int, Multihash, Multihash)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 16)
        for (index, sent, received) in results { #expect(sent == received, "stream \(index)") }
    }

    @Test func wrongPeerIDFailsCleanly() async throws {
        let (python, address) = try await PythonPeer.listen()
        defer { python.stop() }
        let host = try await Self.echoHost()
        defer { Task { await host.shutdown() } }
        let wrong = try #require(address.withoutPeerID).withPeerID(KeyPair.generate().peerID)
        await #expect(throws: P2PError.peerIDMismatch) { try await host.connect(wrong) }
        #expect(host.peers().isEmpty)
        // The right ID still works afterwards.
        #expect(try await host.connect(address) == address.peerID)

        // py-libp2p dialing us under another peer ID gives up; we stay usable.
        let wrongSwift = host.listenAddresses[0].withPeerID(KeyPair.generate().peerID)
        let line = try await PythonPeer.dial(wrongSwift, ["ping"])
        #expect(line.hasPrefix("error"), "\(line)")
        let ping = try await PythonPeer.dial(host.dialAddress, ["ping"])
        #expect(ping.hasPrefix("ok ping"), "\(ping)")
    }

    /// Garbage on the listener closes that connection only: an established
    /// py-libp2p connection keeps working and new ones are accepted.
    @Test func garbageClosesThatConnectionOnly() async throws {
        let (python, address) = try await PythonPeer.listen()
        defer { python.stop() }
        let log = CapturedLog()
        let host = try await Self.echoHost(logger: log.logger)
        defer { Task { await host.shutdown() } }
        let peer = try await host.connect(address)
        for garbage in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [UInt8](repeating: 0xFF, count: 4096),
                        // Right up to a Noise message 1 too short to hold a key.
                        [0x13] + Array("/multistream/1.0.0\n".utf8) + [0x07] + Array("/noise\n".utf8) + [0x00, 0x10] + [UInt8](repeating: 7, count: 16)] {
            let closed = try RawSocket.sendAndWaitForClose(to: host.listenAddresses[0], garbage, timeout: 10)
            #expect(closed, "the listener closed the garbage connection")
        }
        #expect(try await host.ping(peer) < .seconds(2))
        #expect(host.peers() == [peer])
        let ping = try await PythonPeer.dial(host.dialAddress, ["ping"])
        #expect(ping.hasPrefix("ok ping"), "\(ping)")
        #expect(log.all.contains { $0.contains("inbound connection") && $0.contains("does not speak /multistream/1.0.0") }, "\(log.all)")
    }

    /// py-libp2p 0.8.1's private network layer is not the spec's: it sends an
    /// 8-byte nonce and uses Salsa20, where the spec (and go-libp2p, Kubo,
    /// tau) send 24 bytes and use XSalsa20. With the spec's layer patched in
    /// (peer.py --spec-pnet) py-libp2p and tau talk; with its own they cannot,
    /// and tau's log says why.
    @Test func privateNetworkWithPyLibp2p() async throws {
        let key = SwarmKey.generate()
        let keyHex = hex(key.bytes)
        let log = CapturedLog()
        let host = try await Self.echoHost(swarmKey: key, logger: log.logger)
        defer { Task { await host.shutdown() } }

        // Python dials us, spec layer, same key.
        let ping = try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--psk", keyHex, "--spec-pnet"])
        #expect(ping.hasPrefix("ok ping"), "\(ping)")
        // We dial Python, spec layer, same key; then echo through it.
        let (python, address) = try await PythonPeer.listen(["--psk", keyHex, "--spec-pnet"])
        defer { python.stop() }
        let peer = try await host.connect(address)
        let stream = try await host.newStream(to: peer, protocol: Self.echo)
        try await stream.write(ByteBuffer(string: "private"))
        try await stream.closeWrite()
        #expect(String(buffer: try await stream.readToEnd(maxBytes: 100)) == "private")

        // Other key, or no key: the handshake fails.
        let otherKey = hex(SwarmKey.generate().bytes)
        #expect(try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--psk", otherKey, "--spec-pnet", "--timeout", "8"]).hasPrefix("error"))
        #expect(try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--timeout", "8"]).hasPrefix("error"))
        // py-libp2p's own (non-spec) layer with the same key fails too.
        #expect(try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--psk", keyHex, "--timeout", "8"]).hasPrefix("error"))
        #expect(await eventually { log.all.contains { $0.contains("private network") && $0.contains("swarm key") } }, "\(log.all)")
    }
}

/// A blocking TCP client for sending bytes that are not libp2p.
enum RawSocket {
    /// Connects, sends `bytes`, then reads until the peer closes (true) or `timeout` seconds pass (false).
    static func sendAndWaitForClose(to address: Multiaddr, _ bytes: [UInt8], timeout: Int) throws -> Bool {
        guard let target = address.tcpTarget, case .ip4(let ip) = target.host else { throw PeerFailure("need /ip4/…/tcp/…") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PeerFailure("socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = target.port.bigEndian
        addr.sin_addr.s_addr = UInt32(ip[0]) | UInt32(ip[1]) << 8 | UInt32(ip[2]) << 16 | UInt32(ip[3]) << 24
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw PeerFailure("connect failed: \(errno)") }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}
