import Blocks
import CAR
import ContentCache
import Multiformats
import NIOCore
import Synchronization

/// Gathers body bytes into chunks of `chunkSize` and writes each through the
/// sink, which waits for the socket to drain. Used by one task at a time.
final class BodyChunker {
    private let sink: ResponseSink
    private let chunkSize: Int
    private var chunk: ByteBuffer
    private var sectionPrefix: [UInt8] = []

    init(sink: ResponseSink, chunkSize: Int) {
        self.sink = sink
        self.chunkSize = chunkSize
        chunk = ByteBufferAllocator().buffer(capacity: chunkSize)
    }

    func append(_ bytes: some Collection<UInt8>) async throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let room = chunkSize - chunk.readableBytes
            let piece = rest.prefix(room)
            chunk.writeBytes(piece)
            rest = rest.dropFirst(piece.count)
            if chunk.readableBytes >= chunkSize { try await flush() }
        }
    }

    /// A CAR section: length, CID, block.
    func appendSection(cid: CID, block: [UInt8]) async throws {
        sectionPrefix.removeAll(keepingCapacity: true)
        CAREncoder.appendSectionPrefix(cid: cid, blockSize: block.count, to: &sectionPrefix)
        try await append(sectionPrefix)
        try await append(block)
    }

    func flush() async throws {
        guard chunk.readableBytes > 0 else { return }
        let full = chunk
        chunk = ByteBufferAllocator().buffer(capacity: chunkSize)
        try await sink.write(full)
    }
}

/// Cuts a file's bytes, arriving in order from `start`, at segment
/// boundaries; writes each piece through the sink and caches the whole
/// segments (a piece that starts mid-segment, at a range's start, is not).
final class SegmentWriter {
    private let segments: FileSegments
    private let sink: ResponseSink
    private let cache: ContentCache
    private var buffer: ByteBuffer
    /// File offset of the buffer's first byte, and of the next byte.
    private var bufferStart: UInt64
    private var offset: UInt64

    init(segments: FileSegments, start: UInt64, sink: ResponseSink, cache: ContentCache) {
        self.segments = segments
        self.sink = sink
        self.cache = cache
        buffer = ByteBufferAllocator().buffer(capacity: segments.segmentSize)
        bufferStart = start
        offset = start
    }

    func append(_ bytes: ArraySlice<UInt8>) async throws {
        var rest = bytes
        let segmentSize = UInt64(segments.segmentSize)
        while !rest.isEmpty {
            let segmentEnd = min((offset / segmentSize + 1) * segmentSize, segments.size)
            let count = min(rest.count, Int(segmentEnd - offset))
            buffer.writeBytes(rest.prefix(count))
            rest = rest.dropFirst(count)
            offset += UInt64(count)
            if offset == segmentEnd { try await emit() }
        }
    }

    /// Sends what is buffered (the end of a range that stops mid-segment).
    func finish() async throws {
        if buffer.readableBytes > 0 { try await emit() }
    }

    private func emit() async throws {
        let piece = buffer
        let index = Int(bufferStart / UInt64(segments.segmentSize))
        if segments.range(of: index) == bufferStart..<offset {
            cache.insertDerivedValue(piece, forKey: segments.key(index), cost: piece.capacity)
        }
        buffer = ByteBufferAllocator().buffer(capacity: segments.segmentSize)
        bufferStart = offset
        try await sink.write(piece)
    }
}

/// A block source that remembers what it returned, in order.
final class RecordingSource: BlockSource {
    private let base: any BlockSource
    private let recorded = Mutex<[(cid: CID, bytes: [UInt8])]>([])

    init(_ base: any BlockSource) {
        self.base = base
    }

    var records: [(cid: CID, bytes: [UInt8])] { recorded.withLock { $0 } }

    func get(_ cid: CID) async throws -> [UInt8]? {
        let bytes = try await base.get(cid)
        if let bytes { recorded.withLock { $0.append((cid, bytes)) } }
        return bytes
    }

    func has(_ cid: CID) async throws -> Bool { try await base.has(cid) }
}
