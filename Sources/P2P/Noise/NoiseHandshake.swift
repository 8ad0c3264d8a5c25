// The Noise XX handshake, Noise_XX_25519_ChaChaPoly_SHA256, as the Noise
// Protocol Framework (revision 34) defines it: SymmetricState and
// HandshakeState for the one pattern libp2p uses. Format: formats/libp2p.md,
// section 6.

import Crypto

/// Noise's SymmetricState: chaining key, handshake hash and the current key.
struct NoiseSymmetricState {
    static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"

    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]
    private var cipher: ChaChaPolyCipher?
    private var decipher: ChaChaPolyCipher?
    private var nonce: UInt64 = 0

    init(prologue: [UInt8]) {
        // The name is exactly 32 bytes (HASHLEN), so h is the name itself.
        let name = Array(Self.protocolName.utf8)
        precondition(name.count == 32)
        handshakeHash = name
        chainingKey = name
        mixHash(prologue)
    }

    var hasKey: Bool { cipher != nil }

    mutating func mixHash(_ data: some Collection<UInt8>) {
        var hasher = SHA256()
        hasher.update(data: handshakeHash)
        hasher.update(data: Array(data))
        handshakeHash = Array(hasher.finalize())
    }

    /// Noise's HKDF with two outputs.
    static func hkdf(chainingKey: [UInt8], input: [UInt8]) -> ([UInt8], [UInt8]) {
        let temp = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: chainingKey)))
        let first = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: temp))
        let second = Array(HMAC<SHA256>.authenticationCode(for: first + [0x02], using: temp))
        return (first, second)
    }

    mutating func mixKey(_ input: [UInt8]) {
        let (ck, key) = Self.hkdf(chainingKey: chainingKey, input: input)
        chainingKey = ck
        cipher = ChaChaPolyCipher(key: key, encrypts: true)
        decipher = ChaChaPolyCipher(key: key, encrypts: false)
        nonce = 0
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) -> [UInt8] {
        guard let cipher else {
            mixHash(plaintext)
            return plaintext
        }
        let ciphertext = cipher.seal(counter: nonce, ad: handshakeHash, plaintext: plaintext)
        nonce += 1
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(P2PError) -> [UInt8] {
        guard let decipher else {
            mixHash(ciphertext)
            return Array(ciphertext)
        }
        guard let plaintext = decipher.open(counter: nonce, ad: handshakeHash, ciphertext: ciphertext) else {
            throw P2PError(.decryptionFailed, "Noise handshake message does not authenticate")
        }
        nonce += 1
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport keys: initiator-to-responder, then responder-to-initiator.
    func split() -> ([UInt8], [UInt8]) { Self.hkdf(chainingKey: chainingKey, input: []) }
}

/// The XX handshake (public so tests and fuzzers can drive it; the host uses it through `NoiseUpgrade`):
/// ```
/// -> e
/// <- e, ee, s, es
/// -> s, se
/// ```
/// `writeMessage` and `readMessage` must alternate in that order for the
/// role; messages are bare (without libp2p's 2-byte length prefix).
public struct NoiseXXHandshake {
    public let initiator: Bool
    private var symmetric: NoiseSymmetricState
    private let localStatic: Curve25519.KeyAgreement.PrivateKey
    private var localEphemeral: Curve25519.KeyAgreement.PrivateKey?
    private let presetEphemeral: Curve25519.KeyAgreement.PrivateKey?
    public private(set) var remoteEphemeral: [UInt8]?
    public private(set) var remoteStatic: [UInt8]?
    /// Messages processed so far (0...3).
    public private(set) var step = 0

    static let keyLength = 32

    /// - Parameter ephemeral: a fixed ephemeral key, for test vectors only.
    public init(initiator: Bool, localStatic: Curve25519.KeyAgreement.PrivateKey,
                prologue: [UInt8] = [], ephemeral: Curve25519.KeyAgreement.PrivateKey? = nil) {
        self.initiator = initiator
        self.localStatic = localStatic
        self.presetEphemeral = ephemeral
        self.symmetric = NoiseSymmetricState(prologue: prologue)
    }

    public var isComplete: Bool { step == 3 }
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    private static func dh(_ key: Curve25519.KeyAgreement.PrivateKey, _ publicKey: [UInt8]) throws(P2PError) -> [UInt8] {
        guard let remote = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKey),
            let secret = try? key.sharedSecretFromKeyAgreement(with: remote)
        else {
            throw P2PError(.handshakeFailed, "X25519 with an invalid public key")
        }
        return secret.withUnsafeBytes { Array($0) }
    }

    /// Whether it is this side's turn to write.
    public var isWriteTurn: Bool { (step % 2 == 0) == initiator }

    /// - Precondition: `isWriteTurn` and the handshake is not complete.
    public mutating func writeMessage(payload: [UInt8]) throws(P2PError) -> [UInt8] {
        precondition(isWriteTurn && step < 3, "Noise XX: not this side's turn to write")
        var out: [UInt8] = []
        switch step {
        case 0:  // -> e
            let e = presetEphemeral ?? Curve25519.KeyAgreement.PrivateKey()
            localEphemeral = e
            let pub = Array(e.publicKey.rawRepresentation)
            out += pub
            symmetric.mixHash(pub)
        case 1:  // <- e, ee, s, es
            let e = presetEphemeral ?? Curve25519.KeyAgreement.PrivateKey()
            localEphemeral = e
            let pub = Array(e.publicKey.rawRepresentation)
            out += pub
            symmetric.mixHash(pub)
            symmetric.mixKey(try Self.dh(e, remoteEphemeral!))
            out += symmetric.encryptAndHash(Array(localStatic.publicKey.rawRepresentation))
            symmetric.mixKey(try Self.dh(localStatic, remoteEphemeral!))
        default:  // -> s, se
            out += symmetric.encryptAndHash(Array(localStatic.publicKey.rawRepresentation))
            symmetric.mixKey(try Self.dh(localStatic, remoteEphemeral!))
        }
        out += symmetric.encryptAndHash(payload)
        step += 1
        return out
    }

    /// - Precondition: it is the remote's turn and the handshake is not complete.
    public mutating func readMessage(_ message: ArraySlice<UInt8>) throws(P2PError) -> [UInt8] {
        precondition(!isWriteTurn && step < 3, "Noise XX: not this side's turn to read")
        var rest = message
        func take(_ count: Int) throws(P2PError) -> ArraySlice<UInt8> {
            guard rest.count >= count else { throw P2PError(.handshakeFailed, "Noise handshake message \(step + 1) is too short") }
            defer { rest = rest.dropFirst(count) }
            return rest.prefix(count)
        }
        switch step {
        case 0:  // -> e
            let re = Array(try take(Self.keyLength))
            remoteEphemeral = re
            symmetric.mixHash(re)
        case 1:  // <- e, ee, s, es
            let re = Array(try take(Self.keyLength))
            remoteEphemeral = re
            symmetric.mixHash(re)
            symmetric.mixKey(try Self.dh(localEphemeral!, re))
            let rs = try symmetric.decryptAndHash(try take(Self.keyLength + ChaChaPolyCipher.tagLength))
            remoteStatic = rs
            symmetric.mixKey(try Self.dh(localEphemeral!, rs))
        default:  // -> s, se
            let rs = try symmetric.decryptAndHash(try take(Self.keyLength + ChaChaPolyCipher.tagLength))
            remoteStatic = rs
            symmetric.mixKey(try Self.dh(localEphemeral!, rs))
        }
        let payload = try symmetric.decryptAndHash(rest)
        step += 1
        return payload
    }

    /// The transport keys for this side: (send, receive).
    public func transportKeys() -> (send: [UInt8], receive: [UInt8]) {
        precondition(isComplete, "Noise XX: split before the handshake completed")
        let (k1, k2) = symmetric.split()
        return initiator ? (k1, k2) : (k2, k1)
    }
}
