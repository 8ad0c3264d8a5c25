import Multiformats
import Protobuf

/// A link in a dag-pb node: the child's CID, an optional name and the
/// cumulative size of the child's DAG (`Tsize`).
public struct DAGPBLink: Hashable, Sendable {
    public var cid: CID
    /// `nil` means the field is absent; Kubo writes `""` for unnamed file links.
    public var name: String?
    public var tsize: UInt64?

    public init(cid: CID, name: String? = "", tsize: UInt64?) {
        self.cid = cid
        self.name = name
        self.tsize = tsize
    }
}

/// A dag-pb node (codec 0x70): links, then optional data.
/// Format: formats/unixfs.md, "dag-pb".
///
/// Encoding follows the canonical form: links first (in the given order;
/// directories sort them by name before building), each with Hash, Name (when
/// present, even if empty) and Tsize (when present) in field order; then Data
/// when present. Decoding is strict as the dag-pb spec asks: unknown fields,
/// wrong wire types, duplicate fields, out-of-order link fields and links
/// without a hash are rejected; Data is accepted before or after the links.
public struct DAGPBNode: Hashable, Sendable {
    public var links: [DAGPBLink]
    public var data: [UInt8]?

    public init(links: [DAGPBLink] = [], data: [UInt8]?) {
        self.links = links
        self.data = data
    }

    // MARK: Encoding

    /// The encoded block.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: encodedLength)
        for link in links {
            writer.writeLengthDelimitedHeader(field: 2, length: link.encodedLength)
            link.write(into: &writer)
        }
        if let data { writer.writeBytes(field: 1, data) }
        return writer.bytes
    }

    /// Length of `encoded()` without encoding.
    public var encodedLength: Int {
        var total = 0
        for link in links { total += ProtobufWriter.bytesFieldLength(field: 2, payload: link.encodedLength) }
        if let data { total += ProtobufWriter.bytesFieldLength(field: 1, payload: data.count) }
        return total
    }

    // MARK: Decoding

    /// Decodes a dag-pb block.
    public init(decoding bytes: [UInt8]) throws(UnixFSError) {
        let view = try DAGPBNode.decodeView(bytes)
        self.links = view.links
        self.data = view.data.map { Array(bytes[$0]) }
    }

    /// Decodes only the Data field's range and the links, without copying Data:
    /// readers use this to reach a leaf's bytes inside the block they already hold.
    public static func decodeView(_ bytes: [UInt8]) throws(UnixFSError) -> (links: [DAGPBLink], data: Range<Int>?) {
        try bytes.withUnsafeBytes { raw in Result { () throws(UnixFSError) in try decodeView(raw) } }.get()
    }

    /// As `decodeView(_: [UInt8])`, over memory the caller keeps valid for the
    /// call (an LMDB value, say). The Data payload is skipped, not read.
    public static func decodeView(_ bytes: UnsafeRawBufferPointer) throws(UnixFSError) -> (links: [DAGPBLink], data: Range<Int>?) {
        var reader = ProtoReader(bytes, options: .dagPB)
        var links: [DAGPBLink] = []
        var dataRange: Range<Int>?
        var linksClosed = false
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (2, .lengthDelimited):
                guard !linksClosed else { throw UnixFSError(.malformedDAGPB, "links are not contiguous") }
                let range = try reader.readLengthDelimited()
                links.append(try DAGPBLink(decoding: bytes, range: range))
            case (1, .lengthDelimited):
                guard dataRange == nil else { throw UnixFSError(.malformedDAGPB, "duplicate Data field") }
                dataRange = try reader.readLengthDelimited()
                if !links.isEmpty { linksClosed = true }
            default:
                throw UnixFSError(.malformedDAGPB, "unexpected field \(field) with wire type \(wire.rawValue) in PBNode")
            }
        }
        return (links, dataRange)
    }
}

extension DAGPBLink {
    var encodedLength: Int {
        var total = ProtobufWriter.bytesFieldLength(field: 1, payload: cid.bytes.count)
        if let name { total += ProtobufWriter.bytesFieldLength(field: 2, payload: name.utf8.count) }
        if let tsize { total += ProtobufWriter.varintFieldLength(field: 3, tsize) }
        return total
    }

    func write(into writer: inout ProtobufWriter) {
        writer.writeBytes(field: 1, cid.bytes)
        if let name { writer.writeBytes(field: 2, name.utf8) }
        if let tsize { writer.writeVarint(field: 3, tsize) }
    }

    init(decoding bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(UnixFSError) {
        var reader = ProtoReader(bytes, range: range, options: .dagPB)
        var cid: CID?
        var name: String?
        var tsize: UInt64?
        var lastField = 0
        while let (field, wire) = try reader.nextField() {
            guard field > lastField else {
                throw UnixFSError(.malformedDAGPB, "PBLink field \(field) out of order or duplicated")
            }
            lastField = field
            switch (field, wire) {
            case (1, .lengthDelimited):
                let hashRange = try reader.readLengthDelimited()
                do {
                    cid = try CID(bytes: UnsafeRawBufferPointer(rebasing: bytes[hashRange]))
                } catch {
                    throw UnixFSError(.malformedDAGPB, "link Hash is not a CID: \(error)")
                }
            case (2, .lengthDelimited):
                let nameRange = try reader.readLengthDelimited()
                guard let decoded = String(validating: UnsafeRawBufferPointer(rebasing: bytes[nameRange]), as: UTF8.self) else {
                    throw UnixFSError(.malformedDAGPB, "link Name is not UTF-8")
                }
                name = decoded
            case (3, .varint):
                tsize = try reader.readVarint()
            default:
                throw UnixFSError(.malformedDAGPB, "unexpected field \(field) with wire type \(wire.rawValue) in PBLink")
            }
        }
        guard let cid else { throw UnixFSError(.malformedDAGPB, "link without Hash") }
        self.init(cid: cid, name: name, tsize: tsize)
    }
}
