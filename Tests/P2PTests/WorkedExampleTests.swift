import Crypto
import NIOCore
import P2P
import Testing

/// The worked examples of formats/libp2p.md, section 12.
@Suite("formats/libp2p.md worked examples")
struct WorkedExampleTests {
    @Test func multistreamFirstFlight() throws {
        var dialer = MultistreamSelect(proposing: ["/noise"])
        var flight = ByteBuffer()
        dialer.start(into: &flight)
        #expect(flight.readableBytes == 28)
        #expect(hex(flight.readableBytesView) == "132f6d756c746973747265616d2f312e302e300a" + "072f6e6f6973650a")
        var listener = MultistreamSelect(supporting: ["/noise"])
        var answer = ByteBuffer()
        var input = flight
        #expect(try listener.receive(&input, output: &answer) == .selected("/noise"))
        #expect(hex(answer.readableBytesView) == "132f6d756c746973747265616d2f312e302e300a" + "072f6e6f6973650a")
    }

    @Test func noiseFrameSizes() throws {
        var initiator = NoiseUpgrade(initiator: true, identity: .generate(), staticKey: .init())
        var responder = NoiseUpgrade(initiator: false, identity: .generate(), staticKey: .init())
        var message1 = ByteBuffer()
        try initiator.start(into: &message1)
        #expect(hex(message1.readableBytesView.prefix(2)) == "0020" && message1.readableBytes == 34)
        var message2 = ByteBuffer()
        var input = message1
        #expect(try responder.receive(&input, output: &message2) == nil)
        #expect(hex(message2.readableBytesView.prefix(2)) == "00c8" && message2.readableBytes == 202)
        var message3 = ByteBuffer()
        input = message2
        let initiatorSession = try #require(try initiator.receive(&input, output: &message3))
        #expect(hex(message3.readableBytesView.prefix(2)) == "00a8" && message3.readableBytes == 170)
        input = message3
        var nothing = ByteBuffer()
        _ = try #require(try responder.receive(&input, output: &nothing))
        var transport = initiatorSession.makeTransport()
        var frame = ByteBuffer()
        try transport.encrypt([ByteBuffer(string: "hello")], totalBytes: 5, into: &frame)
        #expect(hex(frame.readableBytesView.prefix(2)) == "0015" && frame.readableBytes == 23)
    }

    @Test func yamuxHeaders() {
        #expect(hex(YamuxHeader(type: .windowUpdate, flags: .syn, streamID: 1, length: 0).encoded) == "000100010000000100000000")
        #expect(hex(YamuxHeader(type: .data, flags: .fin, streamID: 0x0102_0304, length: 5).encoded) == "000000040102030400000005")
        #expect(hex(YamuxHeader(type: .ping, flags: .syn, streamID: 0, length: 42).encoded) == "00020001000000000000002a")
        #expect(hex(YamuxHeader(type: .goAway, streamID: 0, length: 0).encoded) == "000300000000000000000000")
    }

    @Test func keyFileAndPeerID() throws {
        let file = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
        let pair = try KeyPair(privateKeyProtobuf: bytes(hex: file))
        #expect(pair.privateKeyProtobuf.count == 68)
        #expect(pair.peerID.description == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
        #expect(pair.peerID.string(base: .base36) == "k51qzi5uqu5dgy8qsq67hbz73jqkw87l3fgf4a91qb0d9b5173tir7n4vxk1oe")
        #expect(pair.peerID.string(base: .base32) == "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6")
    }

    @Test func peerIDsOfOtherKeyTypes() throws {
        let secp = try PublicKey(protobuf: bytes(hex: PeerKeyTests.specSecp256k1))
        #expect(secp.protobuf.count == 37)
        #expect(hex(secp.peerID.bytes.prefix(8)) == "0025080212210377")
        #expect(secp.peerID.description == "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY")
        let ecdsa = try PublicKey(protobuf: bytes(hex: PeerKeyTests.specECDSA))
        #expect(ecdsa.protobuf.count == 95)
        #expect(hex(ecdsa.peerID.bytes.prefix(8)) == "122068362c312e15")
        #expect(ecdsa.peerID.description == "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk")
        let rsa = try PublicKey(protobuf: bytes(hex: PeerKeyTests.specRSA))
        #expect(rsa.protobuf.count == 555)
        #expect(hex(rsa.protobuf.prefix(9)) == "080012a60430820222")
        #expect(rsa.peerID.description == "QmaeANgBs1DTSxWSrPPtobgQuxW8XTfsS4ydbK4rCHzqxG")
    }

    @Test func pnetFirstByte() {
        var stream = XSalsa20Stream(key: Array("this is 32-byte key for xsalsa20".utf8), nonce: Array("24-byte nonce for xsalsa".utf8))
        var header: [UInt8] = [0x13]
        stream.apply(&header)
        #expect(header == [0x5b])
    }
}
