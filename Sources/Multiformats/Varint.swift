/// Unsigned LEB128 varints as the multiformats `unsigned-varint` spec restricts
/// them: at most 9 bytes (63 bits of value) and minimally encoded.
/// Format: formats/cid.md, section 1.
///
/// Not for protobuf: protobuf varints may take 10 bytes and carry 64 bits.
public enum Varint {
    /// The longest legal encoding: 9 bytes carry 63 bits.
    public static let maxLength = 9

    /// The largest value a varint may carry: 2^63 - 1.
    public static let maxValue: UInt64 = (1 << 63) - 1

    /// Number of bytes `value` encodes to.
    @inlinable
    public static func encodedLength(_ value: UInt64) -> Int {
        // One byte per started group of 7 significant bits; zero takes one byte.
        let significantBits = 64 - (value | 1).leadingZeroBitCount
        return (significantBits + 6) / 7
    }

    /// Appends the encoding of `value` to `bytes`.
    /// - Precondition: `value <= Varint.maxValue` (the spec's 63-bit limit).
    @inlinable
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        precondition(value <= maxValue, "varint values are limited to 63 bits")
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// The encoding of `value` as a new array.
    /// - Precondition: `value <= Varint.maxValue`.
    @inlinable
    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(value))
        append(value, to: &out)
        return out
    }

    /// Decodes a varint at the start of `bytes`.
    /// - Returns: the value and how many bytes it took.
    /// - Throws: `.truncated` if `bytes` ends inside the varint, `.varintOverlong`
    ///   for a non-minimal encoding, `.varintTooLarge` past 9 bytes / 63 bits.
    @inlinable
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(MultiformatsError) -> (value: UInt64, length: Int) {
        var index = 0
        let value = try decode(bytes, at: &index)
        return (value, index)
    }

    /// Decodes a varint from `bytes` starting at index `offset`, advancing
    /// `offset` past it. On error `offset` is left unchanged.
    /// - Throws: as `decode(_:)`; `.truncated` also when `offset` is outside `bytes`.
    @inlinable
    public static func decode<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes, at offset: inout Int
    ) throws(MultiformatsError) -> UInt64 where Bytes.Index == Int {
        guard offset >= bytes.startIndex, offset <= bytes.endIndex else { throw .truncated }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = offset
        while true {
            guard index - offset < maxLength else { throw .varintTooLarge }
            guard index < bytes.endIndex else { throw .truncated }
            let byte = bytes[index]
            index += 1
            // The 9th byte lands at shift 56, so 7 bits never pass bit 62.
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // A zero final byte after at least one other byte adds nothing: overlong.
                if byte == 0 && index - offset > 1 { throw .varintOverlong }
                offset = index
                return value
            }
            shift += 7
        }
    }
}
