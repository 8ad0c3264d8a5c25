import Blocks
import CAR
import Multiformats
import Testing
import TestSupport
import UnixFS

/// The offset of each section in a CARv1, found by stepping over length
/// varints (independently of the reader and of the exporter's bookkeeping).
func sectionOffsets(_ car: [UInt8]) throws -> [(cid: CID, offset: UInt64)] {
    var offset = 0
    let headerLength = try Varint.decode(car, at: &offset)
    offset += Int(headerLength)
    var found: [(CID, UInt64)] = []
    while offset < car.count {
        let start = offset
        let length = try Varint.decode(car, at: &offset)
        var cidEnd = offset
        found.append((try CID(parsing: car, at: &cidEnd), UInt64(start)))
        offset += Int(length)
    }
    return found
}

@Suite("CAR writer and export")
struct WriterTests {
    @Test func headerIsDagCBORWithRootsThenVersion() throws {
        let header = CAREncoder.header(roots: [helloBlock.cid])
        var offset = 0
        let length = try Varint.decode(header, at: &offset)
        #expect(Int(length) == header.count - offset)
        let body = Array(header[offset...])
        #expect(try DAGCBOR(decoding: body) == ["roots": [.link(helloBlock.cid)], "version": 1])
        // Map of two, "roots" (5 letters) sorts before "version" (7).
        #expect(hex(body.prefix(7)) == "a265726f6f7473")
    }

    @Test func sectionIsLengthCIDBytes() {
        var out: [UInt8] = []
        CAREncoder.appendSection(helloBlock.bytes, cid: helloBlock.cid, to: &out)
        #expect(out == [UInt8(helloBlock.cid.bytes.count + 5)] + helloBlock.cid.bytes + Array("hello".utf8))
        #expect(CAREncoder.sectionSize(cid: helloBlock.cid, blockSize: 5) == out.count)
    }

    /// Depth-first, pre-order, first seen; dag-cbor links in key order
    /// ("file", "leaf", "tiny" before "again": length first, then bytes).
    @Test func exportOrderIsDepthFirstFirstSeen() async throws {
        let dag = mixedDAG()
        let byCID = Dictionary(uniqueKeysWithValues: dag.blocks.map { ($0.cid, $0) })
        let root = byCID[dag.root]!
        let node = byCID[try DAGLinks.links(of: root.cid, block: root.bytes)!.first!]!
        let nodeLinks = try DAGLinks.links(of: node.cid, block: node.bytes)!
        #expect(nodeLinks.count == 4)
        let (file, leaf, tiny, again) = (nodeLinks[0], nodeLinks[1], nodeLinks[2], nodeLinks[3])
        #expect(leaf == again && tiny.isIdentity)
        let fileRoot = byCID[file]!
        let fileLeaves = try DAGLinks.links(of: file, block: fileRoot.bytes)!
        #expect(fileLeaves.count == 4)

        let (bytes, summary) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks))
        let written = try readCAR(bytes).blocks.map(\.cid)
        #expect(written == [root.cid, node.cid, file] + fileLeaves + [leaf, tiny])
        #expect(summary.blockCount == written.count)
        #expect(summary.payloadSize == UInt64(bytes.count) && summary.totalSize == UInt64(bytes.count))
        #expect(summary.index == nil)
    }

    @Test func identityBlocksAreWrittenByDefaultAndOmittedOnRequest() async throws {
        let dag = mixedDAG()
        let source = try await store(dag.blocks)
        let (with, _) = try await exportCAR(roots: [dag.root], from: source)
        let (without, summary) = try await exportCAR(roots: [dag.root], from: source, options: CARExport.Options(identityBlocks: .omitted))
        let withCIDs = try readCAR(with).blocks.map(\.cid), withoutCIDs = try readCAR(without).blocks.map(\.cid)
        #expect(withCIDs.filter(\.isIdentity).count == 1)
        #expect(withoutCIDs == withCIDs.filter { !$0.isIdentity })
        #expect(summary.blockCount == withoutCIDs.count)
    }

    /// An identity root is answered from the CID, and its links are followed.
    @Test func identityNodesAreWalkedThrough() async throws {
        let inline = try DAGCBOR.map(["to": .link(helloBlock.cid)]).encoded()
        let root = CID.v1(.dagCBOR, Multihash(code: 0, digest: inline))
        let (bytes, _) = try await exportCAR(roots: [root], from: try await store([helloBlock]),
                                             options: CARExport.Options(identityBlocks: .omitted))
        #expect(try readCAR(bytes).blocks == [helloBlock])
    }

    @Test func severalRootsShareOneSetOfBlocks() async throws {
        let dag = mixedDAG()
        let (bytes, _) = try await exportCAR(roots: [dag.root, helloBlock.cid, dag.root], from: try await store(dag.blocks + [helloBlock]))
        let events = try readCAR(bytes)
        #expect(events.header?.roots == [dag.root, helloBlock.cid, dag.root])
        let cids = events.blocks.map(\.cid)
        #expect(Set(cids).count == cids.count)
        #expect(cids.last == helloBlock.cid)
    }

    @Test func aMissingBlockStopsTheExportAndIsNamed() async throws {
        let dag = mixedDAG()
        let victim = dag.blocks.first { $0.cid.codec == .raw && $0.bytes.count == 1000 }!
        let source = try await store(dag.blocks.filter { $0.cid != victim.cid })
        for version in [1, 2] {
            let error = await #expect(throws: CARError.missingBlock) {
                try await exportCAR(roots: [dag.root], from: source, version: version)
            }
            #expect(error?.description.contains(victim.cid.description) == true)
            #expect(error?.description.contains("linked from") == true)
        }
        let error = await #expect(throws: CARError.missingBlock) {
            try await exportCAR(roots: [worldBlock.cid], from: source)
        }
        #expect(error?.description.contains("a root") == true)
    }

    @Test func blocksOfUnknownCodecsStopTheExport() async throws {
        let json = Block(hashing: Array("{}".utf8), codec: .dagJSON)
        await #expect(throws: CARError.undecodableBlock) {
            try await exportCAR(roots: [json.cid], from: try await store([json]))
        }
        let brokenPB = Block(hashing: [0xFF, 0xFF], codec: .dagPB)
        await #expect(throws: CARError.undecodableBlock) {
            try await exportCAR(roots: [brokenPB.cid], from: try await store([brokenPB]))
        }
    }

    @Test(arguments: [1, 7, 100, 4096, 1 << 20])
    func chunksAreBoundedAndConcatenateToTheSameCAR(_ chunkSize: Int) async throws {
        let dag = mixedDAG()
        let source = try await store(dag.blocks)
        let (reference, _) = try await exportCAR(roots: [dag.root], from: source)
        for version in [1, 2] {
            var chunks: [[UInt8]] = []
            let options = CARExport.Options(chunkSize: chunkSize)
            if version == 1 {
                _ = try await CARExport.writeV1(roots: [dag.root], from: source, links: dagLinks, options: options) { chunks.append($0) }
            } else {
                _ = try await CARExport.writeV2(roots: [dag.root], from: source, links: dagLinks, options: options) { chunks.append($0) }
            }
            #expect(chunks.dropLast().allSatisfy { $0.count == chunkSize })
            #expect(chunks.last.map { !$0.isEmpty && $0.count <= chunkSize } == true)
            let joined = chunks.flatMap { $0 }
            if version == 1 {
                #expect(joined == reference)
            } else {
                // The CARv2 payload is the CARv1, byte for byte.
                #expect(Array(joined[51..<(51 + reference.count)]) == reference)
            }
        }
    }

    // MARK: CARv2

    @Test func carV2HeaderPayloadAndIndex() async throws {
        let dag = mixedDAG()
        let source = try await store(dag.blocks)
        let (v1, _) = try await exportCAR(roots: [dag.root], from: source)
        let (v2, summary) = try await exportCAR(roots: [dag.root], from: source, version: 2)

        #expect(Array(v2.prefix(11)) == CARv2Header.pragma)
        let header = try CARv2Header(decoding: v2[11..<51])
        #expect(header == CARv2Header(dataOffset: 51, dataSize: UInt64(v1.count), indexOffset: 51 + UInt64(v1.count)))
        #expect(!header.isFullyIndexed && header.characteristicsHigh == 0 && header.characteristicsLow == 0)
        #expect(Array(v2[51..<(51 + v1.count)]) == v1)
        #expect(summary.payloadSize == UInt64(v1.count) && summary.totalSize == UInt64(v2.count))

        let events = try readCAR(v2, reader: CARReader(readingIndex: true))
        #expect(events.header?.v2 == header)
        #expect(events.blocks == (try readCAR(v1)).blocks)
        let index = try #require(events.index)
        #expect(index == summary.index)
        #expect(index.codec == CARIndex.multihashIndexSorted)
        #expect(index == (try CARIndex(decoding: Array(v2[Int(header.indexOffset)...]))))

        // Every non-identity section is indexed at the offset of its length varint.
        let sections = try sectionOffsets(v1)
        #expect(index.count == sections.filter { !$0.cid.isIdentity }.count)
        for (cid, offset) in sections {
            #expect(index.offsets(of: cid.multihash) == (cid.isIdentity ? [] : [offset]), "\(cid)")
        }
        #expect(index.offsets(of: worldBlock.cid.multihash).isEmpty)
    }

    @Test func oneWalkCARv2FromTheCollectedIndex() async throws {
        // What a caller that can seek does: placeholder, CARv1 with index, index, real header.
        let dag = mixedDAG()
        let source = try await store(dag.blocks)
        var payload: [UInt8] = []
        let summary = try await CARExport.writeV1(roots: [dag.root], from: source, links: dagLinks,
                                                  options: CARExport.Options(collectsIndex: true)) { payload += $0 }
        let index = try #require(summary.index)
        let assembled = CAREncoder.v2Prefix(CARv2Header(dataSize: summary.payloadSize, hasIndex: true)) + payload + index.encoded()
        let (twoWalks, _) = try await exportCAR(roots: [dag.root], from: source, version: 2)
        #expect(assembled == twoWalks)
    }

    /// The byte layout go-car writes, pinned on a one-record index.
    @Test func indexByteLayout() throws {
        var builder = CARIndexBuilder()
        builder.add(helloBlock.cid, sectionOffset: 0x0102)
        let encoded = builder.build().encoded()
        var expected: [UInt8] = [0x81, 0x08]                            // varint 0x0401
        expected += [1, 0, 0, 0]                                         // one hash code (int32)
        expected += [0x12, 0, 0, 0, 0, 0, 0, 0]                          // sha2-256 (uint64)
        expected += [1, 0, 0, 0]                                         // one width bucket (int32)
        expected += [40, 0, 0, 0]                                        // width: 32-byte digest + 8
        expected += [40, 0, 0, 0, 0, 0, 0, 0]                            // bucket length in bytes
        expected += Array(helloBlock.cid.digest) + [0x02, 0x01, 0, 0, 0, 0, 0, 0]
        #expect(encoded == expected)
    }

    @Test func indexGroupsByCodeThenWidthAndSortsDigests() throws {
        var builder = CARIndexBuilder()
        var expected: [(Multihash, UInt64)] = []
        var generator = SeededBytes(seed: 11)
        for number in 0..<300 {
            let data = generator.bytes(16)
            let cid: CID
            switch number % 3 {
            case 0: cid = Block(hashing: data, codec: .raw).cid
            case 1: cid = Block(hashing: data, codec: .dagCBOR, hash: .sha2_512).cid
            default: cid = CID.v1(.raw, Multihash(code: 0x1B, digest: data + data))  // another code, 32-byte digests
            }
            builder.add(cid, sectionOffset: UInt64(number * 1000))
            expected.append((cid.multihash, UInt64(number * 1000)))
        }
        // The same digest under a second CID: two records, both found.
        let again = CID.v0(helloBlock.cid.multihash)
        builder.add(helloBlock.cid, sectionOffset: 5)
        builder.add(again, sectionOffset: 9)
        builder.add(CID.v1(.raw, Multihash(code: 0, digest: [1, 2, 3])), sectionOffset: 77)  // identity: skipped
        #expect(builder.count == 302)

        let index = builder.build()
        #expect(index.buckets.map(\.hashCode) == [0x12, 0x13, 0x1B])
        #expect(index.buckets.map(\.digestLength) == [32, 64, 32])
        for bucket in index.buckets {
            let digests = (0..<bucket.count).map { Array(bucket.digest(at: $0)) }
            #expect(digests == digests.sorted { $0.lexicographicallyPrecedes($1) })
        }
        for (multihash, offset) in expected { #expect(index.offsets(of: multihash) == [offset]) }
        #expect(index.offsets(of: helloBlock.cid.multihash) == [5, 9])
        let decoded = try CARIndex(decoding: index.encoded())
        #expect(decoded == index)
        #expect(decoded.records.count == 302)
        #expect(decoded.records.allSatisfy { $0.multihash != nil })
    }

    /// go-car's older format, without hash codes; read for lookups by digest.
    @Test func readsIndexSorted() throws {
        var bytes: [UInt8] = [0x80, 0x08, 1, 0, 0, 0, 40, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0]
        let digests = [helloBlock.cid.digest, worldBlock.cid.digest].map(Array.init).sorted { $0.lexicographicallyPrecedes($1) }
        bytes += digests[0] + [7, 0, 0, 0, 0, 0, 0, 0] + digests[1] + [8, 0, 0, 0, 0, 0, 0, 0]
        let index = try CARIndex(decoding: bytes)
        #expect(index.codec == CARIndex.indexSorted)
        #expect(index.buckets.first?.hashCode == nil)
        #expect(index.offsets(of: Multihash(code: 0x12, digest: digests[1])) == [8])
        #expect(index.encoded() == bytes)
    }

    @Test func malformedIndexesAreRefused() throws {
        let good = CARIndexBuilder().build().encoded()
        #expect(good == [0x81, 0x08, 0, 0, 0, 0])
        var one = CARIndexBuilder()
        one.add(helloBlock.cid, sectionOffset: 1)
        one.add(worldBlock.cid, sectionOffset: 2)
        let valid = one.build().encoded()
        var unsorted = valid
        let record = Array(valid[30..<70])
        unsorted.replaceSubrange(30..<70, with: valid[70..<110])
        unsorted.replaceSubrange(70..<110, with: record)
        var widthEight = valid
        widthEight[18] = 8
        var ragged = valid
        ragged[22] = 79
        let cases: [([UInt8], String)] = [
            ([], "empty"),
            ([0x83, 0x08, 0, 0, 0, 0], "unknown format 0x0403"),
            (Array(valid.dropLast()), "truncated"),
            (valid + [0], "trailing byte"),
            (unsorted, "records out of order"),
            (widthEight, "width 8"),
            (ragged, "length not a multiple of the width"),
            ([0x81, 0x08, 0xFF, 0xFF, 0xFF, 0xFF], "negative count"),
            ([0x81, 0x08, 2] + [UInt8](valid[3..<110]) + [UInt8](valid[6..<110]), "codes out of order (the same code twice)"),
            ([0x81, 0x08, 1, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "a code without buckets"),
        ]
        for (bytes, what) in cases {
            #expect(throws: CARError.invalidIndex, "\(what)") { try CARIndex(decoding: bytes) }
        }
        // Through the reader, with the offset of the index in the message.
        let payload = carV1(roots: [], sections: [])
        let error = readError(carV2(payload: payload, index: ragged), reader: CARReader(readingIndex: true))
        #expect(error == .invalidIndex && error?.offset == 51 + UInt64(payload.count))
        #expect(readError(carV2(payload: payload, index: [UInt8](repeating: 1, count: 100)),
                          reader: CARReader(limits: CARLimits(maxIndexSize: 99), readingIndex: true)) == .limitExceeded)
    }
}
