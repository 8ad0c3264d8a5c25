import Multiformats

/// How the importer names the blocks it makes: CID version, hash function and
/// optional inlining (identity multihash for blocks up to a size).
/// Follows go-cid's Prefix and InlineBuilder, which Kubo uses:
/// - a codec other than dag-pb forces CIDv1 (raw leaves of a CIDv0 import are CIDv1);
/// - an inlined block is always CIDv1 with the identity multihash.
public struct CIDBuilder: Hashable, Sendable {
    public var version: CID.Version
    public var hashFunction: HashFunction
    /// Blocks whose encoding is at most this many bytes get identity CIDs; `nil` disables inlining.
    public var inlineLimit: Int?

    /// Kubo refuses inline limits above this (`verifcid.DefaultMaxIdentityDigestSize`).
    public static let maxInlineLimit = 128

    public init(version: CID.Version = .v0, hashFunction: HashFunction = .sha2_256, inlineLimit: Int? = nil) {
        self.version = version
        self.hashFunction = hashFunction
        self.inlineLimit = inlineLimit
    }

    /// The CID of `bytes` encoded with `codec`.
    public func cid(for bytes: UnsafeRawBufferPointer, codec: Multicodec) -> CID {
        if let inlineLimit, bytes.count <= inlineLimit {
            return .v1(codec, Multihash(hashing: bytes, with: .identity))
        }
        let multihash = Multihash(hashing: bytes, with: hashFunction)
        if version == .v0 && codec == .dagPB && hashFunction == .sha2_256 {
            return .v0(multihash)
        }
        return .v1(codec, multihash)
    }

    /// The CID of `bytes` encoded with `codec`.
    public func cid(for bytes: [UInt8], codec: Multicodec) -> CID {
        bytes.withUnsafeBytes { cid(for: $0, codec: codec) }
    }
}
