import Multiformats
import Testing
import TestSupport

@Suite struct VarintTests {
    /// The examples of the unsigned-varint spec (multiformats/unsigned-varint README).
    @Test(arguments: [
        (UInt64(1), "01"), (127, "7f"), (128, "8001"), (255, "ff01"), (300, "ac02"), (16384, "808001"),
    ])
    func specExamples(value: UInt64, encoding: String) throws {
        #expect(Varint.encode(value) == hex(encoding))
        #expect(Varint.encodedLength(value) == hex(encoding).count)
        var offset = 0
        #expect(try Varint.decode(hex(encoding), at: &offset) == value)
        #expect(offset == hex(encoding).count)
    }

    @Test func boundaries() throws {
        #expect(Varint.encode(0) == [0x00])
        #expect(Varint.encode(Varint.maxValue) == hex("ffffffffffffffff7f"))
        #expect(Varint.maxLength == 9)
        for bits in 0...63 {
            for value in [UInt64(1) << bits &- 1, UInt64(1) << bits] where value <= Varint.maxValue {
                let encoded = Varint.encode(value)
                #expect(encoded.count == Varint.encodedLength(value))
                #expect(encoded.count == max(1, (64 - value.leadingZeroBitCount + 6) / 7))
                let (decoded, length) = try encoded.withUnsafeBytes { try Varint.decode($0) }
                #expect(decoded == value && length == encoded.count)
            }
        }
    }

    @Test(arguments: [
        "8000", "8100", "ff00", "808000", "ff8000", "8080808080808080 00",
    ])
    func rejectsOverlong(encoding: String) {
        var offset = 0
        #expect(throws: MultiformatsError.varintOverlong) { try Varint.decode(hex(encoding), at: &offset) }
        #expect(offset == 0)
    }

    @Test(arguments: [
        "ffffffffffffffff80", "ffffffffffffffffff01", "80808080808080808001", "ffffffffffffffffffffffff",
    ])
    func rejectsBeyondNineBytes(encoding: String) {
        var offset = 0
        #expect(throws: MultiformatsError.varintTooLarge) { try Varint.decode(hex(encoding), at: &offset) }
        #expect(offset == 0)
    }

    @Test(arguments: ["", "80", "ff", "8080", "ffffffffffffffff"])
    func rejectsTruncated(encoding: String) {
        var offset = 0
        #expect(throws: MultiformatsError.truncated) { try Varint.decode(hex(encoding), at: &offset) }
        #expect(throws: MultiformatsError.truncated) {
            try hex(encoding).withUnsafeBytes { try Varint.decode($0) }
        }
    }

    @Test func offsetsAndSlices() throws {
        let bytes: [UInt8] = [0xAA, 0xAC, 0x02, 0x05, 0xBB]
        var offset = 1
        #expect(try Varint.decode(bytes, at: &offset) == 300)
        #expect(offset == 3)
        #expect(try Varint.decode(bytes, at: &offset) == 5)
        #expect(offset == 4)
        // A slice keeps its parent's indices.
        let slice = bytes[1..<3]
        offset = slice.startIndex
        #expect(try Varint.decode(slice, at: &offset) == 300)
        // Offsets outside the collection are truncation, not a trap.
        offset = 9
        #expect(throws: MultiformatsError.truncated) { try Varint.decode(bytes, at: &offset) }
        offset = -1
        #expect(throws: MultiformatsError.truncated) { try Varint.decode(bytes, at: &offset) }
        offset = 0
        #expect(throws: MultiformatsError.truncated) { try Varint.decode(slice, at: &offset) }
    }

    @Test func randomRoundTrips() throws {
        var random = SeededBytes(seed: 7)
        for _ in 0..<20_000 {
            let value = random.next() >> (random.next() % 64 + 1)
            var encoded = Varint.encode(value)
            encoded.append(0xFF)  // decode must stop at the end of the varint
            var offset = 0
            #expect(try Varint.decode(encoded, at: &offset) == value)
            #expect(offset == encoded.count - 1)
        }
    }

    /// Every 1- and 2-byte input, and random longer ones: decode accepts exactly
    /// the minimal encodings, so accepted inputs re-encode to themselves.
    @Test func acceptsOnlyCanonical() {
        var inputs: [[UInt8]] = (0...255).map { [UInt8($0)] }
        for a in 0...255 { for b in 0...255 { inputs.append([UInt8(a), UInt8(b)]) } }
        var random = SeededBytes(seed: 11)
        for _ in 0..<20_000 {
            var bytes = random.bytes(Int(random.next() % 11))
            for i in bytes.indices.dropLast() where random.next() % 4 != 0 { bytes[i] |= 0x80 }
            inputs.append(bytes)
        }
        for input in inputs {
            var offset = 0
            if let value = try? Varint.decode(input, at: &offset) {
                #expect(Varint.encode(value) == Array(input[..<offset]))
            }
        }
    }

    /// Python `multiformats.varint` agrees on random values of every length.
    @Test func matchesPythonMultiformats() throws {
        var random = SeededBytes(seed: 3)
        let values = (0..<2000).map { _ in random.next() >> (random.next() % 64 + 1) }
        let script = """
            import sys
            from multiformats import varint
            for line in sys.stdin.read().split():
                print(varint.encode(int(line)).hex())
            """
        let encoded = try python(script, lines: values.map { String($0) })
        #expect(encoded == values.map { Varint.encode($0).hexString })
    }
}
