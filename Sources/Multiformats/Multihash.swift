import COpenSSL

/// The hash functions tau computes. Each has a multicodec code and a digest length.
public enum HashFunction: UInt64, Sendable, CaseIterable, CustomStringConvertible {
    case identity = 0x00
    case sha2_256 = 0x12
    case sha2_512 = 0x13

    /// Digest length in bytes; `nil` for identity, whose digest is the input.
    public var digestLength: Int? {
        switch self {
        case .identity: nil
        case .sha2_256: 32
        case .sha2_512: 64
        }
    }

    /// The multihash table name (`sha2-256`), as `ipfs add --hash` accepts it.
    public var name: String {
        switch self {
        case .identity: "identity"
        case .sha2_256: "sha2-256"
        case .sha2_512: "sha2-512"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { name }
}

/// A self-describing hash: `varint(code) || varint(length) || digest`.
/// Format: formats/cid.md, section 3.
///
/// Stored as its encoded bytes so that it can key maps (the block store keys
/// blocks by multihash) without re-encoding.
public struct Multihash: Hashable, Sendable, CustomStringConvertible {
    /// The encoded multihash.
    public let bytes: [UInt8]
    /// The function code (the first varint).
    public let code: UInt64
    /// Offset of the digest inside `bytes`.
    @usableFromInline let digestOffset: Int

    /// The largest digest we accept when decoding, for any function. Identity
    /// digests (inline CIDs) are the only long ones; Kubo caps inlining at 128 bytes,
    /// but we accept larger identity hashes produced elsewhere up to this bound.
    public static let maxDigestLength = 4096

    /// Parses an encoded multihash that spans all of `bytes`.
    // Pre-specialized for the byte containers tau parses from, so that callers
    // in other modules do not run the generic code (copying byte by byte and
    // looking up metadata at run time: 75% of a dag-pb decode before this).
    @_specialize(exported: true, where Bytes == UnsafeRawBufferPointer)
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public init<Bytes: RandomAccessCollection<UInt8>>(bytes: Bytes) throws(MultiformatsError) where Bytes.Index == Int {
        var offset = bytes.startIndex
        self = try Multihash(parsing: bytes, at: &offset)
        guard offset == bytes.endIndex else { throw .trailingBytes }
    }

    /// Parses a multihash at index `offset` in `bytes`, advancing `offset` past
    /// it. Functions tau computes must carry their full digest length; other
    /// codes are accepted with any length up to `maxDigestLength`.
    @_specialize(exported: true, where Bytes == UnsafeRawBufferPointer)
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public init<Bytes: RandomAccessCollection<UInt8>>(
        parsing bytes: Bytes, at offset: inout Int
    ) throws(MultiformatsError) where Bytes.Index == Int {
        var cursor = offset
        let code = try Varint.decode(bytes, at: &cursor)
        let length = try Varint.decode(bytes, at: &cursor)
        guard length <= UInt64(Multihash.maxDigestLength) else {
            throw MultiformatsError(.limitExceeded, "multihash digest of \(length) bytes")
        }
        if let function = HashFunction(rawValue: code), let expected = function.digestLength,
            expected != Int(length)
        {
            throw MultiformatsError(.digestLengthMismatch, "\(function.name) digest of \(length) bytes")
        }
        guard Int(length) <= bytes.endIndex - cursor else { throw .truncated }
        let digestOffset = cursor - offset
        cursor += Int(length)
        self.init(encoded: Array(bytes[offset..<cursor]), code: code, digestOffset: digestOffset)
        offset = cursor
    }

    /// Wraps an already computed digest.
    /// - Precondition: `code <= Varint.maxValue`, and for a function tau
    ///   computes, `digest` has that function's full length (as parsing demands).
    public init(code: UInt64, digest: some Collection<UInt8>) {
        if let function = HashFunction(rawValue: code), let expected = function.digestLength {
            precondition(digest.count == expected, "\(function.name) digests are \(expected) bytes")
        }
        var out: [UInt8] = []
        out.reserveCapacity(digest.count + 4)
        Varint.append(code, to: &out)
        Varint.append(UInt64(digest.count), to: &out)
        let offset = out.count
        out.append(contentsOf: digest)
        self.init(encoded: out, code: code, digestOffset: offset)
    }

    @usableFromInline
    init(encoded: [UInt8], code: UInt64, digestOffset: Int) {
        self.bytes = encoded
        self.code = code
        self.digestOffset = digestOffset
    }

    /// Hashes `data` with `function`.
    public init(hashing data: UnsafeRawBufferPointer, with function: HashFunction) {
        switch function {
        case .identity:
            self.init(code: function.rawValue, digest: data)
        case .sha2_256:
            var out = [UInt8](repeating: 0, count: 34)
            out[0] = 0x12
            out[1] = 32
            out.withUnsafeMutableBufferPointer { buffer in
                _ = SHA256(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, buffer.baseAddress! + 2)
            }
            self.init(encoded: out, code: function.rawValue, digestOffset: 2)
        case .sha2_512:
            var out = [UInt8](repeating: 0, count: 66)
            out[0] = 0x13
            out[1] = 64
            out.withUnsafeMutableBufferPointer { buffer in
                _ = SHA512(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, buffer.baseAddress! + 2)
            }
            self.init(encoded: out, code: function.rawValue, digestOffset: 2)
        }
    }

    /// Hashes `data` with `function`.
    public init(hashing data: [UInt8], with function: HashFunction) {
        self = data.withUnsafeBytes { Multihash(hashing: $0, with: function) }
    }

    /// The hash function, if it is one tau computes.
    public var function: HashFunction? { HashFunction(rawValue: code) }

    /// The digest bytes.
    public var digest: ArraySlice<UInt8> { bytes[digestOffset...] }

    /// Whether `data` hashes to this multihash. `false` for functions tau does not compute.
    public func matches(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let function else { return false }
        return Multihash(hashing: data, with: function) == self
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// base58btc of the bytes, the form CIDv0 strings and peer IDs use.
    public var description: String { Base58.encode(bytes) }
}
