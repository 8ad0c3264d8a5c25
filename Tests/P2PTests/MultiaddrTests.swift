import Foundation
import P2P
import Testing
import TestSupport

@Suite("Multiaddr")
struct MultiaddrTests {
    static let peer = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
    static let valid = [
        "/ip4/127.0.0.1/tcp/4001",
        "/ip4/0.0.0.0/tcp/0",
        "/ip4/255.255.255.255/tcp/65535",
        "/ip6/::1/tcp/4001",
        "/ip6/2001:db8::ff00:42:8329/udp/53/quic-v1",
        "/ip6/::ffff:1.2.3.4/tcp/80",
        "/dns/example.com/tcp/443/wss",
        "/dns4/example.com/tcp/443",
        "/dns6/ipv6.example.com/tcp/443/tls/ws",
        "/dnsaddr/bootstrap.libp2p.io/p2p-circuit",
        "/ip4/1.2.3.4/tcp/1/p2p/\(peer)",
        "/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        "/ip4/10.0.0.1/udp/4001/quic",
    ]

    @Test func textAndBinaryRoundTrip() throws {
        for text in Self.valid {
            let address = try Multiaddr(text)
            #expect(address.description == text)
            #expect(try Multiaddr(bytes: address.bytes) == address)
        }
    }

    /// The binary forms equal those of the Python `multiaddr` package (py-libp2p's).
    @Test func binaryMatchesPython() throws {
        let output = try runPython("""
            import sys
            from multiaddr import Multiaddr
            for text in sys.argv[1:]:
                print(Multiaddr(text).to_bytes().hex())
            """, arguments: Self.valid)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines == (try Self.valid.map { hex(try Multiaddr($0).bytes) }))
    }

    @Test func aliasesAndCanonicalText() throws {
        #expect(try Multiaddr("/ipfs/\(Self.peer)").description == "/p2p/\(Self.peer)")
        // A peer ID given as a CID prints as base58btc.
        let cid = try PeerID(Self.peer).string(base: .base36)
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/5/p2p/\(cid)").description == "/ip4/1.2.3.4/tcp/5/p2p/\(Self.peer)")
        #expect(try Multiaddr("/ip6/0:0:0:0:0:0:0:1/tcp/1").description == "/ip6/::1/tcp/1")
        #expect(try Multiaddr("/ip6/2001:DB8::1/tcp/1").description == "/ip6/2001:db8::1/tcp/1")
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/80/").description == "/ip4/1.2.3.4/tcp/80")
        #expect(hex(try Multiaddr("/ip4/127.0.0.1/tcp/4001").bytes) == "047f000001060fa1")
    }

    @Test func malformed() throws {
        let bad = [
            "", "/", "//", "ip4/1.2.3.4", "/ip4", "/ip4/", "/ip4/1.2.3", "/ip4/1.2.3.4.5", "/ip4/256.1.1.1",
            "/ip4/01.2.3.4", "/ip4/1.2.3.-4", "/ip4/ 1.2.3.4", "/ip6/1.2.3.4", "/ip6/:::", "/ip6/1::2::3",
            "/tcp/65536", "/tcp/-1", "/tcp/1e3", "/tcp/", "/tcp/123456", "/udp/abc", "/dns4/", "/p2p/notapeer",
            "/p2p/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "/unknown/1", "/ip4/1.2.3.4//tcp/1",
            "/ip4/1.2.3.4/tcp/1//", "/dns/" + String(repeating: "a", count: 256),
        ]
        for text in bad {
            #expect(throws: P2PError.self, "\(text)") { try Multiaddr(text) }
        }
        let badBinary: [[UInt8]] = [
            [], [0x04, 1, 2, 3], [0x06, 0x0f], [0x35, 0x05, 0x61], [0x35, 0x00], [0x35, 0x01, 0x2f],
            [0xa5, 0x03, 0x02, 0x00, 0x00], [0x99, 0x01], [0x80], [0x04, 1, 2, 3, 4, 0x06],
            [0x35, 0x02, 0xff, 0xfe],
        ]
        for input in badBinary {
            #expect(throws: P2PError.self, "\(hex(input))") { try Multiaddr(bytes: input) }
        }
        #expect(throws: P2PError.limitExceeded) { try Multiaddr(String(repeating: "/tcp/1", count: 400)) }
        #expect(throws: P2PError.limitExceeded) { try Multiaddr(String(repeating: "/p2p-circuit", count: 700)) }
        // The text of the longest binary form parses (found by FuzzMultiaddr: 1024 bytes of /p2p-circuit print as 6144 characters).
        let circuits = try Multiaddr(bytes: Array(repeating: [0xa2, 0x02] as [UInt8], count: 512).flatMap { $0 })
        #expect(try Multiaddr(circuits.description) == circuits)
    }

    @Test func dialTargetsAndPeerIDs() throws {
        let peer = try PeerID(Self.peer)
        let address = try Multiaddr("/dns4/example.com/tcp/4001/p2p/\(Self.peer)")
        #expect(address.peerID == peer)
        #expect(address.withoutPeerID?.description == "/dns4/example.com/tcp/4001")
        #expect(address.tcpTarget?.port == 4001)
        #expect(try Multiaddr("/ip4/1.2.3.4/udp/1/quic-v1").tcpTarget == nil)
        #expect(try Multiaddr("/p2p/\(Self.peer)").withoutPeerID == nil)
        #expect(try Multiaddr("/ip4/1.2.3.4/tcp/1").withPeerID(peer).description == "/ip4/1.2.3.4/tcp/1/p2p/\(Self.peer)")
    }
}
