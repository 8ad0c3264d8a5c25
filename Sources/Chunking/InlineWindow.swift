// The last bytes of the current chunk, kept inline (no allocation) between pieces so that a rolling hash can
// remove the bytes that leave its window at the start of the next piece. Format: formats/chunkers.md, section 8.

extension SIMD where Self: BitwiseCopyable, Scalar == UInt8 {
    /// Replaces the bytes of this window (oldest first) by the last `scalarCount` bytes of itself followed by `bytes`.
    @inline(__always)
    mutating func appendSuffix(of bytes: UnsafeRawBufferPointer) {
        let width = scalarCount
        let count = bytes.count
        if count >= width {
            self = bytes.loadUnaligned(fromByteOffset: count - width, as: Self.self)
            return
        }
        withUnsafeMutableBytes(of: &self) { storage in
            for index in 0..<(width - count) { storage[index] = storage[index + count] }
            for index in 0..<count { storage[width - count + index] = bytes[index] }
        }
    }
}
