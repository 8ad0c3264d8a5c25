/// MurmurHash3, x64 128-bit variant (Austin Appleby's `MurmurHash3_x64_128`).
///
/// UnixFS HAMT directories hash entry names with it and keep only `h1`, the
/// first 64-bit half (multicodec `murmur3-x64-64`, 0x22), read most significant
/// bit first. Format: formats/hamt.md, "Hashing names".
///
/// Not a cryptographic hash: anyone can craft names that collide.
public enum Murmur3 {
    private static let c1: UInt64 = 0x87C3_7B91_1142_53D5
    private static let c2: UInt64 = 0x4CF5_AD43_2745_937F

    /// The 128-bit hash of `bytes` as the two 64-bit halves of the reference
    /// implementation's output (`h1` is what its first eight bytes hold, little-endian).
    public static func x64_128(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> (h1: UInt64, h2: UInt64) {
        let length = bytes.count
        var h1 = UInt64(seed)
        var h2 = UInt64(seed)

        let blockCount = length / 16
        for block in 0..<blockCount {
            let offset = block * 16
            let k1 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let k2 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))

            h1 ^= mixK1(k1)
            h1 = rotateLeft(h1, 27) &+ h2
            h1 = h1 &* 5 &+ 0x52DC_E729

            h2 ^= mixK2(k2)
            h2 = rotateLeft(h2, 31) &+ h1
            h2 = h2 &* 5 &+ 0x3849_5AB5
        }

        // The 0–15 trailing bytes, little-endian into two lanes.
        let tail = blockCount * 16
        let remaining = length - tail
        if remaining > 8 {
            var k2: UInt64 = 0
            for i in 8..<remaining { k2 |= UInt64(bytes[tail + i]) << (8 * UInt64(i - 8)) }
            h2 ^= mixK2(k2)
        }
        if remaining > 0 {
            var k1: UInt64 = 0
            for i in 0..<min(remaining, 8) { k1 |= UInt64(bytes[tail + i]) << (8 * UInt64(i)) }
            h1 ^= mixK1(k1)
        }

        h1 ^= UInt64(length)
        h2 ^= UInt64(length)
        h1 &+= h2
        h2 &+= h1
        h1 = finalMix(h1)
        h2 = finalMix(h2)
        h1 &+= h2
        h2 &+= h1
        return (h1, h2)
    }

    /// The 128-bit hash of `bytes`.
    public static func x64_128(_ bytes: [UInt8], seed: UInt32 = 0) -> (h1: UInt64, h2: UInt64) {
        bytes.withUnsafeBytes { x64_128($0, seed: seed) }
    }

    /// `murmur3-x64-64` of a name's UTF-8 bytes: `h1`, the hash a UnixFS HAMT uses.
    public static func x64_64(_ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { x64_128(UnsafeRawBufferPointer($0)).h1 }
    }

    @inline(__always)
    private static func mixK1(_ k: UInt64) -> UInt64 { rotateLeft(k &* c1, 31) &* c2 }

    @inline(__always)
    private static func mixK2(_ k: UInt64) -> UInt64 { rotateLeft(k &* c2, 33) &* c1 }

    @inline(__always)
    private static func rotateLeft(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    /// MurmurHash3's 64-bit finaliser (fmix64), a bijective mix; the hoarder's
    /// rendezvous weights use it too (formats/hoarder.md §2).
    @inlinable
    public static func finalMix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k &*= 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k &*= 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }
}
