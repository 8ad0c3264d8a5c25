// The slice of the protobuf wire format the libp2p messages use (keys, Noise
// handshake payload, identify) and Bitswap's: varints, length-delimited
// fields, and skipping of fields we do not know. Hand-written like
// Sources/UnixFS/Protobuf.swift (dag-pb has stricter rules of its own);
// writers emit fields in field-number order, as libp2p's deterministic key
// encoding requires. Public so Bitswap parses with the same reader, throwing
// its own errors. Format: formats/libp2p.md, section 2.

/// Protobuf wire types.
public enum ProtoWire: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to a byte array.
public struct ProtoWriter {
    public var bytes: [UInt8] = []

    @inlinable
    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    @inlinable
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inlinable
    public mutating func appendTag(field: Int, wire: ProtoWire) {
        appendVarint(UInt64(field << 3) | UInt64(wire.rawValue))
    }

    /// The encoded size of a length-delimited field (one-byte tag) carrying `count` bytes.
    @inlinable
    public static func fieldLength(_ count: Int) -> Int { 1 + varintLength(UInt64(count)) + count }

    @inlinable
    public static func varintLength(_ value: UInt64) -> Int {
        var v = value, n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    @inlinable
    public mutating func writeVarint(field: Int, _ value: UInt64) {
        appendTag(field: field, wire: .varint)
        appendVarint(value)
    }

    @inlinable
    public mutating func writeBytes(field: Int, _ value: some Collection<UInt8>) {
        appendTag(field: field, wire: .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    @inlinable
    public mutating func writeString(field: Int, _ value: String) {
        writeBytes(field: field, Array(value.utf8))
    }
}

/// Reads protobuf fields from a byte slice, throwing `Failure` (made by
/// `malformed` from a description) for bad input. Never traps: every length
/// is checked against the slice before use. Unknown fields are skipped with
/// `skip(_:)`; groups (wire types 3 and 4) are refused, as no libp2p or
/// Bitswap message uses them. Each module names its own instance
/// (`ProtoReader`, a typealias) with its error.
public struct ProtobufReader<Failure: Error> {
    public let bytes: ArraySlice<UInt8>
    /// Where the next field starts.
    public var offset: Int
    @usableFromInline let malformed: (String) -> Failure

    @inlinable
    public init(_ bytes: ArraySlice<UInt8>, malformed: @escaping (String) -> Failure) {
        self.bytes = bytes
        self.offset = bytes.startIndex
        self.malformed = malformed
    }

    @inlinable
    public var isAtEnd: Bool { offset >= bytes.endIndex }

    @inlinable
    public mutating func readVarint() throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.endIndex else { throw malformed("truncated protobuf varint") }
            guard shift < 64 else { throw malformed("protobuf varint longer than 10 bytes") }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw malformed("protobuf varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The next field's number and wire type, or nil at the end.
    @inlinable
    public mutating func nextField() throws(Failure) -> (number: Int, wire: ProtoWire)? {
        guard !isAtEnd else { return nil }
        let tag = try readVarint()
        let number = tag >> 3
        guard number > 0, number <= 0x1FFF_FFFF else { throw malformed("protobuf field number \(number)") }
        guard let wire = ProtoWire(rawValue: UInt8(tag & 7)) else {
            throw malformed("protobuf wire type \(tag & 7)")
        }
        return (Int(number), wire)
    }

    /// A length-delimited field's payload (a view into the input).
    @inlinable
    public mutating func readBytes() throws(Failure) -> ArraySlice<UInt8> {
        let length = try readVarint()
        guard length <= UInt64(bytes.endIndex - offset) else {
            throw malformed("protobuf field of \(length) bytes overruns its message")
        }
        let start = offset
        offset += Int(length)
        return bytes[start..<offset]
    }

    /// A length-delimited field as UTF-8 text; invalid UTF-8 is an error.
    @inlinable
    public mutating func readString() throws(Failure) -> String {
        let raw = try readBytes()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw malformed("protobuf string is not UTF-8")
        }
        return text
    }

    /// Skips a field of wire type `wire` whose tag was just read.
    @inlinable
    public mutating func skip(_ wire: ProtoWire) throws(Failure) {
        switch wire {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readBytes()
        case .fixed64, .fixed32:
            let size = wire == .fixed64 ? 8 : 4
            guard bytes.endIndex - offset >= size else { throw malformed("truncated protobuf fixed field") }
            offset += size
        }
    }
}

/// libp2p's messages fail with `P2PError(.malformed, …)`.
typealias ProtoReader = ProtobufReader<P2PError>

extension ProtobufReader where Failure == P2PError {
    init(_ bytes: ArraySlice<UInt8>) { self.init(bytes) { P2PError(.malformed, $0) } }
    init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    static func expect(_ wire: ProtoWire, _ expected: ProtoWire, field: String) throws(P2PError) {
        guard wire == expected else { throw P2PError(.malformed, "\(field) has wire type \(wire.rawValue)") }
    }
}
