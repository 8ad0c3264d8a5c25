// Content-defined and fixed-size chunkers. Format: formats/chunkers.md.
//
// Layer 0: standard library only, no I/O. Every chunker is a small value-type
// state machine fed with pieces of a file of any size; cut points never depend
// on how the input was split into pieces.

/// Limits shared by all chunkers (boxo `chunker/parse.go`).
public enum ChunkingLimits {
    /// Largest block the Bitswap spec lets peers exchange: 2 MiB.
    public static let blockSizeLimit = 2 * 1024 * 1024
    /// Room kept for dag-pb/UnixFS framing when a chunk becomes a non-raw leaf.
    public static let chunkOverheadBudget = 256
    /// Largest chunk any chunker may emit: 2 MiB - 256 = 2 096 896 bytes (boxo `ChunkSizeLimit`).
    public static let chunkSizeLimit = blockSizeLimit - chunkOverheadBudget
    /// Kubo's default chunk size (`size-262144`), also the average of plain `rabin`.
    public static let defaultChunkSize = 256 * 1024
}

/// A streaming chunker: state machine that finds cut points in input handed to it in pieces of any size.
public protocol Chunker: Sendable {
    /// Largest chunk this chunker ever emits (bytes).
    var maxChunkSize: Int { get }
    /// Scans `bytes`, the continuation of the current chunk (the chunker remembers how many bytes of the
    /// current chunk it has seen and any rolling-hash window state). Returns the number of bytes of `bytes`
    /// that complete the current chunk (the cut is after that many bytes), or nil if the chunk continues past
    /// the end of `bytes`. After returning a cut the chunker has reset itself for the next chunk; the caller then
    /// calls again with the remaining bytes. It must never let a chunk exceed maxChunkSize. At end of input the
    /// caller emits whatever remains as the last chunk (possibly shorter than min), then calls reset().
    ///
    /// The result may be 0: FastCDC cuts *before* the byte whose hash matched, so when that byte is the first
    /// one of `bytes` the current chunk ended exactly where the previous piece ended. A chunk itself is never
    /// empty. An empty `bytes` always returns nil.
    mutating func nextCut(in bytes: UnsafeRawBufferPointer) -> Int?
    /// Forgets the current chunk (start of a new file).
    mutating func reset()
}

/// The end offset of every chunk of `data` as cut by `spec`, in order: chunk `i` is
/// `data[ends[i-1] ..< ends[i]]` (with `ends[-1]` = 0) and the last element is `data.count`.
/// Empty input has no chunks. Drives the streaming API over the whole buffer at once.
public func chunkBoundaries(of data: UnsafeRawBufferPointer, spec: ChunkerSpec) -> [Int] {
    var chunker = spec.makeChunker()
    return chunkBoundaries(of: data, using: &chunker)
}

/// The end offset of every chunk of `data` cut by `chunker` (see `chunkBoundaries(of:spec:)`),
/// feeding it pieces of at most `pieceSize` bytes. The chunker is reset afterwards.
public func chunkBoundaries<C: Chunker>(of data: UnsafeRawBufferPointer, using chunker: inout C,
                                        pieceSize: Int = .max) -> [Int] {
    precondition(pieceSize > 0, "pieceSize must be positive")
    var ends: [Int] = []
    var offset = 0  // start of the piece being fed
    var chunkStart = 0
    while offset < data.count {
        let pieceEnd = offset + min(pieceSize, data.count - offset)
        var cursor = offset
        while cursor < pieceEnd {
            let piece = UnsafeRawBufferPointer(rebasing: data[cursor..<pieceEnd])
            guard let cut = chunker.nextCut(in: piece) else { break }
            cursor += cut
            precondition(cursor > chunkStart, "a chunker emitted an empty chunk")
            ends.append(cursor)
            chunkStart = cursor
        }
        offset = pieceEnd
    }
    if chunkStart < data.count { ends.append(data.count) }
    chunker.reset()
    return ends
}
