// Kubo's Rabin fingerprint chunker: boxo `chunker/rabin.go` on top of github.com/whyrusleeping/chunker
// (a fork of restic's chunker). Format: formats/chunkers.md, "rabin".

/// Content-defined chunker cutting where the Rabin fingerprint of the last 16 bytes, taken modulo
/// `polynomial`, has its low `log2(average)` bits all zero.
///
/// For a chunk of length L (min <= L <= max) the cut is taken at the first L where
/// `fingerprint(chunk[L-16 ..< L]) & splitMask == 0`, or at L = max. Bytes before `min - 16` are never hashed.
public struct RabinChunker: Chunker {
    /// boxo `IpfsRabinPoly`: an irreducible polynomial of degree 53 over GF(2) (17437180132763653).
    public static let polynomial: UInt64 = 0x3D_F305_DFB2_A805
    /// Bytes in the sliding window (whyrusleeping/chunker `windowSize`).
    public static let windowSize = 16
    /// Degree of `polynomial` minus 8: shifting the fingerprint right by this leaves the byte that overflows
    /// the degree on the next append.
    static let reductionShift: UInt64 = 45

    public let minSize: Int
    public let averageSize: Int
    public let maxSize: Int
    /// `2^floor(log2(average)) - 1`.
    public let splitMask: UInt64
    /// Bytes per lane in `firstMatch`: about 1/16 of the mean distance between fingerprint hits, so that the bytes
    /// re-scanned after a hit stay a small fraction of the bytes hashed.
    let laneBlock: Int

    /// Bytes of the current chunk seen so far.
    private var position = 0
    /// Fingerprint of the bytes hashed so far in this chunk (at most the last 16 count).
    private var fingerprint: UInt64 = 0
    /// The last 16 bytes of the current chunk, oldest first: the outgoing bytes for the first 16 bytes of a piece.
    private var window = SIMD16<UInt8>()

    /// - Parameters:
    ///   - min: smallest chunk except the last, at least 16 (the window).
    ///   - average: sets the mask; min < average < max.
    ///   - max: largest chunk, at most `ChunkingLimits.chunkSizeLimit` (2 096 896).
    public init(min: Int, average: Int, max: Int) {
        precondition(min >= Self.windowSize && min < average && average < max && max <= ChunkingLimits.chunkSizeLimit,
                     "rabin needs 16 <= min < average < max <= \(ChunkingLimits.chunkSizeLimit)")
        minSize = min
        averageSize = average
        maxSize = max
        // whyrusleeping/chunker: sizepow = uint(math.Log2(avg)), exact floor for every integer avg here.
        splitMask = (UInt64(1) &<< UInt64(Int.bitWidth - 1 - average.leadingZeroBitCount)) &- 1
        laneBlock = Swift.min(4096, Swift.max(Self.minimumLaneBlock, Int(splitMask + 1) / 16))
    }

    /// boxo `NewRabin(avg)`: min = avg / 3, max = avg + avg / 2.
    public init(average: Int) {
        self.init(min: average / 3, average: average, max: average + average / 2)
    }

    public var maxChunkSize: Int { maxSize }

    /// `outTable[b]`: the fingerprint of byte b followed by 15 zero bytes. XOR-ing it removes b as it leaves the window.
    public static var outTable: [UInt64] { Array(RabinTables.storage[0..<256]) }
    /// `modTable[b]`: `(b·x^53 mod P) | b·x^53`. XOR-ing it after a shift both clears the 8 bits that rose above the
    /// polynomial's degree and adds their residue.
    public static var modTable: [UInt64] { Array(RabinTables.storage[256..<512]) }

    public mutating func reset() {
        position = 0
        fingerprint = 0
        window = SIMD16<UInt8>()
    }

    public mutating func nextCut(in bytes: UnsafeRawBufferPointer) -> Int? {
        guard let raw = bytes.baseAddress, !bytes.isEmpty else { return nil }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count
        let end = Swift.min(count, maxSize - position)  // bytes of this piece that fit in the chunk
        let hashStart = minSize - Self.windowSize
        // Bytes before min - 16 are skipped unhashed, as whyrusleeping/chunker does (`pre`).
        var index = Swift.max(0, Swift.min(end, hashStart - position))
        let cut: Int? = RabinTables.storage.withUnsafeBufferPointer { tables in
            let outTable = tables.baseAddress!
            let modTable = outTable + 256
            var digest = fingerprint
            // Slow part: bytes whose outgoing byte lies before this piece, or before min - 16 (then it is a
            // zero, and outTable[0] == 0), and the first check at L = min.
            let fastStart = Swift.min(end, Swift.max(index, Self.windowSize, minSize - position))
            while index < fastStart {
                let chunkOffset = position + index
                var outgoing: UInt8 = 0
                if chunkOffset - Self.windowSize >= hashStart {
                    outgoing = index >= Self.windowSize ? base[index - Self.windowSize] : window[index]
                }
                digest = Self.slide(digest, out: outgoing, in: base[index], outTable, modTable)
                if chunkOffset + 1 >= minSize && digest & splitMask == 0 { return index + 1 }
                index += 1
            }
            if let match = Self.firstMatch(base, from: index, to: end, digest: &digest, mask: splitMask,
                                           laneBlock: laneBlock, outTable, modTable) {
                return match + 1
            }
            fingerprint = digest
            return nil
        }
        if let cut {
            reset()
            return cut
        }
        if position + end == maxSize {
            reset()
            return end
        }
        position += count
        window.appendSuffix(of: bytes)
        return nil
    }

    /// One step of the rolling fingerprint: remove `out` (16 bytes back), then append `in` and reduce.
    @inline(__always)
    static func slide(_ digest: UInt64, out: UInt8, in incoming: UInt8,
                      _ outTable: UnsafePointer<UInt64>, _ modTable: UnsafePointer<UInt64>) -> UInt64 {
        let removed = digest ^ outTable[Int(out)]
        return ((removed &<< 8) | UInt64(incoming)) ^ modTable[Int(truncatingIfNeeded: removed &>> reductionShift)]
    }

    /// First index in `from ..< to` (with from >= 16) whose window `base[index-15 ... index]` matches,
    /// sliding `digest` along; every window is entirely inside `base` here.
    ///
    /// One fingerprint step is a chain of dependent operations (xor, shift, table load, xor), so a single rolling
    /// fingerprint leaves the core mostly idle. Because the fingerprint is a function of the 16-byte window only,
    /// the range is cut into super-blocks of four equal blocks hashed by four independent lanes in lockstep; lanes
    /// 1...3 start from a fingerprint built from the 16 bytes before their block. On a hit in lane j, the unscanned
    /// tails of the blocks of lanes 0..<j come first, so they are scanned (one lane) before the hit is taken.
    @inline(__always)
    static func firstMatch(_ base: UnsafePointer<UInt8>, from: Int, to: Int, digest: inout UInt64, mask: UInt64,
                           laneBlock: Int,
                           _ outTable: UnsafePointer<UInt64>, _ modTable: UnsafePointer<UInt64>) -> Int? {
        var start = from
        var d0 = digest
        while to &- start >= 4 &* minimumLaneBlock {
            let block = Swift.min(laneBlock, (to &- start) / 4)
            let lane0 = base + start, lane1 = lane0 + block, lane2 = lane1 + block, lane3 = lane2 + block
            var d1 = fingerprint(endingAt: lane1, modTable)
            var d2 = fingerprint(endingAt: lane2, modTable)
            var d3 = fingerprint(endingAt: lane3, modTable)
            var step = 0
            while step < block {
                d0 = slide(d0, out: lane0[step &- 16], in: lane0[step], outTable, modTable)
                d1 = slide(d1, out: lane1[step &- 16], in: lane1[step], outTable, modTable)
                d2 = slide(d2, out: lane2[step &- 16], in: lane2[step], outTable, modTable)
                d3 = slide(d3, out: lane3[step &- 16], in: lane3[step], outTable, modTable)
                if d0 & mask == 0 || d1 & mask == 0 || d2 & mask == 0 || d3 & mask == 0 { break }
                step &+= 1
            }
            if step < block {
                // Lane 0's hit is the earliest position; otherwise earlier lanes' tails come before the hit.
                if d0 & mask == 0 { return start &+ step }
                let tailFrom = step &+ 1
                if let match = firstMatchOneLane(lane0, from: tailFrom, to: block, digest: &d0, mask: mask,
                                                 outTable, modTable) {
                    return start &+ match
                }
                if d1 & mask == 0 { return start &+ block &+ step }
                if let match = firstMatchOneLane(lane1, from: tailFrom, to: block, digest: &d1, mask: mask,
                                                 outTable, modTable) {
                    return start &+ block &+ match
                }
                if d2 & mask == 0 { return start &+ 2 &* block &+ step }
                if let match = firstMatchOneLane(lane2, from: tailFrom, to: block, digest: &d2, mask: mask,
                                                 outTable, modTable) {
                    return start &+ 2 &* block &+ match
                }
                return start &+ 3 &* block &+ step
            }
            d0 = d3  // lane 3 ended where the next super-block starts
            start &+= 4 &* block
        }
        let match = firstMatchOneLane(base, from: start, to: to, digest: &d0, mask: mask, outTable, modTable)
        digest = d0
        return match
    }

    /// Super-blocks are split only when each lane gets at least this many bytes (the 16-byte warm-up must stay small).
    static let minimumLaneBlock = 64

    /// The fingerprint of the 16 bytes before `end`, built from zero (outTable[0] is 0, so nothing leaves).
    @inline(__always)
    static func fingerprint(endingAt end: UnsafePointer<UInt8>, _ modTable: UnsafePointer<UInt64>) -> UInt64 {
        var digest: UInt64 = 0
        for offset in -16 ..< 0 {
            digest = ((digest &<< 8) | UInt64(end[offset])) ^ modTable[Int(truncatingIfNeeded: digest &>> reductionShift)]
        }
        return digest
    }

    /// `firstMatch` with a single rolling fingerprint.
    @inline(__always)
    static func firstMatchOneLane(_ base: UnsafePointer<UInt8>, from: Int, to: Int, digest: inout UInt64,
                                  mask: UInt64, _ outTable: UnsafePointer<UInt64>,
                                  _ modTable: UnsafePointer<UInt64>) -> Int? {
        var d = digest
        var index = from
        while index < to {
            d = slide(d, out: base[index &- 16], in: base[index], outTable, modTable)
            if d & mask == 0 {
                digest = d
                return index
            }
            index &+= 1
        }
        digest = d
        return nil
    }
}

/// The two 256-entry lookup tables of `RabinChunker.polynomial` and the 16-byte window, computed once:
/// `storage[0..<256]` is the out table, `storage[256..<512]` the mod table.
enum RabinTables {
    static let storage: [UInt64] = {
        let polynomial = RabinChunker.polynomial
        let degree = Polynomial.degree(polynomial)
        var tables = [UInt64](repeating: 0, count: 512)
        for byte in 0..<256 {
            // out[b] = fingerprint(b, then 15 zero bytes): XOR it in to drop b as it leaves the window.
            var hash = Polynomial.appendByte(0, UInt8(byte), modulo: polynomial)
            for _ in 1..<RabinChunker.windowSize {
                hash = Polynomial.appendByte(hash, 0, modulo: polynomial)
            }
            tables[byte] = hash
            // mod[b] = (b·x^53 mod P) | b·x^53: one XOR both clears the 8 bits above the degree and adds their residue.
            let overflow = UInt64(byte) << UInt64(degree)
            tables[256 + byte] = Polynomial.remainder(overflow, modulo: polynomial) | overflow
        }
        return tables
    }()

}

/// Polynomials over GF(2) packed in a UInt64 (bit i = coefficient of x^i).
enum Polynomial {
    /// Degree of `x`, -1 for the zero polynomial.
    static func degree(_ x: UInt64) -> Int {
        x == 0 ? -1 : UInt64.bitWidth - 1 - x.leadingZeroBitCount
    }

    /// `x mod divisor`.
    static func remainder(_ x: UInt64, modulo divisor: UInt64) -> UInt64 {
        var x = x
        let divisorDegree = degree(divisor)
        while degree(x) >= divisorDegree {
            x ^= divisor << UInt64(degree(x) - divisorDegree)
        }
        return x
    }

    /// `(hash · x^8 + byte) mod divisor`.
    static func appendByte(_ hash: UInt64, _ byte: UInt8, modulo divisor: UInt64) -> UInt64 {
        remainder((hash << 8) | UInt64(byte), modulo: divisor)
    }
}
