import Bitswap
import Blocks
import Multiformats
import NIOCore
import Testing

@Suite("Bitswap message codec")
struct MessageTests {
    /// The worked example of formats/bitswap.md, section 8: bytes produced by
    /// py-libp2p 0.8.1's generated protobuf code (`bitswap_pb2.Message`) for
    /// the same message.
    static let workedExample = "0a580a2c0a24015512202bfcf64c38aeb71a5f36b5aa43dd96cd81c76452533e46061a35e4c46c87eaf1"
        + "1001200128010a280a2401551220cba06b5736faf67e54b07b561eae94395e774c517a7d910a54369e1263ccfbd418011a0d"
        + "0a0401551220120568656c6c6f22280a2401551220140bedbf9c3f6d56a9846d2ba7088798683f4da0c248231336e6a05679"
        + "e4fdfe1001288008"

    static var exampleMessage: BitswapMessage {
        BitswapMessage(
            wantlist: [
                .init(cid: rawBlock("tau").cid, priority: 1, wantType: .have, sendDontHave: true),
                .cancel(rawBlock("old").cid),
            ],
            blocks: [rawBlock("hello")],
            presences: [.init(cid: rawBlock("none").cid, type: .dontHave)],
            pendingBytes: 1024)
    }

    @Test func workedExampleMatchesPyLibp2p() throws {
        let encoded = Self.exampleMessage.encoded()
        #expect(encoded.count == 150)
        #expect(hex(encoded) == Self.workedExample)
        #expect(hex(Self.exampleMessage.framed().prefix(2)) == "9601", "length 150 as a varint")
        let decoded = try BitswapMessage(decoding: bytes(hex: Self.workedExample))
        #expect(decoded == Self.exampleMessage)
    }

    /// The sender writes frames straight into a ByteBuffer and the receiver
    /// decodes from the stream's buffer: the same bytes as `framed(for:)` for
    /// every version, and the same message back, also from a slice whose
    /// reader index is not 0 (a frame cut out of a larger read).
    @Test func byteBufferFramesMatchArrayFrames() throws {
        let v0 = Block(hashing: [0x0a, 0x02, 0x08, 0x01], codec: .dagPB, version: .v0)
        let large = Block(hashing: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }, codec: .raw)
        let messages = [
            Self.exampleMessage,
            BitswapMessage(),
            BitswapMessage(pendingBytes: 7),
            BitswapMessage(blocks: [v0, large, rawBlock("z")]),
            BitswapMessage(wantlist: [.cancel(v0.cid)], full: true, blocks: [large],
                           presences: [.init(cid: v0.cid, type: .have)]),
        ]
        for message in messages {
            for version in BitswapProtocol.allCases {
                var buffer = ByteBuffer()
                message.writeFramed(for: version, into: &buffer)
                let framed = message.framed(for: version)
                #expect(Array(buffer.readableBytesView) == framed, "\(version)")
                var withPrefix = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE])
                withPrefix.writeBytes(framed)
                withPrefix.moveReaderIndex(forwardBy: 3)
                var index = 0
                let length = try Varint.decode(framed, at: &index)
                withPrefix.moveReaderIndex(forwardBy: index)
                let body = withPrefix.readSlice(length: Int(length))!
                #expect(try BitswapMessage(decoding: body) == BitswapMessage(decoding: message.encoded(for: version)))
            }
        }
        var oversized = ByteBuffer()
        BitswapMessage(blocks: [large]).writeFramed(into: &oversized)
        #expect(throws: BitswapError.self) {
            try BitswapMessage(decoding: oversized, limits: .init(maxMessageSize: 1000))
        }
    }

    @Test func negativePriorityIsTenByteVarint() throws {
        // py-libp2p: Entry(block=cid("x"), priority=-2)
        let expected = "0a330a310a24015512202d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
            + "10feffffffffffffffff01"
        let message = BitswapMessage(wantlist: [.init(cid: rawBlock("x").cid, priority: -2)])
        #expect(hex(message.encoded()) == expected)
        #expect(try BitswapMessage(decoding: bytes(hex: expected)).wantlist[0].priority == -2)
    }

    @Test func roundTripEveryField() throws {
        let v0 = Block(hashing: [0x0a, 0x02, 0x08, 0x01], codec: .dagPB, version: .v0)
        #expect(v0.cid.version == .v0)
        let message = BitswapMessage(
            wantlist: [
                .init(cid: v0.cid, priority: Int32.max, wantType: .block, sendDontHave: false),
                .init(cid: rawBlock("a").cid, priority: Int32.min, wantType: .have, sendDontHave: true),
                .cancel(rawBlock("b").cid),
            ],
            full: true,
            blocks: [v0, rawBlock("c"), Block(hashing: Array("d".utf8), codec: .dagCBOR)],
            presences: [.init(cid: rawBlock("e").cid, type: .have), .init(cid: v0.cid, type: .dontHave)],
            pendingBytes: Int32.max)
        #expect(try BitswapMessage(decoding: message.encoded()) == message)
        #expect(try BitswapMessage(decoding: BitswapMessage().encoded()) == BitswapMessage())
        #expect(BitswapMessage().encoded().isEmpty)
    }

    @Test func olderVersionsLeaveOutWhatTheyLack() throws {
        let v0 = Block(hashing: [0x0a, 0x00], codec: .dagPB, version: .v0)
        let message = BitswapMessage(
            wantlist: [.init(cid: v0.cid, wantType: .block, sendDontHave: true),
                       .init(cid: rawBlock("h").cid, wantType: .have, sendDontHave: true)],
            blocks: [v0],
            presences: [.init(cid: rawBlock("p").cid, type: .have)])
        // 1.0.0: bare block bytes (field 2), no want-have, no presences, no 1.2.0 entry fields.
        let old = try BitswapMessage(decoding: message.encoded(for: .v100))
        #expect(old.wantlist == [.init(cid: v0.cid, wantType: .block, sendDontHave: false)])
        #expect(old.blocks == [v0])
        #expect(old.presences.isEmpty)
        #expect(message.encoded(for: .v100).contains(0x12), "field 2 tag")
        // 1.1.0: payload with prefix, still no presences.
        let middle = try BitswapMessage(decoding: message.encoded(for: .v110))
        #expect(middle.blocks == [v0])
        #expect(middle.presences.isEmpty)
        #expect(middle.wantlist.count == 1)
    }

    @Test func prefixes() throws {
        let v0 = Block(hashing: [1, 2, 3], codec: .dagPB, version: .v0)
        #expect(CIDPrefix(v0.cid).bytes == [0x00, 0x70, 0x12, 0x20])
        #expect(CIDPrefix(rawBlock("x").cid).bytes == [0x01, 0x55, 0x12, 0x20])
        // py-libp2p sends an empty prefix for CIDv0 blocks.
        #expect(try CIDPrefix(parsing: []).block(for: v0.bytes) == v0)
        #expect(try CIDPrefix(parsing: [0x00, 0x70, 0x12, 0x20][...]).block(for: v0.bytes) == v0)
        for bad: [UInt8] in [
            [0x01, 0x55, 0x12, 0x10],        // sha2-256 with 16 digest bytes
            [0x01, 0x55, 0x00, 0x05],        // identity: a block is never named by itself here
            [0x01, 0x55, 0x99, 0x01, 0x20],  // unknown hash function
            [0x02, 0x55, 0x12, 0x20],        // CID version 2
            [0x00, 0x55, 0x12, 0x20],        // CIDv0 that is not dag-pb
            [0x01, 0x55, 0x12],              // truncated
            [0x01, 0x55, 0x12, 0x20, 0x00],  // trailing byte
        ] {
            #expect(throws: BitswapError.malformed, "\(hex(bad))") { try CIDPrefix(parsing: bad[...]) }
        }
    }

    @Test func malformedMessages() throws {
        let cid = rawBlock("x").cid.bytes
        func entry(_ fields: [UInt8]) -> [UInt8] {
            let list = [0x0a, UInt8(fields.count)] + fields
            return [0x0a, UInt8(list.count)] + list
        }
        let cases: [(String, [UInt8])] = [
            ("CID that is not a CID", entry([0x0a, 0x03, 0x01, 0x55, 0x12])),
            ("entry without a CID", entry([0x10, 0x01])),
            ("CID field as a varint", entry([0x08, 0x01])),
            ("truncated length", [0x0a, 0x05, 0x0a]),
            ("bad wire type 7", [0x0f]),
            ("group wire type", [0x0b]),
            ("field number 0", [0x02, 0x00]),
            ("overlong varint", [0x28] + [UInt8](repeating: 0xff, count: 10) + [0x01]),
            ("presence with a bad CID", [0x22, 0x04, 0x0a, 0x02, 0x12, 0x20]),
            ("presence without a CID", [0x22, 0x02, 0x10, 0x01]),
            ("payload with a bad prefix", [0x1a, 0x06, 0x0a, 0x02, 0x01, 0x55, 0x12, 0x00]),
            ("wantlist as a varint", [0x08, 0x01]),
        ]
        for (name, input) in cases {
            #expect(throws: BitswapError.malformed, "\(name)") { try BitswapMessage(decoding: input) }
        }
        _ = cid
    }

    @Test func everyTruncationIsRefusedOrParsedWithoutTrapping() throws {
        let encoded = Self.exampleMessage.encoded()
        for cut in 0..<encoded.count {
            do {
                _ = try BitswapMessage(decoding: Array(encoded.prefix(cut)))
            } catch let error {
                #expect(error == .malformed, "cut at \(cut)")
            }
        }
        // Flipping each byte never traps either.
        for index in encoded.indices {
            var mutated = encoded
            mutated[index] ^= 0xa5
            _ = try? BitswapMessage(decoding: mutated)
        }
    }

    @Test func limits() throws {
        let small = BitswapMessage.Limits(maxMessageSize: 200, maxBlockSize: 4, maxEntries: 2, maxPresences: 1,
                                          maxBlocks: 1)
        let big = BitswapMessage(blocks: [rawBlock("hello")]).encoded()
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: big, limits: small) }
        let manyEntries = BitswapMessage(wantlist: ["a", "b", "c"].map { .init(cid: rawBlock($0).cid) }).encoded()
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: manyEntries, limits: small) }
        let twoBlocks = BitswapMessage(blocks: [rawBlock("a"), rawBlock("b")]).encoded()
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: twoBlocks, limits: small) }
        let presences = BitswapMessage(presences: [.init(cid: rawBlock("a").cid, type: .have),
                                                   .init(cid: rawBlock("b").cid, type: .have)]).encoded()
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: presences, limits: small) }
        #expect(throws: BitswapError.limitExceeded) {
            try BitswapMessage(decoding: [UInt8](repeating: 0, count: 201), limits: small)
        }
        // Defaults: 4 MiB messages, 2 MiB blocks, 4096 entries.
        let defaults = BitswapMessage.Limits()
        #expect(defaults.maxMessageSize == 4 << 20 && defaults.maxBlockSize == 2 << 20 && defaults.maxEntries == 4096)
        let oversized = BitswapMessage(blocks: [rawBlock(size: (2 << 20) + 1, seed: 1)]).encoded()
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: oversized) }
        let largest = rawBlock(size: 2 << 20, seed: 2)
        #expect(try BitswapMessage(decoding: BitswapMessage(blocks: [largest]).encoded()).blocks == [largest])
        // A 100,000-entry wantlist (under 4 MiB on the wire) stops at entry 4097.
        let entries = (0..<100_000).map { i in
            BitswapMessage.Entry(cid: CID.v1(.raw, Multihash(code: 0x12, digest: withUnsafeBytes(of: UInt64(i)) {
                Array($0) + [UInt8](repeating: 0, count: 24)
            })), priority: 0)
        }
        let huge = BitswapMessage(wantlist: entries).encoded()
        #expect(huge.count < 4 << 20)
        #expect(throws: BitswapError.limitExceeded) { try BitswapMessage(decoding: huge) }
    }

    @Test func unknownFieldsAndValuesAreTolerated() throws {
        let cid = rawBlock("x").cid
        var entryFields: [UInt8] = [0x0a, UInt8(cid.bytes.count)] + cid.bytes
        entryFields += [0x20, 0x07]                         // wantType 7: entry dropped
        let list: [UInt8] = [0x0a, UInt8(entryFields.count)] + entryFields
        var message: [UInt8] = [0x0a, UInt8(list.count)] + list
        message += [0x30, 0x05]                             // unknown field 6 (varint)
        message += [0x3a, 0x02, 0xaa, 0xbb]                 // unknown field 7 (bytes)
        message += [0x45, 1, 2, 3, 4]                       // unknown field 8 (fixed32)
        let presence: [UInt8] = [0x0a, UInt8(cid.bytes.count)] + cid.bytes + [0x10, 0x02]  // PaymentRequired (1.3)
        message += [0x22, UInt8(presence.count)] + presence
        let decoded = try BitswapMessage(decoding: message)
        #expect(decoded.wantlist.isEmpty)
        #expect(decoded.presences.isEmpty)
    }
}
