import Chunking
import Foundation
import TestSupport
import Testing

/// Cut points against independent implementations: literal Python transliterations of the Go code Kubo runs
/// (whyrusleeping/chunker for rabin, boxo for buzhash) and the PyPI pyfastcdc package.
@Suite("Chunkers against reference implementations", .serialized)
struct ReferenceTests {
    static let mixedInput = TestInputs.mixed(3 << 20, seed: 1234)

    @Test("rabin matches whyrusleeping/chunker as boxo drives it", arguments: [
        "rabin", "rabin-16-4096-65536", "rabin-100-1000-5000", "rabin-48", "rabin-1000", "rabin-min:4096-avg:8192-max:16384",
    ])
    func rabinMatchesGo(text: String) throws {
        guard case .rabin(let min, let average, let max) = try ChunkerSpec(parsing: text) else {
            Issue.record("not a rabin spec")
            return
        }
        // The Python reference runs about a microsecond per byte: small chunks get a smaller input.
        let data = min >= 4096 ? Self.mixedInput : Array(Self.mixedInput[..<(768 << 10)])
        let file = try TestInputs.temporaryFile(data)
        defer { try? FileManager.default.removeItem(at: file) }
        let expected = try TestInputs.pythonBoundaries(GoReference.rabin,
                                                       arguments: [file.path, "\(min)", "\(average)", "\(max)"])
        #expect(expected.count > 3)
        #expect(TestInputs.boundaries(of: data, spec: .rabin(min: min, average: average, max: max)) == expected)
    }

    @Test func buzhashMatchesBoxo() throws {
        // Random data, then all-zero runs and ramps, and an input ending just past min (boxo's short-tail branch).
        let tableFile = TestEnvironment.vectors.appendingPathComponent("buzhash-table.txt")
        for data in [Self.mixedInput, TestInputs.random(2 << 20, seed: 5) + [UInt8](repeating: 0, count: 131_100)] {
            let file = try TestInputs.temporaryFile(data)
            defer { try? FileManager.default.removeItem(at: file) }
            let expected = try TestInputs.pythonBoundaries(GoReference.buzhash, arguments: [file.path, tableFile.path])
            #expect(expected.count > 3)
            #expect(TestInputs.boundaries(of: data, spec: .buzhash) == expected)
        }
    }

    @Test("fastcdc cuts exactly where pyfastcdc does", arguments: [
        (64, 256, 1024), (65, 300, 1025), (100, 1000, 3001), (2048, 8192, 65536), (4096, 16384, 65536),
        (16384, 65536, 262_144), (65536, 262_144, 1_048_576), (1024, 1024, 1024), (262_144, 524_288, 2_096_896),
    ])
    func fastCDCMatchesPyfastcdc(min: Int, average: Int, max: Int) throws {
        let spec = ChunkerSpec.fastCDC(min: min, average: average, max: max)
        for data in [TestInputs.random(4 << 20, seed: 42), Self.mixedInput] {
            let file = try TestInputs.temporaryFile(data)
            defer { try? FileManager.default.removeItem(at: file) }
            let expected = try TestInputs.pythonBoundaries(GoReference.pyfastcdc,
                                                           arguments: [file.path, "\(min)", "\(average)", "\(max)"])
            #expect(expected.count > 2)
            #expect(TestInputs.boundaries(of: data, spec: spec) == expected, "fastcdc-\(min)-\(average)-\(max)")
        }
    }

    /// The one documented difference: pyfastcdc only checks the first byte of a byte pair when the second byte
    /// exists, so when the input ends one byte after such a match it keeps that byte in the last chunk. A
    /// streaming chunker cannot know the input ends there; it cuts, leaving a one-byte last chunk.
    @Test func fastCDCEndOfInputDifference() throws {
        let spec = ChunkerSpec.fastCDC(min: 64, average: 256, max: 1024)
        let data = TestInputs.random(1 << 16, seed: 8)
        let ends = TestInputs.boundaries(of: data, spec: spec)
        // A cut at an even offset from its chunk's start, i.e. a match on the first byte of a pair.
        let index = try #require(ends.indices.dropLast().first { (ends[$0] - ($0 == 0 ? 0 : ends[$0 - 1])) % 2 == 0 })
        let truncated = Array(data[..<(ends[index] + 1)])
        let file = try TestInputs.temporaryFile(truncated)
        defer { try? FileManager.default.removeItem(at: file) }
        let reference = try TestInputs.pythonBoundaries(GoReference.pyfastcdc, arguments: [file.path, "64", "256", "1024"])
        let ours = TestInputs.boundaries(of: truncated, spec: spec)
        #expect(ours == Array(ends[...index]) + [truncated.count])
        #expect(reference == Array(ends[..<index]) + [truncated.count])
    }

    @Test func buzhashTableEqualsVectorsFile() throws {
        let text = try String(contentsOf: TestEnvironment.vectors.appendingPathComponent("buzhash-table.txt"),
                              encoding: .utf8)
        let rows = text.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.count == 256)
        for (index, row) in rows.enumerated() {
            #expect(Int(row[0]) == index)
            #expect(UInt32(row[1].dropFirst(2), radix: 16) == BuzhashChunker.byteHash[index], "entry \(index)")
        }
        // boxo's own check: every bit position is set in exactly half of the entries.
        for bit in 0..<32 {
            #expect(BuzhashChunker.byteHash.filter { $0 >> UInt32(bit) & 1 == 1 }.count == 128)
        }
    }

    @Test func fastCDCTablesEqualPyfastcdc() throws {
        let script = """
        import json
        from pyfastcdc.py.constants import GEAR, GEAR_LS, MASKS
        print(json.dumps([[str(v) for v in GEAR], [str(v) for v in GEAR_LS], [str(v) for v in MASKS]]))
        """
        let tables = try JSONDecoder().decode([[String]].self, from: try runPython(script))
        #expect(tables[0].map { UInt64($0)! } == FastCDCChunker.gear)
        #expect(tables[1].map { UInt64($0)! } == FastCDCChunker.gearShifted)
        #expect(tables[2].map { UInt64($0)! } == FastCDCChunker.masks)
        #expect(FastCDCChunker.gearShifted == FastCDCChunker.gear.map { $0 &<< 1 })
    }

    @Test func rabinTablesMatchTheDocumentedExcerpt() {
        #expect(RabinChunker.polynomial == 17_437_180_132_763_653)
        #expect(Array(RabinChunker.outTable.prefix(4)) == [0, 0x17FA_6321_7C2A_D7, 0x1207_C39D_4AFD_AB, 0x5_FDA0_BC36_D77C])
        #expect(RabinChunker.outTable[255] == 0x171E_3ADE_D86A_75)
        #expect(Array(RabinChunker.modTable.prefix(4)) == [0, 0x3D_F305_DFB2_A805, 0x46_150E_60D7_F80F, 0x7B_E60B_BF65_500A])
        #expect(RabinChunker.modTable[255] == 0x1FE1_D6D6_5A0B_E2BC)
    }

    @Test func fastCDCMaskSelection() {
        // bits = round(log2(average)); strict = masks[bits + 1], loose = masks[bits - 1].
        let chunker = FastCDCChunker(min: 16384, average: 65536, max: 262_144)
        #expect(chunker.strictMask == FastCDCChunker.masks[17] && chunker.looseMask == FastCDCChunker.masks[15])
        let rounded = FastCDCChunker(min: 64, average: 362, max: 1024)  // log2(362) = 8.4998
        #expect(rounded.strictMask == FastCDCChunker.masks[9])
        let roundedUp = FastCDCChunker(min: 64, average: 363, max: 1024)  // log2(363) = 8.5038
        #expect(roundedUp.strictMask == FastCDCChunker.masks[10])
        #expect((rounded.hashStart, rounded.normalPoint, rounded.checkEnd) == (64, 362, 1024))
        let odd = FastCDCChunker(min: 65, average: 301, max: 1025)
        #expect((odd.hashStart, odd.normalPoint, odd.checkEnd) == (64, 300, 1024))
    }

    /// The worked examples of formats/chunkers.md: inputs are the first bytes of SeededBytes(seed: 1).
    @Test("worked examples", arguments: [
        ("size-1000", 2500, [1000, 2000, 2500]),
        ("rabin-16-64-128", 1024, [46, 72, 175, 303, 339, 467, 519, 580, 597, 678, 730, 858, 887, 1015, 1024]),
        ("fastcdc-64-256-1024", 4096, [377, 873, 1543, 1942, 2299, 2569, 2662, 3226, 3365, 3736, 4090, 4096]),
        ("rabin", 1 << 20, [149_896, 289_598, 392_142, 600_123, 692_596, 1_048_576]),
        ("buzhash", 1 << 20, [225_222, 365_454, 582_171, 1_048_576]),
        ("fastcdc-16384-65536-262144", 1 << 20, [85966, 171_324, 272_906, 360_554, 438_321, 500_199, 566_965, 674_227,
                                                 771_947, 828_919, 857_489, 1_025_291, 1_048_576]),
    ])
    func workedExamples(text: String, count: Int, expected: [Int]) throws {
        let data = TestInputs.random(count, seed: 1)
        #expect(TestInputs.boundaries(of: data, spec: try ChunkerSpec(parsing: text)) == expected)
    }
}
