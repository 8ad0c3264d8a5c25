import Multiformats
import Testing
import TestSupport

@Suite struct MultibaseTests {
    /// multiformats/multibase tests/{basic,leading_zero,two_leading_zeros}.csv,
    /// the rows for the bases tau implements.
    static let specVectors: [(input: [UInt8], base: Multibase, text: String)] = {
        let yes = Array("yes mani !".utf8)
        let rows: [([UInt8], [(Multibase, String)])] = [
            (yes, [
                (.base16, "f796573206d616e692021"), (.base16Upper, "F796573206D616E692021"),
                (.base32, "bpfsxgidnmfxgsibb"), (.base32Upper, "BPFSXGIDNMFXGSIBB"),
                (.base36, "k2lcpzo5yikidynfl"), (.base36Upper, "K2LCPZO5YIKIDYNFL"),
                (.base58btc, "z7paNL19xttacUY"), (.base64, "meWVzIG1hbmkgIQ"), (.base64url, "ueWVzIG1hbmkgIQ"),
            ]),
            ([0] + yes, [
                (.base16, "f00796573206d616e692021"), (.base16Upper, "F00796573206D616E692021"),
                (.base32, "bab4wk4zanvqw42jaee"), (.base32Upper, "BAB4WK4ZANVQW42JAEE"),
                (.base36, "k02lcpzo5yikidynfl"), (.base36Upper, "K02LCPZO5YIKIDYNFL"),
                (.base58btc, "z17paNL19xttacUY"), (.base64, "mAHllcyBtYW5pICE"), (.base64url, "uAHllcyBtYW5pICE"),
            ]),
            ([0, 0] + yes, [
                (.base16, "f0000796573206d616e692021"), (.base16Upper, "F0000796573206D616E692021"),
                (.base32, "baaahszltebwwc3tjeaqq"), (.base32Upper, "BAAAHSZLTEBWWC3TJEAQQ"),
                (.base36, "k002lcpzo5yikidynfl"), (.base36Upper, "K002LCPZO5YIKIDYNFL"),
                (.base58btc, "z117paNL19xttacUY"), (.base64, "mAAB5ZXMgbWFuaSAh"), (.base64url, "uAAB5ZXMgbWFuaSAh"),
            ]),
        ]
        return rows.flatMap { input, cases in cases.map { (input, $0.0, $0.1) } }
    }()

    @Test func specVectorsEncodeAndDecode() throws {
        #expect(Self.specVectors.count == 27)
        for (input, base, text) in Self.specVectors {
            #expect(base.encode(input) == text, "\(base)")
            let decoded = try Multibase.decode(text)
            #expect(decoded.base == base)
            #expect(decoded.bytes == input, "\(text)")
        }
    }

    /// multiformats/multibase tests/case_insensitivity.csv: "Differently cased
    /// than expected, must decode without errors".
    @Test(arguments: [
        "f68656c6c6f20776F726C64", "F68656c6c6f20776F726C64", "bnbswy3dpeB3W64TMMQ", "Bnbswy3dpeB3W64TMMQ",
        "kfUvrsIvVnfRbjWaJo", "KfUVrSIVVnFRbJWAJo",
    ])
    func caseInsensitiveBases(text: String) throws {
        let (base, bytes) = try Multibase.decode(text)
        #expect(bytes == Array("hello world".utf8))
        #expect(base.isCaseInsensitive)
    }

    /// multiformats/multibase rfcs/Base36.md examples.
    @Test(arguments: [("0001", "k01"), ("0000ff", "k0073"), ("0100", "k74"), ("000100", "k074")])
    func base36Examples(bytes: String, text: String) throws {
        #expect(Multibase.base36.encode(hex(bytes)) == text)
        #expect(Multibase.base36Upper.encode(hex(bytes)) == text.uppercased())
        #expect(try Multibase.decode(text).bytes == hex(bytes))
        #expect(try Multibase.decode(text.uppercased()).bytes == hex(bytes))
    }

    @Test func emptyAndZeroInputs() throws {
        for base in Multibase.allCases {
            #expect(base.encode([]) == String(base.rawValue))
            #expect(try Multibase.decode(String(base.rawValue)).bytes == [])
            for zeros in 1...5 {
                let input = [UInt8](repeating: 0, count: zeros)
                #expect(try Multibase.decode(base.encode(input)).bytes == input, "\(base) \(zeros)")
            }
        }
        #expect(Multibase.base58btc.encode([0, 0]) == "z11")
        #expect(Multibase.base36.encode([0, 0]) == "k00")
    }

    @Test(arguments: [
        // Padding belongs to other prefixes (c, M, U), which tau does not accept.
        "meWVzIG1hbmkgIQ==", "ueWVzIG1hbmkgIQ=", "bpfsxgidnmfxgsibb======", "f00=",
        // Outside the alphabet.
        "z0OIl", "bpfsxgidnmfxgsib1", "f0g", "k-1", "m+/-_", "u+/", "z7paNL19xttacUY ",
        "z7paN\u{00e9}", "bé",
        // Non-canonical trailing bits or impossible lengths.
        "f0", "f123", "bb", "bab4wk4zanvqw42jaef", "ba", "baaa", "mA", "meWVzIG1hbmkgIR", "uAB",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: MultiformatsError.invalidCharacter) { try Multibase.decode(text) }
    }

    @Test func rejectsUnknownPrefixes() {
        for text in ["Qm", "1abc", " z7paNL19xttacUY", "cpfsxgidnmfxgsibb", "MeWVzIG1hbmkgIQ==", "UeWVzIG1hbmkgIQ==", "\u{1F680}", "é", "/"] {
            #expect(throws: MultiformatsError.unknownMultibase) { try Multibase.decode(text) }
        }
        #expect(throws: MultiformatsError.empty) { try Multibase.decode("") }
        // A combining mark after a valid prefix does not turn it into another prefix.
        #expect(throws: MultiformatsError.invalidCharacter) { try Multibase.decode("b\u{0301}aa") }
    }

    @Test func longBaseXInputsAreBounded() throws {
        let long = "z" + String(repeating: "2", count: 8193)
        #expect(throws: MultiformatsError.limitExceeded) { try Multibase.decode(long) }
        var random = SeededBytes(seed: 5)
        let bytes = random.bytes(4128)
        for base in [Multibase.base58btc, .base36] {
            #expect(try Multibase.decode(base.encode(bytes)).bytes == bytes)
        }
    }

    @Test func namesRoundTrip() {
        for base in Multibase.allCases { #expect(Multibase(name: base.name) == base) }
        #expect(Multibase(name: "base32pad") == nil)
    }

    @Test func randomRoundTrips() throws {
        var random = SeededBytes(seed: 1)
        for _ in 0..<3000 {
            var bytes = random.bytes(Int(random.next() % 70))
            if random.next() % 3 == 0 { bytes.insert(contentsOf: [UInt8](repeating: 0, count: Int(random.next() % 4)), at: 0) }
            for base in Multibase.allCases {
                let text = base.encode(bytes)
                let decoded = try Multibase.decode(text)
                #expect(decoded.base == base && decoded.bytes == bytes, "\(text)")
            }
        }
    }

    /// Python `multiformats.multibase` encodes the same bytes to the same text, and
    /// decodes our text to the same bytes, in every base, on random inputs.
    @Test func matchesPythonMultiformats() throws {
        var random = SeededBytes(seed: 2)
        var inputs: [[UInt8]] = []
        for _ in 0..<600 {
            var bytes = random.bytes(Int(random.next() % 80))
            if random.next() % 4 == 0 { bytes.insert(contentsOf: [UInt8](repeating: 0, count: Int(random.next() % 3) + 1), at: 0) }
            inputs.append(bytes)
        }
        inputs.append([])
        let bases = Multibase.allCases
        let script = """
            import sys
            from multiformats import multibase
            names = "\(bases.map(\.name).joined(separator: " "))".split()
            for line in sys.stdin.read().split("\\n")[:-1]:
                data = bytes.fromhex(line)
                print(" ".join(multibase.encode(data, name) for name in names))
            """
        let output = try python(script, lines: inputs.map(\.hexString))
        #expect(output.count == inputs.count)
        for (input, line) in zip(inputs, output) {
            let theirs = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            #expect(theirs == bases.map { $0.encode(input) }, "\(input.hexString)")
            for text in theirs { #expect(try Multibase.decode(text).bytes == input) }
        }
    }
}

