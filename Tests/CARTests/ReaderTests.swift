import Blocks
import CAR
import Multiformats
import Testing
import TestSupport

/// A CARv1 built by hand from sections, for inputs the writer would never make.
func carV1(roots: [CID], sections: [(cid: CID, bytes: [UInt8])]) -> [UInt8] {
    var out = CAREncoder.header(roots: roots)
    for section in sections { CAREncoder.appendSection(section.bytes, cid: section.cid, to: &out) }
    return out
}

/// `varint(len(header)) || header`.
func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
    Varint.encode(UInt64(bytes.count)) + bytes
}

/// A CARv2 around `payload`, with optional padding and index bytes.
func carV2(payload: [UInt8], dataPadding: Int = 0, indexPadding: Int = 0, index: [UInt8]? = nil) -> [UInt8] {
    let dataOffset = CARv2Header.unpaddedDataOffset + UInt64(dataPadding)
    let indexOffset = index == nil ? 0 : dataOffset + UInt64(payload.count + indexPadding)
    let header = CARv2Header(dataOffset: dataOffset, dataSize: UInt64(payload.count), indexOffset: indexOffset)
    var out = CAREncoder.v2Prefix(header)
    out += [UInt8](repeating: 0, count: dataPadding) + payload
    if let index { out += [UInt8](repeating: 0, count: indexPadding) + index }
    return out
}

let helloBlock = Block(hashing: Array("hello".utf8), codec: .raw)
let worldBlock = Block(hashing: Array("world".utf8), codec: .raw)

@Suite("CAR reader")
struct ReaderTests {
    static let pieceShapes: [Pieces] = [.fixed(1), .fixed(7), .fixed(64), .random(seed: 1, max: 16), .random(seed: 2, max: 300), .random(seed: 3, max: 5000)]

    /// Inputs for the piece tests: fixtures, and a CARv2 with padding and index.
    static func samples() async throws -> [(name: String, bytes: [UInt8])] {
        var samples = try Fixtures.names().map { ($0, try Fixtures.bytes($0)) }
        let dag = mixedDAG()
        let (v2, _) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks), version: 2)
        samples.append(("mixed DAG, CARv2", v2))
        let payload = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, helloBlock.bytes), (worldBlock.cid, worldBlock.bytes)])
        samples.append(("padded CARv2", carV2(payload: payload, dataPadding: 13, indexPadding: 5, index: CARIndexBuilder().build().encoded())))
        return samples
    }

    @Test(arguments: pieceShapes)
    func piecesOfAnySizeGiveTheSameEvents(_ pieces: Pieces) async throws {
        for (name, bytes) in try await Self.samples() {
            let reader = CARReader(readingIndex: true)
            let whole = try readCAR(bytes, reader: reader)
            #expect(whole.header != nil)
            #expect(try readCAR(bytes, pieces: pieces, reader: reader) == whole, "\(name) in \(pieces)")
        }
    }

    @Test func readsTheHeaderAndBlocksInOrder() throws {
        let car = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, helloBlock.bytes), (worldBlock.cid, worldBlock.bytes)])
        let events = try readCAR(car)
        #expect(events == [.header(CARHeader(roots: [helloBlock.cid])), .block(helloBlock), .block(worldBlock)])
        #expect(events.header?.version == 1)
    }

    @Test func acceptsZeroRootsAndZeroBlocks() throws {
        #expect(try readCAR(carV1(roots: [], sections: [])) == [.header(CARHeader(roots: []))])
    }

    @Test func ignoresUnknownHeaderKeys() throws {
        let header = try DAGCBOR.map(["roots": [.link(helloBlock.cid)], "version": 1, "zzz": "future"]).encoded()
        #expect(try readCAR(lengthPrefixed(header)).header?.roots == [helloBlock.cid])
    }

    @Test func acceptsIdentitySections() throws {
        let identity = CID.v1(.raw, Multihash(code: 0, digest: Array("inline".utf8)))
        let events = try readCAR(carV1(roots: [identity], sections: [(identity, Array("inline".utf8))]))
        #expect(events.blocks == [Block(cid: identity, bytes: Array("inline".utf8))])
        // An identity section whose bytes are not its digest does not verify.
        #expect(readError(carV1(roots: [identity], sections: [(identity, Array("other".utf8))])) == .verificationFailed)
    }

    // MARK: Truncation

    /// Every proper prefix of a CARv1 is an error, except those ending exactly
    /// between sections, which are shorter valid CARs (CARv1 has no length):
    /// those must read as a prefix of the events.
    @Test func truncatedCARv1FailsAtEveryOffsetInsideAnItem() throws {
        let bytes = try Fixtures.bytes("path_gateway_unixfs/symlink.car")
        let all = try readCAR(bytes)
        var boundaries = Set<Int>()
        var offset = CAREncoder.header(roots: all.header!.roots).count
        boundaries.insert(offset)
        for block in all.blocks {
            offset += CAREncoder.sectionSize(cid: block.cid, blockSize: block.bytes.count)
            boundaries.insert(offset)
        }
        #expect(offset == bytes.count)
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            for pieces in [Pieces.whole, .fixed(1)] {
                if boundaries.contains(length) {
                    let events = try readCAR(prefix, pieces: pieces)
                    #expect(Array(all.prefix(events.count)) == events)
                } else {
                    #expect(readError(prefix, pieces: pieces) == .truncated, "prefix of \(length) bytes, \(pieces)")
                }
            }
        }
    }

    /// A CARv2 knows its payload's size, and a parsed index its own end: every
    /// proper prefix is an error.
    @Test func truncatedCARv2FailsAtEveryOffset() async throws {
        let dag = mixedDAG()
        let (bytes, _) = try await exportCAR(roots: [dag.root], from: try await store(dag.blocks), version: 2)
        let reader = CARReader(readingIndex: true)
        _ = try readCAR(bytes, reader: reader)
        for length in 0..<bytes.count {
            let error = readError(Array(bytes[..<length]), reader: reader)
            #expect(error == .truncated || error == .invalidIndex, "prefix of \(length) bytes: \(String(describing: error))")
        }
        // Without reading the index, a prefix that keeps at least one index byte reads.
        let payloadEnd = Int(CARv2Header.unpaddedDataOffset) + (try readCAR(bytes).header?.v2?.dataSize).map(Int.init)!
        for length in 0...payloadEnd {
            #expect(readError(Array(bytes[..<length])) == .truncated, "prefix of \(length) bytes")
        }
        #expect(readError(Array(bytes[..<(payloadEnd + 1)])) == nil)
    }

    @Test func carV2WhoseOffsetsPointPastTheEndIsTruncated() throws {
        let payload = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, helloBlock.bytes)])
        var prefix = CAREncoder.v2Prefix(CARv2Header(dataOffset: 1000, dataSize: UInt64(payload.count), indexOffset: 0))
        #expect(readError(prefix + payload) == .truncated, "data offset past the end")
        prefix = CAREncoder.v2Prefix(CARv2Header(dataOffset: 51, dataSize: UInt64(payload.count + 10), indexOffset: 0))
        #expect(readError(prefix + payload) == .truncated, "data size past the end")
        prefix = CAREncoder.v2Prefix(CARv2Header(dataSize: UInt64(payload.count), hasIndex: true))
        #expect(readError(prefix + payload) == .truncated, "index offset at the end")
        prefix = CAREncoder.v2Prefix(CARv2Header(dataOffset: 51, dataSize: UInt64(payload.count), indexOffset: UInt64(51 + payload.count + 100)))
        #expect(readError(prefix + payload + [1, 2, 3]) == .truncated, "index offset past the end")
    }

    @Test func carV2PayloadEndingInsideASectionIsTruncated() throws {
        let payload = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, helloBlock.bytes)])
        let prefix = CAREncoder.v2Prefix(CARv2Header(dataOffset: 51, dataSize: UInt64(payload.count - 1), indexOffset: 0))
        let error = readError(prefix + payload + [0, 0, 0])
        #expect(error == .truncated)
        #expect(error?.description.contains("data payload") == true)
    }

    @Test func carV2WithInconsistentOffsetsIsRejected() throws {
        let payload = carV1(roots: [helloBlock.cid], sections: [])
        let cases: [(CARv2Header, String)] = [
            (CARv2Header(dataOffset: 50, dataSize: UInt64(payload.count), indexOffset: 0), "data offset inside the header"),
            (CARv2Header(dataOffset: 51, dataSize: UInt64(payload.count), indexOffset: 60), "index inside the payload"),
            (CARv2Header(dataOffset: 51, dataSize: UInt64.max - 10, indexOffset: 0), "size overflows"),
        ]
        for (header, what) in cases {
            #expect(readError(CAREncoder.v2Prefix(header) + payload) == .invalidV2Header, "\(what)")
        }
    }

    @Test func carV2PaddingIsSkippedAndItsHeaderReported() throws {
        let payload = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, helloBlock.bytes)])
        let bytes = carV2(payload: payload, dataPadding: 100, indexPadding: 7, index: CARIndexBuilder().build().encoded())
        let events = try readCAR(bytes, reader: CARReader(readingIndex: true))
        let v2 = try #require(events.header?.v2)
        #expect(v2.dataOffset == 151 && v2.dataSize == UInt64(payload.count))
        #expect(v2.indexOffset == 151 + UInt64(payload.count) + 7)
        #expect(events.blocks == [helloBlock])
        #expect(events.index?.count == 0)
        #expect(events.header?.version == 2)
        // With no index, bytes after the payload are ignored.
        #expect(try readCAR(carV2(payload: payload) + [1, 2, 3]).blocks == [helloBlock])
    }

    @Test func carV2InsideACarV2IsRejected() throws {
        let inner = CARv2Header.pragma
        let bytes = CAREncoder.v2Prefix(CARv2Header(dataSize: UInt64(inner.count), hasIndex: false)) + inner
        #expect(readError(bytes) == .unsupportedVersion)
    }

    // MARK: Malformed input

    @Test func oversizedSectionsAreRefusedBeforeTheyAreRead() throws {
        let header = CAREncoder.header(roots: [helloBlock.cid])
        let limit = CARLimits.default.maxSectionSize
        #expect(readError(header + Varint.encode(UInt64(limit + 1))) == .limitExceeded)
        #expect(readError(header + Varint.encode(Varint.maxValue)) == .limitExceeded)
        // Just at the limit: refused only because the input ends.
        #expect(readError(header + Varint.encode(UInt64(limit))) == .truncated)
        // A smaller configured limit applies.
        let small = CARReader(limits: CARLimits(maxSectionSize: 10))
        #expect(readError(carV1(roots: [], sections: [(helloBlock.cid, helloBlock.bytes)]), reader: small) == .limitExceeded)
    }

    @Test func blocksOverTwoMiBAreRefusedWhenVerifying() throws {
        let big = Block(hashing: [UInt8](repeating: 1, count: Block.maxSize + 1), codec: .raw)
        let car = carV1(roots: [big.cid], sections: [(big.cid, big.bytes)])
        #expect(readError(car) == .limitExceeded)
        #expect(try readCAR(car, reader: CARReader(verifyingBlocks: false)).blocks == [big])
    }

    @Test func badVarintsAreRefused() throws {
        #expect(readError([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]) == .invalidVarint)
        #expect(readError([0x85, 0x00]) == .invalidVarint, "overlong header length")
        let header = CAREncoder.header(roots: [])
        #expect(readError(header + [0xA5, 0x00]) == .invalidVarint, "overlong section length")
        #expect(readError(header + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], pieces: .fixed(1)) == .invalidVarint)
    }

    @Test func malformedHeadersAreRefused() throws {
        func header(_ value: DAGCBOR) throws -> [UInt8] { lengthPrefixed(try value.encoded()) }
        let link = DAGCBOR.link(helloBlock.cid)
        let cases: [([UInt8], CARError, String)] = [
            ([0x00], .invalidHeader, "zero-length header"),
            (lengthPrefixed([0xFF, 0x00]), .invalidHeader, "not dag-cbor"),
            (lengthPrefixed([0xA1, 0x67] + Array("version".utf8) + [0x01, 0x00]), .invalidHeader, "trailing bytes"),
            (try header([link]), .invalidHeader, "not a map"),
            (try header(["roots": [link]]), .invalidHeader, "no version"),
            (try header(["roots": [link], "version": "1"]), .invalidHeader, "version not an integer"),
            (try header(["roots": [link], "version": -1]), .invalidHeader, "negative version"),
            (try header(["roots": [link], "version": 3]), .unsupportedVersion, "version 3"),
            (try header(["roots": [link], "version": 0]), .unsupportedVersion, "version 0"),
            (try header(["version": 1]), .invalidHeader, "no roots"),
            (try header(["roots": link, "version": 1]), .invalidHeader, "roots not a list"),
            (try header(["roots": [link, "x"], "version": 1]), .invalidHeader, "a root not a link"),
            (try header(["roots": [link], "version": 2]), .invalidV2Header, "version 2 but not the pragma"),
            (Varint.encode(UInt64(CARLimits.default.maxHeaderSize + 1)), .limitExceeded, "header too large"),
        ]
        for (bytes, expected, what) in cases {
            #expect(readError(bytes) == expected, "\(what)")
            #expect(readError(bytes, pieces: .fixed(1)) == expected, "\(what), byte by byte")
        }
        let roots = DAGCBOR.array([DAGCBOR](repeating: link, count: 5))
        let fewRoots = CARReader(limits: CARLimits(maxRoots: 4))
        #expect(readError(try header(["roots": roots, "version": 1]), reader: fewRoots) == .limitExceeded)
    }

    @Test func sectionsWithoutAValidCIDAreRefused() throws {
        let header = CAREncoder.header(roots: [helloBlock.cid])
        #expect(readError(header + [0x00]) == .invalidSection, "zero-length section")
        #expect(readError(header + lengthPrefixed([0x02, 0x55, 0x12, 0x20] + [UInt8](repeating: 0, count: 32))) == .invalidCID, "CID version 2")
        #expect(readError(header + lengthPrefixed([0x12, 0x21] + [UInt8](repeating: 0, count: 40))) == .invalidCID, "bad CIDv0")
        #expect(readError(header + lengthPrefixed(Array(helloBlock.cid.bytes.prefix(20)))) == .invalidSection, "CID longer than its section")
        #expect(readError(header + lengthPrefixed(Array(helloBlock.cid.bytes.prefix(20))), pieces: .fixed(1)) == .invalidSection)
    }

    @Test func blocksThatDoNotHashToTheirCIDAreRefusedUnlessVerificationIsOff() throws {
        let car = carV1(roots: [helloBlock.cid], sections: [(helloBlock.cid, Array("jello".utf8))])
        let error = readError(car)
        #expect(error == .verificationFailed)
        #expect(error?.description.contains(helloBlock.cid.description) == true)
        #expect(readError(car, pieces: .fixed(3)) == .verificationFailed)
        let trusting = CARReader(verifyingBlocks: false)
        #expect(try readCAR(car, reader: trusting).blocks == [Block(cid: helloBlock.cid, bytes: Array("jello".utf8))])
    }

    @Test func blocksWithAHashTauCannotComputeNeedVerificationOff() throws {
        // blake2b-256 (0xb220), as Filecoin uses.
        let cid = CID.v1(.dagCBOR, Multihash(code: 0xB220, digest: [UInt8](repeating: 7, count: 32)))
        let car = carV1(roots: [cid], sections: [(cid, [0xA0])])
        #expect(readError(car) == .verificationFailed)
        #expect(try readCAR(car, reader: CARReader(verifyingBlocks: false)).blocks.count == 1)
    }

    @Test func aFailedReaderStaysFailedAndAFinishedOneIsClosed() throws {
        var reader = CARReader()
        #expect(throws: CARError.invalidHeader) { try reader.parse([0x00]) }
        #expect(throws: CARError.invalidHeader) { try reader.parse(CAREncoder.header(roots: [])) }
        #expect(throws: CARError.invalidHeader) { try reader.finish() }

        var finished = CARReader()
        _ = try finished.parse(CAREncoder.header(roots: []))
        try finished.finish()
        #expect(throws: CARError.readerClosed) { try finished.parse([0x01]) }
    }

    @Test func errorsNameTheOffset() throws {
        let header = CAREncoder.header(roots: [helloBlock.cid])
        let car = header + lengthPrefixed(helloBlock.cid.bytes + Array("jello".utf8))
        let error = try #require(readError(car))
        #expect(error.offset == UInt64(header.count))
        #expect(error.description.contains("at byte \(header.count)"))
        #expect(readError([])?.description.contains("empty input") == true)
    }
}
