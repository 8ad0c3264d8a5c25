import Foundation
import Multiformats
import Testing
import TestSupport

@Suite struct CIDTests {
    /// The empty UnixFS file: a dag-pb node `0a 04 08 02 18 00` (Data = {Type: File, filesize: 0}).
    static let emptyFileNode = hex("0a04 0802 1800")
    static let emptyFileV0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    /// Its CIDv1, as Python `multiformats` upgrades it and as Kubo prints it with
    /// `--cid-version=1 --raw-leaves=false` (kubo-add.json).
    static let emptyFileV1 = "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"

    @Test func emptyFileCIDByteByByte() throws {
        let cid = try CID(Self.emptyFileV0)
        #expect(cid.version == .v0 && cid.codec == .dagPB && cid.hashFunction == .sha2_256)
        #expect(cid.bytes == hex("1220 bfccda787baba32b59c78450ac3d20b633360b43992c77289f9ed46d843561e6"))
        #expect(cid.multihash == Multihash(hashing: Self.emptyFileNode, with: .sha2_256))
        #expect(cid.description == Self.emptyFileV0)
        #expect(cid.string(base: .base58btc) == Self.emptyFileV0)

        let v1 = cid.v1
        #expect(v1.bytes == hex("01 70 1220 bfccda787baba32b59c78450ac3d20b633360b43992c77289f9ed46d843561e6"))
        #expect(v1.description == Self.emptyFileV1)
        #expect(cid.string(base: .base32) == Self.emptyFileV1)
        #expect(try CID(Self.emptyFileV1) == v1)
        #expect(v1 != cid && v1.multihash == cid.multihash)
        #expect(v1.v0 == cid && cid.v0 == cid && cid.v1.v1 == v1)
        #expect(Array(v1.digest) == Array(cid.digest) && v1.digest.count == 32)
        #expect(Array(v1.multihashBytes) == cid.bytes)
        #expect(CID.v1(.raw, cid.multihash).v0 == nil)
    }

    /// Kubo's raw-leaf CIDs for single-chunk texts are `CIDv1(raw, hash(text))`;
    /// every CID string in kubo-add.json parses and prints back unchanged.
    @Test func kuboVectors() throws {
        let vectors = try kuboAddVectors()
        var checkedRaw = 0
        for file in vectors["files"] as! [[String: Any]] {
            guard let text = (file["input"] as! [String: Any])["text"] as? String else { continue }
            let flags = file["flags"] as! [String]
            let raw = flags.contains("--raw-leaves") || flags.contains("--cid-version=1") || flags.contains { $0.hasPrefix("--hash=") }
            guard raw, !flags.contains("--raw-leaves=false"), !flags.contains("--inline") else { continue }
            let hashName = flags.first { $0.hasPrefix("--hash=") }?.dropFirst(7) ?? "sha2-256"
            let function = try #require(HashFunction(name: String(hashName)))
            let expected = CID.v1(.raw, Multihash(hashing: Array(text.utf8), with: function))
            #expect(expected.description == file["cid"] as! String, "\(text) \(flags)")
            checkedRaw += 1
        }
        #expect(checkedRaw >= 4)

        var strings: [String] = []
        func collect(_ value: Any) {
            if let string = value as? String, string.hasPrefix("Qm") || string.hasPrefix("baf") { strings.append(string) }
            if let array = value as? [Any] { array.forEach(collect) }
            if let object = value as? [String: Any] { object.values.forEach(collect) }
        }
        collect(vectors)
        #expect(strings.count >= 30)
        for string in strings {
            let cid = try CID(string)
            #expect(cid.description == string)
            #expect(try CID(bytes: cid.bytes) == cid)
            #expect(try CID(cid.string(base: .base36)) == cid.v1)
        }
    }

    @Test func inlineIdentityCID() throws {
        // `ipfs add --inline` of "A": the dag-pb node itself is the digest.
        let cid = try CID("bafyaacika4eaeeqbiemac")
        #expect(cid.codec == .dagPB && cid.isIdentity && cid.hashFunction == .identity)
        #expect(Array(cid.digest) == hex("0a07 0802 1201 41 1801"))
        #expect(cid == CID.v1(.dagPB, Multihash(hashing: hex("0a0708021201411801"), with: .identity)))
    }

    @Test func identityDigestsBeyondTheParseLimitDoNotTrap() {
        // Building is allowed; only parsing enforces Multihash.maxDigestLength.
        let block = [UInt8](repeating: 0x41, count: Multihash.maxDigestLength + 10)
        let cid = CID.v1(.raw, Multihash(hashing: block, with: .identity))
        #expect(Array(cid.digest) == block)
        #expect(Array(cid.multihash.digest) == block)
        #expect(throws: MultiformatsError.limitExceeded) { try CID(bytes: cid.bytes) }
    }

    @Test func textForms() throws {
        let cid = CID.v1(.dagCBOR, Multihash(hashing: Array("x".utf8), with: .sha2_256))
        for base in Multibase.allCases {
            let text = cid.string(base: base)
            #expect(text.first == base.rawValue)
            #expect(try CID(text) == cid)
        }
        #expect(cid.description == cid.string(base: .base32))
        #expect(cid.description.hasPrefix("bafyrei"))
        // Upper-case input is accepted, output is lower case.
        #expect(try CID(cid.description.uppercased().replacingOccurrences(of: "BAFY", with: "bafy")) == cid)
        #expect(try CID("B" + cid.description.dropFirst().uppercased()) == cid)
    }

    @Test func concatenatedParsing() throws {
        let a = try CID(Self.emptyFileV0)
        let b = try CID("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
        let stream = [0xFF] + a.bytes + b.bytes + [0x01]
        var offset = 1
        #expect(try CID(parsing: stream, at: &offset) == a)
        #expect(try CID(parsing: stream, at: &offset) == b)
        #expect(offset == stream.count - 1)
        #expect(throws: MultiformatsError.truncated) { try CID(parsing: stream, at: &offset) }
        #expect(offset == stream.count - 1)
        let slice = stream[1..<(1 + a.bytes.count)]
        #expect(try CID(bytes: slice) == a)
        #expect(try stream.withUnsafeBytes { try CID(bytes: UnsafeRawBufferPointer(rebasing: $0[1..<35])) } == a)
    }

    @Test func rejectsMalformedBinary() {
        let digest = [UInt8](repeating: 0xAB, count: 32)
        #expect(throws: MultiformatsError.truncated) { try CID(bytes: []) }
        #expect(throws: MultiformatsError.truncated) { try CID(bytes: [0x12]) }
        #expect(throws: MultiformatsError.truncated) { try CID(bytes: hex("1220") + digest.dropLast()) }
        #expect(throws: MultiformatsError.invalidCIDv0) { try CID(bytes: hex("1221") + digest + [0]) }
        #expect(throws: MultiformatsError.trailingBytes) { try CID(bytes: hex("1220") + digest + [0]) }
        #expect(throws: MultiformatsError.unsupportedCIDVersion) { try CID(bytes: hex("00 55 1220") + digest) }
        #expect(throws: MultiformatsError.unsupportedCIDVersion) { try CID(bytes: hex("02 55 1220") + digest) }
        #expect(throws: MultiformatsError.unsupportedCIDVersion) { try CID(bytes: hex("03 55 1220") + digest) }
        #expect(throws: MultiformatsError.varintOverlong) { try CID(bytes: hex("8100 55 1220") + digest) }
        #expect(throws: MultiformatsError.varintOverlong) { try CID(bytes: hex("01 d500 1220") + digest) }
        #expect(throws: MultiformatsError.truncated) { try CID(bytes: hex("01 55")) }
        #expect(throws: MultiformatsError.truncated) { try CID(bytes: hex("01 55 1220") + digest.dropLast()) }
        #expect(throws: MultiformatsError.digestLengthMismatch) { try CID(bytes: hex("01 55 1214") + digest.prefix(20)) }
        #expect(throws: MultiformatsError.trailingBytes) { try CID(bytes: hex("01 55 1220") + digest + [0]) }
    }

    @Test func rejectsMalformedText() throws {
        let v0 = try CID(Self.emptyFileV0)
        #expect(throws: MultiformatsError.empty) { try CID("") }
        // CIDv0 exists only as bare base58btc; multibase-prefixed it is an error (CID spec).
        #expect(throws: MultiformatsError.invalidCIDv0) { try CID("z" + Self.emptyFileV0) }
        #expect(throws: MultiformatsError.invalidCIDv0) { try CID(Multibase.base32.encode(v0.bytes)) }
        // One character short or long is not a CIDv0, and not multibase either.
        #expect(throws: MultiformatsError.unknownMultibase) { try CID(String(Self.emptyFileV0.dropLast())) }
        #expect(throws: MultiformatsError.unknownMultibase) { try CID(Self.emptyFileV0 + "1") }
        #expect(throws: MultiformatsError.invalidCharacter) { try CID("Qm" + String(repeating: "0", count: 44)) }
        #expect(throws: MultiformatsError.invalidCharacter) { try CID(Self.emptyFileV1 + "=") }
        #expect(throws: MultiformatsError.unknownMultibase) { try CID(" " + Self.emptyFileV1) }
        #expect(throws: MultiformatsError.unknownMultibase) { try CID("c" + Self.emptyFileV1.dropFirst()) }
        #expect(throws: MultiformatsError.unsupportedCIDVersion) { try CID(Multibase.base32.encode(hex("02 55 00 00"))) }
        #expect(throws: (any Error).self) { try CID(Self.emptyFileV1.dropLast()) }
    }

    @Test func codecNames() {
        for codec in [Multicodec.identity, .raw, .dagPB, .dagCBOR, .libp2pKey, .dagJSON] {
            #expect(Multicodec(name: codec.name) == codec)
        }
        #expect(Multicodec.raw.rawValue == 0x55 && Multicodec.dagPB.rawValue == 0x70)
        #expect(Multicodec.dagCBOR.rawValue == 0x71 && Multicodec.libp2pKey.rawValue == 0x72)
        #expect(Multicodec.identity.rawValue == 0x00)
        #expect(Multicodec(rawValue: 0x300001).name == "0x300001")
    }

    @Test func ordering() throws {
        let a = try CID(Self.emptyFileV0)
        let b = a.v1
        #expect(b < a)  // 0x01 < 0x12
        #expect(Set([a, b, a.v1]).count == 2)
    }

    /// Random CIDs in every base: Python `multiformats` decodes our text to the
    /// same parts and bytes, and encodes our bytes to the same text.
    @Test func matchesPythonMultiformats() throws {
        var random = SeededBytes(seed: 4)
        let codecs: [UInt64] = [0x55, 0x70, 0x71, 0x72, 0x0129, 0x78, 0x85, 0x00]
        let hashes: [(code: UInt64, length: Int?)] = [(0x12, 32), (0x13, 64), (0x00, nil), (0xB220, 32), (0x16, 32)]
        var cases: [(cid: CID, base: Multibase)] = []
        for _ in 0..<800 {
            let base = Multibase.allCases[Int(random.next() % UInt64(Multibase.allCases.count))]
            if random.next() % 5 == 0 {
                cases.append((CID.v0(Multihash(code: 0x12, digest: random.bytes(32))), .base58btc))
                continue
            }
            let codec = codecs[Int(random.next() % UInt64(codecs.count))]
            let hash = hashes[Int(random.next() % UInt64(hashes.count))]
            let digest = random.bytes(hash.length ?? Int(random.next() % 140))
            cases.append((CID.v1(Multicodec(rawValue: codec), Multihash(code: hash.code, digest: digest)), base))
        }
        let script = """
            import sys
            from multiformats import CID
            for line in sys.stdin.read().split("\\n")[:-1]:
                text, raw, base = line.split(" ")
                c = CID.decode(text)
                d = CID.decode(bytes.fromhex(raw))
                ours = d.encode() if d.version == 0 else d.encode(base)
                print(c.version, c.codec.code, c.hashfun.code, c.raw_digest.hex(), bytes(c).hex(), ours)
            """
        let lines = cases.map { "\($0.cid.string(base: $0.base)) \($0.cid.bytes.hexString) \($0.base.name)" }
        let output = try python(script, lines: lines)
        #expect(output.count == cases.count)
        for ((cid, base), line) in zip(cases, output) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let expected = [
                String(cid.version.rawValue), String(cid.codec.rawValue), String(cid.hashCode),
                Array(cid.digest).hexString, cid.bytes.hexString, cid.string(base: base),
            ]
            #expect(fields == expected)
            #expect(try CID(fields[5]) == cid)
        }
    }
}
