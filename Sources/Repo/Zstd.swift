import CZstd
import Synchronization

/// zstd one-shot compression with pooled contexts (a context costs a few
/// hundred KiB to create, far more than compressing one 4 KiB block).
enum Zstd {
    /// Level 1: ≈ 350 MB/s compressing on this machine kind; higher
    /// levels cost more than they save for block storage.
    static let level: Int32 = 1

    /// A context owned by whoever holds the handle: the pool, or one call.
    private struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private struct Pool: ~Copyable {
        var compressors: [Context] = []
        var decompressors: [Context] = []
    }

    /// Contexts kept for reuse; beyond this many idle ones they are freed.
    private static let maxIdleContexts = 8
    private static let pool = Mutex(Pool())

    /// Compresses `input` into `output`.
    /// - Returns: the compressed length, or `nil` if it does not fit in
    ///   `output` (callers size `output` to the largest result worth keeping).
    static func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let context = pool.withLock { $0.compressors.popLast() } ?? Context(pointer: ZSTD_createCCtx()!)
        defer {
            let kept = pool.withLock { pool -> Bool in
                guard pool.compressors.count < maxIdleContexts else { return false }
                pool.compressors.append(context)
                return true
            }
            if !kept { ZSTD_freeCCtx(context.pointer) }
        }
        let written = ZSTD_compressCCtx(context.pointer, output.baseAddress, output.count, input.baseAddress, input.count, level)
        return ZSTD_isError(written) != 0 ? nil : written
    }

    /// Decompresses a frame of exactly `output.count` bytes.
    /// - Returns: `false` if `input` is not a valid frame of that length.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        let context = pool.withLock { $0.decompressors.popLast() } ?? Context(pointer: ZSTD_createDCtx()!)
        defer {
            let kept = pool.withLock { pool -> Bool in
                guard pool.decompressors.count < maxIdleContexts else { return false }
                pool.decompressors.append(context)
                return true
            }
            if !kept { ZSTD_freeDCtx(context.pointer) }
        }
        let written = ZSTD_decompressDCtx(context.pointer, output.baseAddress, output.count, input.baseAddress, input.count)
        return ZSTD_isError(written) == 0 && written == output.count
    }
}
