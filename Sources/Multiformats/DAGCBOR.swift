/// A value of the IPLD data model as dag-cbor carries it: the CBOR subset that
/// has exactly one encoding per value. Format: formats/dag-cbor.md.
///
/// Decode with `DAGCBOR(decoding:)` or a `DAGCBORDecoder`, encode with
/// `encoded()` or a `DAGCBOREncoder`. Decoding accepts only the canonical
/// encoding, so `decode(x).encoded() == x` for every accepted `x`.
///
/// Equality is encoding equality: strings and map keys compare by their UTF-8
/// bytes (not by Swift's Unicode canonical equivalence) and floats by their
/// bit pattern (`0.0 != -0.0`), so two values are equal exactly when they
/// encode to the same bytes.
public enum DAGCBOR: Sendable {
    /// An integer from 0 to 2^64 - 1 (CBOR major type 0).
    case unsigned(UInt64)
    /// The integer `-1 - n`, from -1 down to -2^64 (CBOR major type 1).
    case negative(UInt64)
    case bytes([UInt8])
    case string(String)
    case array([DAGCBOR])
    /// A map; dag-cbor keys are strings, encoded in length-then-bytewise order.
    case map([String: DAGCBOR])
    case bool(Bool)
    case null
    /// A finite double (NaN and infinities are not in the data model).
    case float(Double)
    /// A CID (CBOR tag 42).
    case link(CID)
}

// MARK: - Building and reading values

extension DAGCBOR {
    /// The integer `value` as whichever of `.unsigned` and `.negative` holds it.
    public static func integer(_ value: Int64) -> DAGCBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-(value + 1)))
    }

    /// The integer, when it fits in an `Int64`.
    public var integerValue: Int64? {
        switch self {
        case .unsigned(let n): n <= UInt64(Int64.max) ? Int64(n) : nil
        case .negative(let n): n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: nil
        }
    }

    /// The integer, when it is non-negative.
    public var unsignedValue: UInt64? {
        if case .unsigned(let n) = self { return n }
        return nil
    }

    public var bytesValue: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    public var arrayValue: [DAGCBOR]? {
        if case .array(let array) = self { return array }
        return nil
    }

    public var mapValue: [String: DAGCBOR]? {
        if case .map(let map) = self { return map }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    public var floatValue: Double? {
        if case .float(let float) = self { return float }
        return nil
    }

    public var linkValue: CID? {
        if case .link(let cid) = self { return cid }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value under `key`, if this is a map that has it.
    public subscript(key: String) -> DAGCBOR? {
        mapValue?[key]
    }

    /// The element at `index`, if this is an array that long.
    public subscript(index: Int) -> DAGCBOR? {
        guard case .array(let array) = self, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// The data model kind, for messages (`"map"`, `"link"`, …).
    public var kind: String {
        switch self {
        case .unsigned, .negative: "integer"
        case .bytes: "bytes"
        case .string: "string"
        case .array: "list"
        case .map: "map"
        case .bool: "bool"
        case .null: "null"
        case .float: "float"
        case .link: "link"
        }
    }
}

// MARK: - Literals

extension DAGCBOR: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: DAGCBOR...) { self = .array(elements) }
    /// - Precondition: no key appears twice (as for `Dictionary` literals).
    public init(dictionaryLiteral elements: (String, DAGCBOR)...) {
        self = .map(Dictionary(uniqueKeysWithValues: elements))
    }
}

// MARK: - Equality by encoding

extension DAGCBOR: Hashable {
    public static func == (lhs: DAGCBOR, rhs: DAGCBOR) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)): a == b
        case (.negative(let a), .negative(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.string(let a), .string(let b)): a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): mapsEqual(a, b)
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
        case (.link(let a), .link(let b)): a == b
        default: false
        }
    }

    /// Dictionary lookup matches keys by canonical equivalence; the key found
    /// must also have the same bytes.
    private static func mapsEqual(_ a: [String: DAGCBOR], _ b: [String: DAGCBOR]) -> Bool {
        guard a.count == b.count else { return false }
        for (key, value) in a {
            guard let index = b.index(forKey: key) else { return false }
            let other = b[index]
            guard other.key.utf8.elementsEqual(key.utf8), other.value == value else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .unsigned(let n):
            hasher.combine(0 as UInt8)
            hasher.combine(n)
        case .negative(let n):
            hasher.combine(1 as UInt8)
            hasher.combine(n)
        case .bytes(let bytes):
            hasher.combine(2 as UInt8)
            hasher.combine(bytes)
        case .string(let string):
            hasher.combine(3 as UInt8)
            DAGCBOR.hashUTF8(string, into: &hasher)
        case .array(let array):
            hasher.combine(4 as UInt8)
            hasher.combine(array)
        case .map(let map):
            hasher.combine(5 as UInt8)
            hasher.combine(map.count)
            // Order-independent: combine the entries' own hashes commutatively.
            var sum = 0
            for (key, value) in map {
                var entry = Hasher()
                DAGCBOR.hashUTF8(key, into: &entry)
                entry.combine(value)
                sum &+= entry.finalize()
            }
            hasher.combine(sum)
        case .bool(let bool):
            hasher.combine(6 as UInt8)
            hasher.combine(bool)
        case .null:
            hasher.combine(7 as UInt8)
        case .float(let float):
            hasher.combine(8 as UInt8)
            hasher.combine(float.bitPattern)
        case .link(let cid):
            hasher.combine(9 as UInt8)
            hasher.combine(cid)
        }
    }

    private static func hashUTF8(_ string: String, into hasher: inout Hasher) {
        hasher.combine(string.utf8.count)
        for byte in string.utf8 { hasher.combine(byte) }
    }
}

extension DAGCBOR: CustomStringConvertible {
    /// A dag-json-like rendering for logs and test failures (not dag-json:
    /// bytes and links use a short form, map keys are not escaped).
    public var description: String {
        switch self {
        case .unsigned(let n): String(n)
        case .negative(let n): n == UInt64.max ? "-18446744073709551616" : "-" + String(n + 1)
        case .bytes(let bytes): "h'" + Multibase.base16.encodeWithoutPrefix(bytes) + "'"
        case .string(let string): "\"" + string + "\""
        case .array(let array): "[" + array.map(\.description).joined(separator: ", ") + "]"
        case .map(let map):
            "{" + DAGCBOREncoder.sortedEntries(map).map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
        case .bool(let bool): String(bool)
        case .null: "null"
        case .float(let float): String(float)
        case .link(let cid): "42(\(cid))"
        }
    }
}
