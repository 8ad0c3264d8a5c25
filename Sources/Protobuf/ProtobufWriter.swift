// The protobuf wire format, as far as tau's messages need it: dag-pb, UnixFS,
// the libp2p keys, Noise payload and identify messages, and Bitswap's.
// Hand-written because those formats need exact byte control (field order,
// always-written empty names) that generated code does not promise.
// Formats: formats/unixfs.md, "Protobuf wire format"; formats/libp2p.md, section 2.

/// Protobuf wire types. Groups (3 and 4) are not here: no message tau reads uses them.
public enum ProtobufWireType: UInt8, Hashable, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to `bytes`, a buffer the caller owns: start one
/// with `init(capacity:)` or continue an existing one with `init(appending:)`,
/// then take `bytes`. Callers write fields in the order their format wants;
/// the writer adds nothing of its own. Protobuf varints carry all 64 bits (a
/// negative int64 takes 10 bytes), unlike multiformats varints.
public struct ProtobufWriter {
    public var bytes: [UInt8]

    @inlinable
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Continues `bytes`; new fields go after what it holds.
    @inlinable
    public init(appending bytes: [UInt8]) { self.bytes = bytes }

    @inlinable
    public static func tag(field: Int, wire: ProtobufWireType) -> UInt64 {
        UInt64(field << 3) | UInt64(wire.rawValue)
    }

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
    public mutating func appendTag(field: Int, wire: ProtobufWireType) {
        appendVarint(Self.tag(field: field, wire: wire))
    }

    @inlinable
    public mutating func writeVarint(field: Int, _ value: UInt64) {
        appendTag(field: field, wire: .varint)
        appendVarint(value)
    }

    /// The tag and length of a length-delimited field whose `length` bytes
    /// the caller appends next (a nested message written in place, without a
    /// second buffer).
    @inlinable
    public mutating func writeLengthDelimitedHeader(field: Int, length: Int) {
        appendTag(field: field, wire: .lengthDelimited)
        appendVarint(UInt64(length))
    }

    @inlinable
    public mutating func writeBytes(field: Int, _ value: some Collection<UInt8>) {
        writeLengthDelimitedHeader(field: field, length: value.count)
        bytes.append(contentsOf: value)
    }

    @inlinable
    public mutating func writeString(field: Int, _ value: String) {
        writeBytes(field: field, value.utf8)
    }

    @inlinable
    public mutating func writeFixed32(field: Int, _ value: UInt32) {
        appendTag(field: field, wire: .fixed32)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func writeFixed64(field: Int, _ value: UInt64) {
        appendTag(field: field, wire: .fixed64)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: Sizes, for callers that size a buffer or a header before writing.

    @inlinable
    public static func varintLength(_ value: UInt64) -> Int {
        // One byte per started 7 bits; 0 still takes one byte.
        (63 - value.leadingZeroBitCount) / 7 + 1
    }

    /// Length of a varint field (tag + value).
    @inlinable
    public static func varintFieldLength(field: Int, _ value: UInt64) -> Int {
        varintLength(tag(field: field, wire: .varint)) + varintLength(value)
    }

    /// Length of a length-delimited field (tag + length + payload).
    @inlinable
    public static func bytesFieldLength(field: Int, payload: Int) -> Int {
        varintLength(tag(field: field, wire: .lengthDelimited)) + varintLength(UInt64(payload)) + payload
    }
}
