// Chunker parameter strings (Kubo's `--chunker` flag). Format: formats/chunkers.md, "Parameter strings".

import Errors

/// Which chunker cuts a file, and with which parameters.
public enum ChunkerSpec: Hashable, Sendable, CustomStringConvertible {
    /// Fixed-size chunks of exactly this many bytes (the last one may be shorter).
    case size(Int)
    /// Kubo's Rabin fingerprint chunker (boxo `chunker/rabin.go`).
    case rabin(min: Int, average: Int, max: Int)
    /// Kubo's buzhash chunker (boxo `chunker/buzhash.go`): 128 KiB min, 512 KiB max, 17-bit mask.
    case buzhash
    /// FastCDC 2020 with normalized chunking level 1, cut-compatible with PyPI `pyfastcdc`.
    case fastCDC(min: Int, average: Int, max: Int)

    /// Parses "size-N", "rabin", "rabin-AVG", "rabin-MIN-AVG-MAX" (with optional "min:"/"avg:"/"max:" labels as boxo
    /// accepts), "buzhash", "fastcdc-MIN-AVG-MAX", "" and "default" (size-262144), exactly as boxo's parse.go parses
    /// the Kubo ones. `defaultSize` plays boxo's `DefaultBlockSize`: the size of "" and "default" and the average
    /// of plain "rabin".
    ///
    /// One deliberate difference: boxo accepts "rabin-AVG" with AVG < 48, whose derived min (AVG/3) is under the
    /// 16-byte window; its chunker then never cuts at all and emits the whole file as one chunk. That is rejected here.
    public init(parsing text: String, defaultSize: Int = ChunkingLimits.defaultChunkSize) throws(ChunkerSpecError) {
        if text.isEmpty || text == "default" {
            let spec = ChunkerSpec.size(defaultSize)
            try spec.validate()
            self = spec
            return
        }
        // Like boxo, the name is everything before the first dash and each parser sees the whole string.
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        switch parts[0] {
        case "size": self = try Self.parseSize(parts)
        case "rabin": self = try Self.parseRabin(parts, defaultSize: defaultSize)
        case "buzhash": self = .buzhash  // boxo ignores anything after "buzhash-"
        case "fastcdc": self = try Self.parseFastCDC(parts)
        default: throw .unrecognized(text)
        }
    }

    /// Checks the parameters of a spec built directly rather than parsed, with the rules of the
    /// "MIN-AVG-MAX" forms. `makeChunker()` requires a valid spec.
    public func validate() throws(ChunkerSpecError) {
        switch self {
        case .size(let size):
            if size <= 0 { throw .sizeNotPositive }
            if size > ChunkingLimits.chunkSizeLimit { throw .exceedsChunkSizeLimit }
        case .rabin(let min, let average, let max):
            if min < RabinChunker.windowSize { throw .rabinMinTooSmall }
            if min >= average { throw .rabinMinNotBelowAverage }
            if average >= max { throw .rabinAverageNotBelowMax }
            if max > ChunkingLimits.chunkSizeLimit { throw .exceedsChunkSizeLimit }
        case .buzhash:
            break
        case .fastCDC(let min, let average, let max):
            if !FastCDCChunker.minimumRange.contains(min) { throw .fastCDCMinOutOfRange }
            if !FastCDCChunker.averageRange.contains(average) { throw .fastCDCAverageOutOfRange }
            if !FastCDCChunker.maximumRange.contains(max) { throw .fastCDCMaxOutOfRange }
            if min > average || average > max { throw .fastCDCOrder }
        }
    }

    /// A fresh chunker for this spec. Traps on an invalid spec (see `validate()`); parsed specs are valid.
    public func makeChunker() -> any Chunker {
        switch self {
        case .size(let size): SizeChunker(size: size)
        case .rabin(let min, let average, let max): RabinChunker(min: min, average: average, max: max)
        case .buzhash: BuzhashChunker()
        case .fastCDC(let min, let average, let max): FastCDCChunker(min: min, average: average, max: max)
        }
    }

    /// Largest chunk this spec ever produces (bytes).
    public var maxChunkSize: Int {
        switch self {
        case .size(let size): size
        case .rabin(_, _, let max): max
        case .buzhash: BuzhashChunker.maximumChunkSize
        case .fastCDC(_, _, let max): max
        }
    }

    /// Canonical string; round-trips through `init(parsing:)`.
    public var description: String {
        switch self {
        case .size(let size): "size-\(size)"
        case .rabin(let min, let average, let max): "rabin-\(min)-\(average)-\(max)"
        case .buzhash: "buzhash"
        case .fastCDC(let min, let average, let max): "fastcdc-\(min)-\(average)-\(max)"
        }
    }

    // MARK: - Parsers (boxo parse.go, rule for rule)

    private static func parseSize(_ parts: [Substring]) throws(ChunkerSpecError) -> ChunkerSpec {
        guard parts.count == 2 else { throw .sizeFormat }
        let spec = ChunkerSpec.size(try parseGoInt(parts[1]))
        try spec.validate()
        return spec
    }

    private static func parseRabin(_ parts: [Substring], defaultSize: Int) throws(ChunkerSpecError) -> ChunkerSpec {
        switch parts.count {
        case 1:
            return try rabin(average: defaultSize)
        case 2:
            return try rabin(average: try parseGoInt(parts[1]))
        case 4:
            // boxo checks in this order: min (label, number, >= 16), avg, max, then the ordering and the limit.
            let min = try labeledValue(parts[1], label: "min", labelError: .firstLabelNotMin)
            if min < RabinChunker.windowSize { throw .rabinMinTooSmall }
            let average = try labeledValue(parts[2], label: "avg", labelError: .secondLabelNotAvg)
            let max = try labeledValue(parts[3], label: "max", labelError: .finalLabelNotMax)
            let spec = ChunkerSpec.rabin(min: min, average: average, max: max)
            try spec.validate()
            return spec
        default:
            throw .rabinFormat
        }
    }

    /// boxo `NewRabin`: min = avg/3, max = avg + avg/2. boxo's limit test `int(float32(avg)*1.5) > ChunkSizeLimit`
    /// equals `avg + avg/2 > ChunkSizeLimit` for every avg that does not overflow.
    private static func rabin(average: Int) throws(ChunkerSpecError) -> ChunkerSpec {
        if average > ChunkingLimits.chunkSizeLimit || average + average / 2 > ChunkingLimits.chunkSizeLimit {
            throw .exceedsChunkSizeLimit
        }
        if average / 3 < RabinChunker.windowSize { throw .rabinAverageTooSmall }
        return .rabin(min: average / 3, average: average, max: average + average / 2)
    }

    private static func parseFastCDC(_ parts: [Substring]) throws(ChunkerSpecError) -> ChunkerSpec {
        guard parts.count == 4 else { throw .fastCDCFormat }
        let min = try labeledValue(parts[1], label: "min", labelError: .firstLabelNotMin)
        let average = try labeledValue(parts[2], label: "avg", labelError: .secondLabelNotAvg)
        let max = try labeledValue(parts[3], label: "max", labelError: .finalLabelNotMax)
        let spec = ChunkerSpec.fastCDC(min: min, average: average, max: max)
        try spec.validate()
        return spec
    }

    /// boxo: split on ":"; with more than one field the first must be the label; the number is the last field.
    private static func labeledValue(_ part: Substring, label: String,
                                     labelError: ChunkerSpecError) throws(ChunkerSpecError) -> Int {
        let fields = part.split(separator: ":", omittingEmptySubsequences: false)
        if fields.count > 1 && fields[0] != label { throw labelError }
        return try parseGoInt(fields[fields.count - 1])
    }

    /// Go's `strconv.Atoi` for base 10: optional sign, at least one ASCII digit, no underscores, fits in Int.
    private static func parseGoInt(_ text: Substring) throws(ChunkerSpecError) -> Int {
        var digits = text.utf8[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .invalidNumber(text)
        }
        var magnitude: UInt64 = 0
        for digit in digits {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw .numberOutOfRange(text) }
            magnitude = sum
        }
        let limit = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        guard magnitude <= limit else { throw .numberOutOfRange(text) }
        return negative ? Int(truncatingIfNeeded: 0 &- magnitude) : Int(magnitude)
    }
}

/// Why a chunker parameter string was rejected. Compare with the static
/// members (by code); `description` is the whole message, worded as Kubo's.
public struct ChunkerSpecError: CodedError {
    public enum Code: String, Hashable, Sendable {
        case unrecognized, invalidNumber, numberOutOfRange, format, labels
        case sizeNotPositive, exceedsChunkSizeLimit
        case rabinMinTooSmall, rabinAverageTooSmall, rabinMinNotBelowAverage, rabinAverageNotBelowMax
        case fastCDCMinOutOfRange, fastCDCAverageOutOfRange, fastCDCMaxOutOfRange, fastCDCOrder
    }

    public let code: Code
    /// The message, complete (it names the rule broken).
    public let detail: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        detail = message
    }

    public var description: String { detail }

    private static let limit = ChunkingLimits.chunkSizeLimit
    private static let rabinRule = "rabin-MIN-AVG-MAX needs 16 <= MIN < AVG < MAX <= \(limit)"
    private static let fastCDCRule = "fastcdc-MIN-AVG-MAX needs MIN in \(FastCDCChunker.minimumRange.lowerBound)..."
        + "\(FastCDCChunker.minimumRange.upperBound), AVG in \(FastCDCChunker.averageRange.lowerBound)..."
        + "\(FastCDCChunker.averageRange.upperBound), MAX in \(FastCDCChunker.maximumRange.lowerBound)..."
        + "\(FastCDCChunker.maximumRange.upperBound) and MIN <= AVG <= MAX"

    public static func unrecognized(_ text: String) -> ChunkerSpecError {
        ChunkerSpecError(.unrecognized, "unrecognized chunker option: \(text) "
            + "(expected size-N, rabin, rabin-AVG, rabin-MIN-AVG-MAX, buzhash, fastcdc-MIN-AVG-MAX or default)")
    }
    public static func invalidNumber(_ text: Substring) -> ChunkerSpecError {
        ChunkerSpecError(.invalidNumber, "strconv.Atoi: parsing \"\(text)\": invalid syntax")
    }
    public static func numberOutOfRange(_ text: Substring) -> ChunkerSpecError {
        ChunkerSpecError(.numberOutOfRange, "strconv.Atoi: parsing \"\(text)\": value out of range")
    }
    public static let sizeFormat = ChunkerSpecError(.format, "incorrect chunker string format (expected size-{size})")
    public static let rabinFormat = ChunkerSpecError(
        .format, "incorrect format (expected 'rabin' 'rabin-[avg]' or 'rabin-[min]-[avg]-[max]')")
    public static let fastCDCFormat = ChunkerSpecError(.format, "incorrect format (expected 'fastcdc-[min]-[avg]-[max]')")
    public static let firstLabelNotMin = ChunkerSpecError(.labels, "first label must be min")
    public static let secondLabelNotAvg = ChunkerSpecError(.labels, "second label must be avg")
    public static let finalLabelNotMax = ChunkerSpecError(.labels, "final label must be max")
    public static let sizeNotPositive = ChunkerSpecError(
        .sizeNotPositive, "chunker size must be greater than 0 (size-N accepts 1...\(limit))")
    public static let exceedsChunkSizeLimit = ChunkerSpecError(
        .exceedsChunkSizeLimit, "chunker parameters may not exceed the maximum chunk size of \(limit)")
    public static let rabinMinTooSmall = ChunkerSpecError(
        .rabinMinTooSmall, "rabin min must be at least 16, the window size (\(rabinRule))")
    public static let rabinAverageTooSmall = ChunkerSpecError(
        .rabinAverageTooSmall, "rabin-AVG needs AVG in 48...1397931 (min = AVG/3 must be at least 16, "
            + "max = AVG + AVG/2 at most \(limit))")
    public static let rabinMinNotBelowAverage = ChunkerSpecError(
        .rabinMinNotBelowAverage, "incorrect format: rabin-min must be smaller than rabin-avg (\(rabinRule))")
    public static let rabinAverageNotBelowMax = ChunkerSpecError(
        .rabinAverageNotBelowMax, "incorrect format: rabin-avg must be smaller than rabin-max (\(rabinRule))")
    public static let fastCDCMinOutOfRange = ChunkerSpecError(.fastCDCMinOutOfRange, "fastcdc min out of range (\(fastCDCRule))")
    public static let fastCDCAverageOutOfRange = ChunkerSpecError(
        .fastCDCAverageOutOfRange, "fastcdc avg out of range (\(fastCDCRule))")
    public static let fastCDCMaxOutOfRange = ChunkerSpecError(.fastCDCMaxOutOfRange, "fastcdc max out of range (\(fastCDCRule))")
    public static let fastCDCOrder = ChunkerSpecError(.fastCDCOrder, "incorrect format: fastcdc needs MIN <= AVG <= MAX (\(fastCDCRule))")
}
