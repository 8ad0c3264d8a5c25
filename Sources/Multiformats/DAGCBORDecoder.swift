/// Reads dag-cbor, accepting only the canonical encoding of one value.
/// Format: formats/dag-cbor.md, section 3, rules 6–15.
///
/// Every rejection is a `MultiformatsError` with code `.invalidDAGCBOR` and a
/// detail naming the byte offset, except nesting beyond `maxDepth`, which is
/// `.limitExceeded`. Decoding never traps and allocates at most in
/// proportion to the input: a declared length is checked against the bytes
/// that remain before anything is reserved for it.
public struct DAGCBORDecoder: Sendable {
    /// The default for `maxDepth`: far beyond what CAR headers, dag-pb-like
    /// documents or database deltas use, and shallow enough that the
    /// recursive decoder stays within a small thread stack.
    public static let defaultMaxDepth = 64

    /// The deepest nesting of lists and maps accepted: 0 allows only scalars,
    /// 1 a list or map of scalars, and so on.
    public var maxDepth: Int

    public init(maxDepth: Int = DAGCBORDecoder.defaultMaxDepth) {
        self.maxDepth = maxDepth
    }

    /// Decodes the single value that spans all of `bytes`.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(MultiformatsError) -> DAGCBOR {
        var reader = Reader(bytes: bytes, maxDepth: maxDepth)
        guard !bytes.isEmpty else { throw reader.invalid("empty input") }
        let value = try reader.value(depth: 0)
        guard reader.position == bytes.count else {
            throw reader.invalid("\(bytes.count - reader.position) bytes after the value")
        }
        return value
    }

    /// Decodes the single value that spans all of `bytes`.
    public func decode(_ bytes: [UInt8]) throws(MultiformatsError) -> DAGCBOR {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        try bytes.withUnsafeBytes { raw in Result { () throws(MultiformatsError) in try decode(raw) } }.get()
    }

    /// Decodes the single value that spans all of `bytes`.
    public func decode(_ bytes: ArraySlice<UInt8>) throws(MultiformatsError) -> DAGCBOR {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        try bytes.withUnsafeBytes { raw in Result { () throws(MultiformatsError) in try decode(raw) } }.get()
    }
}

extension DAGCBOR {
    /// Decodes dag-cbor `bytes` with the default depth limit.
    /// - Throws: as `DAGCBORDecoder.decode(_:)`.
    public init(decoding bytes: [UInt8]) throws(MultiformatsError) {
        self = try DAGCBORDecoder().decode(bytes)
    }
}

/// A cursor over the input. Offsets in messages are from the start of the input.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var position = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var remaining: Int { bytes.count - position }

    func invalid(_ detail: String, at offset: Int? = nil) -> MultiformatsError {
        MultiformatsError(.invalidDAGCBOR, "at byte \(offset ?? position): \(detail)")
    }

    mutating func byte() throws(MultiformatsError) -> UInt8 {
        guard position < bytes.count else { throw invalid("input ends inside a value") }
        defer { position += 1 }
        return bytes[position]
    }

    /// A big-endian unsigned integer of `count` bytes (1, 2, 4 or 8).
    mutating func bigEndian(_ count: Int) throws(MultiformatsError) -> UInt64 {
        guard remaining >= count else { throw invalid("input ends inside a \(count)-byte argument") }
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(bytes[position + i]) }
        position += count
        return value
    }

    /// The argument of a head whose initial byte (at `start`) had additional
    /// information `info`, refusing every form but the shortest.
    mutating func argument(_ info: UInt8, start: Int) throws(MultiformatsError) -> UInt64 {
        let value: UInt64
        let smallest: UInt64
        switch info {
        case 0..<24: return UInt64(info)
        case 24: (value, smallest) = (try bigEndian(1), 24)
        case 25: (value, smallest) = (try bigEndian(2), 0x100)
        case 26: (value, smallest) = (try bigEndian(4), 0x1_0000)
        case 27: (value, smallest) = (try bigEndian(8), 0x1_0000_0000)
        case 31: throw invalid("indefinite length", at: start)
        default: throw invalid("reserved additional information \(info)", at: start)
        }
        guard value >= smallest else {
            throw invalid("\(value) not in its shortest form", at: start)
        }
        return value
    }

    /// A length argument, checked against the input left: each of `count`
    /// items takes at least `minimumItemSize` bytes.
    mutating func length(_ info: UInt8, start: Int, minimumItemSize: Int) throws(MultiformatsError) -> Int {
        let count = try argument(info, start: start)
        guard count <= UInt64(remaining / minimumItemSize) else {
            throw invalid("length \(count) exceeds the \(remaining) bytes left", at: start)
        }
        return Int(count)
    }

    mutating func value(depth: Int) throws(MultiformatsError) -> DAGCBOR {
        let start = position
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1F
        switch major {
        case 0:
            return .unsigned(try argument(info, start: start))
        case 1:
            return .negative(try argument(info, start: start))
        case 2:
            let count = try length(info, start: start, minimumItemSize: 1)
            defer { position += count }
            return .bytes(Array(bytes[position..<position + count]))
        case 3:
            return .string(try string(info, start: start))
        case 4:
            guard depth < maxDepth else { throw tooDeep(at: start) }
            let count = try length(info, start: start, minimumItemSize: 1)
            var array: [DAGCBOR] = []
            array.reserveCapacity(count)
            for _ in 0..<count { array.append(try value(depth: depth + 1)) }
            return .array(array)
        case 5:
            guard depth < maxDepth else { throw tooDeep(at: start) }
            return .map(try map(info, start: start, depth: depth))
        case 6:
            return .link(try link(initial, start: start))
        default:
            return try simple(initial, start: start)
        }
    }

    mutating func string(_ info: UInt8, start: Int) throws(MultiformatsError) -> String {
        let count = try length(info, start: start, minimumItemSize: 1)
        let utf8 = UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw invalid("string is not valid UTF-8", at: start)
        }
        position += count
        return string
    }

    mutating func map(_ info: UInt8, start: Int, depth: Int) throws(MultiformatsError) -> [String: DAGCBOR] {
        // A key and a value take at least one byte each.
        let count = try length(info, start: start, minimumItemSize: 2)
        var map: [String: DAGCBOR] = [:]
        map.reserveCapacity(count)
        var previousKey = 0..<0
        for index in 0..<count {
            let keyStart = position
            let keyInitial = try byte()
            guard keyInitial >> 5 == 3 else {
                throw invalid("map key is not a string", at: keyStart)
            }
            let key = try string(keyInitial & 0x1F, start: keyStart)
            let keyBytes = position - key.utf8.count..<position
            if index > 0 {
                guard keyFollows(previousKey, keyBytes) else {
                    throw invalid("map key \"\(key.prefix(64))\" is a duplicate or out of order "
                                  + "(keys sort by length, then bytewise)", at: keyStart)
                }
            }
            previousKey = keyBytes
            let element = try value(depth: depth + 1)
            // Swift's String equality is Unicode canonical equivalence: two keys
            // with different bytes can still collide in a Dictionary.
            guard map.updateValue(element, forKey: key) == nil else {
                throw invalid("map key \"\(key.prefix(64))\" equals an earlier key under Unicode "
                              + "canonical equivalence, which tau cannot hold apart", at: keyStart)
            }
        }
        return map
    }

    /// Whether key bytes `next` sort strictly after `previous`: shorter first,
    /// then bytewise.
    func keyFollows(_ previous: Range<Int>, _ next: Range<Int>) -> Bool {
        if previous.count != next.count { return previous.count < next.count }
        for (a, b) in zip(previous, next) where bytes[a] != bytes[b] {
            return bytes[a] < bytes[b]
        }
        return false
    }

    mutating func link(_ initial: UInt8, start: Int) throws(MultiformatsError) -> CID {
        // The only tag is 42, and only in its shortest head 0xD8 0x2A.
        guard initial == 0xD8 else {
            throw invalid("tag head 0x\(String(initial, radix: 16)): only tag 42 (0xD8 0x2A) is allowed", at: start)
        }
        let tag = try byte()
        guard tag == 42 else {
            throw invalid(tag < 24 ? "tag \(tag) not in its shortest form" : "tag \(tag): only tag 42 is allowed",
                          at: start)
        }
        let contentStart = position
        let contentInitial = try byte()
        guard contentInitial >> 5 == 2 else {
            throw invalid("tag 42 must enclose a byte string", at: contentStart)
        }
        let count = try length(contentInitial & 0x1F, start: contentStart, minimumItemSize: 1)
        guard count >= 1, bytes[position] == 0x00 else {
            throw invalid("a link must start with the identity multibase prefix 0x00", at: contentStart)
        }
        let cidBytes = UnsafeRawBufferPointer(rebasing: bytes[position + 1..<position + count])
        do {
            let cid = try CID(bytes: cidBytes)
            position += count
            return cid
        } catch {
            throw invalid("link is not a CID: \(error)", at: contentStart)
        }
    }

    mutating func simple(_ initial: UInt8, start: Int) throws(MultiformatsError) -> DAGCBOR {
        switch initial {
        case 0xF4: return .bool(false)
        case 0xF5: return .bool(true)
        case 0xF6: return .null
        case 0xFB:
            let float = Double(bitPattern: try bigEndian(8))
            guard float.isFinite else { throw invalid("\(float) is not allowed: floats are finite", at: start) }
            return .float(float)
        case 0xF7: throw invalid("undefined is not in the data model", at: start)
        case 0xF9, 0xFA: throw invalid("floats must be 64-bit", at: start)
        case 0xFF: throw invalid("unexpected break", at: start)
        default: throw invalid("simple value 0x\(String(initial, radix: 16)) is not allowed", at: start)
        }
    }

    func tooDeep(at offset: Int) -> MultiformatsError {
        MultiformatsError(.limitExceeded, "at byte \(offset): lists and maps nested deeper than \(maxDepth)")
    }
}
