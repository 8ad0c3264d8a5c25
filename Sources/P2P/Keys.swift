// libp2p keys: the PublicKey and PrivateKey protobuf messages of the peer-id
// spec, Ed25519 signing, and the identity key file. Format: formats/libp2p.md,
// sections 2 (keys) and 10 (key file).

import Crypto
import Foundation
import Protobuf

/// The `KeyType` enum of the libp2p key protobuf.
public enum KeyType: UInt64, Sendable, CustomStringConvertible {
    case rsa = 0
    case ed25519 = 1
    case secp256k1 = 2
    case ecdsa = 3

    public var description: String {
        switch self {
        case .rsa: "RSA"
        case .ed25519: "Ed25519"
        case .secp256k1: "Secp256k1"
        case .ecdsa: "ECDSA"
        }
    }
}

/// A libp2p public key: a key type and the key's bytes in that type's encoding.
///
/// Peers' keys may be of any of the four types, each checked when parsed
/// (formats/libp2p.md, section 2): Ed25519 (32 bytes), RSA (DER
/// SubjectPublicKeyInfo, 2048 to 8192 bits), ECDSA (DER SubjectPublicKeyInfo
/// on P-256) and secp256k1 (33-byte compressed point). tau's own keys are
/// Ed25519 (`KeyPair`).
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    public let type: KeyType
    /// The key in its type's encoding (Ed25519: the 32-byte public key; RSA
    /// and ECDSA: DER SubjectPublicKeyInfo; secp256k1: the compressed point).
    public let data: [UInt8]

    /// The longest protobuf-encoded public key accepted (an RSA-8192 key is
    /// about 1070 bytes).
    public static let maxEncodedLength = 2048
    /// RSA key sizes accepted, in bits; smaller and larger keys are refused
    /// with `.invalidKey`.
    public static let rsaBits: ClosedRange<Int> = PeerKeys.rsaBits

    /// A key of `type` from its `Data` bytes, checked as that type's rules say.
    /// - Throws: `.invalidKey` (wrong length, not a key, RSA outside `rsaBits`,
    ///   not the canonical encoding), `.unsupported` (an ECDSA curve other than P-256).
    public init(type: KeyType, data: some Collection<UInt8>) throws(P2PError) {
        let bytes = Array(data)
        try PeerKeys.validate(type, bytes)
        self.type = type
        self.data = bytes
    }

    /// An Ed25519 public key from its 32 bytes.
    public init(ed25519 raw: some Collection<UInt8>) throws(P2PError) {
        let bytes = Array(raw)
        guard bytes.count == 32 else { throw P2PError(.invalidKey, "Ed25519 public key of \(bytes.count) bytes") }
        self.type = .ed25519
        self.data = bytes
    }

    /// Parses the protobuf `PublicKey { required KeyType Type = 1; required bytes Data = 2; }`.
    public init(protobuf bytes: some Collection<UInt8>) throws(P2PError) {
        guard bytes.count <= Self.maxEncodedLength else {
            throw P2PError(.limitExceeded, "public key of \(bytes.count) bytes")
        }
        let (type, data) = try parseKeyMessage(bytes, name: "PublicKey")
        guard let keyType = KeyType(rawValue: type) else { throw P2PError(.unsupported, "key type \(type)") }
        try self.init(type: keyType, data: data)
    }

    /// The deterministic protobuf encoding: Type then Data, both always present.
    public var protobuf: [UInt8] {
        var writer = ProtobufWriter(capacity: data.count + 8)
        writer.writeVarint(field: 1, type.rawValue)
        writer.writeBytes(field: 2, data)
        return writer.bytes
    }

    /// Whether `signature` is this key's signature of `message`: Ed25519
    /// (RFC 8032), RSASSA-PKCS1-v1_5 over SHA-256, or DER-encoded ECDSA over
    /// SHA-256 (ECDSA P-256 and secp256k1), as the peer-ID spec says.
    public func verify(signature: some DataProtocol, for message: some DataProtocol) -> Bool {
        guard type == .ed25519 else {
            return PeerKeys.verify(type, data, signature: Array(signature), message: Array(message))
        }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: data) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// The peer ID this key hashes to.
    public var peerID: PeerID { PeerID(publicKey: self) }

    public var description: String { "\(type) public key \(peerID)" }
}

/// An Ed25519 identity: the node's libp2p key pair, from which its peer ID
/// comes. Create one with `generate()`, keep it with `save(to:)` and read it
/// back with `load(from:)`.
public struct KeyPair: Sendable {
    private let signingKey: Curve25519.Signing.PrivateKey
    public let publicKey: PublicKey
    public let peerID: PeerID

    /// A new random key pair.
    public static func generate() -> KeyPair {
        KeyPair(signingKey: Curve25519.Signing.PrivateKey())
    }

    private init(signingKey: Curve25519.Signing.PrivateKey) {
        self.signingKey = signingKey
        // 32 bytes by construction.
        self.publicKey = try! PublicKey(ed25519: signingKey.publicKey.rawRepresentation)
        self.peerID = PeerID(publicKey: publicKey)
    }

    /// The key pair of a 32-byte Ed25519 seed (RFC 8032's private key).
    public init(seed: some Collection<UInt8>) throws(P2PError) {
        let bytes = Array(seed)
        guard bytes.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes) else {
            throw P2PError(.invalidKey, "Ed25519 seed of \(bytes.count) bytes")
        }
        self.init(signingKey: key)
    }

    /// Parses a libp2p `PrivateKey` protobuf (what `ipfs key export` writes).
    /// The Ed25519 Data is `seed || public key` (64 bytes), the legacy
    /// `seed || public || public` (96 bytes), or the bare seed (32 bytes, as
    /// py-libp2p serializes it); a public half must match the seed.
    public init(privateKeyProtobuf bytes: some Collection<UInt8>) throws(P2PError) {
        guard bytes.count <= 4096 else { throw P2PError(.limitExceeded, "private key of \(bytes.count) bytes") }
        let (type, data) = try parseKeyMessage(bytes, name: "PrivateKey")
        guard type == KeyType.ed25519.rawValue else {
            throw P2PError(.unsupported, "identity keys of type \(KeyType(rawValue: type)?.description ?? String(type)); tau uses Ed25519")
        }
        guard data.count == 32 || data.count == 64 || data.count == 96 else {
            throw P2PError(.invalidKey, "Ed25519 private key data of \(data.count) bytes")
        }
        try self.init(seed: data[0..<32])
        guard data.count > 32 else { return }
        guard Array(data[32..<64]) == publicKey.data, data.count == 64 || data[32..<64] == data[64..<96] else {
            throw P2PError(.invalidKey, "Ed25519 private key whose public half does not match its seed")
        }
    }

    /// The 32-byte seed.
    public var seed: [UInt8] { Array(signingKey.rawRepresentation) }

    /// The libp2p `PrivateKey` protobuf: `08 01 12 40` then seed and public key.
    public var privateKeyProtobuf: [UInt8] {
        var writer = ProtobufWriter(capacity: 70)
        writer.writeVarint(field: 1, KeyType.ed25519.rawValue)
        writer.writeBytes(field: 2, seed + publicKey.data)
        return writer.bytes
    }

    /// The Ed25519 signature (64 bytes) of `message`.
    public func sign(_ message: some DataProtocol) -> [UInt8] {
        // Ed25519 signing of any input cannot fail with a valid key.
        Array(try! signingKey.signature(for: message))
    }

    /// The mode `save(to:)` gives the key file: read and write for the owner only.
    public static let fileMode: mode_t = 0o600

    /// Writes the key file (the `PrivateKey` protobuf, formats/libp2p.md
    /// section 10) atomically: a temporary file with mode 0600 in the same
    /// directory, synced, then renamed over `path`.
    public func save(to path: String) throws(P2PError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, Self.fileMode)
        guard fd >= 0 else { throw P2PError(.fileAccess, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        // The umask may have removed bits; set exactly 0600.
        let bytes = privateKeyProtobuf
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fchmod(fd, Self.fileMode) == 0 && fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            throw P2PError(.fileAccess, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            throw P2PError(.fileAccess, "cannot rename to \(path): \(String(cString: strerror(errno)))")
        }
        ok = true
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    /// Reads a key file written by `save(to:)` (or `ipfs key export`).
    /// Refuses a file that is not a regular file, is not owned by the current
    /// user, or that group or others may access (mode & 0o077 != 0), like ssh.
    public static func load(from path: String) throws(P2PError) -> KeyPair {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw P2PError(.fileAccess, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw P2PError(.fileAccess, "cannot stat \(path)") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw P2PError(.fileAccess, "\(path) is not a regular file") }
        let uid = geteuid()
        guard uid == 0 || info.st_uid == uid else {
            throw P2PError(.fileAccess, "\(path) is owned by uid \(info.st_uid), not by this user (\(uid))")
        }
        let permissions = info.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw P2PError(.fileAccess, "\(path) has mode \(String(permissions, radix: 8)), too open for a private key; run chmod 600 \(path)")
        }
        guard info.st_size <= 4096 else { throw P2PError(.limitExceeded, "\(path) is \(info.st_size) bytes, not a key file") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw P2PError(.fileAccess, "cannot read \(path)") }
            filled += n
        }
        return try KeyPair(privateKeyProtobuf: bytes)
    }
}

/// The `Type` and `Data` of a libp2p `PublicKey` or `PrivateKey` protobuf
/// (`{ required KeyType Type = 1; required bytes Data = 2; }`); `name` is
/// the message's, for errors.
private func parseKeyMessage(_ bytes: some Collection<UInt8>, name: String) throws(P2PError) -> (type: UInt64, data: [UInt8]) {
    var type: UInt64?
    var data: [UInt8]?
    try ProtoReader.reading(Array(bytes)) { reader throws(P2PError) in
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try ProtoReader.expect(wire, .varint, field: "\(name).Type")
                type = try reader.readVarint()
            case 2:
                try ProtoReader.expect(wire, .lengthDelimited, field: "\(name).Data")
                data = Array(try reader.readBytes())
            default:
                try reader.skip(wire)
            }
        }
    }
    guard let type, let data else { throw P2PError(.malformed, "\(name) without Type or Data") }
    return (type, data)
}
