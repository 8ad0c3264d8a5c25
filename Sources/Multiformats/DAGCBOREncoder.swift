/// Writes the one canonical dag-cbor encoding of a value.
/// Format: formats/dag-cbor.md, section 3, rules 1–5.
public struct DAGCBOREncoder: Sendable {
    /// The deepest nesting of lists and maps it will write; the same default as
    /// `DAGCBORDecoder`, so that whatever tau writes, tau can read back.
    public var maxDepth: Int

    public init(maxDepth: Int = DAGCBORDecoder.defaultMaxDepth) {
        self.maxDepth = maxDepth
    }

    /// The encoding of `value`.
    /// - Throws: `.invalidDAGCBOR` for a NaN or infinite float, `.limitExceeded`
    ///   for lists and maps nested deeper than `maxDepth`.
    public func encode(_ value: DAGCBOR) throws(MultiformatsError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(value, into: &out)
        return out
    }

    /// Appends the encoding of `value` to `out`. On error `out` may hold part of it.
    public func encode(_ value: DAGCBOR, into out: inout [UInt8]) throws(MultiformatsError) {
        try write(value, into: &out, depth: 0)
    }

    private func write(_ value: DAGCBOR, into out: inout [UInt8], depth: Int) throws(MultiformatsError) {
        switch value {
        case .unsigned(let n):
            DAGCBOREncoder.appendHead(major: 0, argument: n, to: &out)
        case .negative(let n):
            DAGCBOREncoder.appendHead(major: 1, argument: n, to: &out)
        case .bytes(let bytes):
            DAGCBOREncoder.appendHead(major: 2, argument: UInt64(bytes.count), to: &out)
            out.append(contentsOf: bytes)
        case .string(let string):
            DAGCBOREncoder.appendString(string, to: &out)
        case .array(let array):
            guard depth < maxDepth else { throw DAGCBOREncoder.tooDeep(maxDepth) }
            DAGCBOREncoder.appendHead(major: 4, argument: UInt64(array.count), to: &out)
            for element in array { try write(element, into: &out, depth: depth + 1) }
        case .map(let map):
            guard depth < maxDepth else { throw DAGCBOREncoder.tooDeep(maxDepth) }
            DAGCBOREncoder.appendHead(major: 5, argument: UInt64(map.count), to: &out)
            for (key, element) in DAGCBOREncoder.sortedEntries(map) {
                DAGCBOREncoder.appendString(key, to: &out)
                try write(element, into: &out, depth: depth + 1)
            }
        case .bool(let bool):
            out.append(bool ? 0xF5 : 0xF4)
        case .null:
            out.append(0xF6)
        case .float(let float):
            guard float.isFinite else {
                throw MultiformatsError(.invalidDAGCBOR, "cannot encode \(float): dag-cbor floats are finite")
            }
            out.append(0xFB)
            let bits = float.bitPattern
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        case .link(let cid):
            // Tag 42 around a byte string: the identity multibase prefix 0x00, then the binary CID.
            out.append(0xD8)
            out.append(42)
            DAGCBOREncoder.appendHead(major: 2, argument: UInt64(cid.bytes.count + 1), to: &out)
            out.append(0x00)
            out.append(contentsOf: cid.bytes)
        }
    }

    /// Appends a data item head (major type and argument) in its shortest form.
    static func appendHead(major: UInt8, argument: UInt64, to out: inout [UInt8]) {
        let type = major << 5
        switch argument {
        case 0..<24:
            out.append(type | UInt8(argument))
        case 24...0xFF:
            out.append(type | 24)
            out.append(UInt8(argument))
        case 0x100...0xFFFF:
            out.append(type | 25)
            out.append(UInt8(truncatingIfNeeded: argument >> 8))
            out.append(UInt8(truncatingIfNeeded: argument))
        case 0x1_0000...0xFFFF_FFFF:
            out.append(type | 26)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift))) }
        default:
            out.append(type | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift))) }
        }
    }

    private static func appendString(_ string: String, to out: inout [UInt8]) {
        let utf8 = string.utf8
        appendHead(major: 3, argument: UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    /// Map entries in dag-cbor order: shorter keys first, equal lengths bytewise
    /// (RFC 7049 section 3.9 "canonical CBOR", which dag-cbor keeps).
    static func sortedEntries(_ map: [String: DAGCBOR]) -> [(key: String, value: DAGCBOR)] {
        map.sorted { keyPrecedes($0.key, $1.key) }
    }

    static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        let (countA, countB) = (a.utf8.count, b.utf8.count)
        if countA != countB { return countA < countB }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func tooDeep(_ maxDepth: Int) -> MultiformatsError {
        MultiformatsError(.limitExceeded, "dag-cbor lists and maps nested deeper than \(maxDepth)")
    }
}

extension DAGCBOR {
    /// The canonical encoding, with the default depth limit.
    /// - Throws: as `DAGCBOREncoder.encode(_:)`.
    public func encoded() throws(MultiformatsError) -> [UInt8] {
        try DAGCBOREncoder().encode(self)
    }
}
