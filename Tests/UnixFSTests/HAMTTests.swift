import Blocks
import Foundation
import Multiformats
import Testing
import TestSupport
import UnixFS

/// The blocks of a CARv1 file, each checked against its CID. Minimal on
/// purpose (tests only): `varint(header length) || dag-cbor header`, then
/// sections `varint(length) || CID || block`; the header is skipped.
private func carBlocks(_ url: URL) throws -> [Block] {
    let bytes = [UInt8](try Data(contentsOf: url))
    var offset = 0
    let headerLength = Int(try Varint.decode(bytes, at: &offset))
    offset += headerLength
    var blocks: [Block] = []
    while offset < bytes.count {
        let sectionLength = Int(try Varint.decode(bytes, at: &offset))
        let end = offset + sectionLength
        guard end <= bytes.count else { throw CommandFailure(command: "CAR section past end", status: 1, stderr: "") }
        let cid = try CID(parsing: bytes[..<end], at: &offset)
        blocks.append(try Block(verifying: Array(bytes[offset..<end]), cid: cid))
        offset = end
    }
    return blocks
}

private func decodeDirectory(_ bytes: [UInt8]) throws -> (DAGPBNode, UnixFSData) {
    let node = try DAGPBNode(decoding: bytes)
    return (node, try UnixFSData(decoding: node.data ?? []))
}

private let emptyDirectoryCID = try! CID("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")

struct Murmur3Tests {
    /// MurmurHash3_x64_128 with seed 0 (checked against Python's mmh3 and
    /// the reference C++): h1 and h2 as the two 64-bit halves.
    @Test("x64_128 vectors", arguments: [
        ("", 0x0000_0000_0000_0000, 0x0000_0000_0000_0000),
        ("a", 0x8555_5565_F659_7889, 0xE6B5_3A48_510E_895A),
        ("hello", 0xCBD8_A7B3_41BD_9B02, 0x5B1E_906A_48AE_1D19),
        ("hello, world", 0x342F_AC62_3A5E_BC8E, 0x4CDC_BC07_9642_414D),
        ("The quick brown fox jumps over the lazy dog", 0xE34B_BC7B_BC07_1B6C, 0x7A43_3CA9_C49A_9347),
        ("DIRNAME0", 0x2FD5_6337_4C70_4A00, 0xE382_93DD_9A7D_CF38),
    ] as [(String, UInt64, UInt64)])
    func vectors(_ text: String, _ h1: UInt64, _ h2: UInt64) {
        let hash = Murmur3.x64_128(Array(text.utf8))
        #expect(hash.h1 == h1)
        #expect(hash.h2 == h2)
        #expect(Murmur3.x64_64(text) == h1)
    }

    @Test("every tail length, and a seed")
    func tailsAndSeed() {
        // Bytes 0, 1, …, 30: one full block plus a 15-byte tail.
        let hash = Murmur3.x64_128((0..<31).map(UInt8.init))
        #expect(hash.h1 == 0x053D_D3E1_A32C_D094)
        #expect(hash.h2 == 0x9EE5_9AEF_B400_5490)
        #expect(Murmur3.x64_128(Array("hello".utf8), seed: 42).h1 == 0xC4B8_B3C9_60AF_6F08)
        // Tails of 0...15 bytes must all differ from one another.
        let prefixes = (0...32).map { Murmur3.x64_128((0..<$0).map(UInt8.init)).h1 }
        #expect(Set(prefixes).count == prefixes.count)
    }
}

struct HAMTVectorTests {
    /// boxo hamt_test.go TestDirBuilding: 200 entries DIRNAME0…DIRNAME199,
    /// each the empty directory, in a fanout-256 shard (CIDv0).
    @Test("boxo's 200-entry HAMT")
    func twoHundredEntries() async throws {
        let row = try #require((try kuboAddVectors()["hamt"] as? [[String: Any]])?.first)
        // Threshold 1 makes the first add convert: a HAMT from the start, as hamt_test builds it.
        var builder = DirectoryBuilder(parameters: DirectoryParameters(hamtShardingThreshold: 1))
        for i in (0..<200).reversed() {
            try builder.add(DirectoryEntry(name: "DIRNAME\(i)", cid: emptyDirectoryCID, tsize: 4))
        }
        #expect(builder.isSharded)
        let (root, blocks) = builder.build()
        #expect(root.cid.description == row["cid"] as? String)
        #expect(blocks.last?.cid == root.cid)

        // formats/hamt.md's worked example: DIRNAME0 hashes to 2F D5 63 …,
        // shares bucket 0x2F with DIRNAME43 (2F 91 …), so both sit in child shard "2F".
        let (rootNode, rootData) = try decodeDirectory(blocks.last!.bytes)
        #expect(rootData.fanout == 256)
        #expect(rootData.hashType == 0x22)
        #expect(rootNode.links.count == 131)
        #expect(HAMT.hash("DIRNAME0") == 0x2FD5_6337_4C70_4A00)
        #expect(HAMT.bucketIndex(hash: HAMT.hash("DIRNAME0"), level: 0, fanout: 256) == 0x2F)
        #expect(HAMT.bucketIndex(hash: HAMT.hash("DIRNAME0"), level: 1, fanout: 256) == 0xD5)
        let shardLink = try #require(rootNode.links.first { $0.name == "2F" })
        let shard = try #require(blocks.first { $0.cid == shardLink.cid })
        #expect(shardLink.cid.description == "QmTMKggQPqbU6xmDCusFyX67pRmEXM3zQRfAVfGrN3oPhF")
        #expect(shard.bytes.count == 143)
        #expect(shardLink.tsize == 143 + 4 + 4)
        #expect(rootData.data?.count == 32)
        #expect(rootData.data?[26] == 0xCC)  // bucket 0x2F is bit 7 of byte 31 - 0x2F / 8
        #expect(try decodeDirectory(shard.bytes).0.links.map(\.name) == ["91DIRNAME43", "D5DIRNAME0"])
        // Bitfield: a big-endian integer with bits 0x91 and 0xD5 set, leading zero bytes dropped.
        let zeros = { (count: Int) in [UInt8](repeating: 0, count: count) }
        #expect(try decodeDirectory(shard.bytes).1.data == [0x20] + zeros(7) + [0x02] + zeros(18))

        let store = MemoryBlockStore()
        try await store.put(blocks)
        let entries = try await HAMT.entries(of: rootNode, data: rootData, source: store)
        #expect(Set(entries.map(\.name)) == Set((0..<200).map { "DIRNAME\($0)" }))
        #expect(entries.allSatisfy { $0.cid == emptyDirectoryCID && $0.tsize == 4 })
        #expect(try await HAMT.lookup("DIRNAME0", in: rootNode, data: rootData, source: store)?.cid == emptyDirectoryCID)
        #expect(try await HAMT.lookup("DIRNAME200", in: rootNode, data: rootData, source: store) == nil)
    }

    /// The gateway-conformance HAMT: 1000 files in a fanout-256 HAMT, CIDv1.
    @Test("1000-entry HAMT from gateway-conformance: list, look up, rebuild")
    func conformanceHAMT() async throws {
        let url = TestEnvironment.vectors.appendingPathComponent(
            "gateway-conformance/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car")
        let blocks = try carBlocks(url)
        let store = MemoryBlockStore()
        try await store.put(blocks)
        let rootCID = try CID("bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i")
        let (root, data) = try decodeDirectory(try await store.bytes(of: rootCID))
        #expect(data.kind == .hamtShard)

        let entries = try await HAMT.entries(of: root, data: data, source: store)
        let expectedNames = (1...1000).map { "\($0).txt" }
        #expect(entries.count == 1000)
        #expect(Set(entries.map(\.name)) == Set(expectedNames))

        for name in expectedNames {
            let found = try await HAMT.lookup(name, in: root, data: data, source: store)
            #expect(found?.name == name)
            #expect(found == entries.first { $0.name == name })
        }
        for absent in ["0.txt", "1001.txt", "1.TXT", "", "1.txt/", "470.tx"] {
            #expect(try await HAMT.lookup(absent, in: root, data: data, source: store) == nil, "\(absent)")
        }

        // The spec's example path: 470.txt is in root bucket 00, then 6E.
        let hash = HAMT.hash("470.txt")
        #expect(HAMT.bucketIndex(hash: hash, level: 0, fanout: 256) == 0x00)
        #expect(HAMT.bucketIndex(hash: hash, level: 1, fanout: 256) == 0x6E)

        // Rebuilding from the listed entries gives the same DAG.
        var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: CIDBuilder(version: .v1), hamtShardingThreshold: 1))
        for entry in entries { try builder.add(entry) }
        let (rebuilt, rebuiltBlocks) = builder.build()
        #expect(rebuilt.cid == rootCID)
        let stored = Dictionary(blocks.map { ($0.cid, $0.bytes) }, uniquingKeysWith: { first, _ in first })
        for block in rebuiltBlocks {
            #expect(stored[block.cid] == block.bytes, "shard \(block.cid)")
        }
        // Cumulative size: every shard block plus each entry's Tsize.
        let shardBytes = rebuiltBlocks.reduce(UInt64(0)) { $0 + UInt64($1.bytes.count) }
        #expect(rebuilt.tsize == shardBytes + entries.reduce(0) { $0 + $1.tsize })
    }
}

struct HAMTRoundTripTests {
    @Test("every fanout reads back what it built", arguments: [8, 16, 32, 64, 128, 256, 512, 1024])
    func roundTrip(_ fanout: Int) async throws {
        var builder = DirectoryBuilder(parameters: DirectoryParameters(
            cids: CIDBuilder(version: .v1), hamtShardingThreshold: 1, hamtFanout: fanout,
            attributes: FileAttributes(mode: 0o700)))
        let cid = CIDBuilder(version: .v1).cid(for: [1, 2, 3], codec: .raw)
        for i in 0..<3000 { try builder.add(DirectoryEntry(name: "entry \(i)", cid: cid, tsize: 3)) }
        let (rootLink, blocks) = builder.build()
        let store = MemoryBlockStore()
        try await store.put(blocks)
        let (root, data) = try decodeDirectory(try await store.bytes(of: rootLink.cid))
        #expect(data.fanout == UInt64(fanout))
        #expect(data.mode == 0o700)
        // Only the root carries the mode.
        for block in blocks.dropLast() { #expect(try decodeDirectory(block.bytes).1.mode == nil) }
        // Link names: fixed-width upper-case hex.
        let width = String(fanout - 1, radix: 16).count
        #expect(root.links.allSatisfy { $0.name!.prefix(width).allSatisfy { "0123456789ABCDEF".contains($0) } })

        let entries = try await HAMT.entries(of: root, data: data, source: store)
        #expect(Set(entries.map(\.name)) == Set((0..<3000).map { "entry \($0)" }))
        for i in stride(from: 0, to: 3000, by: 37) {
            #expect(try await HAMT.lookup("entry \(i)", in: root, data: data, source: store)?.name == "entry \(i)")
        }
        #expect(try await HAMT.lookup("entry 3000", in: root, data: data, source: store) == nil)
        // Entries sit where their hash says: the first level's bucket prefixes them or their shard.
        for entry in entries.prefix(100) {
            let bucket = HAMT.bucketIndex(hash: HAMT.hash(entry.name), level: 0, fanout: fanout)!
            let digits = String(bucket, radix: 16, uppercase: true)
            let prefix = String(repeating: "0", count: width - digits.count) + digits
            #expect(root.links.contains { $0.name == prefix || $0.name == prefix + entry.name })
        }
    }

    /// "a" and this 16-byte name have the same murmur3 h1 (crafted by
    /// inverting murmur3's finalization and block mixing). No HAMT can tell
    /// them apart; boxo fails with "sharded directory too deep".
    static let collidingName = "ra\u{1F}w,\u{0C}jT\u{12}\u{14}\u{16}j\u{1C}x&\u{1D}"

    @Test("names with equal hashes cannot be sharded, as in boxo")
    func hashCollision() throws {
        #expect(HAMT.hash(Self.collidingName) == HAMT.hash("a"))
        let cid = CIDBuilder(version: .v1).cid(for: [1], codec: .raw)

        // Already a HAMT: the second name is refused, the builder unchanged.
        var sharded = DirectoryBuilder(parameters: DirectoryParameters(hamtShardingThreshold: 1))
        try sharded.add(DirectoryEntry(name: "a", cid: cid, tsize: 1))
        #expect(throws: UnixFSError.limitExceeded) {
            try sharded.add(DirectoryEntry(name: Self.collidingName, cid: cid, tsize: 1))
        }
        #expect(sharded.count == 1)
        _ = sharded.build()

        // A basic directory holds both; converting it then fails.
        var basic = DirectoryBuilder(parameters: DirectoryParameters(hamtShardingThreshold: 100))
        try basic.add(DirectoryEntry(name: "a", cid: cid, tsize: 1))
        try basic.add(DirectoryEntry(name: Self.collidingName, cid: cid, tsize: 1))
        #expect(!basic.isSharded)
        #expect(throws: UnixFSError.limitExceeded) {
            try basic.add(DirectoryEntry(name: "b", cid: cid, tsize: 1))
        }
        #expect(basic.count == 2)
        #expect(basic.build().blocks.count == 1)
    }
}

/// Shards built by hand to break one rule each.
struct HostileHAMTTests {
    static let entryCID = CIDBuilder(version: .v1).cid(for: [7], codec: .raw)

    static func shardData(bitfield: [UInt8]?, fanout: UInt64? = 256, hashType: UInt64? = 0x22) -> UnixFSData {
        UnixFSData(kind: .hamtShard, data: bitfield, hashType: hashType, fanout: fanout)
    }

    static func shardBlock(_ links: [DAGPBLink], _ data: UnixFSData) -> Block {
        let bytes = DAGPBNode(links: links, data: data.encoded()).encoded()
        return Block(hashing: bytes, codec: .dagPB)
    }

    /// Runs both readers on a root; both must throw `expected`.
    static func expectFailure(_ links: [DAGPBLink], _ data: UnixFSData, store: MemoryBlockStore = MemoryBlockStore(),
                              _ expected: UnixFSError, sourceLocation: SourceLocation = #_sourceLocation) async {
        let node = DAGPBNode(links: links, data: data.encoded())
        await #expect(throws: expected, sourceLocation: sourceLocation) {
            _ = try await HAMT.entries(of: node, data: data, source: store)
        }
        // Any name whose path crosses the first bucket set.
        await #expect(throws: expected, sourceLocation: sourceLocation) {
            for i in 0..<2000 { _ = try await HAMT.lookup("probe \(i)", in: node, data: data, source: store) }
        }
    }

    @Test("bad fanout", arguments: [nil, 0, 4, 12, 255, 2048, 1 << 40] as [UInt64?])
    func badFanout(_ fanout: UInt64?) async {
        await Self.expectFailure([], Self.shardData(bitfield: nil, fanout: fanout), .malformedUnixFS)
    }

    @Test("bad hash type", arguments: [nil, 0x00, 0x12, 0x23] as [UInt64?])
    func badHashType(_ hashType: UInt64?) async {
        await Self.expectFailure([], Self.shardData(bitfield: nil, hashType: hashType), .malformedUnixFS)
    }

    @Test("not a HAMT shard")
    func wrongKind() async {
        await Self.expectFailure([], UnixFSData(kind: .directory), .malformedUnixFS)
    }

    @Test("bitfield and links disagree")
    func bitfieldMismatch() async {
        let link = DAGPBLink(cid: Self.entryCID, name: "00x", tsize: 1)
        // Two buckets set, one link.
        await Self.expectFailure([link], Self.shardData(bitfield: [0x03]), .malformedUnixFS)
        // No bucket set, one link.
        await Self.expectFailure([link], Self.shardData(bitfield: nil), .malformedUnixFS)
        // Bucket 1 set, link says 00.
        await Self.expectFailure([link], Self.shardData(bitfield: [0x02]), .malformedUnixFS)
        // Longer than fanout / 8.
        await Self.expectFailure([link], Self.shardData(bitfield: [UInt8](repeating: 0, count: 32) + [1]), .malformedUnixFS)
    }

    @Test("malformed link names", arguments: ["", "0", "0a", "0ax", "G0x", "+0x", "-1x", "FFF"])
    func badNames(_ name: String) async {
        // Every bucket set, so any link position is plausible: names alone must fail.
        let links = (0..<256).map { bucket in
            DAGPBLink(cid: Self.entryCID, name: bucket == 0 ? name : String(format: "%02X", bucket) + "e\(bucket)", tsize: 1)
        }
        let data = Self.shardData(bitfield: [UInt8](repeating: 0xFF, count: 32))
        await Self.expectFailure(links, data, .malformedUnixFS)
        let unnamed = [DAGPBLink(cid: Self.entryCID, name: nil, tsize: 1)]
        await Self.expectFailure(unnamed, Self.shardData(bitfield: [1]), .malformedUnixFS)
    }

    /// A full root whose every bucket is a child shard: lookups of any name
    /// must reach a child.
    static func rootOfChildren(_ child: CID) -> [DAGPBLink] {
        (0..<256).map { DAGPBLink(cid: child, name: String(format: "%02X", $0), tsize: 10) }
    }
    static let fullBitfield = [UInt8](repeating: 0xFF, count: 32)

    @Test("missing child shard")
    func missingChild() async {
        let child = Self.shardBlock([], Self.shardData(bitfield: nil))
        await Self.expectFailure(Self.rootOfChildren(child.cid), Self.shardData(bitfield: Self.fullBitfield), .blockMissing)
    }

    @Test("child shards that are not shards")
    func badChildren() async throws {
        let store = MemoryBlockStore()
        let raw = Block(hashing: [1, 2, 3], codec: .raw)
        let directory = Self.shardBlock([], UnixFSData(kind: .directory))
        let otherFanout = Self.shardBlock([], Self.shardData(bitfield: nil, fanout: 512))
        let badHash = Self.shardBlock([], Self.shardData(bitfield: nil, hashType: 0x12))
        let noData = Block(hashing: DAGPBNode(links: [], data: nil).encoded(), codec: .dagPB)
        // Valid protobuf, but field 3 does not exist in dag-pb.
        let garbage = Block(hashing: [0x18, 0x01], codec: .dagPB)
        try await store.put([raw, directory, otherFanout, badHash, noData, garbage])
        for child in [raw, directory, otherFanout, badHash, noData] {
            await Self.expectFailure(Self.rootOfChildren(child.cid), Self.shardData(bitfield: Self.fullBitfield), store: store, .malformedUnixFS)
        }
        await Self.expectFailure(Self.rootOfChildren(garbage.cid), Self.shardData(bitfield: Self.fullBitfield), store: store, .malformedDAGPB)
    }

    @Test("deeper than 64 hash bits allow")
    func tooDeep() async throws {
        // Nine levels of fanout 256, each shard a full row of links to the next.
        let store = MemoryBlockStore()
        var next = Self.shardBlock([DAGPBLink(cid: Self.entryCID, name: "00leaf", tsize: 1)], Self.shardData(bitfield: [1]))
        try await store.put([next])
        for _ in 0..<7 {
            next = Self.shardBlock(Self.rootOfChildren(next.cid), Self.shardData(bitfield: Self.fullBitfield))
            try await store.put([next])
        }
        // Root (level 0) + 7 full levels + the leaf shard at level 8: one too many.
        await Self.expectFailure(Self.rootOfChildren(next.cid), Self.shardData(bitfield: Self.fullBitfield), store: store, .malformedUnixFS)
    }

    @Test("a child shard linked from every bucket is listed once")
    func sharedChild() async throws {
        let store = MemoryBlockStore()
        let child = Self.shardBlock([DAGPBLink(cid: Self.entryCID, name: "00x", tsize: 1)], Self.shardData(bitfield: [1]))
        try await store.put([child])
        let root = DAGPBNode(links: Self.rootOfChildren(child.cid), data: Self.shardData(bitfield: Self.fullBitfield).encoded())
        let entries = try await HAMT.entries(of: root, data: Self.shardData(bitfield: Self.fullBitfield), source: store)
        #expect(entries == [DirectoryEntry(name: "x", cid: Self.entryCID, tsize: 1)])
    }

    @Test("mutated real shards never trap")
    func mutations() async throws {
        let url = TestEnvironment.vectors.appendingPathComponent(
            "gateway-conformance/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car")
        let blocks = try carBlocks(url)
        let store = MemoryBlockStore()
        try await store.put(blocks)
        let rootBytes = try await store.bytes(of: try CID("bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"))
        var random = SeededBytes(seed: 99)
        var decoded = 0
        for _ in 0..<3000 {
            var bytes = rootBytes
            for _ in 0..<(1 + Int(random.next() % 4)) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            guard let (node, data) = try? decodeDirectory(bytes) else { continue }
            decoded += 1
            _ = try? await HAMT.entries(of: node, data: data, source: store)
            _ = try? await HAMT.lookup("\(random.next() % 1000).txt", in: node, data: data, source: store)
        }
        #expect(decoded > 100)
    }
}
