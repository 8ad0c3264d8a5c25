import P2P
import Testing
import TestSupport

@Suite("Identify message")
struct IdentifyTests {
    @Test func roundTripAndMatchesPyLibp2p() throws {
        let identity = KeyPair.generate()
        let message = IdentifyMessage(
            protocolVersion: "ipfs/0.1.0", agentVersion: "tau/0.1.0", publicKey: identity.publicKey.protobuf,
            listenAddrs: [try Multiaddr("/ip4/127.0.0.1/tcp/4001").bytes, try Multiaddr("/ip6/::1/tcp/4001").bytes],
            observedAddr: try Multiaddr("/ip4/10.0.0.1/tcp/5555").bytes, protocols: ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"])
        #expect(try IdentifyMessage(decoding: message.encoded) == message)
        #expect(message.parsedListenAddrs.map(\.description) == ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"])
        #expect(message.parsedPublicKey == identity.publicKey)
        let output = try runPython("""
            import sys
            from libp2p.identity.identify.pb.identify_pb2 import Identify
            m = Identify()
            m.ParseFromString(bytes.fromhex(sys.argv[1]))
            print(m.agent_version, m.protocol_version, len(m.listen_addrs), ",".join(m.protocols))
            print(m.SerializeToString().hex())
            """, arguments: [hex(message.encoded)])
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0] == "tau/0.1.0 ipfs/0.1.0 2 /ipfs/id/1.0.0,/ipfs/ping/1.0.0")
        #expect(try IdentifyMessage(decoding: bytes(hex: lines[1])) == message)
    }

    @Test func mergingAndLimits() throws {
        var message = try IdentifyMessage(decoding: IdentifyMessage(agentVersion: "a", protocols: ["/x"]).encoded)
        try message.merge(decoding: IdentifyMessage(agentVersion: "b", protocols: ["/y"]).encoded)
        #expect(message.agentVersion == "b")
        #expect(message.protocols == ["/x", "/y"])
        // Unknown fields are skipped; bad wire types and truncation are errors.
        #expect(try IdentifyMessage(decoding: [0x38, 0x01] + IdentifyMessage(agentVersion: "c").encoded).agentVersion == "c")
        #expect(throws: P2PError.malformed) { try IdentifyMessage(decoding: [0x30, 0x01]) }
        #expect(throws: P2PError.malformed) { try IdentifyMessage(decoding: [0x32, 0x05, 0x61]) }
        #expect(throws: P2PError.malformed) { try IdentifyMessage(decoding: [0x32, 0x02, 0xff, 0xfe]) }
        let many = IdentifyMessage(listenAddrs: Array(repeating: [4, 1, 2, 3, 4], count: IdentifyMessage.maxListenAddrs + 1))
        #expect(throws: P2PError.limitExceeded) { try IdentifyMessage(decoding: many.encoded) }
        #expect(throws: P2PError.limitExceeded) { try IdentifyMessage(decoding: [UInt8](repeating: 0, count: IdentifyMessage.maxLength + 1)) }
    }
}
