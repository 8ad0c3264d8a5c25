// Peers' identity keys of the types tau does not sign with: RSA, ECDSA P-256
// and secp256k1, checked and verified with libcrypto (COpenSSL). Format:
// formats/libp2p.md, section 2 (the key table and rules 4–6).

import COpenSSL

/// The rules for the `Data` of each public key type, and the signature checks
/// of RSA, ECDSA and secp256k1 keys (Ed25519 signatures are checked in
/// Keys.swift with swift-crypto).
enum PeerKeys {
    /// RSA moduli accepted, in bits: go-libp2p's bounds (smaller keys are
    /// weak, larger ones make every handshake slow).
    static let rsaBits = 2048...8192
    /// A P-256 SubjectPublicKeyInfo with a named curve and an uncompressed
    /// point is 91 bytes: what go-libp2p marshals, and so what a peer ID of
    /// such a key hashes.
    static let ecdsaP256Length = 91
    /// A secp256k1 key is its 33-byte compressed point (the Bitcoin encoding).
    static let secp256k1Length = 33

    /// The DER SubjectPublicKeyInfo prefix of a compressed secp256k1 point:
    /// SEQUENCE { SEQUENCE { id-ecPublicKey, secp256k1 }, BIT STRING (0 unused bits) },
    /// so libcrypto can parse the 33 bytes as a public key.
    private static let secp256k1Prefix: [UInt8] = [
        0x30, 0x36, 0x30, 0x10,
        0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,  // 1.2.840.10045.2.1
        0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A,  // 1.3.132.0.10
        0x03, 0x22, 0x00,
    ]

    /// Checks `data` as a key of `type` and throws a clear
    /// error when it is not one tau accepts.
    static func validate(_ type: KeyType, _ data: [UInt8]) throws(P2PError) {
        switch type {
        case .rsa:
            let key = try LibcryptoKey(der: data, what: "RSA public key")
            guard key.isA("RSA") else { throw P2PError(.invalidKey, "RSA key data holding a non-RSA key") }
            let bits = key.bits
            guard bits >= rsaBits.lowerBound else {
                throw P2PError(.invalidKey, "RSA key of \(bits) bits is too small: libp2p requires at least \(rsaBits.lowerBound) bits")
            }
            guard bits <= rsaBits.upperBound else {
                throw P2PError(.invalidKey, "RSA key of \(bits) bits is too large: tau accepts at most \(rsaBits.upperBound) bits")
            }
            guard key.der == data else { throw P2PError(.invalidKey, "RSA key that is not in canonical DER") }
        case .ecdsa:
            let key = try LibcryptoKey(der: data, what: "ECDSA public key")
            guard key.isA("EC") else { throw P2PError(.invalidKey, "ECDSA key data holding a non-EC key") }
            let curve = key.groupName ?? "an unnamed curve"
            guard curve == "prime256v1" else {
                throw P2PError(.unsupported, "ECDSA keys on \(curve) (tau accepts P-256)")
            }
            guard data.count == ecdsaP256Length, key.der == data else {
                throw P2PError(.invalidKey, "ECDSA P-256 key of \(data.count) bytes that is not the canonical "
                               + "\(ecdsaP256Length)-byte DER with an uncompressed point")
            }
        case .secp256k1:
            guard data.count == secp256k1Length, data[0] == 0x02 || data[0] == 0x03 else {
                throw P2PError(.invalidKey, "secp256k1 key of \(data.count) bytes (a compressed point is \(secp256k1Length) bytes starting 02 or 03)")
            }
            let key = try LibcryptoKey(der: secp256k1Prefix + data, what: "secp256k1 public key")
            guard key.isA("EC"), key.groupName == "secp256k1" else {
                throw P2PError(.invalidKey, "secp256k1 key that libcrypto reads as another key")
            }
        case .ed25519:
            guard data.count == 32 else { throw P2PError(.invalidKey, "Ed25519 public key of \(data.count) bytes") }
        }
    }

    /// Whether `signature` is the key's signature of `message`: RSASSA-PKCS1-v1_5
    /// or DER-encoded ECDSA, over SHA-256. The key was checked by `validate`.
    static func verify(_ type: KeyType, _ data: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        let der = type == .secp256k1 ? secp256k1Prefix + data : data
        guard let key = try? LibcryptoKey(der: der, what: "public key") else { return false }
        return key.verifySHA256(signature: signature, message: message)
    }
}

/// A libcrypto `EVP_PKEY` parsed from a DER SubjectPublicKeyInfo, freed with it.
private struct LibcryptoKey: ~Copyable {
    private let key: OpaquePointer

    /// Parses `der`, which must be exactly one SubjectPublicKeyInfo (no trailing bytes).
    init(der: [UInt8], what: String) throws(P2PError) {
        let parsed: (key: OpaquePointer?, consumed: Int) = der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = base
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            return (key, cursor.map { $0 - base } ?? 0)
        }
        guard let key = parsed.key else {
            ERR_clear_error()
            throw P2PError(.invalidKey, "\(what) that is not a DER SubjectPublicKeyInfo")
        }
        guard parsed.consumed == der.count else {
            EVP_PKEY_free(key)
            throw P2PError(.invalidKey, "\(what) followed by \(der.count - parsed.consumed) extra bytes")
        }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    func isA(_ name: String) -> Bool { EVP_PKEY_is_a(key, name) == 1 }

    /// The key's size in bits (an RSA modulus's length).
    var bits: Int { Int(EVP_PKEY_get_bits(key)) }

    /// The name of an EC key's curve (`prime256v1`, `secp256k1`), if it has one.
    var groupName: String? {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
            ERR_clear_error()
            return nil
        }
        return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The key re-encoded as DER, to compare with what the peer sent.
    var der: [UInt8] {
        let length = i2d_PUBKEY(key, nil)
        guard length > 0 else {
            ERR_clear_error()
            return []
        }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(key, &cursor)
        }
        return written == length ? out : []
    }

    func verifySHA256(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let ok = EVP_DigestVerifyInit_ex(context, nil, "SHA256", nil, nil, key, nil) == 1
            && EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        if !ok { ERR_clear_error() }
        return ok
    }
}
