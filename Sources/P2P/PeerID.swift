// Peer IDs: the multihash of a peer's protobuf public key. Format:
// formats/libp2p.md, section 3.

import Multiformats

/// A peer's identity: the identity multihash of its protobuf-encoded public
/// key when that is at most 42 bytes (every Ed25519 key: `12D3KooW…`), else
/// its sha2-256 multihash (`Qm…`).
///
/// Printed as base58btc. Parsed from base58btc (`1…`, `Qm…`) or from a CIDv1
/// with the libp2p-key codec in any multibase (`k51…`, `bafz…`).
public struct PeerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The multihash (its bytes are the peer ID's binary form).
    public let multihash: Multihash

    /// Public keys encoding to at most this many bytes are inlined (identity multihash).
    public static let maxInlineKeyLength = 42

    /// The peer ID of `publicKey`.
    public init(publicKey: PublicKey) {
        let encoded = publicKey.protobuf
        if encoded.count <= Self.maxInlineKeyLength {
            multihash = Multihash(code: HashFunction.identity.rawValue, digest: encoded)
        } else {
            multihash = Multihash(hashing: encoded, with: .sha2_256)
        }
    }

    /// A peer ID from its multihash: identity (a protobuf public key of at
    /// most 42 bytes) or sha2-256.
    public init(multihash: Multihash) throws(P2PError) {
        switch multihash.function {
        case .identity:
            guard multihash.digest.count <= Self.maxInlineKeyLength else {
                throw P2PError(.malformed, "identity peer ID of \(multihash.digest.count) bytes (at most \(Self.maxInlineKeyLength))")
            }
            guard (try? PublicKey(protobuf: multihash.digest)) != nil else {
                throw P2PError(.malformed, "identity peer ID whose digest is not a public key")
            }
        case .sha2_256:
            break
        default:
            throw P2PError(.malformed, "peer ID multihash with code 0x\(String(multihash.code, radix: 16))")
        }
        self.multihash = multihash
    }

    /// A peer ID from its binary form (the multihash bytes).
    public init(bytes: some Collection<UInt8>) throws(P2PError) {
        let array = Array(bytes)
        let multihash: Multihash
        do {
            multihash = try Multihash(bytes: array)
        } catch {
            throw P2PError(.malformed, "peer ID bytes: \(error)")
        }
        try self.init(multihash: multihash)
    }

    /// Parses the text forms: base58btc multihash, or a CIDv1 libp2p-key in any multibase.
    public init(_ text: some StringProtocol) throws(P2PError) {
        guard let first = text.utf8.first else { throw P2PError(.malformed, "empty peer ID") }
        guard text.utf8.count <= 256 else { throw P2PError(.limitExceeded, "peer ID text of \(text.utf8.count) characters") }
        if first == UInt8(ascii: "1") || text.utf8.starts(with: "Qm".utf8) {
            let bytes: [UInt8]
            do {
                bytes = try Base58.decode(text)
            } catch {
                throw P2PError(.malformed, "peer ID \"\(text)\": \(error)")
            }
            try self.init(bytes: bytes)
            return
        }
        let cid: CID
        do {
            cid = try CID(text)
        } catch {
            throw P2PError(.malformed, "peer ID \"\(text)\" is neither base58btc nor a CID: \(error)")
        }
        guard cid.version == .v1, cid.codec == .libp2pKey else {
            throw P2PError(.malformed, "CID \(text) is not a libp2p-key CID (codec \(cid.codec))")
        }
        try self.init(multihash: cid.multihash)
    }

    /// The binary form.
    public var bytes: [UInt8] { multihash.bytes }

    /// base58btc of the multihash: `12D3KooW…` for Ed25519 keys.
    public var description: String { Base58.encode(multihash.bytes) }

    /// The CIDv1 (libp2p-key) of this peer ID.
    public var cid: CID { CID.v1(.libp2pKey, multihash) }

    /// The CID form in `base` (base36 gives the `k51…` form used in IPNS names).
    public func string(base: Multibase) -> String { cid.string(base: base) }

    /// The public key inlined in an identity peer ID, if it is one and it parses.
    public var publicKey: PublicKey? {
        guard multihash.function == .identity else { return nil }
        return try? PublicKey(protobuf: multihash.digest)
    }

    /// Whether `key` is the key of this peer ID.
    public func matches(_ key: PublicKey) -> Bool { PeerID(publicKey: key) == self }

    public static func < (lhs: PeerID, rhs: PeerID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}
