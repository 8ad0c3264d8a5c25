import Foundation
import Multiformats
import P2P
import Testing
import TestSupport

@Suite("Keys and peer IDs")
struct KeyTests {
    /// The Ed25519 vectors of the peer-id spec (peer-ids.md, "Test vectors").
    static let specPrivate = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
    static let specPublic = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"

    @Test func specEd25519Vectors() throws {
        let pair = try KeyPair(privateKeyProtobuf: bytes(hex: Self.specPrivate))
        #expect(hex(pair.publicKey.protobuf) == Self.specPublic)
        #expect(hex(pair.privateKeyProtobuf) == Self.specPrivate)
        let key = try PublicKey(protobuf: bytes(hex: Self.specPublic))
        #expect(key == pair.publicKey)
        // A 36-byte key is inlined: identity multihash 00 24 <protobuf>.
        #expect(hex(pair.peerID.bytes) == "0024" + Self.specPublic)
        #expect(pair.peerID.description.hasPrefix("12D3KooW"))
        #expect(pair.peerID.publicKey == key)
    }

    @Test func legacyAndSeedOnlyPrivateKeys() throws {
        let pair = try KeyPair(privateKeyProtobuf: bytes(hex: Self.specPrivate))
        let data = pair.seed + pair.publicKey.data
        var legacy: [UInt8] = [0x08, 0x01, 0x12, 0x60]
        legacy += data + pair.publicKey.data
        #expect(try KeyPair(privateKeyProtobuf: legacy).peerID == pair.peerID)
        // py-libp2p serializes the bare 32-byte seed.
        #expect(try KeyPair(privateKeyProtobuf: [0x08, 0x01, 0x12, 0x20] + pair.seed).peerID == pair.peerID)
        var mismatched = legacy
        mismatched[mismatched.count - 1] ^= 1
        #expect(throws: P2PError.invalidKey) { try KeyPair(privateKeyProtobuf: mismatched) }
        #expect(throws: P2PError.unsupported) { try KeyPair(privateKeyProtobuf: [0x08, 0x02, 0x12, 0x20] + pair.seed) }
        #expect(throws: P2PError.malformed) { try KeyPair(privateKeyProtobuf: [0x08, 0x01]) }
    }

    /// The same seed gives the same keys and peer ID in py-libp2p.
    @Test func matchesPyLibp2p() throws {
        let seed = Array(0..<32).map(UInt8.init)
        let pair = try KeyPair(seed: seed)
        let output = try runPython("""
            from libp2p.crypto.ed25519 import create_new_key_pair
            from libp2p.peer.id import ID
            kp = create_new_key_pair(bytes(range(32)))
            print(ID.from_pubkey(kp.public_key).to_base58())
            print(kp.public_key.serialize().hex())
            print(kp.private_key.sign(b"tau").hex())
            """)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0] == pair.peerID.description)
        #expect(lines[1] == hex(pair.publicKey.protobuf))
        #expect(lines[2] == hex(pair.sign(Array("tau".utf8))))
        #expect(pair.publicKey.verify(signature: bytes(hex: lines[2]), for: Array("tau".utf8)))
        #expect(!pair.publicKey.verify(signature: bytes(hex: lines[2]), for: Array("tau!".utf8)))
    }

    @Test func peerIDTextForms() throws {
        let pair = KeyPair.generate()
        let id = pair.peerID
        #expect(try PeerID(id.description) == id)
        let base36 = id.string(base: .base36)
        #expect(base36.hasPrefix("k51"))
        #expect(try PeerID(base36) == id)
        #expect(try PeerID(id.string(base: .base32)) == id)
        #expect(try PeerID(id.string(base: .base58btc)) == id)
        // The spec's examples: a sha2-256 peer ID as CID and as base58.
        let cidForm = try PeerID("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
        #expect(cidForm == (try PeerID("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")))
        #expect(cidForm.publicKey == nil)
        let ed = try PeerID("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        #expect(ed.publicKey?.type == .ed25519)
        #expect(ed.description == "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
    }

    @Test func peerIDTextMatchesPython() throws {
        let id = KeyPair.generate().peerID
        let output = try runPython("""
            import sys
            from multiformats import CID
            cid = CID("base36", 1, "libp2p-key", sys.argv[1])
            print(cid.encode("base36"))
            """, arguments: [hex(id.bytes)])
        #expect(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == id.string(base: .base36))
    }

    @Test func badPeerIDs() {
        for text in ["", "12D3KooW", "Qm", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "hello", "z", "1" + String(repeating: "1", count: 300)] {
            #expect(throws: P2PError.self, "\(text)") { try PeerID(text) }
        }
        // An identity multihash longer than 42 bytes is not a peer ID.
        let long = Multihash(code: 0, digest: [UInt8](repeating: 1, count: 43))
        #expect(throws: P2PError.malformed) { try PeerID(multihash: long) }
        let md5ish = Multihash(code: 0xd5, digest: [UInt8](repeating: 1, count: 16))
        #expect(throws: P2PError.malformed) { try PeerID(multihash: md5ish) }
    }

    @Test func keyFileRoundTripAndMode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tau-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("identity.key").path
        let pair = KeyPair.generate()
        try pair.save(to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try KeyPair.load(from: path).peerID == pair.peerID)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(pair.privateKeyProtobuf))
        // Saving again replaces the file atomically and keeps the mode.
        let other = KeyPair.generate()
        try other.save(to: path)
        #expect(try KeyPair.load(from: path).peerID == other.peerID)
        chmod(path, 0o644)
        #expect(throws: P2PError.fileAccess) { try KeyPair.load(from: path) }
        chmod(path, 0o640)
        #expect(throws: P2PError.fileAccess) { try KeyPair.load(from: path) }
        chmod(path, 0o400)
        #expect(try KeyPair.load(from: path).peerID == other.peerID)
        #expect(throws: P2PError.fileAccess) { try KeyPair.load(from: directory.appendingPathComponent("missing").path) }
        #expect(throws: P2PError.fileAccess) { try KeyPair.load(from: directory.path) }
    }
}
