// The one protobuf reader. It works on raw memory so that dag-pb blocks can
// be walked in place (an LMDB value, a block's array) and payloads are
// returned as views or ranges, not copies: a walk skips a leaf's data
// without touching its pages.

/// How strict a reader is beyond the protobuf rules every reader enforces
/// (varints of at most 10 bytes and 64 bits, field numbers 1...2^29-1, no
/// groups, lengths within the message).
public struct ProtobufOptions: Hashable, Sendable {
    /// Refuse varints ending in a redundant zero byte (`80 00` for 0).
    /// Default false: protobuf itself accepts them, and libp2p and Bitswap
    /// peers are read as protobuf. dag-pb turns it on: a block must have one
    /// encoding per value, or one node could hash to many CIDs.
    public var requiresMinimalVarints: Bool

    public init(requiresMinimalVarints: Bool = false) {
        self.requiresMinimalVarints = requiresMinimalVarints
    }

    /// Plain protobuf (the default).
    public static let standard = ProtobufOptions()
    /// The dag-pb spec's stricter reading, also used for the UnixFS messages inside it.
    public static let dagPB = ProtobufOptions(requiresMinimalVarints: true)
}

/// Reads protobuf fields from `bytes[range]`, throwing `Failure` (made from a
/// `ProtobufError`) for bad input. Never traps: every length is checked
/// against the region before it is used. The memory must stay valid while
/// the reader is used; `reading(_:options:_:)` scopes it for arrays.
///
/// A message is read as `while let (field, wire) = try reader.nextField()`,
/// then one `read…` call for a field the caller knows or `skip(wire)` for
/// one it does not.
public struct ProtobufReader<Failure: ProtobufFailure> {
    public let bytes: UnsafeRawBufferPointer
    /// End of the region read (exclusive), an offset in `bytes`.
    public let end: Int
    public let options: ProtobufOptions
    @usableFromInline var position: Int

    /// Where the next field starts, an offset in `bytes`.
    @inlinable public var offset: Int { position }
    @inlinable public var isAtEnd: Bool { position >= end }

    /// A reader of `bytes[range]` (all of `bytes` when `range` is nil).
    /// A range outside `bytes` is clamped to it.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil, options: ProtobufOptions = .standard) {
        let range = (range ?? 0..<bytes.count).clamped(to: 0..<bytes.count)
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
        self.options = options
    }

    /// Runs `body` with a reader of `bytes`, valid only inside `body`.
    @inlinable
    public static func reading<Result>(_ bytes: ArraySlice<UInt8>, options: ProtobufOptions = .standard,
                                       _ body: (inout Self) throws(Failure) -> Result) throws(Failure) -> Result {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        let outcome = bytes.withUnsafeBytes { raw in
            var reader = Self(raw, options: options)
            return Swift.Result { () throws(Failure) in try body(&reader) }
        }
        return try outcome.get()
    }

    @inlinable
    public static func reading<Result>(_ bytes: [UInt8], options: ProtobufOptions = .standard,
                                       _ body: (inout Self) throws(Failure) -> Result) throws(Failure) -> Result {
        try reading(bytes[...], options: options, body)
    }

    @usableFromInline
    static func fail(_ code: ProtobufError.Code, _ detail: String) -> Failure {
        Failure(protobuf: ProtobufError(code, detail))
    }

    // MARK: Fields

    @inlinable
    public mutating func readVarint() throws(Failure) -> UInt64 {
        guard position < end else { throw Self.fail(.truncated, "truncated protobuf varint") }
        // Fast path for one-byte varints (tags, small sizes).
        let first = bytes[position]
        if first < 0x80 {
            position += 1
            return UInt64(first)
        }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = position
        while true {
            guard index < end else { throw Self.fail(.truncated, "truncated protobuf varint") }
            let byte = bytes[index]
            index += 1
            if shift == 63 {
                // The 10th byte holds bit 63 only: it may be 0 or 1, and it ends the varint.
                guard byte & 0x80 == 0 else { throw Self.fail(.overlongVarint, "protobuf varint longer than 10 bytes") }
                guard byte <= 1 else { throw Self.fail(.varintOverflow, "protobuf varint overflows 64 bits") }
            }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // A zero last byte adds nothing: the same value has a shorter encoding.
                if byte == 0 && options.requiresMinimalVarints {
                    throw Self.fail(.nonMinimalVarint, "protobuf varint is not minimally encoded")
                }
                break
            }
            shift += 7
        }
        position = index
        return value
    }

    /// The next field's number and wire type, or nil at the end of the region.
    @inlinable
    public mutating func nextField() throws(Failure) -> (number: Int, wire: ProtobufWireType)? {
        guard !isAtEnd else { return nil }
        let tag = try readVarint()
        let number = tag >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else {
            throw Self.fail(.invalidFieldNumber, "protobuf field number \(number)")
        }
        guard let wire = ProtobufWireType(rawValue: UInt8(tag & 7)) else {
            throw Self.fail(.invalidWireType, "protobuf wire type \(tag & 7)")
        }
        return (Int(number), wire)
    }

    /// A length-delimited payload's range in `bytes`.
    @inlinable
    public mutating func readLengthDelimited() throws(Failure) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw Self.fail(.lengthOverrun, "protobuf field of \(length) bytes overruns its message")
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// A length-delimited payload as a view of `bytes` (valid as long as they are).
    @inlinable
    public mutating func readBytes() throws(Failure) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[try readLengthDelimited()])
    }

    /// A length-delimited payload as UTF-8 text; invalid UTF-8 is an error.
    @inlinable
    public mutating func readString() throws(Failure) -> String {
        guard let text = String(validating: try readBytes(), as: UTF8.self) else {
            throw Self.fail(.invalidUTF8, "protobuf string is not UTF-8")
        }
        return text
    }

    /// A reader of an embedded message (a length-delimited payload), with this reader's options.
    @inlinable
    public mutating func readMessage() throws(Failure) -> Self {
        Self(bytes, range: try readLengthDelimited(), options: options)
    }

    @inlinable
    public mutating func readFixed32() throws(Failure) -> UInt32 {
        try checkFixed(4)
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inlinable
    public mutating func readFixed64() throws(Failure) -> UInt64 {
        try checkFixed(8)
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    @inlinable
    func checkFixed(_ size: Int) throws(Failure) {
        guard end - position >= size else { throw Self.fail(.truncated, "truncated protobuf fixed\(size * 8)") }
    }

    /// Skips the value of a field whose tag (of wire type `wire`) was just read.
    @inlinable
    public mutating func skip(_ wire: ProtobufWireType) throws(Failure) {
        switch wire {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed32:
            try checkFixed(4)
            position += 4
        case .fixed64:
            try checkFixed(8)
            position += 8
        }
    }

    /// Throws `.wrongWireType` unless `wire` is `expected`; `field` names the field for the message.
    @inlinable
    public static func expect(_ wire: ProtobufWireType, _ expected: ProtobufWireType, field: String) throws(Failure) {
        guard wire == expected else { throw fail(.wrongWireType, "\(field) has wire type \(wire.rawValue)") }
    }
}
