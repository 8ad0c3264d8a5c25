// The Bitswap message (protocols /ipfs/bitswap, /1.0.0, /1.1.0, /1.2.0): a
// protobuf, sent as an unsigned-varint length-prefixed frame. Hand-written
// codec, a plain struct parser whose limits are init parameters.
// Format: formats/bitswap.md, sections 2-4.

import Blocks
import Multiformats
import NIOCore
import P2P
import Protobuf

/// The protocol versions tau speaks, newest first.
public enum BitswapProtocol: String, CaseIterable, Sendable, Comparable {
    case v120 = "/ipfs/bitswap/1.2.0"
    case v110 = "/ipfs/bitswap/1.1.0"
    case v100 = "/ipfs/bitswap/1.0.0"
    case legacy = "/ipfs/bitswap"

    /// Blocks travel as `payload` (prefix + data) from 1.1.0; `blocks` (bare bytes, CIDv0) before.
    public var usesPayload: Bool { self == .v110 || self == .v120 }
    /// want-have, sendDontHave and block presences exist from 1.2.0.
    public var hasPresences: Bool { self == .v120 }

    private var rank: Int {
        switch self {
        case .legacy: 0
        case .v100: 1
        case .v110: 2
        case .v120: 3
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// One Bitswap message. Every part is optional; an empty message is valid.
public struct BitswapMessage: Hashable, Sendable {
    public enum WantType: UInt8, Hashable, Sendable {
        /// Send the block (the default, and the only kind before 1.2.0).
        case block = 0
        /// Say whether you have the block (HAVE), or send it if it is small.
        case have = 1
    }

    /// A wantlist entry (`Message.Wantlist.Entry`).
    public struct Entry: Hashable, Sendable {
        public var cid: CID
        /// Higher first. Protobuf int32; 1 when unset by most implementations.
        public var priority: Int32
        /// Revokes an earlier entry for `cid`.
        public var cancel: Bool
        public var wantType: WantType
        /// Answer DONT_HAVE when the block is missing (1.2.0).
        public var sendDontHave: Bool

        public init(cid: CID, priority: Int32 = 1, cancel: Bool = false, wantType: WantType = .block,
                    sendDontHave: Bool = false) {
            self.cid = cid
            self.priority = priority
            self.cancel = cancel
            self.wantType = wantType
            self.sendDontHave = sendDontHave
        }

        public static func cancel(_ cid: CID) -> Entry { Entry(cid: cid, priority: 0, cancel: true) }
    }

    public enum PresenceType: UInt8, Hashable, Sendable {
        case have = 0
        case dontHave = 1
    }

    /// A block presence (`Message.BlockPresence`, 1.2.0).
    public struct Presence: Hashable, Sendable {
        public var cid: CID
        public var type: PresenceType
        public init(cid: CID, type: PresenceType) {
            self.cid = cid
            self.type = type
        }
    }

    /// Limits for decoding; every field has a documented default
    /// (formats/bitswap.md, section 6).
    public struct Limits: Hashable, Sendable {
        /// The largest message (its protobuf bytes, without the length prefix): 4 MiB.
        public var maxMessageSize = 4 * 1024 * 1024
        /// The largest block: 2 MiB (`Block.maxSize`).
        public var maxBlockSize = Block.maxSize
        /// Wantlist entries in one message: 4096 (also the per-peer wantlist cap).
        public var maxEntries = 4096
        /// Block presences in one message.
        public var maxPresences = 16384
        /// Blocks in one message (`blocks` and `payload` together).
        public var maxBlocks = 4096

        public init(maxMessageSize: Int = 4 * 1024 * 1024, maxBlockSize: Int = Block.maxSize,
                    maxEntries: Int = 4096, maxPresences: Int = 16384, maxBlocks: Int = 4096) {
            self.maxMessageSize = maxMessageSize
            self.maxBlockSize = maxBlockSize
            self.maxEntries = maxEntries
            self.maxPresences = maxPresences
            self.maxBlocks = maxBlocks
        }
    }

    /// Wantlist entries (field 1.1).
    public var wantlist: [Entry]
    /// Whether the wantlist replaces the receiver's view of the sender's wants (field 1.2).
    public var full: Bool
    /// Blocks, each named by the CID its bytes hash to: sent as `payload`
    /// (1.1.0+) or `blocks` (1.0.0, CIDv0 only) depending on the protocol.
    public var blocks: [Block]
    public var presences: [Presence]
    /// Bytes the sender still has queued for the receiver (field 5).
    public var pendingBytes: Int32

    public init(wantlist: [Entry] = [], full: Bool = false, blocks: [Block] = [], presences: [Presence] = [],
                pendingBytes: Int32 = 0) {
        self.wantlist = wantlist
        self.full = full
        self.blocks = blocks
        self.presences = presences
        self.pendingBytes = pendingBytes
    }

    public var isEmpty: Bool { wantlist.isEmpty && !full && blocks.isEmpty && presences.isEmpty && pendingBytes == 0 }

    // MARK: Encoding

    /// The protobuf bytes for a peer speaking `version`. Before 1.1.0 blocks go
    /// in `blocks` (the receiver derives CIDv0 names); before 1.2.0 presences
    /// and want-have entries are left out (those versions have no such thing).
    public func encoded(for version: BitswapProtocol = .v120) -> [UInt8] {
        let parts = EncodedParts(self, version: version)
        var out: [UInt8] = []
        out.reserveCapacity(parts.length)
        out.append(contentsOf: parts.head)
        for (index, block) in blocks.enumerated() {
            out.append(contentsOf: parts.blockHeads[index])
            out.append(contentsOf: block.bytes)
        }
        out.append(contentsOf: parts.tail)
        return out
    }

    /// The message as it goes on the wire: its length as an unsigned varint, then `encoded(for:)`.
    public func framed(for version: BitswapProtocol = .v120) -> [UInt8] {
        let body = encoded(for: version)
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 5)
        Varint.append(UInt64(body.count), to: &out)
        out.append(contentsOf: body)
        return out
    }

    /// Appends `framed(for:)`'s bytes to `buffer`, each block's bytes copied
    /// once, straight from the block (what the sender hands to the stream).
    public func writeFramed(for version: BitswapProtocol = .v120, into buffer: inout ByteBuffer) {
        let parts = EncodedParts(self, version: version)
        let prefix = Varint.encode(UInt64(parts.length))
        buffer.reserveCapacity(minimumWritableBytes: prefix.count + parts.length)
        buffer.writeBytes(prefix)
        buffer.writeBytes(parts.head)
        for (index, block) in blocks.enumerated() {
            buffer.writeBytes(parts.blockHeads[index])
            buffer.writeBytes(block.bytes)
        }
        buffer.writeBytes(parts.tail)
    }

    /// The protobuf of a message cut around its block bytes, which are not
    /// copied here: everything before the first block (the wantlist, field 1),
    /// each block's field header (tag, length, CID prefix for `payload`), and
    /// everything after the last (presences, pending bytes). Field order is
    /// the .proto's, as go-bitswap writes it.
    private struct EncodedParts {
        var head: [UInt8] = []
        var blockHeads: [[UInt8]] = []
        var tail: [UInt8] = []
        /// The protobuf's length: the parts and the block bytes.
        var length = 0

        init(_ message: BitswapMessage, version: BitswapProtocol) {
            let entries = version.hasPresences ? message.wantlist : message.wantlist.filter { $0.cancel || $0.wantType == .block }
            if !entries.isEmpty || message.full {
                var list = ProtobufWriter(capacity: entries.count * 48 + 4)
                for entry in entries {
                    var item = ProtobufWriter(capacity: entry.cid.bytes.count + 16)
                    item.writeBytes(field: 1, entry.cid.bytes)
                    if entry.priority != 0 { item.writeVarint(field: 2, UInt64(bitPattern: Int64(entry.priority))) }
                    if entry.cancel { item.writeVarint(field: 3, 1) }
                    if version.hasPresences {
                        if entry.wantType != .block { item.writeVarint(field: 4, UInt64(entry.wantType.rawValue)) }
                        if entry.sendDontHave { item.writeVarint(field: 5, 1) }
                    }
                    list.writeBytes(field: 1, item.bytes)
                }
                if message.full { list.writeVarint(field: 2, 1) }
                var out = ProtobufWriter(capacity: list.bytes.count + 8)
                out.writeBytes(field: 1, list.bytes)
                head = out.bytes
            }
            blockHeads.reserveCapacity(message.blocks.count)
            var blockBytes = 0
            for block in message.blocks {
                var out = ProtobufWriter(capacity: 48)
                if version.usesPayload {
                    let prefix = CIDPrefix(block.cid).bytes
                    out.appendTag(field: 3, wire: .lengthDelimited)
                    let inner = ProtobufWriter.bytesFieldLength(field: 1, payload: prefix.count)
                        + ProtobufWriter.bytesFieldLength(field: 2, payload: block.bytes.count)
                    out.appendVarint(UInt64(inner))
                    out.writeBytes(field: 1, prefix)
                    out.appendTag(field: 2, wire: .lengthDelimited)
                } else {
                    out.appendTag(field: 2, wire: .lengthDelimited)
                }
                out.appendVarint(UInt64(block.bytes.count))
                blockHeads.append(out.bytes)
                blockBytes += out.bytes.count + block.bytes.count
            }
            var out = ProtobufWriter(capacity: 16)
            if version.hasPresences {
                for presence in message.presences {
                    var item = ProtobufWriter(capacity: presence.cid.bytes.count + 8)
                    item.writeBytes(field: 1, presence.cid.bytes)
                    if presence.type != .have { item.writeVarint(field: 2, UInt64(presence.type.rawValue)) }
                    out.writeBytes(field: 4, item.bytes)
                }
            }
            if message.pendingBytes != 0 { out.writeVarint(field: 5, UInt64(bitPattern: Int64(message.pendingBytes))) }
            tail = out.bytes
            length = head.count + blockBytes + tail.count
        }
    }

    // MARK: Decoding

    /// Parses one message (without its length prefix). Blocks are named by
    /// hashing their bytes as their prefix says (`blocks` entries: CIDv0).
    /// Unknown fields are skipped; unknown want types and presence types drop
    /// their entry.
    /// - Throws: `.malformed` for bad protobuf, CIDs or prefixes;
    ///   `.limitExceeded` past any of `limits`.
    public init(decoding bytes: ArraySlice<UInt8>, limits: Limits = Limits()) throws(BitswapError) {
        guard bytes.count <= limits.maxMessageSize else {
            throw BitswapError(.limitExceeded, "message of \(bytes.count) bytes (limit \(limits.maxMessageSize))")
        }
        var message = BitswapMessage()
        try ProtoReader.reading(bytes) { reader throws(BitswapError) in try message.decode(&reader, limits: limits) }
        self = message
    }

    public init(decoding bytes: [UInt8], limits: Limits = Limits()) throws(BitswapError) {
        try self.init(decoding: bytes[...], limits: limits)
    }

    /// Parses one message from the readable bytes of `buffer` (as read from
    /// the stream), without copying them first; each block's bytes are copied
    /// once, into the block.
    public init(decoding buffer: ByteBuffer, limits: Limits = Limits()) throws(BitswapError) {
        guard buffer.readableBytes <= limits.maxMessageSize else {
            throw BitswapError(.limitExceeded, "message of \(buffer.readableBytes) bytes (limit \(limits.maxMessageSize))")
        }
        let outcome = buffer.withUnsafeReadableBytes { raw in
            Result { () throws(BitswapError) -> BitswapMessage in
                var message = BitswapMessage()
                var reader = ProtoReader(raw)
                try message.decode(&reader, limits: limits)
                return message
            }
        }
        self = try outcome.get()
    }

    private mutating func decode(_ reader: inout ProtoReader, limits: Limits) throws(BitswapError) {
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited):
                try decodeWantlist(reader.readMessage(), limits: limits)
            case (2, .lengthDelimited):
                let data = try reader.readBytes()
                try checkBlock(data.count, limits: limits)
                blocks.append(Block(hashing: Array(data), codec: .dagPB, version: .v0))
            case (3, .lengthDelimited):
                try decodePayload(reader.readMessage(), limits: limits)
            case (4, .lengthDelimited):
                guard presences.count < limits.maxPresences else {
                    throw BitswapError(.limitExceeded, "more than \(limits.maxPresences) block presences")
                }
                if let presence = try Self.decodePresence(reader.readMessage()) { presences.append(presence) }
            case (5, .varint):
                pendingBytes = Int32(truncatingIfNeeded: try reader.readVarint())
            case (1...5, _):
                throw BitswapError(.malformed, "field \(field) has wire type \(wire.rawValue)")
            default:
                try reader.skip(wire)
            }
        }
    }

    private func checkBlock(_ size: Int, limits: Limits) throws(BitswapError) {
        guard blocks.count < limits.maxBlocks else {
            throw BitswapError(.limitExceeded, "more than \(limits.maxBlocks) blocks")
        }
        guard size <= limits.maxBlockSize else {
            throw BitswapError(.limitExceeded, "block of \(size) bytes (limit \(limits.maxBlockSize))")
        }
    }

    private mutating func decodeWantlist(_ message: ProtoReader, limits: Limits) throws(BitswapError) {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited):
                guard wantlist.count < limits.maxEntries else {
                    throw BitswapError(.limitExceeded, "more than \(limits.maxEntries) wantlist entries")
                }
                if let entry = try Self.decodeEntry(reader.readMessage()) { wantlist.append(entry) }
            case (2, .varint):
                full = try reader.readVarint() != 0
            case (1...2, _):
                throw BitswapError(.malformed, "wantlist field \(field) has wire type \(wire.rawValue)")
            default:
                try reader.skip(wire)
            }
        }
    }

    private static func decodeEntry(_ message: ProtoReader) throws(BitswapError) -> Entry? {
        var reader = message
        var cid: CID?
        var entry = Entry(cid: placeholderCID, priority: 0)
        var knownType = true
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): cid = try parseCID(reader.readBytes(), what: "wantlist entry")
            case (2, .varint): entry.priority = Int32(truncatingIfNeeded: try reader.readVarint())
            case (3, .varint): entry.cancel = try reader.readVarint() != 0
            case (4, .varint):
                let raw = try reader.readVarint()
                if let type = raw <= 1 ? WantType(rawValue: UInt8(raw)) : nil { entry.wantType = type } else { knownType = false }
            case (5, .varint): entry.sendDontHave = try reader.readVarint() != 0
            case (1...5, _):
                throw BitswapError(.malformed, "wantlist entry field \(field) has wire type \(wire.rawValue)")
            default:
                try reader.skip(wire)
            }
        }
        guard let cid else { throw BitswapError(.malformed, "wantlist entry without a CID") }
        entry.cid = cid
        return knownType || entry.cancel ? entry : nil
    }

    private mutating func decodePayload(_ message: ProtoReader, limits: Limits) throws(BitswapError) {
        var reader = message
        var prefix = UnsafeRawBufferPointer(start: nil, count: 0)
        var data = UnsafeRawBufferPointer(start: nil, count: 0)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): prefix = try reader.readBytes()
            case (2, .lengthDelimited): data = try reader.readBytes()
            case (1...2, _):
                throw BitswapError(.malformed, "payload field \(field) has wire type \(wire.rawValue)")
            default:
                try reader.skip(wire)
            }
        }
        try checkBlock(data.count, limits: limits)
        let parsed = try CIDPrefix(parsing: ArraySlice(prefix))
        blocks.append(parsed.block(for: Array(data)))
    }

    private static func decodePresence(_ message: ProtoReader) throws(BitswapError) -> Presence? {
        var reader = message
        var cid: CID?
        var type: PresenceType? = .have
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): cid = try parseCID(reader.readBytes(), what: "block presence")
            case (2, .varint):
                let raw = try reader.readVarint()
                type = raw <= 1 ? PresenceType(rawValue: UInt8(raw)) : nil
            case (1...2, _):
                throw BitswapError(.malformed, "block presence field \(field) has wire type \(wire.rawValue)")
            default:
                try reader.skip(wire)
            }
        }
        guard let cid else { throw BitswapError(.malformed, "block presence without a CID") }
        guard let type else { return nil }
        return Presence(cid: cid, type: type)
    }

    private static func parseCID(_ bytes: UnsafeRawBufferPointer, what: String) throws(BitswapError) -> CID {
        do {
            return try CID(bytes: bytes)
        } catch {
            throw BitswapError(.malformed, "\(what) CID: \(error)")
        }
    }

    private static let placeholderCID = CID.v1(.raw, Multihash(code: HashFunction.identity.rawValue, digest: []))
}

/// A CID without its digest: version, codec, hash function and digest length,
/// each an unsigned varint (go-cid's `Prefix.Bytes()`). A 1.1.0+ block is
/// named by hashing its data as the prefix says.
public struct CIDPrefix: Hashable, Sendable {
    public var version: CID.Version
    public var codec: Multicodec
    public var hashFunction: HashFunction
    public var digestLength: Int

    public init(_ cid: CID) {
        version = cid.version
        codec = cid.codec
        hashFunction = cid.hashFunction ?? .sha2_256
        digestLength = cid.digest.count
    }

    /// The prefix's bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8)
        Varint.append(UInt64(version.rawValue), to: &out)
        Varint.append(codec.rawValue, to: &out)
        Varint.append(hashFunction.rawValue, to: &out)
        Varint.append(UInt64(digestLength), to: &out)
        return out
    }

    /// Parses a prefix. An empty prefix means CIDv0 (py-libp2p sends one for
    /// CIDv0 blocks). Only hash functions tau computes, with their full digest
    /// length, are accepted; CIDv0 must be dag-pb with sha2-256.
    /// - Throws: `.malformed`.
    public init(parsing bytes: ArraySlice<UInt8>) throws(BitswapError) {
        if bytes.isEmpty {
            self.init(version: .v0, codec: .dagPB, hashFunction: .sha2_256, digestLength: 32)
            return
        }
        var offset = bytes.startIndex
        do {
            let version = try Varint.decode(bytes, at: &offset)
            let codec = try Varint.decode(bytes, at: &offset)
            let hash = try Varint.decode(bytes, at: &offset)
            let length = try Varint.decode(bytes, at: &offset)
            guard offset == bytes.endIndex else { throw BitswapError(.malformed, "trailing bytes after a CID prefix") }
            guard version <= 1, let cidVersion = CID.Version(rawValue: Int(version)) else {
                throw BitswapError(.malformed, "CID prefix version \(version)")
            }
            guard let function = HashFunction(rawValue: hash), function != .identity,
                  let expected = function.digestLength else {
                throw BitswapError(.malformed, "CID prefix hash function 0x\(String(hash, radix: 16))")
            }
            guard length == UInt64(expected) else {
                throw BitswapError(.malformed, "CID prefix digest length \(length) for \(function)")
            }
            guard cidVersion == .v1 || (codec == Multicodec.dagPB.rawValue && function == .sha2_256) else {
                throw BitswapError(.malformed, "CIDv0 prefix that is not dag-pb sha2-256")
            }
            self.init(version: cidVersion, codec: Multicodec(rawValue: codec), hashFunction: function,
                      digestLength: expected)
        } catch let error as BitswapError {
            throw error
        } catch {
            throw BitswapError(.malformed, "CID prefix: \(error)")
        }
    }

    public init(version: CID.Version, codec: Multicodec, hashFunction: HashFunction, digestLength: Int) {
        self.version = version
        self.codec = codec
        self.hashFunction = hashFunction
        self.digestLength = digestLength
    }

    /// `data` named by hashing it as this prefix says.
    public func block(for data: [UInt8]) -> Block {
        let multihash = Multihash(hashing: data, with: hashFunction)
        return Block(cid: CID(version: version, codec: codec, multihash: multihash), bytes: data)
    }
}
