// The slice of the protobuf wire format that dag-pb and UnixFS use: varints,
// length-delimited bytes and fixed32. Hand-written because both formats need
// exact byte control (field order, always-written empty names) that generated
// code does not promise. Format: formats/unixfs.md, "Protobuf wire format".

import Multiformats

enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to a byte array. Protobuf varints carry all 64
/// bits (a negative int64 takes 10 bytes), unlike multiformats varints, so the
/// writer has its own encoder.
struct ProtobufWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    static func tag(_ field: Int, _ wire: WireType) -> UInt64 { UInt64(field << 3) | UInt64(wire.rawValue) }

    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func varintLength(_ value: UInt64) -> Int {
        // 1 byte per started 7 bits; 0 still takes one byte.
        (63 - value.leadingZeroBitCount) / 7 + 1
    }

    mutating func writeVarint(field: Int, _ value: UInt64) {
        appendVarint(Self.tag(field, .varint))
        appendVarint(value)
    }

    mutating func writeBytes(field: Int, _ value: some Collection<UInt8>) {
        appendVarint(Self.tag(field, .lengthDelimited))
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeFixed32(field: Int, _ value: UInt32) {
        appendVarint(Self.tag(field, .fixed32))
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Length of a varint field (tag + value) without writing it.
    static func varintFieldLength(field: Int, _ value: UInt64) -> Int {
        varintLength(tag(field, .varint)) + varintLength(value)
    }

    /// Length of a bytes field (tag + length + payload) without writing it.
    static func bytesFieldLength(field: Int, payload: Int) -> Int {
        varintLength(tag(field, .lengthDelimited)) + varintLength(UInt64(payload)) + payload
    }
}

/// Reads protobuf fields from a region of memory. Never traps: every length
/// is checked against the region before it is used. The memory must stay
/// valid while the reader is used (callers scope it with `withUnsafeBytes`);
/// payloads are returned as ranges, so they are not read unless the caller
/// reads them (a dag-pb walk skips a leaf's data without touching its pages).
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        let range = range ?? 0..<bytes.count
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { offset >= end }

    mutating func readVarint() throws(UnixFSError) -> UInt64 {
        guard offset < end else { throw UnixFSError(.malformedProtobuf, "truncated varint") }
        // Fast path for one-byte varints (tags, small sizes).
        let first = bytes[offset]
        if first < 0x80 {
            offset += 1
            return UInt64(first)
        }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = offset
        while true {
            guard index < end else { throw UnixFSError(.malformedProtobuf, "truncated varint") }
            guard shift < 64 else { throw UnixFSError(.malformedProtobuf, "varint longer than 10 bytes") }
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw UnixFSError(.malformedProtobuf, "varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // A zero last byte adds nothing: the same value has a shorter
                // encoding, and a block must have one encoding per value.
                if byte == 0 { throw UnixFSError(.malformedProtobuf, "varint is not minimally encoded") }
                break
            }
            shift += 7
        }
        offset = index
        return value
    }

    /// Reads a tag. Returns nil at the end of the region.
    mutating func readTag() throws(UnixFSError) -> (field: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let tag = try readVarint()
        let field = tag >> 3
        guard field >= 1, field <= 536_870_911 else { throw UnixFSError(.malformedProtobuf, "field number \(field)") }
        guard let wire = WireType(rawValue: UInt8(tag & 7)) else {
            throw UnixFSError(.malformedProtobuf, "wire type \(tag & 7)")
        }
        return (Int(field), wire)
    }

    /// Reads a length-delimited payload and returns its range in `bytes`.
    mutating func readLengthDelimited() throws(UnixFSError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw UnixFSError(.malformedProtobuf, "length \(length) past end of message")
        }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    mutating func readFixed32() throws(UnixFSError) -> UInt32 {
        guard end - offset >= 4 else { throw UnixFSError(.malformedProtobuf, "truncated fixed32") }
        let value = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        offset += 4
        return value
    }

    mutating func skip(_ wire: WireType) throws(UnixFSError) {
        switch wire {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed32:
            guard end - offset >= 4 else { throw UnixFSError(.malformedProtobuf, "truncated fixed32") }
            offset += 4
        case .fixed64:
            guard end - offset >= 8 else { throw UnixFSError(.malformedProtobuf, "truncated fixed64") }
            offset += 8
        }
    }
}
