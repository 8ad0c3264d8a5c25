import Multiformats
import Protobuf

/// The UnixFS `Data` message carried in a dag-pb node's Data field.
/// Format: formats/unixfs.md, "UnixFS Data".
public struct UnixFSData: Hashable, Sendable {
    public enum Kind: UInt64, Sendable {
        case raw = 0
        case directory = 1
        case file = 2
        case metadata = 3
        case symlink = 4
        case hamtShard = 5
    }

    /// Seconds and nanoseconds since the Unix epoch (`IPFSTimestamp`).
    public struct Timestamp: Hashable, Sendable {
        public var seconds: Int64
        /// 1...999_999_999 when present; absent (nil) for whole seconds.
        public var nanoseconds: UInt32?
        public init(seconds: Int64, nanoseconds: UInt32? = nil) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }
    }

    public var kind: Kind
    public var data: [UInt8]?
    public var fileSize: UInt64?
    public var blockSizes: [UInt64]
    public var hashType: UInt64?
    public var fanout: UInt64?
    /// Unix permission bits (low 12 bits) plus extended bits above them.
    public var mode: UInt32?
    public var mtime: Timestamp?

    public init(kind: Kind, data: [UInt8]? = nil, fileSize: UInt64? = nil, blockSizes: [UInt64] = [],
                hashType: UInt64? = nil, fanout: UInt64? = nil, mode: UInt32? = nil, mtime: Timestamp? = nil) {
        self.kind = kind
        self.data = data
        self.fileSize = fileSize
        self.blockSizes = blockSizes
        self.hashType = hashType
        self.fanout = fanout
        self.mode = mode
        self.mtime = mtime
    }

    /// The encoded message, fields in field-number order; blocksizes unpacked (proto2).
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 16 + (data?.count ?? 0) + blockSizes.count * 4)
        write(into: &writer, data: data)
        return writer.bytes
    }

    /// Writes every field; `data` is passed separately so that leaves can encode
    /// a chunk without first copying it into `self.data`.
    func write(into writer: inout ProtobufWriter, data: (some Collection<UInt8>)?) {
        writer.writeVarint(field: 1, kind.rawValue)
        if let data { writer.writeBytes(field: 2, data) }
        if let fileSize { writer.writeVarint(field: 3, fileSize) }
        for size in blockSizes { writer.writeVarint(field: 4, size) }
        if let hashType { writer.writeVarint(field: 5, hashType) }
        if let fanout { writer.writeVarint(field: 6, fanout) }
        if let mode { writer.writeVarint(field: 7, UInt64(mode)) }
        if let mtime {
            var inner = ProtobufWriter(capacity: 16)
            inner.writeVarint(field: 1, UInt64(bitPattern: mtime.seconds))
            if let nanos = mtime.nanoseconds { inner.writeFixed32(field: 2, nanos) }
            writer.writeBytes(field: 8, inner.bytes)
        }
    }

    /// Decodes a UnixFS Data message.
    public init(decoding bytes: [UInt8]) throws(UnixFSError) {
        let view = try UnixFSData.decodeView(bytes, range: 0..<bytes.count)
        self = view.message
        self.data = view.data.map { Array(bytes[$0]) }
    }

    /// Decodes the message in `bytes[range]` (a dag-pb node's Data field)
    /// without copying its `data` field: the returned message has `data == nil`
    /// and `data` is the range of the payload inside `bytes`.
    public static func decodeView(_ bytes: [UInt8], range: Range<Int>) throws(UnixFSError) -> (message: UnixFSData, data: Range<Int>?) {
        try bytes.withUnsafeBytes { raw in Result { () throws(UnixFSError) in try decodeView(raw, range: range) } }.get()
    }

    /// As `decodeView(_: [UInt8], range:)`, over memory the caller keeps valid.
    public static func decodeView(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(UnixFSError) -> (message: UnixFSData, data: Range<Int>?) {
        var reader = ProtoReader(bytes, range: range, options: .dagPB)
        var kind: Kind?
        var message = UnixFSData(kind: .raw)
        var dataRange: Range<Int>?
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .varint):
                let raw = try reader.readVarint()
                guard let k = Kind(rawValue: raw) else { throw UnixFSError(.malformedUnixFS, "unknown Data type \(raw)") }
                kind = k
            case (2, .lengthDelimited):
                dataRange = try reader.readLengthDelimited()
            case (3, .varint):
                message.fileSize = try reader.readVarint()
            case (4, .varint):
                message.blockSizes.append(try reader.readVarint())
            case (4, .lengthDelimited):
                // Packed encoding: accepted on input, never written.
                var inner = try reader.readMessage()
                while !inner.isAtEnd { message.blockSizes.append(try inner.readVarint()) }
            case (5, .varint):
                message.hashType = try reader.readVarint()
            case (6, .varint):
                message.fanout = try reader.readVarint()
            case (7, .varint):
                message.mode = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (8, .lengthDelimited):
                var timestampReader = try reader.readMessage()
                var seconds: Int64?
                var nanos: UInt32?
                while let (tf, tw) = try timestampReader.nextField() {
                    switch (tf, tw) {
                    case (1, .varint): seconds = Int64(bitPattern: try timestampReader.readVarint())
                    case (2, .fixed32): nanos = try timestampReader.readFixed32()
                    default: try timestampReader.skip(tw)
                    }
                }
                guard let seconds else { throw UnixFSError(.malformedUnixFS, "mtime without seconds") }
                message.mtime = Timestamp(seconds: seconds, nanoseconds: nanos)
            default:
                // Unknown fields are tolerated in UnixFS (unlike dag-pb): newer writers may add some.
                try reader.skip(wire)
            }
        }
        guard let kind else { throw UnixFSError(.malformedUnixFS, "missing Type") }
        message.kind = kind
        return (message, dataRange)
    }
}
