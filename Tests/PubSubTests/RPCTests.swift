import Foundation
import P2P
import PubSub
import TestSupport
import Testing

/// The pubsub RPC codec (formats/pubsub.md §2).
@Suite struct RPCTests {
    static let everything = PubSubRPC(
        subscriptions: [.init(subscribe: true, topic: "blocks"), .init(subscribe: false, topic: "old")],
        messages: [PubSubMessage(from: [0, 36, 8, 1], data: Array("payload".utf8), seqno: [0, 0, 0, 0, 0, 0, 0, 9],
                                 topic: "blocks", signature: [1, 2, 3], key: [8, 1, 18, 0])],
        control: .init(
            ihave: [.init(topic: "blocks", messageIDs: [[1, 2], [3]])],
            iwant: [.init(messageIDs: [[4, 5, 6]])],
            graft: [.init(topic: "blocks")],
            prune: [.init(topic: "old", peers: [.init(peerID: [0, 1], signedPeerRecord: [9]), .init(peerID: [0, 2])],
                          backoff: 60)],
            idontwant: [.init(messageIDs: [[7]])]))

    @Test func everyFieldSurvivesARoundTrip() throws {
        let decoded = try PubSubRPC(decoding: Self.everything.encoded())
        #expect(decoded == Self.everything)
    }

    /// The worked example of formats/pubsub.md §2: a subscription to "t".
    @Test func aSubscriptionHasTheDocumentedBytes() throws {
        let rpc = PubSubRPC(subscriptions: [.init(subscribe: true, topic: "t")])
        #expect(rpc.encoded() == [0x0A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x74])
        // A PRUNE with backoff 60 and no peers: control(3) { prune(4) { topic(1) "t", backoff(3) 60 } }.
        let prune = PubSubRPC(control: .init(prune: [.init(topic: "t", backoff: 60)]))
        #expect(prune.encoded() == [0x1A, 0x07, 0x22, 0x05, 0x0A, 0x01, 0x74, 0x18, 0x3C])
    }

    @Test func unknownFieldsAreSkipped() throws {
        // A subscription with an unknown varint field 9 and RPC field 10 (partial messages extension).
        let bytes: [UInt8] = [0x0A, 0x07, 0x08, 0x01, 0x12, 0x01, 0x74, 0x48, 0x05, 0x52, 0x01, 0x00]
        let rpc = try PubSubRPC(decoding: bytes)
        #expect(rpc.subscriptions == [.init(subscribe: true, topic: "t")])
    }

    @Test func limitsAreEnforced() throws {
        let ids = PubSubRPC(control: .init(iwant: [.init(messageIDs: (0..<11).map { [UInt8($0)] })]))
        #expect(throws: PubSubError.limitExceeded) {
            try PubSubRPC(decoding: ids.encoded(), limits: .init(maxMessageIDs: 10))
        }
        #expect(throws: PubSubError.limitExceeded) {
            try PubSubRPC(decoding: Self.everything.encoded(), limits: .init(maxRPCSize: 16))
        }
        let grafts = PubSubRPC(control: .init(graft: (0..<5).map { .init(topic: "t\($0)") }))
        #expect(throws: PubSubError.limitExceeded) {
            try PubSubRPC(decoding: grafts.encoded(), limits: .init(maxGraftsAndPrunes: 4))
        }
        let longTopic = PubSubRPC(subscriptions: [.init(subscribe: true, topic: String(repeating: "x", count: 40))])
        #expect(throws: PubSubError.limitExceeded) {
            try PubSubRPC(decoding: longTopic.encoded(), limits: .init(maxTopicLength: 32))
        }
    }

    @Test func malformedInputIsRefused() {
        for bad: [[UInt8]] in [
            [[0x0A, 0x05, 0x08]],                          // truncated subscription
            [[0x12, 0x02, 0x12, 0x00]],                    // a message without a topic
            [[0x12, 0x06, 0x22, 0x01, 0x61, 0x22, 0x01, 0x62]], // a message with two topics
            [[0x0A, 0x03, 0x12, 0x01, 0xFF]],              // topic not UTF-8
            [[0x0A, 0x02, 0x0A, 0x00]],                    // subscribe sent as bytes
        ] {
            #expect(throws: PubSubError.malformed) { try PubSubRPC(decoding: bad[0]) }
        }
    }
}

/// Signing, verification and message IDs (formats/pubsub.md §3), against py-libp2p.
@Suite struct SignedMessagesTests {
    static let author = KeyPair.generate()

    @Test func aSignedMessageVerifiesAndNamesItsAuthor() throws {
        let message = SignedMessages.sign(data: Array("hi".utf8), topic: "t", seqno: 7, author: Self.author)
        #expect(message.seqno == [0, 0, 0, 0, 0, 0, 0, 7])
        #expect(message.key == nil) // Ed25519: the peer ID inlines the key
        #expect(try SignedMessages.verify(message, policy: .strictSign) == Self.author.peerID)
        #expect(SignedMessages.defaultID(of: message) == Self.author.peerID.bytes + [0, 0, 0, 0, 0, 0, 0, 7])
    }

    @Test func tamperedOrIncompleteMessagesAreRefused() throws {
        let message = SignedMessages.sign(data: Array("hi".utf8), topic: "t", seqno: 7, author: Self.author)
        var changes: [PubSubMessage] = []
        var edited = message
        edited.data = Array("ho".utf8); changes.append(edited)
        edited = message; edited.topic = "u"; changes.append(edited)
        edited = message; edited.seqno = [0, 0, 0, 0, 0, 0, 0, 8]; changes.append(edited)
        edited = message; edited.from = KeyPair.generate().peerID.bytes; changes.append(edited)
        edited = message; edited.signature = nil; changes.append(edited)
        edited = message; edited.seqno = [7]; changes.append(edited)
        edited = message; edited.key = KeyPair.generate().publicKey.protobuf; changes.append(edited)
        for change in changes {
            #expect(throws: PubSubError.invalidSignature) { try SignedMessages.verify(change, policy: .strictSign) }
        }
        #expect(throws: PubSubError.invalidSignature) { try SignedMessages.verify(message, policy: .strictNoSign) }
        #expect(try SignedMessages.verify(PubSubMessage(data: [1], topic: "t"), policy: .strictNoSign) == nil)
    }

    static func py(_ arguments: [String]) throws -> String {
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/PubSubTests/Peers/pubsub_sign.py")
        let result = try run(TestEnvironment.python, [script.path] + arguments)
        return String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func pyLibp2pAcceptsOurSignatures() throws {
        let messages = (1...3).map {
            SignedMessages.sign(data: Array("tau \($0)".utf8), topic: "tau-test", seqno: UInt64($0), author: Self.author)
        }
        let hex = PubSubRPC(messages: messages).encoded().map { String(format: "%02x", $0) }.joined()
        #expect(try Self.py(["verify", hex]) == "ok 3")
        // And refuses a tampered one, so the check above can fail.
        var tampered = messages[0]
        tampered.data = Array("tau X".utf8)
        let bad = PubSubRPC(messages: [tampered]).encoded().map { String(format: "%02x", $0) }.joined()
        #expect(try Self.py(["verify", bad]) == "bad 0")
    }

    @Test(arguments: ["ed25519", "rsa"])
    func weAcceptPyLibp2pSignatures(keyType: String) throws {
        let hex = try Self.py(["sign", keyType])
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(try #require(UInt8(hex[index..<next], radix: 16)))
            index = next
        }
        let rpc = try PubSubRPC(decoding: bytes)
        let message = try #require(rpc.messages.first)
        #expect(message.topic == "tau-test")
        #expect(message.data == Array("hello from py-libp2p".utf8))
        let author = try SignedMessages.verify(message, policy: .strictSign)
        #expect(author?.bytes == message.from)
        var tampered = message
        tampered.data[0] ^= 1
        #expect(throws: PubSubError.invalidSignature) { try SignedMessages.verify(tampered, policy: .strictSign) }
    }
}
