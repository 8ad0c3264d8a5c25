import Foundation
import Multiformats
import P2P
import Testing
import TestSupport

/// Peers' RSA, ECDSA P-256 and secp256k1 identity keys (formats/libp2p.md,
/// section 2): keys and signatures made by the `openssl` command and by
/// py-libp2p 0.8.1, peer IDs compared with py-libp2p's and the spec's.
@Suite("Peer key types")
struct PeerKeyTests {
    /// The peer-id spec's public key vectors (peer-ids.md, "Test vectors").
    static let specECDSA = "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62"
    static let specSecp256k1 = "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
    /// A 4096-bit RSA key (DER SubjectPublicKeyInfo in the protobuf).
    static let specRSA = """
        080012a60430820222300d06092a864886f70d01010105000382020f003082020a0282020100e1beab071d08200bde24eef0
        0d049449b07770ff9910257b2d7d5dda242ce8f0e2f12e1af4b32d9efd2c090f66b0f29986dbb645dae9880089704a94e506
        6d594162ae6ee8892e6ec70701db0a6c445c04778eb3de1293aa1a23c3825b85c6620a2bc3f82f9b0c309bc0ab3aeb187328
        2bebd3da03c33e76c21e9beb172fd44c9e43be32e2c99827033cf8d0f0c606f4579326c930eb4e854395ad941256542c7939
        02185153c474bed109d6ff5141ebf9cd256cf58893a37f83729f97e7cb435ec679d2e33901d27bb35aa0d7e20561da08885e
        f0abbf8e2fb48d6a5487047a9ecb1ad41fa7ed84f6e3e8ecd5d98b3982d2a901b4454991766da295ab78822add5612a2df83
        bcee814cf50973e80d7ef38111b1bd87da2ae92438a2c8cbcc70b31ee319939a3b9c761dbc13b5c086d6b64bf7ae7dacc146
        22375d92a8ff9af7eb962162bbddebf90acb32adb5e4e4029f1c96019949ecfbfeffd7ac1e3fbcc6b6168c34be3d5a2e5999
        fcbb39bba7adbca78eab09b9bc39f7fa4b93411f4cc175e70c0a083e96bfaefb04a9580b4753c1738a6a760ae1afd851a1a4
        bdad231cf56e9284d832483df215a46c1c21bdf0c6cfe951c18f1ee4078c79c13d63edb6e14feaeffabc90ad317e4875fe64
        8101b0864097e998f0ca3025ef9638cd2b0caecd3770ab54a1d9c6ca959b0f5dcbc90caeefc4135baca6fd475224269bbe1b
        0203010001
        """.filter { !$0.isWhitespace }

    static let message = Array("noise-libp2p-static-key:".utf8) + (0..<32).map { UInt8($0) }

    /// The peer ID py-libp2p derives from a protobuf public key, or (ECDSA,
    /// which py-libp2p cannot read) the sha2-256 multihash of it in base58btc
    /// computed by the `multiformats` package.
    static func referencePeerID(_ protobuf: [UInt8]) throws -> String {
        let output = try runPython("""
            import sys
            from libp2p.crypto.serialization import deserialize_public_key
            from libp2p.peer.id import ID
            from multiformats import multibase, multihash
            data = bytes.fromhex(sys.argv[1])
            if data[:2] == b"\\x08\\x03":
                print(multibase.encode(multihash.digest(data, "sha2-256"), "base58btc")[1:])
            else:
                print(ID.from_pubkey(deserialize_public_key(data)).to_base58())
            """, arguments: [hex(protobuf)])
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func specVectors() throws {
        let ecdsa = try PublicKey(protobuf: bytes(hex: Self.specECDSA))
        #expect(ecdsa.type == .ecdsa && ecdsa.data.count == 91)
        #expect(hex(ecdsa.protobuf) == Self.specECDSA)
        // 95 bytes encoded: over 42, so the peer ID is the sha2-256 multihash.
        #expect(ecdsa.peerID.multihash.function == .sha2_256)
        #expect(ecdsa.peerID.description == (try Self.referencePeerID(ecdsa.protobuf)))
        #expect(ecdsa.peerID.description.hasPrefix("Qm"))

        let secp = try PublicKey(protobuf: bytes(hex: Self.specSecp256k1))
        #expect(secp.type == .secp256k1 && secp.data.count == 33)
        #expect(hex(secp.protobuf) == Self.specSecp256k1)
        // 37 bytes encoded: inlined as an identity multihash (16Uiu2…).
        #expect(hex(secp.peerID.bytes) == "0025" + Self.specSecp256k1)
        #expect(secp.peerID.description.hasPrefix("16Uiu2"))
        #expect(secp.peerID.description == (try Self.referencePeerID(secp.protobuf)))
        #expect(try PeerID(secp.peerID.description).publicKey == secp)
    }

    @Test func specRSAVector() throws {
        let vector = bytes(hex: Self.specRSA)
        let key = try PublicKey(protobuf: vector)
        #expect(key.type == .rsa)
        #expect(key.protobuf == vector)
        #expect(key.peerID.multihash.function == .sha2_256)
        #expect(key.peerID.description == (try Self.referencePeerID(vector)))
        #expect(key.peerID.publicKey == nil, "a hashed peer ID does not carry its key")
    }

    /// A key of each type made by `openssl`, a signature by `openssl dgst -sha256 -sign`.
    @Test(arguments: ["rsa-2048", "rsa-3072", "ecdsa", "secp256k1"])
    func opensslKeysAndSignatures(kind: String) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key.pem").path
        let messageFile = directory.appendingPathComponent("message").path
        try Data(Self.message).write(to: URL(fileURLWithPath: messageFile))
        let (type, generate, publicOptions): (KeyType, [String], [String]) = switch kind {
        case "ecdsa": (.ecdsa, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], [])
        case "secp256k1": (.secp256k1, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
                           ["-ec_conv_form", "compressed"])
        default: (.rsa, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(kind.dropFirst(4))"], [])
        }
        _ = try Self.openssl(["genpkey"] + generate + ["-out", keyFile])
        let spki = try Self.openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "DER"] + publicOptions)
        let signature = try Self.openssl(["dgst", "-sha256", "-sign", keyFile, messageFile])
        // secp256k1's Data is the bare compressed point, the last 33 bytes of its SubjectPublicKeyInfo.
        let data = type == .secp256k1 ? Array(spki.suffix(33)) : spki

        let key = try PublicKey(type: type, data: data)
        #expect(key.verify(signature: signature, for: Self.message))
        #expect(!key.verify(signature: signature, for: Self.message.dropLast() + [0xFF]))
        var altered = signature
        altered[altered.count / 2] ^= 0x01
        #expect(!key.verify(signature: altered, for: Self.message))
        #expect(!key.verify(signature: [], for: Self.message))
        #expect(try PublicKey(protobuf: key.protobuf) == key)
        #expect(key.peerID.description == (try Self.referencePeerID(key.protobuf)))
        #expect(key.peerID.multihash.function == (type == .secp256k1 ? .identity : .sha2_256))
        #expect(try PeerID(key.peerID.description) == key.peerID)
        #expect(key.peerID.matches(key))
    }

    /// py-libp2p's own RSA and secp256k1 keys: same peer IDs, signatures verify.
    @Test func pyLibp2pKeysAndSignatures() throws {
        let output = try runPython("""
            from libp2p.crypto.rsa import create_new_key_pair as rsa
            from libp2p.crypto.secp256k1 import create_new_key_pair as secp256k1
            from libp2p.peer.id import ID
            message = b"noise-libp2p-static-key:" + bytes(range(32))
            for pair in (rsa(2048), rsa(4096), secp256k1()):
                print(pair.public_key.serialize().hex(), ID.from_pubkey(pair.public_key).to_base58(),
                      pair.private_key.sign(message).hex())
            """)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        try #require(lines.count == 3)
        for (line, type) in zip(lines, [KeyType.rsa, .rsa, .secp256k1]) {
            let words = line.split(separator: " ").map(String.init)
            let key = try PublicKey(protobuf: bytes(hex: words[0]))
            #expect(key.type == type)
            #expect(key.peerID.description == words[1])
            #expect(key.verify(signature: bytes(hex: words[2]), for: Self.message))
            #expect(!key.verify(signature: bytes(hex: words[2]), for: Array(Self.message.dropFirst())))
        }
    }

    @Test func smallRSAKeysAreRefused() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key.pem").path
        _ = try Self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", keyFile])
        let spki = try Self.openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "DER"])
        let error = #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: spki) }
        #expect(error?.detail == "RSA key of 1024 bits is too small: libp2p requires at least 2048 bits")
        // The same through the protobuf, as a Noise payload or identify carries it.
        let protobuf: [UInt8] = [0x08, 0x00, 0x12, UInt8(0x80 | spki.count & 0x7F), UInt8(spki.count >> 7)] + spki
        let viaProtobuf = #expect(throws: P2PError.invalidKey) { try PublicKey(protobuf: protobuf) }
        #expect(viaProtobuf?.detail.contains("1024 bits") == true)
        #expect(PublicKey.rsaBits == 2048...8192)
    }

    /// The RSA bounds, with moduli that parse but are not real keys (only their size matters).
    @Test func rsaSizeBounds() throws {
        let output = try runPython("""
            import secrets
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            for bits in (2047, 8192, 8193):
                n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
                key = rsa.RSAPublicNumbers(65537, n).public_key()
                print(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex())
            """)
        let keys = String(decoding: output, as: UTF8.self).split(separator: "\n").map { bytes(hex: String($0)) }
        try #require(keys.count == 3)
        let small = #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: keys[0]) }
        #expect(small?.detail.contains("2047 bits is too small") == true)
        #expect(try PublicKey(type: .rsa, data: keys[1]).protobuf.count <= PublicKey.maxEncodedLength)
        let large = #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: keys[2]) }
        #expect(large?.detail == "RSA key of 8193 bits is too large: tau accepts at most 8192 bits")
    }

    @Test func malformedKeysAreRefused() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key.pem").path
        let secp = try PublicKey(protobuf: bytes(hex: Self.specSecp256k1))
        // secp256k1: only the 33-byte compressed point.
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .secp256k1, data: secp.data.dropLast()) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .secp256k1, data: [0x04] + secp.data.dropFirst() + secp.data.dropFirst()) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .secp256k1, data: [0x02] + [UInt8](repeating: 0xFF, count: 32)) }
        // ECDSA: P-256 only, uncompressed, no trailing bytes, not an RSA key.
        _ = try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", keyFile])
        let p384 = try Self.openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "DER"])
        #expect(throws: P2PError.unsupported) { try PublicKey(type: .ecdsa, data: p384) }
        _ = try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile])
        let compressed = try Self.openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "DER", "-ec_conv_form", "compressed"])
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .ecdsa, data: compressed) }
        let p256 = try Self.openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "DER"])
        #expect(try PublicKey(type: .ecdsa, data: p256).data == p256)
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .ecdsa, data: p256 + [0]) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: p256) }
        // RSA: a DER SubjectPublicKeyInfo of an RSA key, nothing else.
        let rsa = try PublicKey(protobuf: bytes(hex: Self.specRSA))
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: rsa.data + [0]) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: rsa.data.dropLast()) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .ecdsa, data: rsa.data) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: [0x30, 0x00]) }
        #expect(throws: P2PError.invalidKey) { try PublicKey(type: .rsa, data: []) }
        // A key type the spec does not define.
        #expect(throws: P2PError.unsupported) { try PublicKey(protobuf: [0x08, 0x04, 0x12, 0x01, 0x00]) }
        // Keys of one type do not verify another type's signatures.
        #expect(!rsa.verify(signature: [UInt8](repeating: 1, count: 512), for: Self.message))
        #expect(!secp.verify(signature: [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], for: Self.message))
    }

    // MARK: Helpers

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tau-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs the `openssl` command and returns its stdout.
    static func openssl(_ arguments: [String]) throws -> [UInt8] {
        let result = try run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
        guard result.status == 0 else {
            throw CommandFailure(command: "openssl " + arguments.joined(separator: " "), status: result.status, stderr: result.stderr)
        }
        return Array(result.stdout)
    }
}
