// The /tau/membership/1.0.0 codec: round trips, limits, malformed input and
// the worked example of formats/membership.md, section 2.

import Membership
import Testing

@Suite struct CodecTests {
    let sample = AliveUpdate(member: MemberID([1, 2, 3]), incarnation: 7, addresses: ["/ip4/10.0.0.1/tcp/4001"],
                             tags: MemberTags(["hoarder": [0x10], "gateway": Array("a:80".utf8)]), load: 42,
                             signature: [9, 9])

    @Test(arguments: [
        MembershipMessage.Kind.ping(sequence: 1, target: MemberID([5])),
        .pingRequest(sequence: 300, target: MemberID([5, 6]), addresses: ["a", "b"]),
        .ack(sequence: 0), .nack(sequence: UInt64.max), .pushPullRequest(join: true),
        .pushPullRequest(join: false), .pushPullResponse, .gossip,
    ])
    func roundTripsEveryKind(kind: MembershipMessage.Kind) throws {
        let message = MembershipMessage(kind, updates: [
            .alive(sample), .suspect(member: MemberID([4]), incarnation: 3, from: MemberID([1])),
            .dead(member: MemberID([4]), incarnation: 9, from: MemberID([4])),
        ])
        #expect(try MembershipMessage(decoding: message.encoded()) == message)
    }

    @Test func workedExampleMatchesTheFormatDocument() throws {
        // formats/membership.md, section 2: a ping to member 02 carrying one suspect update.
        let message = MembershipMessage(.ping(sequence: 1, target: MemberID([0x02])),
                                        updates: [.suspect(member: MemberID([0x03]), incarnation: 5,
                                                           from: MemberID([0x01]))])
        let hex = message.encoded().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        #expect(hex == "08 00 10 01 1a 01 02 2a 0a 08 01 12 01 03 18 05 22 01 01")
        #expect(try MembershipMessage(decoding: message.encoded()) == message)
    }

    @Test func signedBytesArePrefixPlusUnsignedEncoding() {
        var unsigned = sample
        unsigned.signature = []
        #expect(sample.signedBytes == Array("tau-membership-alive:".utf8) + MembershipUpdate.alive(unsigned).encoded())
        // Tags are encoded sorted by name: one set of tags, one signature.
        let encoded = MembershipUpdate.alive(unsigned).encoded()
        let gateway = encoded.firstRange(of: Array("gateway".utf8))!.lowerBound
        let hoarder = encoded.firstRange(of: Array("hoarder".utf8))!.lowerBound
        #expect(gateway < hoarder)
    }

    @Test func unknownFieldsAreSkipped() throws {
        var bytes = MembershipMessage(.ack(sequence: 4)).encoded()
        bytes += [0x78, 0x01]  // field 15, varint 1
        #expect(try MembershipMessage(decoding: bytes) == MembershipMessage(.ack(sequence: 4)))
    }

    static let limitCases: [(String, MembershipMessage.Limits, MembershipMessage)] = {
        let base = MembershipMessage.Limits.standard
        func with(_ change: (inout MembershipMessage.Limits) -> Void) -> MembershipMessage.Limits {
            var limits = base
            change(&limits)
            return limits
        }
        let alive = AliveUpdate(member: MemberID([1, 2, 3, 4]), incarnation: 1, addresses: ["x", "y"],
                                tags: MemberTags(["a": [1, 2, 3], "b": [4]]), load: 0, signature: [1, 2, 3, 4])
        let message = MembershipMessage(.gossip, updates: [.alive(alive), .alive(alive)])
        return [
            ("message bytes", with { $0.maxMessageBytes = 20 }, message),
            ("updates", with { $0.maxUpdates = 1 }, message),
            ("member ID bytes", with { $0.maxMemberIDBytes = 3 }, message),
            ("addresses", with { $0.maxAddresses = 1 }, message),
            ("address bytes", with { $0.maxAddressBytes = 0 }, message),
            ("tag bytes", with { $0.maxTagBytes = 5 }, message),
            ("tags", with { $0.maxTags = 1 }, message),
            ("signature bytes", with { $0.maxSignatureBytes = 3 }, message),
            ("ping-request addresses", with { $0.maxAddresses = 1 },
             MembershipMessage(.pingRequest(sequence: 1, target: MemberID([1]), addresses: ["a", "b"]))),
        ]
    }()

    @Test(arguments: limitCases.indices)
    func everyLimitRejects(index: Int) {
        let (name, limits, message) = Self.limitCases[index]
        let bytes = message.encoded()
        #expect(throws: Never.self, "\(name): accepted under the standard limits") {
            try MembershipMessage(decoding: bytes)
        }
        #expect(throws: MembershipError.limitExceeded, "\(name)") { try MembershipMessage(decoding: bytes, limits: limits) }
    }

    @Test(arguments: [
        [UInt8](),  // no type
        [0x08, 0x63],  // unknown type 99
        [0x08, 0x00],  // ping without a target
        [0x08, 0x00, 0x10],  // truncated varint
        [0x08, 0x06, 0x2A, 0x05, 0x08],  // update overruns the message
        [0x08, 0x06, 0x2A, 0x02, 0x08, 0x00],  // update without a member
        [0x08, 0x06, 0x2A, 0x05, 0x08, 0x07, 0x12, 0x01, 0x01],  // unknown update kind
        [0x08, 0x06, 0x2A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x01],  // suspect without a sender
        [0x08, 0x06, 0x2A, 0x04, 0x08, 0x00, 0x12, 0x00],  // empty member ID
        [0x08, 0x06, 0x2A, 0x07, 0x08, 0x00, 0x12, 0x01, 0x01, 0x32, 0x00],  // tag without a name
        [0x08, 0x06, 0x2A, 0x06, 0x08, 0x00, 0x12, 0x01, 0x01, 0x2A, 0x01],  // address overruns
        [0x08, 0x06, 0x2A, 0x07, 0x08, 0x00, 0x12, 0x01, 0x01, 0x2A, 0x01, 0xFF],  // address not UTF-8
        [0x09, 0, 0, 0, 0, 0, 0, 0, 0],  // type with the wrong wire type
        [0x0B],  // group wire type
    ] as [[UInt8]])
    func malformedInputThrows(bytes: [UInt8]) {
        #expect(throws: MembershipError.malformed) { try MembershipMessage(decoding: bytes) }
    }

    @Test func duplicateTagIsMalformed() {
        let tag: [UInt8] = [0x0A, 0x01, 0x61, 0x12, 0x00]
        let update: [UInt8] = [0x08, 0x00, 0x12, 0x01, 0x01] + [0x32, 0x05] + tag + [0x32, 0x05] + tag
        let bytes: [UInt8] = [0x08, 0x06, 0x2A, UInt8(update.count)] + update
        #expect(throws: MembershipError.malformed) { try MembershipMessage(decoding: bytes) }
    }
}
