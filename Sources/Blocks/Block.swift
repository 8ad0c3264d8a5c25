import Errors
import Multiformats

/// A block: bytes and the CID that names them.
///
/// `Block(cid:bytes:)` trusts its caller (the importer hashed the bytes itself);
/// `Block(verifying:cid:)` re-hashes, for bytes that came from elsewhere.
public struct Block: Hashable, Sendable {
    public let cid: CID
    public let bytes: [UInt8]

    /// The largest block tau stores or sends: 2 MiB, the Bitswap limit.
    public static let maxSize = 2 * 1024 * 1024

    public init(cid: CID, bytes: [UInt8]) {
        self.cid = cid
        self.bytes = bytes
    }

    /// Checks that `bytes` hash to `cid` before accepting them.
    public init(verifying bytes: [UInt8], cid: CID) throws(BlockError) {
        guard bytes.count <= Block.maxSize else { throw BlockError(.tooLarge, "\(bytes.count) bytes for \(cid)") }
        guard let function = cid.hashFunction else { throw BlockError(.unsupportedHash, "\(cid)") }
        let computed = Multihash(hashing: bytes, with: function)
        guard computed.bytes.elementsEqual(cid.multihashBytes) else { throw BlockError(.hashMismatch, "\(cid)") }
        self.init(cid: cid, bytes: bytes)
    }

    /// Hashes `bytes` and names them with a CID of the given version and codec.
    /// A raw or non-dag-pb block is always CIDv1.
    public init(hashing bytes: [UInt8], codec: Multicodec, version: CID.Version = .v1, hash: HashFunction = .sha2_256) {
        let multihash = Multihash(hashing: bytes, with: hash)
        let useV0 = version == .v0 && codec == .dagPB && hash == .sha2_256
        self.init(cid: CID(version: useV0 ? .v0 : .v1, codec: codec, multihash: multihash), bytes: bytes)
    }
}

/// Why a block operation failed.
public struct BlockError: CodedError {
    public enum Code: String, Hashable, Sendable {
        case notFound
        case hashMismatch
        case tooLarge
        case unsupportedHash
        case storeFailure
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public var summary: String {
        switch code {
        case .notFound: "block not found"
        case .hashMismatch: "block does not hash to its CID"
        case .tooLarge: "block exceeds \(Block.maxSize) bytes"
        case .unsupportedHash: "unsupported hash function"
        case .storeFailure: "block store failure"
        }
    }

    public static let notFound = Self(.notFound)
    public static let hashMismatch = Self(.hashMismatch)
    public static let tooLarge = Self(.tooLarge)
}
