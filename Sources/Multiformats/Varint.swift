/// Unsigned LEB128 varints as the multiformats `unsigned-varint` spec restricts
/// them: at most 9 bytes (63 bits of value) and minimally encoded.
/// Format: formats/cid.md, "Varint".
public enum Varint {
    /// The longest legal encoding: 9 bytes carry 63 bits.
    public static let maxLength = 9

    /// Number of bytes `value` encodes to.
    @inlinable
    public static func encodedLength(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    /// Appends the encoding of `value` to `bytes`.
    /// - Precondition: `value < 2^63` (the spec's limit).
    @inlinable
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        precondition(value < (1 << 63), "varint values are limited to 63 bits")
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// The encoding of `value` as a new array.
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
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = 0
        while true {
            guard index < maxLength else { throw .varintTooLarge }
            guard index < bytes.count else { throw .truncated }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // A zero final byte after at least one other byte adds nothing: overlong.
                if byte == 0 && index > 1 { throw .varintOverlong }
                return (value, index)
            }
            shift += 7
        }
    }

    /// Decodes a varint from `bytes` starting at `offset`, advancing `offset` past it.
    @inlinable
    public static func decode(_ bytes: [UInt8], at offset: inout Int) throws(MultiformatsError) -> UInt64 {
        guard offset >= 0, offset <= bytes.count else { throw .truncated }
        let decoded: (value: UInt64, length: Int)
        do {
            decoded = try bytes.withUnsafeBytes { raw in
                try decode(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
        } catch let error as MultiformatsError {
            throw error
        } catch {
            throw .truncated
        }
        offset += decoded.length
        return decoded.value
    }
}
