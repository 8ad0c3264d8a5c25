import Chunking
import Testing

@Suite("Chunker parameter strings")
struct ChunkerSpecTests {
    @Test("accepted forms parse to the spec boxo would build", arguments: [
        ("", ChunkerSpec.size(262_144)),
        ("default", .size(262_144)),
        ("size-1", .size(1)),
        ("size-262144", .size(262_144)),
        ("size-2096896", .size(2_096_896)),
        ("size-+32", .size(32)),            // Go's strconv.Atoi takes a sign
        ("size-0032", .size(32)),
        ("rabin", .rabin(min: 87_381, average: 262_144, max: 393_216)),
        ("rabin-262144", .rabin(min: 87_381, average: 262_144, max: 393_216)),
        ("rabin-48", .rabin(min: 16, average: 48, max: 72)),
        ("rabin-1000", .rabin(min: 333, average: 1000, max: 1500)),
        ("rabin-1397931", .rabin(min: 465_977, average: 1_397_931, max: 2_096_896)),  // boxo's float32 limit
        ("rabin-18-25-32", .rabin(min: 18, average: 25, max: 32)),
        ("rabin-16-17-18", .rabin(min: 16, average: 17, max: 18)),
        ("rabin-19-21-2096896", .rabin(min: 19, average: 21, max: 2_096_896)),
        ("rabin-min:16-avg:64-max:128", .rabin(min: 16, average: 64, max: 128)),
        ("rabin-16-avg:64-128", .rabin(min: 16, average: 64, max: 128)),
        ("rabin-min:x:16-64-128", .rabin(min: 16, average: 64, max: 128)),  // boxo checks only the first field
        ("buzhash", .buzhash),
        ("buzhash-anything", .buzhash),     // boxo ignores what follows "buzhash-"
        ("fastcdc-16384-65536-262144", .fastCDC(min: 16384, average: 65536, max: 262_144)),
        ("fastcdc-64-256-1024", .fastCDC(min: 64, average: 256, max: 1024)),
        ("fastcdc-min:64-avg:256-max:1024", .fastCDC(min: 64, average: 256, max: 1024)),
        ("fastcdc-1024-1024-1024", .fastCDC(min: 1024, average: 1024, max: 1024)),
        ("fastcdc-1048576-2096896-2096896", .fastCDC(min: 1_048_576, average: 2_096_896, max: 2_096_896)),
    ])
    func accepted(text: String, expected: ChunkerSpec) throws {
        let spec = try ChunkerSpec(parsing: text)
        #expect(spec == expected)
        #expect(try ChunkerSpec(parsing: spec.description) == spec, "description must round-trip")
        #expect(spec.maxChunkSize <= ChunkingLimits.chunkSizeLimit)
    }

    @Test func defaultSizeDrivesDefaultAndPlainRabin() throws {
        #expect(try ChunkerSpec(parsing: "", defaultSize: 1_048_576) == .size(1_048_576))
        #expect(try ChunkerSpec(parsing: "default", defaultSize: 4096) == .size(4096))
        #expect(try ChunkerSpec(parsing: "rabin", defaultSize: 3000) == .rabin(min: 1000, average: 3000, max: 4500))
        #expect(throws: ChunkerSpecError.exceedsChunkSizeLimit) { try ChunkerSpec(parsing: "", defaultSize: 4 << 20) }
    }

    @Test("rejected forms throw the matching error", arguments: [
        ("size-0", ChunkerSpecError.sizeNotPositive),
        ("size-+0", .sizeNotPositive),
        ("size-2096897", .exceedsChunkSizeLimit),
        ("size-123-extra", .sizeFormat),
        ("size", .sizeFormat),
        ("size--5", .sizeFormat),
        ("size-", .invalidNumber("")),
        ("size-12a", .invalidNumber("12a")),
        ("size-1_000", .invalidNumber("1_000")),
        ("size- 5", .invalidNumber(" 5")),
        ("size-99999999999999999999", .numberOutOfRange("99999999999999999999")),
        ("rabin-15-23-31", .rabinMinTooSmall),
        ("rabin-10-20-30", .rabinMinTooSmall),
        ("rabin-20-20-21", .rabinMinNotBelowAverage),
        ("rabin-30-20-40", .rabinMinNotBelowAverage),
        ("rabin-19-21-21", .rabinAverageNotBelowMax),
        ("rabin-19-40-30", .rabinAverageNotBelowMax),
        ("rabin-19-21-2096897", .exceedsChunkSizeLimit),
        ("rabin-1397932", .exceedsChunkSizeLimit),
        ("rabin-9000000000000000000", .exceedsChunkSizeLimit),
        ("rabin-47", .rabinAverageTooSmall),
        ("rabin-0", .rabinAverageTooSmall),
        ("rabin-x", .invalidNumber("x")),
        ("rabin-1-2", .rabinFormat),
        ("rabin-1-2-3-4", .rabinFormat),
        ("rabin-avg:16-32-64", .firstLabelNotMin),
        ("rabin-16-min:32-64", .secondLabelNotAvg),
        ("rabin-16-32-avg:64", .finalLabelNotMax),
        ("rabin-min:-32-64", .invalidNumber("")),
        ("fastcdc", .fastCDCFormat),
        ("fastcdc-65536", .fastCDCFormat),
        ("fastcdc-63-256-1024", .fastCDCMinOutOfRange),
        ("fastcdc-1048577-2000000-2096896", .fastCDCMinOutOfRange),
        ("fastcdc-64-255-1024", .fastCDCAverageOutOfRange),
        ("fastcdc-64-256-1023", .fastCDCMaxOutOfRange),
        ("fastcdc-64-256-2096897", .fastCDCMaxOutOfRange),
        ("fastcdc-512-256-1024", .fastCDCOrder),
        ("fastcdc-64-2048-1024", .fastCDCOrder),
        ("fastcdc-avg:64-256-1024", .firstLabelNotMin),
        ("unknown-chunker", .unrecognized("unknown-chunker")),
        ("Size-32", .unrecognized("Size-32")),
        ("default-1", .unrecognized("default-1")),
        ("-1", .unrecognized("-1")),
        (" size-32", .unrecognized(" size-32")),
        ("🙂", .unrecognized("🙂")),
    ])
    func rejected(text: String, expected: ChunkerSpecError) {
        #expect(throws: expected) { try ChunkerSpec(parsing: text) }
    }

    @Test func messagesNameTheAllowedRange() {
        #expect(ChunkerSpecError.sizeNotPositive.description
            == "chunker size must be greater than 0 (size-N accepts 1...2096896)")
        #expect(ChunkerSpecError.exceedsChunkSizeLimit.description
            == "chunker parameters may not exceed the maximum chunk size of 2096896")
        #expect(ChunkerSpecError.rabinMinTooSmall.description.contains("16 <= MIN < AVG < MAX <= 2096896"))
        #expect(ChunkerSpecError.rabinMinNotBelowAverage.description.hasPrefix(
            "incorrect format: rabin-min must be smaller than rabin-avg"))
        #expect(ChunkerSpecError.rabinAverageNotBelowMax.description.hasPrefix(
            "incorrect format: rabin-avg must be smaller than rabin-max"))
        #expect(ChunkerSpecError.rabinAverageTooSmall.description.contains("48...1397931"))
        #expect(ChunkerSpecError.fastCDCOrder.description.contains(
            "MIN in 64...1048576, AVG in 256...2096896, MAX in 1024...2096896"))
        #expect(ChunkerSpecError.unrecognized("foo").description.hasPrefix("unrecognized chunker option: foo"))
        #expect(ChunkerSpecError.invalidNumber("x").description == #"strconv.Atoi: parsing "x": invalid syntax"#)
    }

    @Test func directlyBuiltSpecsAreValidatedWithTheSameRules() {
        #expect(throws: ChunkerSpecError.sizeNotPositive) { try ChunkerSpec.size(-1).validate() }
        #expect(throws: ChunkerSpecError.rabinMinTooSmall) { try ChunkerSpec.rabin(min: 8, average: 64, max: 128).validate() }
        #expect(throws: ChunkerSpecError.fastCDCOrder) {
            try ChunkerSpec.fastCDC(min: 4096, average: 2048, max: 8192).validate()
        }
        #expect(throws: Never.self) { try ChunkerSpec.buzhash.validate() }
    }

    @Test func maxChunkSizes() throws {
        #expect(try ChunkerSpec(parsing: "size-1000").maxChunkSize == 1000)
        #expect(try ChunkerSpec(parsing: "rabin").maxChunkSize == 393_216)
        #expect(try ChunkerSpec(parsing: "buzhash").maxChunkSize == 524_288)
        #expect(try ChunkerSpec(parsing: "fastcdc-64-256-1024").maxChunkSize == 1024)
        for text in ["size-1000", "rabin", "buzhash", "fastcdc-64-256-1024"] {
            let spec = try ChunkerSpec(parsing: text)
            #expect(spec.makeChunker().maxChunkSize == spec.maxChunkSize)
        }
    }
}
