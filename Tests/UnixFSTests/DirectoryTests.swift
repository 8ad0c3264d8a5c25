import Blocks
import Foundation
import Multiformats
import Testing
import TestSupport
import UnixFS

/// A CIDv1 dag-pb CID (36 bytes) or CIDv0 (34 bytes) unique to `seed`.
private func childCID(_ seed: Int, version: CID.Version = .v1) -> CID {
    CIDBuilder(version: version).cid(for: Array("child \(seed)".utf8), codec: .dagPB)
}

/// `prefix` then `index` zero-padded so that the name is exactly `length` bytes.
private func paddedName(_ prefix: String, _ index: Int, length: Int) -> String {
    let digits = String(index)
    return prefix + String(repeating: "0", count: length - prefix.utf8.count - digits.utf8.count) + digits
}

/// A builder holding `count` entries named with `nameLength` bytes, each a CIDv1 with Tsize 100.
private func filledBuilder(_ parameters: DirectoryParameters, count: Int, nameLength: Int) throws -> DirectoryBuilder {
    var builder = DirectoryBuilder(parameters: parameters)
    for i in 0..<count {
        try builder.add(DirectoryEntry(name: paddedName("e", i, length: nameLength), cid: childCID(i), tsize: 100))
    }
    return builder
}

private func isHAMTRoot(_ blocks: [Block]) throws -> Bool {
    let node = try DAGPBNode(decoding: blocks.last!.bytes)
    return try UnixFSData(decoding: node.data!).kind == .hamtShard
}

struct DirectoryVectorTests {
    @Test("empty directory: CIDv0, CIDv1, --inline, and its exact block")
    func emptyDirectory() throws {
        let rows = try #require(try kuboAddVectors()["directories"] as? [[String: Any]])
        let emptyRows = rows.filter { ($0["tree"] as? [String: Any])?.isEmpty == true }
        #expect(emptyRows.count == 3)
        for row in emptyRows {
            let flags = row["flags"] as! [String]
            let resolved = try importOptions(fromFlags: flags).resolve()
            let (root, blocks) = DirectoryBuilder(parameters: DirectoryParameters(cids: resolved.file.cids)).build()
            #expect(root.cid.description == row["cid"] as? String, "flags \(flags)")
            #expect(root.tsize == 4)
            #expect(root.fileSize == 0)
            #expect(blocks.count == 1)
            #expect(blocks[0].bytes == [0x0A, 0x02, 0x08, 0x01])
        }
        let blockRows = try #require(try kuboAddVectors()["blocks"] as? [[String: Any]])
        let emptyDirectoryHex = try #require(blockRows.first { ($0["about"] as! String).contains("empty directory") }?["hex"] as? String)
        let (_, blocks) = DirectoryBuilder(parameters: DirectoryParameters()).build()
        #expect(blocks[0].bytes.map { String(format: "%02x", $0) }.joined() == emptyDirectoryHex)
    }

    @Test("two-file directory under each flag set: children and root as Kubo prints them")
    func twoFileDirectory() throws {
        let rows = try #require(try kuboAddVectors()["directories"] as? [[String: Any]])
        let treeRows = rows.filter { ($0["tree"] as? [String: Any])?.isEmpty == false }
        #expect(treeRows.count == 4)
        for row in treeRows {
            let flags = row["flags"] as! [String]
            let tree = row["tree"] as! [String: String]
            let expectedChildren = row["children"] as? [String: String] ?? [:]
            let resolved = try importOptions(fromFlags: flags).resolve()
            var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: resolved.file.cids))
            // Reverse order on purpose: links are sorted by name whatever the add order.
            for (name, text) in tree.sorted(by: { $0.key > $1.key }) {
                let (file, _) = importFile(Array(text.utf8), resolved.file)
                if let expected = expectedChildren[name] {
                    #expect(file.cid.description == expected, "\(name) with \(flags)")
                }
                try builder.add(DirectoryEntry(name: name, cid: file.cid, tsize: file.tsize))
            }
            let (root, blocks) = builder.build()
            #expect(root.cid.description == row["cid"] as? String, "flags \(flags)")
            #expect(blocks.count == 1)
            let node = try DAGPBNode(decoding: blocks[0].bytes)
            #expect(node.links.map(\.name) == ["mars.txt", "venus.txt"])
            #expect(root.tsize == UInt64(blocks[0].bytes.count) + node.links.reduce(0) { $0 + $1.tsize! })
        }
    }

    @Test("mode and mtime go into the directory's Data, as Go's zero values allow")
    func attributes() throws {
        let parameters = DirectoryParameters(attributes: FileAttributes(mode: 0o755, mtime: .init(seconds: 1_700_000_000, nanoseconds: 0)))
        let (_, blocks) = DirectoryBuilder(parameters: parameters).build()
        let data = try UnixFSData(decoding: try DAGPBNode(decoding: blocks[0].bytes).data!)
        #expect(data.kind == .directory)
        #expect(data.mode == 0o755)
        // 0 ns is Go's "no nanoseconds": the field is left out.
        #expect(data.mtime == UnixFSData.Timestamp(seconds: 1_700_000_000, nanoseconds: nil))
        // Mode 0 is Go's "unset".
        let (_, plain) = DirectoryBuilder(parameters: DirectoryParameters(attributes: FileAttributes(mode: 0))).build()
        #expect(plain[0].bytes == [0x0A, 0x02, 0x08, 0x01])
    }
}

struct DirectoryNameTests {
    @Test("invalid names are rejected", arguments: ["", ".", "..", "a/b", "/", "a\u{0}b", "trailing/"])
    func invalidName(_ name: String) {
        var builder = DirectoryBuilder(parameters: DirectoryParameters())
        #expect(throws: UnixFSError.invalidPath) {
            try builder.add(DirectoryEntry(name: name, cid: childCID(0), tsize: 1))
        }
        #expect(builder.count == 0)
    }

    @Test("unusual but valid names are kept byte for byte, sorted bytewise")
    func validNames() throws {
        var builder = DirectoryBuilder(parameters: DirectoryParameters())
        // "é" precomposed and decomposed are different names in UnixFS (Go compares bytes).
        let names = ["...", ".hidden", "é", "e\u{301}", "Z", "a b", "\u{1F600}", "\\"]
        for (i, name) in names.enumerated() { try builder.add(DirectoryEntry(name: name, cid: childCID(i), tsize: 1)) }
        #expect(builder.count == names.count)
        let (_, blocks) = builder.build()
        let stored = try DAGPBNode(decoding: blocks[0].bytes).links.map { Array($0.name!.utf8) }
        #expect(stored == names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test("adding a name again replaces its entry")
    func replace() throws {
        var builder = DirectoryBuilder(parameters: DirectoryParameters())
        try builder.add(DirectoryEntry(name: "x", cid: childCID(1), tsize: 10))
        try builder.add(DirectoryEntry(name: "x", cid: childCID(2), tsize: 20))
        #expect(builder.count == 1)
        #expect(builder.estimatedSize == 1 + 36)
        let (root, blocks) = builder.build()
        let links = try DAGPBNode(decoding: blocks[0].bytes).links
        #expect(links == [DAGPBLink(cid: childCID(2), name: "x", tsize: 20)])
        #expect(root.tsize == UInt64(blocks[0].bytes.count) + 20)
    }

    @Test("64-bit Tsize and pre-1970 mtime encode and decode as protobuf writes them")
    func fullWidthVarints() throws {
        var builder = DirectoryBuilder(parameters: DirectoryParameters(attributes: FileAttributes(mtime: .init(seconds: -1))))
        try builder.add(DirectoryEntry(name: "big", cid: childCID(0), tsize: UInt64.max))
        let (_, blocks) = builder.build()
        let node = try DAGPBNode(decoding: blocks[0].bytes)
        #expect(node.links[0].tsize == UInt64.max)
        let data = try UnixFSData(decoding: node.data!)
        #expect(data.mtime?.seconds == -1)
        // A negative int64 is a 10-byte varint: 0xff × 9, then 0x01.
        let encoded = data.encoded()
        #expect(encoded.contains([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
    }

    @Test("bad parameters are refused at the first add", arguments: [4, 12, 2048, 0])
    func badFanout(_ fanout: Int) {
        var builder = DirectoryBuilder(parameters: DirectoryParameters(hamtFanout: fanout))
        #expect(throws: UnixFSError.invalidOptions) {
            try builder.add(DirectoryEntry(name: "a", cid: childCID(0), tsize: 1))
        }
    }
}

/// Where boxo (ipld/unixfs/io/directory.go) switches a basic directory to a HAMT.
///
/// `.links` estimates Σ (len(name) + len(CID bytes)): with 28-byte names and
/// 36-byte CIDv1, every entry weighs 64, so 4096 entries weigh exactly
/// 262144 = the threshold. boxo converts only when the estimate *exceeds* the
/// threshold, so 4096 entries stay basic and the 4097th add converts.
///
/// `.block` estimates the exact dag-pb block: the Data field (tag, length,
/// `08 01` = 4 bytes without mode/mtime) plus, per link, tag + length +
/// [Hash: 1 + 1 + 36] [Name: 1 + 1 + len] [Tsize: 1 + 1 for Tsize < 128].
/// With 16-byte names a link is 58 bytes, 60 with its framing, and
/// 4 + 4369 × 60 = 262144: 4369 entries stay basic (a block of exactly
/// 256 KiB), the 4370th converts. A mode of 0o755 adds 3 bytes to the Data
/// field (`38 ED 03`), so the same 4369 entries then exceed the threshold.
struct DirectoryThresholdTests {
    static let threshold = DirectoryParameters.defaultHAMTShardingThreshold
    let v1 = CIDBuilder(version: .v1)

    @Test("links estimate: 4096 × 64 bytes stays basic, one more converts")
    func linksBoundary() throws {
        let parameters = DirectoryParameters(cids: v1, sizeEstimation: .links)
        var builder = try filledBuilder(parameters, count: 4095, nameLength: 28)
        #expect(builder.estimatedSize == Self.threshold - 64)
        #expect(!builder.isSharded)
        try builder.add(DirectoryEntry(name: paddedName("e", 4095, length: 28), cid: childCID(4095), tsize: 100))
        #expect(builder.estimatedSize == Self.threshold)
        #expect(!builder.isSharded)
        let (_, basicBlocks) = builder.build()
        #expect(try !isHAMTRoot(basicBlocks))
        #expect(basicBlocks.count == 1)

        try builder.add(DirectoryEntry(name: paddedName("e", 4096, length: 28), cid: childCID(4096), tsize: 100))
        #expect(builder.isSharded)
        let (_, hamtBlocks) = builder.build()
        #expect(try isHAMTRoot(hamtBlocks))
        #expect(hamtBlocks.count > 1)
    }

    @Test("links estimate ignores Tsize, framing and metadata")
    func linksIgnoresOverhead() throws {
        let parameters = DirectoryParameters(
            cids: v1, sizeEstimation: .links, attributes: FileAttributes(mode: 0o755, mtime: .init(seconds: 1)))
        var builder = DirectoryBuilder(parameters: parameters)
        for i in 0..<4096 {
            try builder.add(DirectoryEntry(name: paddedName("e", i, length: 28), cid: childCID(i), tsize: 1 << 40))
        }
        #expect(!builder.isSharded)
        // The real block is far larger than the estimate: 4096 × 78 bytes of links.
        #expect(builder.build().blocks[0].bytes.count > Self.threshold)
    }

    @Test("block estimate: 4 + 4369 × 60 stays basic at exactly 256 KiB, one more converts")
    func blockBoundary() throws {
        let parameters = DirectoryParameters(cids: v1, sizeEstimation: .block)
        var builder = try filledBuilder(parameters, count: 4369, nameLength: 16)
        #expect(builder.estimatedSize == Self.threshold)
        #expect(!builder.isSharded)
        let (_, basicBlocks) = builder.build()
        #expect(basicBlocks.count == 1)
        #expect(basicBlocks[0].bytes.count == Self.threshold)

        try builder.add(DirectoryEntry(name: paddedName("e", 4369, length: 16), cid: childCID(4369), tsize: 100))
        #expect(builder.isSharded)
        #expect(try isHAMTRoot(builder.build().blocks))
    }

    @Test("block estimate counts mode and mtime")
    func blockCountsMetadata() throws {
        let parameters = DirectoryParameters(cids: v1, sizeEstimation: .block, attributes: FileAttributes(mode: 0o755))
        var builder = try filledBuilder(parameters, count: 4368, nameLength: 16)
        #expect(builder.estimatedSize == Self.threshold - 60 + 3)
        #expect(!builder.isSharded)
        try builder.add(DirectoryEntry(name: paddedName("e", 4368, length: 16), cid: childCID(4368), tsize: 100))
        #expect(builder.isSharded)
        // The HAMT root carries the directory's mode.
        let root = try DAGPBNode(decoding: builder.build().blocks.last!.bytes)
        #expect(try UnixFSData(decoding: root.data!).mode == 0o755)
    }

    @Test("the two estimates disagree: 4096 × 28-byte names is basic by links, a HAMT by block")
    func estimatesDiffer() throws {
        let links = try filledBuilder(DirectoryParameters(cids: v1, sizeEstimation: .links), count: 4096, nameLength: 28)
        let block = try filledBuilder(DirectoryParameters(cids: v1, sizeEstimation: .block), count: 4096, nameLength: 28)
        #expect(!links.isSharded)
        #expect(block.isSharded)
        #expect(block.estimatedSize == 4 + 4096 * 72)
    }

    @Test("block estimate equals the encoded block for any basic directory")
    func blockEstimateIsExact() throws {
        var random = SeededBytes(seed: 7)
        for round in 0..<20 {
            let attributes = FileAttributes(
                mode: round % 3 == 0 ? nil : UInt32(random.next() % 0o7777) + 1,
                mtime: round % 2 == 0 ? nil : .init(seconds: Int64(random.next() % 4_000_000_000), nanoseconds: round % 4 == 1 ? UInt32(random.next() % 999_999_999) + 1 : nil))
            var builder = DirectoryBuilder(parameters: DirectoryParameters(
                cids: CIDBuilder(version: round % 2 == 0 ? .v0 : .v1), sizeEstimation: .block, attributes: attributes))
            for i in 0..<Int(random.next() % 300) {
                let name = paddedName("n", i, length: 1 + Int(random.next() % 200) + 4)
                try builder.add(DirectoryEntry(name: name, cid: childCID(i, version: round % 2 == 0 ? .v0 : .v1), tsize: random.next() >> (1 + random.next() % 63)))
            }
            let (_, blocks) = builder.build()
            #expect(builder.estimatedSize == blocks[0].bytes.count, "round \(round)")
        }
    }

    @Test("a replacement that grows an entry can cross the threshold")
    func replacementCrosses() throws {
        let parameters = DirectoryParameters(cids: v1, sizeEstimation: .links)
        var builder = try filledBuilder(parameters, count: 4096, nameLength: 28)
        // Same CID length: the estimate is unchanged at the threshold.
        try builder.add(DirectoryEntry(name: paddedName("e", 0, length: 28), cid: childCID(99_999), tsize: 5))
        #expect(!builder.isSharded)
        // A CIDv0 (34 bytes) then a CIDv1 again: 262142, then back to 262144.
        try builder.add(DirectoryEntry(name: paddedName("e", 1, length: 28), cid: childCID(1, version: .v0), tsize: 5))
        #expect(builder.estimatedSize == Self.threshold - 2)
        let sha512 = CIDBuilder(version: .v1, hashFunction: .sha2_512).cid(for: [1], codec: .dagPB)
        try builder.add(DirectoryEntry(name: paddedName("e", 1, length: 28), cid: sha512, tsize: 5))
        #expect(builder.isSharded)
    }

    @Test("maxLinks converts a basic directory whatever the estimate")
    func maxLinks() throws {
        for estimation in [DirectoryParameters.SizeEstimation.links, .block, .disabled] {
            let parameters = DirectoryParameters(cids: v1, sizeEstimation: estimation, maxLinks: 10)
            var builder = try filledBuilder(parameters, count: 10, nameLength: 8)
            #expect(!builder.isSharded)
            // Replacing keeps the count: no conversion.
            try builder.add(DirectoryEntry(name: paddedName("e", 3, length: 8), cid: childCID(50), tsize: 1))
            #expect(!builder.isSharded)
            try builder.add(DirectoryEntry(name: paddedName("e", 10, length: 8), cid: childCID(10), tsize: 1))
            #expect(builder.isSharded, "\(estimation)")
        }
    }

    @Test("disabled estimation without maxLinks never shards")
    func disabledEstimation() throws {
        let builder = try filledBuilder(DirectoryParameters(cids: v1, sizeEstimation: .disabled), count: 5000, nameLength: 60)
        #expect(!builder.isSharded)
        #expect(builder.estimatedSize == 0)
        #expect(builder.build().blocks.count == 1)
    }

    @Test("threshold 0 disables sharding; maxLinks then limits the directory as boxo's BasicDirectory does")
    func shardingDisabled() throws {
        let unlimited = try filledBuilder(DirectoryParameters(cids: v1, hamtShardingThreshold: 0), count: 5000, nameLength: 60)
        #expect(!unlimited.isSharded)
        var limited = try filledBuilder(DirectoryParameters(cids: v1, hamtShardingThreshold: 0, maxLinks: 3), count: 3, nameLength: 4)
        try limited.add(DirectoryEntry(name: paddedName("e", 1, length: 4), cid: childCID(9), tsize: 1))
        #expect(throws: UnixFSError.limitExceeded) {
            try limited.add(DirectoryEntry(name: "new", cid: childCID(9), tsize: 1))
        }
        #expect(limited.count == 3)
    }

    /// boxo's HAMTDirectory counts, in `sizeChange`, what adds changed the
    /// links estimate since the conversion. For a replaced entry it subtracts
    /// the size of the link as the shard stores it, whose name carries the
    /// 2-digit bucket prefix; to decide a switch back it sizes the new link
    /// with an empty name (ipld.MakeLink). Here, with a threshold of 110 and
    /// 1-byte names over 36-byte CIDs: "a", "b" (74), "c" (111 > 110) converts,
    /// sizeChange = 37. Each replacement of "c" by a same-length CID then
    /// changes sizeChange by -39 + 37 = -2 while the switch-back test sees
    /// an operation of -39 + 36 = -3. After 18 replacements sizeChange is 1,
    /// so the 19th has 1 - 3 < 0 and boxo measures the directory: 111 - 3 =
    /// 108 ≤ 110, back to basic, although the basic estimate is 111. The 20th
    /// replacement, now on a basic directory at 111 > 110, converts again.
    @Test("a HAMT goes back to basic exactly when boxo's bookkeeping says so")
    func returnToBasic() throws {
        var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: v1, hamtShardingThreshold: 110, sizeEstimation: .links))
        try builder.add(DirectoryEntry(name: "a", cid: childCID(1), tsize: 1))
        try builder.add(DirectoryEntry(name: "b", cid: childCID(2), tsize: 1))
        #expect(!builder.isSharded)
        try builder.add(DirectoryEntry(name: "c", cid: childCID(3), tsize: 1))
        #expect(builder.isSharded)
        for replacement in 1...18 {
            try builder.add(DirectoryEntry(name: "c", cid: childCID(100 + replacement), tsize: 1))
            #expect(builder.isSharded, "replacement \(replacement)")
        }
        try builder.add(DirectoryEntry(name: "c", cid: childCID(200), tsize: 1))
        #expect(!builder.isSharded)
        #expect(builder.estimatedSize == 111)
        try builder.add(DirectoryEntry(name: "c", cid: childCID(201), tsize: 1))
        #expect(builder.isSharded)
    }

    /// Threshold 100, links estimate: "a", "b", "c" over 36-byte CIDs weigh
    /// 111 and convert (sizeChange 37). Replacing "a" by an 8-byte identity
    /// CID is an operation of -(2 + 1 + 36) + 8 = -31; 37 - 31 ≥ 0, so boxo
    /// does not even measure, and the HAMT stays although the estimate is now
    /// 83 (sizeChange becomes 37 - 39 + 9 = 7). Replacing "b" likewise gives
    /// 7 - 31 < 0: boxo measures 83 - 31 = 52 ≤ 100 and goes back to basic.
    @Test("a HAMT whose entries shrink goes back to basic when boxo measures it")
    func shrinkToBasic() throws {
        let inline = CIDBuilder(version: .v1, inlineLimit: 32).cid(for: [0x0A, 0x02, 0x08, 0x01], codec: .dagPB)
        #expect(inline.bytes.count == 8)
        var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: v1, hamtShardingThreshold: 100, sizeEstimation: .links))
        for (i, name) in ["a", "b", "c"].enumerated() { try builder.add(DirectoryEntry(name: name, cid: childCID(i), tsize: 1)) }
        #expect(builder.isSharded)
        try builder.add(DirectoryEntry(name: "a", cid: inline, tsize: 4))
        #expect(builder.isSharded)
        #expect(builder.estimatedSize == 83)
        try builder.add(DirectoryEntry(name: "b", cid: inline, tsize: 4))
        #expect(!builder.isSharded)
        #expect(builder.estimatedSize == 55)
        let (_, blocks) = builder.build()
        #expect(try !isHAMTRoot(blocks))
    }
}

struct DirectoryScaleTests {
    @Test("100k entries: adds stay cheap and the HAMT reads back")
    func hundredThousand() async throws {
        let count = 100_000
        let clock = ContinuousClock()
        var builder = DirectoryBuilder(parameters: DirectoryParameters(cids: CIDBuilder(version: .v1), sizeEstimation: .block))
        let cids = (0..<64).map { childCID($0) }
        let addTime = try clock.measure {
            for i in 0..<count {
                try builder.add(DirectoryEntry(name: "file-\(i).txt", cid: cids[i % cids.count], tsize: UInt64(i)))
            }
        }
        #expect(builder.isSharded)
        var built: (root: FileLink, blocks: [Block])!
        let buildTime = clock.measure { built = builder.build() }
        #expect(addTime < .seconds(5), "adds took \(addTime)")
        #expect(buildTime < .seconds(5), "build took \(buildTime)")

        let store = MemoryBlockStore()
        try await store.put(built.blocks)
        let root = try DAGPBNode(decoding: built.blocks.last!.bytes)
        let data = try UnixFSData(decoding: root.data!)
        let entries = try await HAMT.entries(of: root, data: data, source: store)
        #expect(entries.count == count)
        #expect(Set(entries.map(\.name)).count == count)
        for i in stride(from: 0, to: count, by: 9973) {
            let found = try await HAMT.lookup("file-\(i).txt", in: root, data: data, source: store)
            #expect(found == DirectoryEntry(name: "file-\(i).txt", cid: cids[i % cids.count], tsize: UInt64(i)))
        }
        // Tsize: every block once, plus every entry's Tsize.
        let blockBytes = built.blocks.reduce(UInt64(0)) { $0 + UInt64($1.bytes.count) }
        #expect(built.root.tsize == blockBytes + UInt64(count * (count - 1) / 2))
    }
}
