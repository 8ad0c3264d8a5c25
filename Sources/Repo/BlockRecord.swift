import Blocks

/// The value stored for a block in `blocks-v1`. Format: formats/lmdb.md, "blocks-v1".
///
/// ```
/// offset  size  field
/// 0       1     format version (1)
/// 1       1     flags: bit 0 = payload is a zstd frame; bits 1–7 are zero
/// 2       4     original length, u32 little-endian   (only when compressed)
/// 2 or 6  …     payload: the block's bytes, or the zstd frame holding them
/// ```
enum BlockRecord {
    static let version: UInt8 = 1
    static let compressedFlag: UInt8 = 0x01
    static let knownFlags: UInt8 = compressedFlag
    static let plainHeaderLength = 2
    static let compressedHeaderLength = 6

    /// A decoded header: where the payload is and what it holds.
    struct Header {
        var isCompressed: Bool
        /// Length of the block itself (after decompression).
        var blockLength: Int
        var payloadOffset: Int
    }

    enum Problem: Error, CustomStringConvertible {
        case truncated
        case unknownVersion(UInt8)
        case unknownFlags(UInt8)
        case badLength(Int)
        case decompressionFailed

        var description: String {
            switch self {
            case .truncated: "value shorter than its header"
            case .unknownVersion(let version): "unknown block record version \(version)"
            case .unknownFlags(let flags): "unknown block record flags 0x\(String(flags, radix: 16))"
            case .badLength(let length): "original length \(length) out of range"
            case .decompressionFailed: "zstd payload does not decompress to its recorded length"
            }
        }
    }

    static func header(of value: UnsafeRawBufferPointer) throws(Problem) -> Header {
        guard value.count >= plainHeaderLength else { throw .truncated }
        guard value[0] == version else { throw .unknownVersion(value[0]) }
        let flags = value[1]
        guard flags & ~knownFlags == 0 else { throw .unknownFlags(flags) }
        if flags & compressedFlag == 0 {
            return Header(isCompressed: false, blockLength: value.count - plainHeaderLength, payloadOffset: plainHeaderLength)
        }
        guard value.count >= compressedHeaderLength else { throw .truncated }
        let length = Int(value[2]) | Int(value[3]) << 8 | Int(value[4]) << 16 | Int(value[5]) << 24
        guard length <= Block.maxSize else { throw .badLength(length) }
        return Header(isCompressed: true, blockLength: length, payloadOffset: compressedHeaderLength)
    }

    /// Lends the block's bytes to `body`: a view into `value` when stored plain
    /// (zero-copy), a temporary decompressed buffer otherwise.
    static func withBlockBytes<R>(
        in value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        let header = try header(of: value)
        let payload = UnsafeRawBufferPointer(rebasing: value[header.payloadOffset...])
        guard header.isCompressed else { return try body(payload) }
        return try withUnsafeTemporaryAllocation(byteCount: header.blockLength, alignment: 1) { buffer in
            guard Zstd.decompress(payload, into: buffer) else { throw Problem.decompressionFailed }
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Writes the plain form of `block` (header + bytes) into `output`, which
    /// holds exactly `plainHeaderLength + block.count` bytes.
    static func writePlain(_ block: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        output[0] = version
        output[1] = 0
        if !block.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: output[plainHeaderLength...]).copyMemory(from: block)
        }
    }

    /// The compressed record for `block`, when it is at least 1/8 smaller than
    /// the plain record; `nil` otherwise (store it plain).
    static func compressedRecord(for block: UnsafeRawBufferPointer) -> [UInt8]? {
        let plainLength = plainHeaderLength + block.count
        let worthKeeping = plainLength - plainLength / 8
        guard worthKeeping > compressedHeaderLength else { return nil }
        var record = [UInt8](repeating: 0, count: worthKeeping)
        let compressedLength = record.withUnsafeMutableBytes { output in
            Zstd.compress(block, into: UnsafeMutableRawBufferPointer(rebasing: output[compressedHeaderLength...]))
        }
        guard let compressedLength else { return nil }
        record[0] = version
        record[1] = compressedFlag
        let length = UInt32(block.count)
        record[2] = UInt8(truncatingIfNeeded: length)
        record[3] = UInt8(truncatingIfNeeded: length >> 8)
        record[4] = UInt8(truncatingIfNeeded: length >> 16)
        record[5] = UInt8(truncatingIfNeeded: length >> 24)
        record.removeLast(worthKeeping - compressedHeaderLength - compressedLength)
        return record
    }
}
