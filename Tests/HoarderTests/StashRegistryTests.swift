import Crypto
import Hoarder
import Multiformats
import Testing

/// The registry of stashed roots (formats/hoarder.md, section 3), with real
/// Ed25519 signatures: authors are raw public keys here.
@Suite struct StashRegistryTests {
    static func root(_ n: Int) -> CID { .v1(.raw, Multihash(hashing: Array("root \(n)".utf8), with: .sha2_256)) }

    @Test func mergeOrderDoesNotMatter() {
        let authors = (0..<3).map { _ in Author() }
        var records: [StashRecord] = []
        var generator = SystemRandomNumberGenerator()
        for n in 0..<200 {
            let author = authors[n % 3]
            records.append(author.record(Self.root(n % 40), n % 5 == 0 ? .unstash : .stash, replicas: 1 + n % 4,
                                         clock: UInt64.random(in: 1...50, using: &generator)))
        }
        let members = Set(authors.map(\.id))
        func merged(_ order: [StashRecord]) -> [[UInt8]: StashRecord] {
            var registry = StashRegistry()
            for record in order { _ = registry.merge(record, isMember: { members.contains($0) }, verifier: Ed25519Verifier()) }
            return registry.records
        }
        let reference = merged(records)
        #expect(reference.count == 40)
        for _ in 0..<5 { #expect(merged(records.shuffled(using: &generator)) == reference) }
        // Idempotent: merging everything twice changes nothing.
        #expect(merged(records + records) == reference)
    }

    @Test func theLaterRecordWinsAndAnUnstashRemovesTheRoot() {
        let alice = Author(), bob = Author()
        var registry = StashRegistry()
        let isMember: ([UInt8]) -> Bool = { $0 == alice.id || $0 == bob.id }
        #expect(registry.merge(alice.record(Self.root(1), .stash, clock: 10), isMember: isMember, verifier: Ed25519Verifier()) == .applied)
        #expect(registry.stashed.map(\.root) == [Self.root(1)])
        #expect(registry.merge(bob.record(Self.root(1), .unstash, clock: 9), isMember: isMember, verifier: Ed25519Verifier()) == .stale)
        #expect(registry.nextClock(wallMilliseconds: 5) == 11)
        #expect(registry.merge(bob.record(Self.root(1), .unstash, clock: 11), isMember: isMember, verifier: Ed25519Verifier()) == .applied)
        #expect(registry.stashed.isEmpty)
        // The CIDv0 of the same multihash is the same root.
        let v0 = CID.v0(Self.root(1).multihash)
        #expect(registry.record(for: v0)?.operation == .unstash)
    }

    @Test func forgedAndNonMemberRecordsAreIgnoredAndCounted() {
        let alice = Author(), mallory = Author()
        var registry = StashRegistry()
        let isMember: ([UInt8]) -> Bool = { $0 == alice.id }
        #expect(registry.merge(mallory.record(Self.root(1), .stash, clock: 1), isMember: isMember, verifier: Ed25519Verifier()) == .rejected)
        // Mallory rewrites Alice's record: the signature no longer matches.
        var forged = alice.record(Self.root(2), .stash, clock: 1)
        forged.replicas = 16
        #expect(registry.merge(forged, isMember: isMember, verifier: Ed25519Verifier()) == .rejected)
        var unsigned = alice.record(Self.root(3), .stash, clock: 1)
        unsigned.signature = []
        #expect(registry.merge(unsigned, isMember: isMember, verifier: Ed25519Verifier()) == .rejected)
        #expect(registry.records.isEmpty)
        #expect(registry.statistics.rejectedNonMember == 1 && registry.statistics.rejectedSignature == 2)
    }

    @Test func theRootLimitHolds() {
        let alice = Author()
        var registry = StashRegistry(maxRoots: 2)
        for n in 0..<3 { _ = registry.merge(alice.record(Self.root(n), .stash, clock: 1), isMember: { _ in true }, verifier: Ed25519Verifier()) }
        #expect(registry.records.count == 2 && registry.statistics.rejectedOverLimit == 1)
        // An existing root may still change.
        #expect(registry.merge(alice.record(Self.root(0), .unstash, clock: 2), isMember: { _ in true }, verifier: Ed25519Verifier()) == .applied)
    }

    @Test func recordsRoundTripAndBadBytesAreRefused() throws {
        let record = Author().record(Self.root(7), .stash, replicas: 5, clock: 1_733_600_000_000)
        let decoded = try StashRecord(decoding: record.encoded())
        #expect(decoded == record)
        #expect(Ed25519Verifier().verify(author: decoded.author, payload: decoded.signedBytes, signature: decoded.signature))
        #expect(throws: HoarderError.malformed) { try StashRecord(decoding: [0xA0]) }   // an empty map
        #expect(throws: HoarderError.malformed) { try StashRecord(decoding: [0xFF, 0x00]) }
        var tooMany = record
        tooMany.replicas = 17
        #expect(throws: HoarderError.malformed) { try StashRecord(decoding: tooMany.encoded()) }
        #expect(throws: HoarderError.limitExceeded) { try StashRecord(decoding: Array(repeating: 0, count: 4096)) }
    }

    /// The worked example of formats/hoarder.md §3.
    @Test func workedExample() throws {
        let record = StashRecord(root: Self.root(0), operation: .stash, replicas: 3, clock: 1000, author: [1, 2, 3], signature: [9])
        let hex = record.encoded().map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        #expect(hex == "a6616b03626f7065737461736863736967410964726f6f74d82a58250001551220"
            + "fb0ee5f33935284ce07c9315b4f4a8a5d121df7feffc49ce04e5fa7a30c5a16c"
            + "65636c6f636b1903e866617574686f7243010203")
        #expect(try StashRecord(decoding: record.encoded()) == record)
    }
}
