/// A content identifier: `version || codec || multihash`, or for version 0 a
/// bare sha2-256 multihash of a dag-pb block.
/// Format: formats/cid.md, sections 4 (binary) and 5 (text).
///
/// Stored as its binary form, so equality and hashing are over the exact bytes
/// (a CIDv0 and its CIDv1 upgrade are different CIDs with the same multihash).
public struct CID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Version: Int, Sendable { case v0 = 0, v1 = 1 }

    /// The binary CID.
    public let bytes: [UInt8]
    public let version: Version
    public let codec: Multicodec
    /// Offset of the multihash inside `bytes` (0 for CIDv0).
    @usableFromInline let multihashOffset: Int
    /// Offset of the digest inside the multihash, so that `multihash` needs no re-parse.
    @usableFromInline let digestOffset: Int
    /// The multihash function code, read once when the CID is built.
    public let hashCode: UInt64

    /// The longest binary CID we accept. Digests beyond `Multihash.maxDigestLength`
    /// are refused anyway; this bounds the rest.
    public static let maxLength = Multihash.maxDigestLength + 32

    /// Builds a CID from its parts.
    /// - Precondition: a `.v0` CID has codec dag-pb and a sha2-256 multihash;
    ///   `codec.rawValue <= Varint.maxValue`.
    public init(version: Version, codec: Multicodec, multihash: Multihash) {
        switch version {
        case .v0:
            precondition(codec == .dagPB && multihash.code == HashFunction.sha2_256.rawValue,
                         "CIDv0 is dag-pb with sha2-256 only")
            self.bytes = multihash.bytes
            self.multihashOffset = 0
        case .v1:
            var out: [UInt8] = []
            out.reserveCapacity(multihash.bytes.count + 4)
            Varint.append(1, to: &out)
            Varint.append(codec.rawValue, to: &out)
            self.multihashOffset = out.count
            out.append(contentsOf: multihash.bytes)
            self.bytes = out
        }
        self.version = version
        self.codec = codec
        self.hashCode = multihash.code
        self.digestOffset = multihash.digestOffset
    }

    /// A CIDv1.
    public static func v1(_ codec: Multicodec, _ multihash: Multihash) -> CID {
        CID(version: .v1, codec: codec, multihash: multihash)
    }

    /// A CIDv0 (dag-pb, sha2-256).
    public static func v0(_ multihash: Multihash) -> CID {
        CID(version: .v0, codec: .dagPB, multihash: multihash)
    }

    /// Parses a binary CID spanning all of `bytes`.
    // Pre-specialized for the byte containers tau parses from, so that callers
    // in other modules do not run the generic code (copying byte by byte and
    // looking up metadata at run time: 75% of a dag-pb decode before this).
    @_specialize(exported: true, where Bytes == UnsafeRawBufferPointer)
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public init<Bytes: RandomAccessCollection<UInt8>>(bytes: Bytes) throws(MultiformatsError) where Bytes.Index == Int {
        var offset = bytes.startIndex
        self = try CID(parsing: bytes, at: &offset)
        guard offset == bytes.endIndex else { throw .trailingBytes }
    }

    /// Parses a binary CID at index `offset`, advancing `offset` past it. Used
    /// where CIDs are concatenated (CAR sections, Bitswap messages). On error
    /// `offset` is left unchanged.
    @_specialize(exported: true, where Bytes == UnsafeRawBufferPointer)
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public init<Bytes: RandomAccessCollection<UInt8>>(
        parsing bytes: Bytes, at offset: inout Int
    ) throws(MultiformatsError) where Bytes.Index == Int {
        guard offset >= bytes.startIndex, offset < bytes.endIndex else { throw .truncated }
        // CIDv0: the 34-byte sha2-256 multihash 0x12 0x20 …; no CIDv1 starts
        // with 0x12 (its first byte is the version, 1).
        if bytes[offset] == 0x12 {
            guard bytes.endIndex - offset >= 2 else { throw .truncated }
            guard bytes[offset + 1] == 0x20 else { throw .invalidCIDv0 }
            guard bytes.endIndex - offset >= 34 else { throw .truncated }
            self.bytes = Array(bytes[offset..<offset + 34])
            self.version = .v0
            self.codec = .dagPB
            self.multihashOffset = 0
            self.digestOffset = 2
            self.hashCode = HashFunction.sha2_256.rawValue
            offset += 34
            return
        }
        var cursor = offset
        let version = try Varint.decode(bytes, at: &cursor)
        guard version == 1 else {
            throw MultiformatsError(.unsupportedCIDVersion, "version \(version)")
        }
        let codec = try Varint.decode(bytes, at: &cursor)
        let hashStart = cursor
        let multihash = try Multihash(parsing: bytes, at: &cursor)
        self.bytes = Array(bytes[offset..<cursor])
        self.version = .v1
        self.codec = Multicodec(rawValue: codec)
        self.multihashOffset = hashStart - offset
        self.digestOffset = multihash.digestOffset
        self.hashCode = multihash.code
        offset = cursor
    }

    /// Parses a CID's text form: a 46-character base58btc CIDv0 (`Qm…`) or a
    /// multibase-prefixed CIDv1 in any base tau knows.
    public init(_ text: some StringProtocol) throws(MultiformatsError) {
        guard !text.isEmpty else { throw .empty }
        // Bytes, not Characters: "Qm" followed by a combining mark is not a CIDv0.
        if text.utf8.count == 46 && text.utf8.starts(with: "Qm".utf8) {
            let bytes = try Base58.decode(text)
            self = try CID(bytes: bytes)
            guard version == .v0 else { throw .invalidCIDv0 }
            return
        }
        let (_, bytes) = try Multibase.decode(text)
        // A multibase-encoded CIDv0 is not a CID; v1 must say so.
        guard bytes.first != 0x12 else { throw .invalidCIDv0 }
        self = try CID(bytes: bytes)
    }

    /// The multihash bytes (a view into `bytes`).
    public var multihashBytes: ArraySlice<UInt8> { bytes[multihashOffset...] }

    /// The multihash, as a value of its own.
    public var multihash: Multihash {
        Multihash(encoded: Array(multihashBytes), code: hashCode, digestOffset: digestOffset)
    }

    /// The digest bytes (after the multihash code and length): a view into `bytes`.
    public var digest: ArraySlice<UInt8> { bytes[(multihashOffset + digestOffset)...] }

    /// The multihash function, if it is one tau computes.
    public var hashFunction: HashFunction? { HashFunction(rawValue: hashCode) }

    /// Whether this is an identity CID, whose digest is the block itself.
    public var isIdentity: Bool { hashCode == HashFunction.identity.rawValue }

    /// This CID as version 1 (same codec and multihash). CIDv1 returns itself.
    public var v1: CID {
        version == .v1 ? self : CID(version: .v1, codec: codec, multihash: multihash)
    }

    /// This CID as version 0, when it has one: dag-pb with a sha2-256 multihash.
    public var v0: CID? {
        if version == .v0 { return self }
        guard codec == .dagPB, hashCode == HashFunction.sha2_256.rawValue else { return nil }
        return CID(version: .v0, codec: .dagPB, multihash: multihash)
    }

    /// The text form in `base`. CIDv0 has only base58btc without prefix; asking
    /// for another base upgrades it to v1 first.
    public func string(base: Multibase) -> String {
        if version == .v0 {
            return base == .base58btc ? Base58.encode(bytes) : v1.string(base: base)
        }
        return base.encode(bytes)
    }

    /// Default text: base58btc for v0, base32 for v1 (as Kubo prints them).
    public var description: String {
        version == .v0 ? Base58.encode(bytes) : Multibase.base32.encode(bytes)
    }

    public static func < (lhs: CID, rhs: CID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public static func == (lhs: CID, rhs: CID) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
