import Foundation
import P2P
import Testing
import TestSupport

@Suite("Private networks: XSalsa20 and swarm keys")
struct PnetTests {
    /// Go x/crypto salsa20 tests (from the ECRYPT set 6 vectors): XOR of all
    /// 64-byte blocks of the first 131072 key stream bytes.
    @Test func salsa20ECRYPTVectors() {
        let vectors = [
            ("0053A6F94C9FF24598EB3E91E4378ADD3083D6297CCF2275C81B6EC11467BA0D", "0D74DB42A91077DE",
             "C349B6A51A3EC9B712EAED3F90D8BCEE69B7628645F251A996F55260C62EF31FD6C6B0AEA94E136C9D984AD2DF3578F78E457527B03A0450580DD874F63B1AB9"),
            ("0558ABFE51A4F74A9DF04396E93C8FE23588DB2E81D4277ACD2073C6196CBF12", "167DE44BB21980E7",
             "C3EAAF32836BACE32D04E1124231EF47E101367D6305413A0EEB07C60698A2876E4D031870A739D6FFDDD208597AFF0A47AC17EDB0167DD67EBA84F1883D4DFD"),
            ("0A5DB00356A9FC4FA2F5489BEE4194E73A8DE03386D92C7FD22578CB1E71C417", "1F86ED54BB2289F0",
             "3CD23C3DC90201ACC0CF49B440B6C417F0DC8D8410A716D5314C059E14B1A8D9A9FB8EA3D9C8DAE12B21402F674AA95C67B1FC514E994C9D3F3A6E41DFF5BBA6"),
            ("0F62B5085BAE0154A7FA4DA0F34699EC3F92E5388BDE3184D72A7DD02376C91C", "288FF65DC42B92F9",
             "E00EBCCD70D69152725F9987982178A2E2E139C7BCBE04CA8A0E99E318D9AB76F988C8549F75ADD790BA4F81C176DA653C1A043F11A958E169B6D2319F4EEC1A"),
        ]
        for (key, iv, expected) in vectors {
            // Apply in uneven pieces to cover the 256-, 64- and 1-byte paths and leftovers.
            var stream = Salsa20Stream(key: bytes(hex: key), nonce: bytes(hex: iv))
            var data = [UInt8](repeating: 0, count: 131072)
            data.withUnsafeMutableBytes { raw in
                var offset = 0
                var step = 1
                while offset < raw.count {
                    let count = min(step, raw.count - offset)
                    stream.apply(UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + count]))
                    offset += count
                    step = step * 3 % 1000 + 1
                }
            }
            var folded = [UInt8](repeating: 0, count: 64)
            for (index, byte) in data.enumerated() { folded[index % 64] ^= byte }
            #expect(hex(folded) == expected.lowercased())
        }
    }

    /// Go x/crypto and libsodium XSalsa20 vectors.
    @Test func xsalsa20Vectors() {
        let key = Array("this is 32-byte key for xsalsa20".utf8)
        let nonce = Array("24-byte nonce for xsalsa".utf8)
        var hello = Array("Hello world!".utf8)
        var stream = XSalsa20Stream(key: key, nonce: nonce)
        stream.apply(&hello)
        #expect(hex(hello) == "002d4513843fc240c401e541")
        var zeros = [UInt8](repeating: 0, count: 64)
        var second = XSalsa20Stream(key: key, nonce: nonce)
        second.apply(&zeros)
        #expect(hex(zeros) == "4848297feb1fb52fb66d81609bd547fabcbe7026edc8b5e5e449d088bfa69c088f5d8da1d791267c2c195a7f8cae9c4b4050d08ce6d3a151ec265f3a58e47648")
        var sodium = [UInt8](repeating: 0, count: 64)
        var third = XSalsa20Stream(key: Array(repeating: UInt8(ascii: "k"), count: 32), nonce: Array(repeating: UInt8(ascii: "n"), count: 24))
        third.apply(&sodium)
        #expect(hex(sodium) == "91172bd584998fa76d97a543eccf9eafdde4107708b45dda53ad660ebfc44656c8c850d59229d2a15e54fb6a1119be624e1880c0916eb6e08b2557e1d03db9da")
    }

    /// Long random streams against libsodium (PyNaCl's secretbox is XSalsa20
    /// with the first 32 key stream bytes used for Poly1305).
    @Test func xsalsa20MatchesLibsodium() throws {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let nonce = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let length = 100_003
        let output = try runPython("""
            import sys, hashlib
            from nacl.secret import SecretBox
            key, nonce, n = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
            sealed = SecretBox(key).encrypt(bytes(n), nonce).ciphertext
            print(hashlib.sha256(sealed[16:]).hexdigest())
            """, arguments: [hex(key), hex(nonce), String(length)])
        var stream = XSalsa20Stream(key: key, nonce: nonce)
        var skip = [UInt8](repeating: 0, count: 32)
        stream.apply(&skip)
        var data = [UInt8](repeating: 0, count: length)
        stream.apply(&data)
        let digest = try runPython("import sys, hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())", stdin: Data(data))
        #expect(output == digest)
    }

    /// The 8- and 4-lane kernels agree with one block at a time, across the
    /// 32-bit carry of the block counter and for pieces of any size.
    @Test func vectorLanesMatchSingleBlocks() {
        let key = (0..<32).map { UInt8($0 * 7 & 0xFF) }, nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let first: UInt64 = (1 << 32) - 5
        var bulk = [UInt8](repeating: 0, count: 64 * 29)
        var stream = Salsa20Stream(key: key, nonce: nonce, counter: first)
        bulk.withUnsafeMutableBytes { stream.apply($0) }
        var single: [UInt8] = []
        for index in 0..<29 {
            var block = [UInt8](repeating: 0, count: 64)
            var one = Salsa20Stream(key: key, nonce: nonce, counter: first + UInt64(index))
            for offset in stride(from: 0, to: 64, by: 16) {  // 16-byte pieces: never a whole block at once
                block[offset..<offset + 16].withUnsafeMutableBytes { one.apply($0) }
            }
            single += block
        }
        #expect(bulk == single)
        // Odd piece sizes give the same stream.
        var pieces = [UInt8](repeating: 0, count: bulk.count)
        var again = Salsa20Stream(key: key, nonce: nonce, counter: first)
        var start = 0
        for size in [1, 63, 130, 7, 512, 300, 1000] where start < pieces.count {
            let end = min(start + size, pieces.count)
            pieces[start..<end].withUnsafeMutableBytes { again.apply($0) }
            start = end
        }
        pieces[start...].withUnsafeMutableBytes { again.apply($0) }
        #expect(pieces == bulk)
        // Out of place gives the same bytes and leaves the source alone.
        let source = [UInt8](repeating: 0, count: bulk.count)
        var destination = [UInt8](repeating: 0xAA, count: bulk.count)
        var third = Salsa20Stream(key: key, nonce: nonce, counter: first)
        source.withUnsafeBytes { input in destination.withUnsafeMutableBytes { third.apply(from: input, to: $0) } }
        #expect(destination == bulk && source.allSatisfy { $0 == 0 })
    }

    @Test func swarmKeyFiles() throws {
        let hexKey = "b9b3ff8f2b8ee4e0dd9c1e1bca5a0d9a4f0dcff8a8e7d0e7c4e8b2f1e2d3c4b5"
        let key = try SwarmKey(fileContents: Array("/key/swarm/psk/1.0.0/\n/base16/\n\(hexKey)\n".utf8))
        #expect(hex(key.bytes) == hexKey)
        #expect(key.fileContents == "/key/swarm/psk/1.0.0/\n/base16/\n\(hexKey)\n")
        #expect(try SwarmKey(fileContents: Array(key.fileContents.utf8)) == key)
        // CRLF, uppercase hex, no final newline, base64 and bin are read too.
        #expect(try SwarmKey(fileContents: Array("/key/swarm/psk/1.0.0/\r\n/base16/\r\n\(hexKey.uppercased())".utf8)) == key)
        let base64 = Data(key.bytes).base64EncodedString()
        #expect(try SwarmKey(fileContents: Array("/key/swarm/psk/1.0.0/\n/base64/\n\(base64)\n".utf8)) == key)
        #expect(try SwarmKey(fileContents: Array("/key/swarm/psk/1.0.0/\n/bin/\n".utf8) + key.bytes) == key)
        for bad in ["", "/key/swarm/psk/2.0.0/\n/base16/\n\(hexKey)\n", "/key/swarm/psk/1.0.0/\n/base32/\n\(hexKey)\n",
                    "/key/swarm/psk/1.0.0/\n/base16/\n\(hexKey.dropLast(2))\n", "/key/swarm/psk/1.0.0/\n/base16/\n\(hexKey.dropLast())g\n",
                    "/key/swarm/psk/1.0.0/\n"] {
            #expect(throws: P2PError.self, "\(bad)") { try SwarmKey(fileContents: Array(bad.utf8)) }
        }
        #expect(!key.description.contains(hexKey))
        #expect(key.fingerprint.count == 16)
        #expect(SwarmKey.generate() != SwarmKey.generate())
    }
}
