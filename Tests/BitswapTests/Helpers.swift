import Blocks
import Foundation
import Multiformats

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func bytes(hex text: String) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    func value(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let high = iterator.next(), let low = iterator.next() { out.append(value(high) << 4 | value(low)) }
    return out
}

/// A raw CIDv1 block of `text`.
func rawBlock(_ text: String) -> Block { Block(hashing: Array(text.utf8), codec: .raw) }

/// A raw block of `size` pseudo-random bytes.
func rawBlock(size: Int, seed: UInt64) -> Block {
    var state = seed &* 0x9E3779B97F4A7C15 | 1
    var bytes = [UInt8](repeating: 0, count: size)
    for index in bytes.indices {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return Block(hashing: bytes, codec: .raw)
}

