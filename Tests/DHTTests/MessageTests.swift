import DHT
import Testing

/// The /ipfs/kad/1.0.0 message codec (formats/dht.md, section 2).
@Suite struct MessageTests {
    @Test func encodesFieldsAsGoLibp2pKadDHTDoes() throws {
        // FIND_NODE for key "abc": type = 4 (field 1, varint), key (field 2, bytes).
        #expect(DHTMessage(kind: .findNode, key: Array("abc".utf8)).encoded() == [0x08, 0x04, 0x12, 0x03, 0x61, 0x62, 0x63])
        // PUT_VALUE (type 0 is still written), record {key "k", value "v", timeReceived "t"}.
        let put = DHTMessage(kind: .putValue, key: [0x6B], record: .init(key: [0x6B], value: [0x76], timeReceived: "t"))
        #expect(put.encoded() == [0x08, 0x00, 0x12, 0x01, 0x6B, 0x1A, 0x09, 0x0A, 0x01, 0x6B, 0x12, 0x01, 0x76, 0x2A, 0x01, 0x74])
        // A closer peer {id 0x01, one address 0x02, connected}.
        let closer = DHTMessage(kind: .getProviders, closerPeers: [.init(id: [1], addresses: [[2]], connectedness: .connected)])
        #expect(closer.encoded() == [0x08, 0x03, 0x42, 0x08, 0x0A, 0x01, 0x01, 0x12, 0x01, 0x02, 0x18, 0x01])
    }

    @Test func roundTripsEveryField() throws {
        let message = DHTMessage(
            kind: .getProviders, key: Array(0..<34), record: .init(key: [9], value: Array(repeating: 7, count: 300), timeReceived: "2026-12-07T20:00:00Z"),
            closerPeers: [.init(id: [1, 2], addresses: [[4, 127, 0, 0, 1]], connectedness: .canConnect)],
            providerPeers: [.init(id: [3]), .init(id: [4], addresses: [[5], [6]], connectedness: .cannotConnect)],
            clusterLevel: 3)
        #expect(try DHTMessage(decoding: message.encoded()) == message)
    }

    @Test func skipsUnknownFields() throws {
        // Field 15 (varint 1) before the type.
        #expect(try DHTMessage(decoding: [0x78, 0x01, 0x08, 0x05]) == DHTMessage(kind: .ping))
    }

    @Test func refusesWhatIsNotAMessage() {
        #expect(throws: DHTError.malformed) { try DHTMessage(decoding: [0x08, 0x09]) }          // unknown type 9
        #expect(throws: DHTError.malformed) { try DHTMessage(decoding: [0x12, 0x05, 0x01]) }    // truncated key
        #expect(throws: DHTError.malformed) { try DHTMessage(decoding: [0x08]) }                // truncated varint
        #expect(throws: DHTError.malformed) { try DHTMessage(decoding: [0x10, 0x01]) }          // key as a varint
    }

    @Test func enforcesLimits() throws {
        let limits = DHTMessage.Limits(maxMessageSize: 100, maxPeers: 2, maxAddressesPerPeer: 1, maxKeyLength: 8)
        #expect(throws: DHTError.limitExceeded) { try DHTMessage(decoding: [UInt8](repeating: 0, count: 101), limits: limits) }
        // Peers and addresses beyond their limits are skipped, not refused (Kubo sends all it knows).
        let peers = DHTMessage(kind: .findNode, closerPeers: [.init(id: [1]), .init(id: [2])], providerPeers: [.init(id: [3])])
        let keptPeers = try DHTMessage(decoding: peers.encoded(), limits: limits)
        #expect(keptPeers.closerPeers.map(\.id) == [[1], [2]] && keptPeers.providerPeers.isEmpty)
        let addresses = DHTMessage(kind: .findNode, closerPeers: [.init(id: [1], addresses: [[1], [2]])])
        #expect(try DHTMessage(decoding: addresses.encoded(), limits: limits).closerPeers.first?.addresses == [[1]])
        // Answers may be as large as Kubo's 4 MiB messages: 2,000 providers of 3 addresses.
        let big = DHTMessage(kind: .getProviders, providerPeers: (0..<2000).map { index in
            .init(id: Array(repeating: UInt8(index & 0xFF), count: 38), addresses: Array(repeating: Array(repeating: 4, count: 40), count: 3))
        })
        #expect(big.encoded().count > 64 << 10)
        #expect(throws: DHTError.limitExceeded) { try DHTMessage(decoding: big.encoded()) }
        #expect(try DHTMessage(decoding: big.encoded(), limits: .answers).providerPeers.count == 1000)
        #expect(throws: DHTError.limitExceeded) { try DHTMessage(decoding: DHTMessage(kind: .getValue, key: Array(0..<9)).encoded(), limits: limits) }
    }

    @Test func everyTruncationFailsCleanly() throws {
        let message = DHTMessage(kind: .getValue, key: [1, 2, 3], record: .init(key: [1], value: [2]),
                                 closerPeers: [.init(id: [5, 6], addresses: [[7, 8]])])
        let bytes = message.encoded()
        for cut in 1..<bytes.count {
            // Any prefix either decodes (a field boundary) or throws `.malformed`; nothing else.
            do { _ = try DHTMessage(decoding: bytes.prefix(cut)) } catch { #expect(error == .malformed) }
        }
    }
}
