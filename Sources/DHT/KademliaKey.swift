// Positions in the Kademlia keyspace: SHA-256 of a key's bytes (a peer ID's
// multihash bytes, a CID's multihash bytes, a record key), compared by XOR.
// Format: formats/dht.md, section 1.

import Crypto

/// A 256-bit point in the keyspace, held as four big-endian words so XOR and
/// comparisons are four operations.
public struct KademliaKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let words: (UInt64, UInt64, UInt64, UInt64)

    /// The position of `bytes`: SHA-256 of them.
    public init(hashing bytes: some Collection<UInt8>) {
        let digest = SHA256.hash(data: Array(bytes))
        self.init(digest: Array(digest))
    }

    /// A position given as its 32 bytes.
    public init(digest: [UInt8]) {
        precondition(digest.count == 32, "a Kademlia key is 32 bytes")
        func word(_ index: Int) -> UInt64 {
            digest[index * 8..<index * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) }
        }
        words = (word(0), word(1), word(2), word(3))
    }

    init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// The XOR distance to `other`, itself a key (smaller is closer).
    public func distance(to other: KademliaKey) -> KademliaKey {
        KademliaKey(words: (words.0 ^ other.words.0, words.1 ^ other.words.1,
                            words.2 ^ other.words.2, words.3 ^ other.words.3))
    }

    /// Leading bits shared with `other` (256 for the same key): the bucket index.
    public func commonPrefixLength(with other: KademliaKey) -> Int {
        let distance = distance(to: other).words
        for (index, word) in [distance.0, distance.1, distance.2, distance.3].enumerated() where word != 0 {
            return index * 64 + word.leadingZeroBitCount
        }
        return 256
    }

    /// A random key whose common prefix with `self` is exactly `prefixLength`
    /// bits (for refreshing that bucket).
    public func randomKey(withCommonPrefix prefixLength: Int, using generator: inout some RandomNumberGenerator) -> KademliaKey {
        precondition((0..<256).contains(prefixLength))
        let mine = [words.0, words.1, words.2, words.3]
        var result = (0..<4).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) }
        for index in 0..<4 {
            let start = index * 64
            let keep = min(max(prefixLength - start, 0), 64)   // bits of this word copied from self
            let mask: UInt64 = keep == 0 ? 0 : (keep == 64 ? UInt64.max : ~(UInt64.max >> UInt64(keep)))
            result[index] = (mine[index] & mask) | (result[index] & ~mask)
            if prefixLength >= start, prefixLength < start + 64 {
                let bit = UInt64(1) << UInt64(63 - (prefixLength - start))
                result[index] = (result[index] & ~bit) | (~mine[index] & bit)   // the first differing bit
            }
        }
        return KademliaKey(words: (result[0], result[1], result[2], result[3]))
    }

    public var bytes: [UInt8] {
        [words.0, words.1, words.2, words.3].flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (56 - 8 * $0)) } }
    }

    public static func == (lhs: KademliaKey, rhs: KademliaKey) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    public static func < (lhs: KademliaKey, rhs: KademliaKey) -> Bool {
        (lhs.words.0, lhs.words.1, lhs.words.2, lhs.words.3) < (rhs.words.0, rhs.words.1, rhs.words.2, rhs.words.3)
    }

    public var description: String { bytes.prefix(8).map { String(format: "%02x", $0) }.joined() }
}
