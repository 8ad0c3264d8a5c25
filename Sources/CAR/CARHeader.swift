import Multiformats

/// What a CAR says about itself before its blocks: the roots of its inner
/// CARv1 header and, for a CARv2, the fixed header that frames that payload.
/// Format: formats/car.md.
public struct CARHeader: Hashable, Sendable {
    /// The roots listed in the (inner) CARv1 header, in stored order. May be
    /// empty: the CARv1 spec leaves zero roots unresolved and js-car writes them.
    public var roots: [CID]
    /// The CARv2 header, when the stream is a CARv2.
    public var v2: CARv2Header?

    public init(roots: [CID], v2: CARv2Header? = nil) {
        self.roots = roots
        self.v2 = v2
    }

    /// 1 or 2: the container's version (the inner payload of a CARv2 is a CARv1).
    public var version: Int { v2 == nil ? 1 : 2 }
}

/// The 40 bytes after the CARv2 pragma: characteristics, then where the inner
/// CARv1 payload and the index are, as little-endian unsigned 64-bit integers.
/// Offsets count from the first byte of the pragma. Format: formats/car.md, "CARv2".
public struct CARv2Header: Hashable, Sendable {
    /// The 11 bytes every CARv2 starts with: a CARv1-style header `{"version": 2}`
    /// (length 10) that CARv1-only readers reject as an unknown version.
    public static let pragma: [UInt8] = [0x0A, 0xA1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6F, 0x6E, 0x02]
    /// Size of the header after the pragma.
    public static let encodedSize = 40
    /// Where the payload starts when nothing pads it: right after pragma and header.
    public static let unpaddedDataOffset = UInt64(pragma.count + encodedSize)

    /// The 128-bit characteristics field, as go-car holds it: two little-endian
    /// 64-bit halves, `high` first.
    public var characteristicsHigh: UInt64
    public var characteristicsLow: UInt64
    /// Byte offset of the inner CARv1 payload from the start of the pragma.
    public var dataOffset: UInt64
    /// Length of the inner CARv1 payload.
    public var dataSize: UInt64
    /// Byte offset of the index from the start of the pragma; 0 when there is none.
    public var indexOffset: UInt64

    /// The `fully-indexed` characteristic: the left-most bit of the field (bit 7
    /// of its first byte). Set when the index also lists identity-CID sections.
    public var isFullyIndexed: Bool {
        get { characteristicsHigh & CARv2Header.fullyIndexedBit != 0 }
        set {
            if newValue { characteristicsHigh |= CARv2Header.fullyIndexedBit } else { characteristicsHigh &= ~CARv2Header.fullyIndexedBit }
        }
    }

    private static let fullyIndexedBit: UInt64 = 1 << 7

    public init(characteristicsHigh: UInt64 = 0, characteristicsLow: UInt64 = 0,
                dataOffset: UInt64, dataSize: UInt64, indexOffset: UInt64) {
        self.characteristicsHigh = characteristicsHigh
        self.characteristicsLow = characteristicsLow
        self.dataOffset = dataOffset
        self.dataSize = dataSize
        self.indexOffset = indexOffset
    }

    /// The layout tau (and go-car by default) writes: no padding, the payload
    /// right after the header and the index, if any, right after the payload.
    public init(dataSize: UInt64, hasIndex: Bool) {
        self.init(dataOffset: CARv2Header.unpaddedDataOffset, dataSize: dataSize,
                  indexOffset: hasIndex ? CARv2Header.unpaddedDataOffset + dataSize : 0)
    }

    /// Decodes and checks the 40 bytes after the pragma.
    /// - Throws: `.invalidV2Header` when the payload would start inside the
    ///   header, the offsets overflow 63 bits, or the index starts inside the payload.
    public init(decoding bytes: some Collection<UInt8>) throws(CARError) {
        let bytes = Array(bytes)
        guard bytes.count == CARv2Header.encodedSize else {
            throw CARError(.invalidV2Header, "a CARv2 header is \(CARv2Header.encodedSize) bytes, got \(bytes.count)")
        }
        func field(_ index: Int) -> UInt64 {
            bytes[index * 8..<index * 8 + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        self.init(characteristicsHigh: field(0), characteristicsLow: field(1),
                  dataOffset: field(2), dataSize: field(3), indexOffset: field(4))
        try validate()
    }

    /// Checks the offsets against each other, as a reader must before trusting them.
    public func validate() throws(CARError) {
        let limit = UInt64(Int64.max)
        guard dataOffset <= limit, dataSize <= limit, indexOffset <= limit else {
            throw CARError(.invalidV2Header, "offsets beyond 2^63 (data offset \(dataOffset), size \(dataSize), index offset \(indexOffset))")
        }
        guard dataOffset >= CARv2Header.unpaddedDataOffset else {
            throw CARError(.invalidV2Header, "data offset \(dataOffset) points inside the pragma and header (at least \(CARv2Header.unpaddedDataOffset))")
        }
        let (dataEnd, overflow) = dataOffset.addingReportingOverflow(dataSize)
        guard !overflow, dataEnd <= limit else {
            throw CARError(.invalidV2Header, "data offset \(dataOffset) + size \(dataSize) overflows")
        }
        guard indexOffset == 0 || indexOffset >= dataEnd else {
            throw CARError(.invalidV2Header, "index offset \(indexOffset) points inside the data payload (which ends at \(dataEnd))")
        }
    }

    /// The 40 header bytes (without the pragma).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(CARv2Header.encodedSize)
        for value in [characteristicsHigh, characteristicsLow, dataOffset, dataSize, indexOffset] {
            appendLittleEndian(value, to: &out)
        }
        return out
    }
}

/// Appends `value` as 8 little-endian bytes.
@inlinable
func appendLittleEndian(_ value: UInt64, to out: inout [UInt8]) {
    for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
}

/// Appends `value` as 4 little-endian bytes.
@inlinable
func appendLittleEndian(_ value: UInt32, to out: inout [UInt8]) {
    for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
}
