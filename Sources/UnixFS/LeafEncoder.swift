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
