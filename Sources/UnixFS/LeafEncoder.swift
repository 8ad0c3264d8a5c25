import Blocks
import Multiformats
import Protobuf

/// Turns a chunk of file content into a leaf block.
///
/// - `.raw`: the block is the chunk itself (codec raw, always CIDv1).
/// - `.unixfs(kind)`: a dag-pb node with no links whose Data is a UnixFS
///   message of `kind` (File for balanced DAGs, Raw for trickle DAGs, as Kubo
///   writes them) carrying the chunk and its size.
public struct LeafEncoder: Sendable {
    public enum Format: Hashable, Sendable {
        case raw
        case unixfs(UnixFSData.Kind)
    }

    public let format: Format
    public let cids: CIDBuilder

    public init(format: Format, cids: CIDBuilder) {
        self.format = format
        self.cids = cids
    }

    /// Encodes `chunk` (copied once into the block) and names it.
    /// `attributes` apply only to dag-pb leaves that are a file's root.
    public func encode(_ chunk: UnsafeRawBufferPointer, attributes: FileAttributes = FileAttributes()) -> (Block, FileLink) {
        switch format {
        case .raw:
            let bytes = [UInt8](chunk)
            let cid = cids.cid(for: chunk, codec: .raw)
            return (Block(cid: cid, bytes: bytes), FileLink(cid: cid, fileSize: UInt64(chunk.count), tsize: UInt64(chunk.count)))
        case .unixfs(let kind):
            let bytes = Self.encodeUnixFSLeaf(chunk, kind: kind, attributes: attributes)
            let cid = cids.cid(for: bytes, codec: .dagPB)
            return (Block(cid: cid, bytes: bytes), FileLink(cid: cid, fileSize: UInt64(chunk.count), tsize: UInt64(bytes.count)))
        }
    }

    /// The leaf's bytes for `chunk` (copied once), not yet named: the codec is
    /// raw or dag-pb as `format` says. For hashing elsewhere.
    public func encodeBytes(_ chunk: UnsafeRawBufferPointer) -> [UInt8] {
        switch format {
        case .raw: [UInt8](chunk)
        case .unixfs(let kind): Self.encodeUnixFSLeaf(chunk, kind: kind, attributes: FileAttributes())
        }
    }

    /// `PBNode{Data: UnixFS{Type, Data: chunk, filesize}}`, copying the chunk
    /// once. An empty chunk (the empty file) has no Data field, as boxo writes it.
    static func encodeUnixFSLeaf(_ chunk: UnsafeRawBufferPointer, kind: UnixFSData.Kind, attributes: FileAttributes) -> [UInt8] {
        let message = UnixFSData(kind: kind, fileSize: UInt64(chunk.count), mode: attributes.mode, mtime: attributes.mtime)
        let payload: UnsafeRawBufferPointer? = chunk.isEmpty ? nil : chunk
        guard attributes.isEmpty else {
            // Rare (a single-chunk file with metadata): encode, then wrap.
            var inner = ProtobufWriter(capacity: 48 + chunk.count)
            message.write(into: &inner, data: payload)
            var outer = ProtobufWriter(capacity: inner.bytes.count + 6)
            outer.writeBytes(field: 1, inner.bytes)
            return outer.bytes
        }
        var innerLength = ProtobufWriter.varintFieldLength(field: 1, kind.rawValue)
            + ProtobufWriter.varintFieldLength(field: 3, UInt64(chunk.count))
        if let payload { innerLength += ProtobufWriter.bytesFieldLength(field: 2, payload: payload.count) }
        var writer = ProtobufWriter(capacity: ProtobufWriter.bytesFieldLength(field: 1, payload: innerLength))
        writer.writeLengthDelimitedHeader(field: 1, length: innerLength)
        message.write(into: &writer, data: payload)
        return writer.bytes
    }
}

/// Leaves of a fixed chunk size built around bytes read straight into them:
/// the chunk is never copied. The bytes around a full chunk (dag-pb and
/// UnixFS headers, the filesize field after the data) are the same for every
/// full chunk, so they are encoded once.
struct FixedLeafTemplate {
    let chunkSize: Int
    let encoder: LeafEncoder
    /// A full leaf's bytes before and after the chunk (empty for raw leaves).
    private let prefix: [UInt8]
    private let suffix: [UInt8]

    init(chunkSize: Int, encoder: LeafEncoder) {
        self.chunkSize = chunkSize
        self.encoder = encoder
        guard case .unixfs(let kind) = encoder.format else {
            prefix = []
            suffix = []
            return
        }
        // The fields `encodeUnixFSLeaf` writes for a full chunk: PBNode.Data
        // header, UnixFS Type, Data header, then (after the chunk) filesize.
        let innerLength = ProtobufWriter.varintFieldLength(field: 1, kind.rawValue)
            + ProtobufWriter.bytesFieldLength(field: 2, payload: chunkSize)
            + ProtobufWriter.varintFieldLength(field: 3, UInt64(chunkSize))
        var head = ProtobufWriter(capacity: 24)
        head.writeLengthDelimitedHeader(field: 1, length: innerLength)
        head.writeVarint(field: 1, kind.rawValue)
        head.writeLengthDelimitedHeader(field: 2, length: chunkSize)
        var tail = ProtobufWriter(capacity: 8)
        tail.writeVarint(field: 3, UInt64(chunkSize))
        prefix = head.bytes
        suffix = tail.bytes
    }

    /// A leaf whose chunk `fill` reads into the region it is given, returning
    /// how many bytes it wrote: the region's size, or fewer only at the end
    /// of the input. Returns `nil` when `fill` wrote nothing.
    func leaf(_ fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> (bytes: [UInt8], chunkCount: Int)? {
        var count = 0
        var bytes = try [UInt8](unsafeUninitializedCapacity: prefix.count + chunkSize + suffix.count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            count = try fill(UnsafeMutableRawBufferPointer(rebasing: raw[prefix.count..<(prefix.count + chunkSize)]))
            precondition(count >= 0 && count <= chunkSize, "fill wrote \(count) of \(chunkSize) bytes")
            let suffixStart = prefix.count + chunkSize
            prefix.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: raw[..<$0.count]).copyMemory(from: $0) }
            suffix.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: raw[suffixStart...]).copyMemory(from: $0) }
            initialized = buffer.count
        }
        guard count > 0 else { return nil }
        if count < chunkSize {
            // The last, short chunk: its headers differ; encode it the usual way.
            bytes = bytes.withUnsafeBytes { encoder.encodeBytes(UnsafeRawBufferPointer(rebasing: $0[prefix.count..<(prefix.count + count)])) }
        }
        return (bytes, count)
    }
}
