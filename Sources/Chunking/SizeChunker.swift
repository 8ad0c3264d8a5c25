// Fixed-size chunking (Kubo "size-N", boxo `sizeSplitterv2`). Format: formats/chunkers.md, "size".

/// Cuts every `size` bytes; the last chunk of a file holds the remainder.
public struct SizeChunker: Chunker {
    /// Chunk size in bytes.
    public let size: Int
    /// Bytes of the current chunk seen so far.
    private var position = 0

    /// - Parameter size: 1 ... `ChunkingLimits.chunkSizeLimit` (2 096 896) bytes.
    public init(size: Int) {
        precondition(size > 0 && size <= ChunkingLimits.chunkSizeLimit,
                     "size chunker needs 1...\(ChunkingLimits.chunkSizeLimit) bytes, got \(size)")
        self.size = size
    }

    public var maxChunkSize: Int { size }

    public mutating func nextCut(in bytes: UnsafeRawBufferPointer) -> Int? {
        let needed = size - position
        if bytes.count >= needed {
            position = 0
            return needed
        }
        position += bytes.count
        return nil
    }

    public mutating func reset() {
        position = 0
    }
}
