import Multiformats
import Testing
import TestSupport

@Suite struct MultihashTests {
    @Test func knownDigests() throws {
        // FIPS 180 test vectors ("abc") and the empty input.
        let abc = Array("abc".utf8)
        #expect(Multihash(hashing: abc, with: .sha2_256).bytes
                == hex("1220 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(Multihash(hashing: [], with: .sha2_256).bytes
                == hex("1220 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        #expect(Multihash(hashing: abc, with: .sha2_512).bytes == hex("""
            1340 ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
            2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f
            """))
        #expect(Multihash(hashing: abc, with: .identity).bytes == hex("0003 616263"))
        #expect(Multihash(hashing: [], with: .identity).bytes == [0x00, 0x00])
        // An empty buffer with no base address must hash too.
        #expect(Multihash(hashing: UnsafeRawBufferPointer(start: nil, count: 0), with: .sha2_256)
                == Multihash(hashing: [], with: .sha2_256))
    }

    @Test func partsAndParsing() throws {
        let multihash = Multihash(hashing: Array("abc".utf8), with: .sha2_256)
        #expect(multihash.code == 0x12 && multihash.function == .sha2_256)
        #expect(Array(multihash.digest) == Array(multihash.bytes[2...]))
        #expect(try Multihash(bytes: multihash.bytes) == multihash)
        #expect(try Multihash(bytes: multihash.bytes[...]) == multihash)
        // A long identity digest takes a two-byte length varint.
        let long = Multihash(hashing: [UInt8](repeating: 7, count: 200), with: .identity)
        #expect(Array(long.bytes.prefix(3)) == [0x00, 0xC8, 0x01])
        #expect(Array(long.digest) == [UInt8](repeating: 7, count: 200))
        #expect(try Multihash(bytes: long.bytes) == long)
        // Codes tau does not compute are carried with any length.
        let blake3 = try Multihash(bytes: hex("1e04 01020304"))
        #expect(blake3.code == 0x1E && blake3.function == nil && Array(blake3.digest) == [1, 2, 3, 4])
        #expect(!blake3.matches(UnsafeRawBufferPointer(start: nil, count: 0)))
        #expect(Multihash(code: 0x1E, digest: [1, 2, 3, 4]) == blake3)
    }

    @Test func matchesVerifiesData() {
        let data = Array("hello world".utf8)
        for function in HashFunction.allCases {
            let multihash = Multihash(hashing: data, with: function)
            #expect(data.withUnsafeBytes { multihash.matches($0) })
            #expect(!Array("hello worle".utf8).withUnsafeBytes { multihash.matches($0) })
        }
    }

    @Test func rejectsMalformed() {
        #expect(throws: MultiformatsError.digestLengthMismatch) { try Multihash(bytes: hex("1214") + [UInt8](repeating: 0, count: 20)) }
        #expect(throws: MultiformatsError.digestLengthMismatch) { try Multihash(bytes: hex("1221") + [UInt8](repeating: 0, count: 33)) }
        #expect(throws: MultiformatsError.digestLengthMismatch) { try Multihash(bytes: hex("1320") + [UInt8](repeating: 0, count: 32)) }
        #expect(throws: MultiformatsError.truncated) { try Multihash(bytes: hex("1220") + [UInt8](repeating: 0, count: 31)) }
        #expect(throws: MultiformatsError.truncated) { try Multihash(bytes: []) }
        #expect(throws: MultiformatsError.truncated) { try Multihash(bytes: [0x12]) }
        #expect(throws: MultiformatsError.trailingBytes) { try Multihash(bytes: hex("0001 41 00")) }
        #expect(throws: MultiformatsError.varintOverlong) { try Multihash(bytes: hex("9200 20")) }
        #expect(throws: MultiformatsError.limitExceeded) { try Multihash(bytes: hex("00 818001")) }
        // A huge declared length is refused before anything is read or reserved.
        #expect(throws: MultiformatsError.limitExceeded) { try Multihash(bytes: hex("00 ffffffffffffffff7f")) }
        var offset = 0
        #expect(throws: MultiformatsError.truncated) { try Multihash(parsing: hex("0005 4142"), at: &offset) }
        #expect(offset == 0)
    }

    @Test func namesRoundTrip() {
        for function in HashFunction.allCases { #expect(HashFunction(name: function.name) == function) }
        #expect(HashFunction(name: "sha2-256") == .sha2_256)
        #expect(HashFunction(name: "blake3") == nil)
    }

    /// Python `multiformats.multihash` computes the same multihashes on random data.
    @Test func matchesPythonMultiformats() throws {
        var random = SeededBytes(seed: 9)
        let inputs = (0..<300).map { _ in random.bytes(Int(random.next() % 300)) }
        let script = """
            import sys
            from multiformats import multihash
            for line in sys.stdin.read().split("\\n")[:-1]:
                data = bytes.fromhex(line)
                print(" ".join(bytes(multihash.digest(data, f)).hex() for f in ("sha2-256", "sha2-512", "identity")))
            """
        let output = try python(script, lines: inputs.map(\.hexString))
        #expect(output.count == inputs.count)
        for (input, line) in zip(inputs, output) {
            let ours = [HashFunction.sha2_256, .sha2_512, .identity].map { Multihash(hashing: input, with: $0).bytes.hexString }
            #expect(ours.joined(separator: " ") == line)
        }
    }
}
