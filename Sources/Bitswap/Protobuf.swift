// The slice of the protobuf wire format Bitswap messages use: varints,
// length-delimited fields, and skipping of unknown fields. The same small
// reader and writer as Sources/P2P/Protobuf.swift (internal there), with
// Bitswap's errors. Format: formats/bitswap.md, section 2.

/// Protobuf wire types.
enum ProtoWire: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to a byte array.
struct ProtoWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func appendTag(field: Int, wire: ProtoWire) {
        appendVarint(UInt64(field << 3) | UInt64(wire.rawValue))
    }

    /// The encoded size of a length-delimited field (one-byte tag) carrying `count` bytes.
    static func fieldLength(_ count: Int) -> Int { 1 + varintLength(UInt64(count)) + count }

    static func varintLength(_ value: UInt64) -> Int {
        var v = value, n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    mutating func writeVarint(field: Int, _ value: UInt64) {
        appendVarint(UInt64(field << 3) | UInt64(ProtoWire.varint.rawValue))
        appendVarint(value)
    }

    mutating func writeBytes(field: Int, _ value: some Collection<UInt8>) {
        appendVarint(UInt64(field << 3) | UInt64(ProtoWire.lengthDelimited.rawValue))
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeString(field: Int, _ value: String) {
        writeBytes(field: field, Array(value.utf8))
    }
}

/// Reads protobuf fields from a byte slice. Never traps: every length is
/// checked against the slice before use. Unknown fields are skipped with
/// `skip(_:)`; groups (wire types 3 and 4) are refused, as no libp2p message
/// uses them.
struct ProtoReader {
    let bytes: ArraySlice<UInt8>
    private(set) var offset: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    var isAtEnd: Bool { offset >= bytes.endIndex }

    mutating func readVarint() throws(BitswapError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.endIndex else { throw BitswapError(.malformed, "truncated protobuf varint") }
            guard shift < 64 else { throw BitswapError(.malformed, "protobuf varint longer than 10 bytes") }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw BitswapError(.malformed, "protobuf varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The next field's number and wire type, or nil at the end.
    mutating func nextField() throws(BitswapError) -> (number: Int, wire: ProtoWire)? {
        guard !isAtEnd else { return nil }
        let tag = try readVarint()
        let number = tag >> 3
        guard number > 0, number <= 0x1FFF_FFFF else { throw BitswapError(.malformed, "protobuf field number \(number)") }
        guard let wire = ProtoWire(rawValue: UInt8(tag & 7)) else {
            throw BitswapError(.malformed, "protobuf wire type \(tag & 7)")
        }
        return (Int(number), wire)
    }

    /// A length-delimited field's payload (a view into the input).
    mutating func readBytes() throws(BitswapError) -> ArraySlice<UInt8> {
        let length = try readVarint()
        guard length <= UInt64(bytes.endIndex - offset) else {
            throw BitswapError(.malformed, "protobuf field of \(length) bytes overruns its message")
        }
        let start = offset
        offset += Int(length)
        return bytes[start..<offset]
    }

    /// Skips a field of wire type `wire` whose tag was just read.
    mutating func skip(_ wire: ProtoWire) throws(BitswapError) {
        switch wire {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readBytes()
        case .fixed64, .fixed32:
            let size = wire == .fixed64 ? 8 : 4
            guard bytes.endIndex - offset >= size else { throw BitswapError(.malformed, "truncated protobuf fixed field") }
            offset += size
        }
    }

}
