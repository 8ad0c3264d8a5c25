// Salsa20/20, HSalsa20 and XSalsa20 (Bernstein, "Extending the Salsa20
// nonce", 2008), for private networks: neither OpenSSL 3.0 nor swift-crypto
// has XSalsa20. Whole blocks go to the C kernel in CSalsa20 (4 or 8 blocks
// at a time in vector lanes: Swift's SIMD shifts compile to scalar rotates,
// 270 MB/s against 2.6 GB/s); partial blocks and HSalsa20 stay here.
// Format: formats/libp2p.md, section 8.

import CSalsa20

/// The Salsa20 constants, "expand 32-byte k".
private let sigma: (UInt32, UInt32, UInt32, UInt32) = (0x6170_7865, 0x3320_646E, 0x7962_2D32, 0x6B20_6574)

@inline(__always)
private func rotl(_ v: UInt32, _ n: UInt32) -> UInt32 { (v << n) | (v >> (32 - n)) }


@inline(__always)
private func loadWord(_ bytes: UnsafeRawPointer, _ index: Int) -> UInt32 {
    UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
}

/// The 20 rounds over 16 words (no final addition).
@inline(__always)
private func salsaRounds(_ x: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                     UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
    for _ in 0..<10 {
        // Column round.
        x.4 ^= rotl(x.0 &+ x.12, 7); x.8 ^= rotl(x.4 &+ x.0, 9); x.12 ^= rotl(x.8 &+ x.4, 13); x.0 ^= rotl(x.12 &+ x.8, 18)
        x.9 ^= rotl(x.5 &+ x.1, 7); x.13 ^= rotl(x.9 &+ x.5, 9); x.1 ^= rotl(x.13 &+ x.9, 13); x.5 ^= rotl(x.1 &+ x.13, 18)
        x.14 ^= rotl(x.10 &+ x.6, 7); x.2 ^= rotl(x.14 &+ x.10, 9); x.6 ^= rotl(x.2 &+ x.14, 13); x.10 ^= rotl(x.6 &+ x.2, 18)
        x.3 ^= rotl(x.15 &+ x.11, 7); x.7 ^= rotl(x.3 &+ x.15, 9); x.11 ^= rotl(x.7 &+ x.3, 13); x.15 ^= rotl(x.11 &+ x.7, 18)
        // Row round.
        x.1 ^= rotl(x.0 &+ x.3, 7); x.2 ^= rotl(x.1 &+ x.0, 9); x.3 ^= rotl(x.2 &+ x.1, 13); x.0 ^= rotl(x.3 &+ x.2, 18)
        x.6 ^= rotl(x.5 &+ x.4, 7); x.7 ^= rotl(x.6 &+ x.5, 9); x.4 ^= rotl(x.7 &+ x.6, 13); x.5 ^= rotl(x.4 &+ x.7, 18)
        x.11 ^= rotl(x.10 &+ x.9, 7); x.8 ^= rotl(x.11 &+ x.10, 9); x.9 ^= rotl(x.8 &+ x.11, 13); x.10 ^= rotl(x.9 &+ x.8, 18)
        x.12 ^= rotl(x.15 &+ x.14, 7); x.13 ^= rotl(x.12 &+ x.15, 9); x.14 ^= rotl(x.13 &+ x.12, 13); x.15 ^= rotl(x.14 &+ x.13, 18)
    }
}

/// HSalsa20: a 32-byte subkey from a 32-byte key and a 16-byte input.
public func hsalsa20(key: [UInt8], input: [UInt8]) -> [UInt8] {
    precondition(key.count == 32 && input.count == 16)
    return key.withUnsafeBytes { k in
        input.withUnsafeBytes { n in
            var x = (sigma.0, loadWord(k.baseAddress!, 0), loadWord(k.baseAddress!, 1), loadWord(k.baseAddress!, 2),
                     loadWord(k.baseAddress!, 3), sigma.1, loadWord(n.baseAddress!, 0), loadWord(n.baseAddress!, 1),
                     loadWord(n.baseAddress!, 2), loadWord(n.baseAddress!, 3), sigma.2, loadWord(k.baseAddress!, 4),
                     loadWord(k.baseAddress!, 5), loadWord(k.baseAddress!, 6), loadWord(k.baseAddress!, 7), sigma.3)
            salsaRounds(&x)
            var out: [UInt8] = []
            out.reserveCapacity(32)
            for word in [x.0, x.5, x.10, x.15, x.6, x.7, x.8, x.9] {
                withUnsafeBytes(of: word.littleEndian) { out.append(contentsOf: $0) }
            }
            return out
        }
    }
}

/// A Salsa20/20 key stream (8-byte nonce, 64-bit block counter) applied by XOR.
/// `XSalsa20` wraps it with a subkey and the last 8 nonce bytes.
public struct Salsa20Stream: Sendable {
    private let key: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    private let nonce: (UInt32, UInt32)
    private var counter: UInt64
    /// Key stream left over from the last block, used before new blocks.
    private var leftover = [UInt8](repeating: 0, count: 64)
    private var leftoverOffset = 64

    /// - Precondition: a 32-byte key and an 8-byte nonce.
    public init(key: [UInt8], nonce: [UInt8], counter: UInt64 = 0) {
        precondition(key.count == 32 && nonce.count == 8)
        self.key = key.withUnsafeBytes { k in
            (loadWord(k.baseAddress!, 0), loadWord(k.baseAddress!, 1), loadWord(k.baseAddress!, 2), loadWord(k.baseAddress!, 3),
             loadWord(k.baseAddress!, 4), loadWord(k.baseAddress!, 5), loadWord(k.baseAddress!, 6), loadWord(k.baseAddress!, 7))
        }
        self.nonce = nonce.withUnsafeBytes { (loadWord($0.baseAddress!, 0), loadWord($0.baseAddress!, 1)) }
        self.counter = counter
    }

    /// XORs the key stream into `buffer`, continuing where the last call stopped.
    public mutating func apply(_ buffer: UnsafeMutableRawBufferPointer) {
        apply(from: UnsafeRawBufferPointer(buffer), to: buffer)
    }

    /// Writes `source` XOR the key stream to `destination` (out of place, so
    /// a buffer someone else still references is not copied first),
    /// continuing where the last call stopped.
    /// - Precondition: equal sizes; the two are the same memory or do not overlap.
    public mutating func apply(from source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count == destination.count)
        guard var input = source.baseAddress, var output = destination.baseAddress else { return }
        var remaining = source.count
        // Finish the previous block's key stream.
        while remaining > 0 && leftoverOffset < 64 {
            output.storeBytes(of: input.load(as: UInt8.self) ^ leftover[leftoverOffset], as: UInt8.self)
            input += 1
            output += 1
            remaining -= 1
            leftoverOffset += 1
        }
        let wholeBlocks = remaining / 64
        if wholeBlocks > 0 {
            // Homogeneous tuples are laid out as arrays of their element.
            withUnsafeBytes(of: key) { keyWords in
                withUnsafeBytes(of: nonce) { nonceWords in
                    tau_salsa20_xor_blocks(input.assumingMemoryBound(to: UInt8.self),
                                           output.assumingMemoryBound(to: UInt8.self), wholeBlocks,
                                           keyWords.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                           nonceWords.baseAddress!.assumingMemoryBound(to: UInt32.self), counter)
                }
            }
            counter &+= UInt64(wholeBlocks)
            input += wholeBlocks * 64
            output += wholeBlocks * 64
            remaining -= wholeBlocks * 64
        }
        if remaining > 0 {
            let blockCounter = counter
            counter &+= 1
            let (k, n) = (key, nonce)
            leftover.withUnsafeMutableBytes { Self.block(key: k, nonce: n, counter: blockCounter, into: $0.baseAddress!) }
            for i in 0..<remaining {
                output.storeBytes(of: input.load(fromByteOffset: i, as: UInt8.self) ^ leftover[i], toByteOffset: i, as: UInt8.self)
            }
            leftoverOffset = remaining
        }
    }

    /// The 64-byte key stream block number `counter` into `out`.
    private static func block(key: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
                              nonce: (UInt32, UInt32), counter: UInt64, into out: UnsafeMutableRawPointer) {
        let input = (sigma.0, key.0, key.1, key.2, key.3, sigma.1, nonce.0, nonce.1,
                     UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32),
                     sigma.2, key.4, key.5, key.6, key.7, sigma.3)
        var x = input
        salsaRounds(&x)
        let words = [x.0 &+ input.0, x.1 &+ input.1, x.2 &+ input.2, x.3 &+ input.3,
                     x.4 &+ input.4, x.5 &+ input.5, x.6 &+ input.6, x.7 &+ input.7,
                     x.8 &+ input.8, x.9 &+ input.9, x.10 &+ input.10, x.11 &+ input.11,
                     x.12 &+ input.12, x.13 &+ input.13, x.14 &+ input.14, x.15 &+ input.15]
        for (i, word) in words.enumerated() { out.storeBytes(of: word.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
    }
}

/// XSalsa20: Salsa20 with a 24-byte nonce, keyed by HSalsa20 of the key and
/// the first 16 nonce bytes, with the last 8 as the Salsa20 nonce.
public struct XSalsa20Stream: Sendable {
    private var stream: Salsa20Stream

    /// - Precondition: a 32-byte key and a 24-byte nonce.
    public init(key: [UInt8], nonce: [UInt8]) {
        precondition(key.count == 32 && nonce.count == 24)
        let subkey = hsalsa20(key: key, input: Array(nonce[0..<16]))
        stream = Salsa20Stream(key: subkey, nonce: Array(nonce[16..<24]))
    }

    /// XORs the key stream into `buffer`, continuing where the last call stopped.
    public mutating func apply(_ buffer: UnsafeMutableRawBufferPointer) { stream.apply(buffer) }

    /// Writes `source` XOR the key stream to `destination` (see `Salsa20Stream`).
    public mutating func apply(from source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer) {
        stream.apply(from: source, to: destination)
    }

    public mutating func apply(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { apply($0) }
    }
}
