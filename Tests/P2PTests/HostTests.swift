import Foundation
import NIOCore
import P2P
import Testing

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
}
