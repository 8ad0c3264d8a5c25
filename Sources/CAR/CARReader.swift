import Blocks
import Multiformats

/// Bounds on what a `CARReader` accepts, so that hostile input cannot make it
/// hold more than a few MiB. Format: formats/car.md, "Limits".
public struct CARLimits: Hashable, Sendable {
    /// Largest CARv1 header (the dag-cbor bytes after the length varint).
    /// Default 1 MiB: a header is a few roots; go-car allows 32 MiB.
    public var maxHeaderSize: Int
    /// Most roots a header may list. Default 4096.
    public var maxRoots: Int
    /// Largest section (CID + block bytes, after the length varint). Default
    /// `Block.maxSize + CID.maxLength`: a 2 MiB block behind the longest CID
    /// tau parses. With verification on, block bytes are also held to `Block.maxSize`.
    public var maxSectionSize: Int
    /// Largest CARv2 index the reader will hold when asked to parse it.
    /// Default 64 MiB: 1.6 million sha2-256 records.
    public var maxIndexSize: Int

    public init(maxHeaderSize: Int = 1 << 20, maxRoots: Int = 4096,
                maxSectionSize: Int = Block.maxSize + CID.maxLength, maxIndexSize: Int = 64 << 20) {
        self.maxHeaderSize = maxHeaderSize
        self.maxRoots = maxRoots
        self.maxSectionSize = maxSectionSize
        self.maxIndexSize = maxIndexSize
    }

    public static let `default` = CARLimits()
}

/// A push parser for CARv1 and CARv2 streams: feed it the bytes in pieces of
/// any size with `parse`, call `finish` at the end of the input, and it hands
/// back the header, then each block, then (if asked) the CARv2 index.
/// Format: formats/car.md.
///
/// The same input gives the same events however it is cut into pieces.
/// Memory is bounded by `CARLimits` (one section, or the header, or the index
/// when it is parsed), whatever the size of the CAR. Every block is checked
/// against its CID unless `verifyingBlocks` is false. A CARv2's inner CARv1 is
/// read between its data offset and data size; padding is skipped, and the
/// index is skipped unless `readingIndex` is true.
///
/// Errors are `CARError`s that name the byte offset; after one, the reader
/// stays failed and every call rethrows it. No input makes it trap.
public struct CARReader: Sendable {
    /// What the reader found, in stream order.
    public enum Event: Hashable, Sendable {
        /// Always first: the roots (and the CARv2 header, for a CARv2).
        case header(CARHeader)
        /// A section's block, verified against its CID unless verification is off.
        case block(Block)
        /// The CARv2 index, from `finish`, when the reader was asked to read it.
        case index(CARIndex)
    }

    public let limits: CARLimits
    /// Whether each block is re-hashed and compared with its CID.
    public let verifyingBlocks: Bool
    /// Whether a CARv2 index is collected and decoded (otherwise skipped).
    public let readingIndex: Bool

    /// The header, once parsed.
    public private(set) var header: CARHeader?
    /// Bytes consumed so far (the stream offset of the next byte).
    public var bytesConsumed: UInt64 { position }

    private enum Phase {
        /// The varint before a CARv1 header (at the start: possibly the pragma's 0x0A).
        case headerLength
        case header(length: Int)
        /// The 40 bytes after the CARv2 pragma.
        case v2Header
        case skipping(to: UInt64, then: Destination)
        case sectionLength
        /// The start of a section, until its CID parses.
        case sectionCID(length: Int)
        /// The rest of the section: `blockBytes` fills up to `length`.
        case sectionData(cid: CID, length: Int)
        case index
        /// After a CARv2 payload that has no index: ignored, as go-car does.
        case ignoringRest
        case failed(CARError)
        case finished
    }

    private enum Destination { case payload, index }

    /// How many bytes of a section are gathered at a time while looking for
    /// its CID when the section is split across pieces: enough for any
    /// sha2-256 CID, small enough that little is copied twice.
    private static let cidProbeSize = 64

    private var phase = Phase.headerLength
    private var position: UInt64 = 0
    /// Start of the item being read (header or section), for messages.
    private var itemStart: UInt64 = 0
    private var varint = StreamingVarint()
    /// A header, a section's first bytes, the CARv2 header or the index, as they arrive.
    private var pending: [UInt8] = []
    /// The block of the current section, when it spans pieces: filled in place, then handed over.
    private var blockBytes: [UInt8] = []
    private var v2: CARv2Header?
    /// End of the CARv2 data payload, once inside it.
    private var payloadEnd: UInt64?
    private var indexBytesSeen: UInt64 = 0

    public init(limits: CARLimits = .default, verifyingBlocks: Bool = true, readingIndex: Bool = false) {
        self.limits = limits
        self.verifyingBlocks = verifyingBlocks
        self.readingIndex = readingIndex
    }

    /// Consumes the next piece of the stream and returns what it completed.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(CARError) -> [Event] {
        var events: [Event] = []
        var input = bytes
        do {
            try consume(&input, into: &events)
        } catch {
            phase = .failed(error)
            throw error
        }
        return events
    }

    /// Consumes the next piece of the stream and returns what it completed.
    public mutating func parse(_ bytes: [UInt8]) throws(CARError) -> [Event] {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        try bytes.withUnsafeBytes { raw in Result { () throws(CARError) in try parse(raw) } }.get()
    }

    /// Ends the stream. Throws `.truncated` unless the input ended where a CAR
    /// may end: after a whole section (and, for a CARv2, after its whole
    /// payload, with an index present if the header announces one). Returns the
    /// index event when `readingIndex` is set and the CAR has one.
    @discardableResult
    public mutating func finish() throws(CARError) -> [Event] {
        do {
            let events = try endOfInput()
            phase = .finished
            return events
        } catch {
            phase = .failed(error)
            throw error
        }
    }

    // MARK: The state machine

    private mutating func consume(_ input: inout UnsafeRawBufferPointer, into events: inout [Event]) throws(CARError) {
        switch phase {
        case .failed(let error): throw error
        case .finished: throw CARError(.readerClosed, "parse called after finish")
        default: break
        }
        while !input.isEmpty {
            switch phase {
            case .headerLength:
                guard let length = try lengthVarint(&input, inside: "the CARv1 header length") else { continue }
                guard length > 0 else { throw CARError(.invalidHeader, "header length is 0", at: itemStart) }
                guard length <= UInt64(limits.maxHeaderSize) else {
                    throw CARError(.limitExceeded, "header of \(length) bytes exceeds the limit of \(limits.maxHeaderSize)", at: itemStart)
                }
                pending = []
                pending.reserveCapacity(Int(length))
                phase = .header(length: Int(length))

            case .header(let length):
                let count = min(length - pending.count, try payloadAvailable(input, inside: "the CARv1 header"))
                pending.append(contentsOf: take(&input, count))
                if pending.count == length { try headerComplete(into: &events) }

            case .v2Header:
                let count = min(CARv2Header.encodedSize - pending.count, input.count)
                pending.append(contentsOf: take(&input, count))
                if pending.count == CARv2Header.encodedSize {
                    let header: CARv2Header
                    do {
                        header = try CARv2Header(decoding: pending)
                    } catch {
                        throw CARError(error.code, error.detail, at: position - UInt64(CARv2Header.encodedSize))
                    }
                    v2 = header
                    pending = []
                    skip(to: header.dataOffset, then: .payload)
                }

            case .skipping(let target, let destination):
                _ = take(&input, Int(min(UInt64(input.count), target - position)))
                if position == target { enter(destination) }

            case .sectionLength:
                guard let length = try lengthVarint(&input, inside: "a section length") else { continue }
                guard length > 0 else { throw CARError(.invalidSection, "zero-length section", at: itemStart) }
                guard length <= UInt64(limits.maxSectionSize) else {
                    throw CARError(.limitExceeded, "section of \(length) bytes exceeds the limit of \(limits.maxSectionSize)", at: itemStart)
                }
                phase = .sectionCID(length: Int(length))

            case .sectionCID(let length):
                let available = try payloadAvailable(input, inside: "a section")
                if pending.isEmpty && available >= length {
                    // The whole section is in this piece: read it in place.
                    let body = take(&input, length)
                    var offset = 0
                    // A whole section never leaves the CID unfinished: this is never nil.
                    if let cid = try sectionCID(body, at: &offset, sectionLength: length) {
                        try blockComplete(cid: cid, data: Array(UnsafeRawBufferPointer(rebasing: body[offset...])), into: &events)
                    }
                    continue
                }
                let count = min(length - pending.count, CARReader.cidProbeSize, available)
                pending.append(contentsOf: take(&input, count))
                var offset = 0
                guard let cid = try sectionCID(pending, at: &offset, sectionLength: length) else { continue }
                let dataLength = length - offset
                blockBytes = []
                blockBytes.reserveCapacity(dataLength)
                blockBytes.append(contentsOf: pending[offset...])
                pending.removeAll(keepingCapacity: true)
                phase = .sectionData(cid: cid, length: dataLength)
                if blockBytes.count == dataLength { try blockBytesComplete(cid: cid, into: &events) }

            case .sectionData(let cid, let length):
                let count = min(length - blockBytes.count, try payloadAvailable(input, inside: "a section"))
                blockBytes.append(contentsOf: take(&input, count))
                if blockBytes.count == length { try blockBytesComplete(cid: cid, into: &events) }

            case .index:
                let piece = take(&input, input.count)
                indexBytesSeen += UInt64(piece.count)
                if readingIndex {
                    guard pending.count + piece.count <= limits.maxIndexSize else {
                        throw CARError(.limitExceeded, "index exceeds the limit of \(limits.maxIndexSize) bytes", at: position)
                    }
                    pending.append(contentsOf: piece)
                }

            case .ignoringRest:
                _ = take(&input, input.count)

            case .failed, .finished:
                // Handled before the loop; the loop never enters these.
                return
            }
        }
    }

    private mutating func endOfInput() throws(CARError) -> [Event] {
        switch phase {
        case .failed(let error):
            throw error
        case .finished:
            throw CARError(.readerClosed, "finish called twice")
        case .headerLength where position == 0:
            throw CARError(.truncated, "empty input: no CAR header", at: 0)
        case .headerLength where payloadEnd != nil && varint.isEmpty:
            throw CARError(.truncated, "input ends before the CARv1 header of the CARv2 data payload", at: position)
        case .headerLength, .header:
            throw CARError(.truncated, "input ends inside the CAR header", at: position)
        case .v2Header:
            throw CARError(.truncated, "input ends inside the 40-byte CARv2 header", at: position)
        case .skipping(let target, .payload):
            throw CARError(.truncated, "CARv2 data offset \(target) is past the end of the input", at: position)
        case .skipping(let target, .index):
            throw CARError(.truncated, "CARv2 index offset \(target) is past the end of the input", at: position)
        case .sectionLength:
            guard varint.isEmpty else { throw CARError(.truncated, "input ends inside a section length", at: position) }
            if let payloadEnd, position < payloadEnd {
                throw CARError(.truncated, "input ends before the CARv2 data payload does (data size \(v2?.dataSize ?? 0) ends at byte \(payloadEnd))", at: position)
            }
            return []
        case .sectionCID(let length):
            throw CARError(.truncated, "input ends inside the \(length)-byte section that starts at byte \(itemStart)", at: position)
        case .sectionData(let cid, _):
            throw CARError(.truncated, "input ends inside the section of \(cid) that starts at byte \(itemStart)", at: position)
        case .index:
            guard indexBytesSeen > 0 else {
                throw CARError(.truncated, "the CARv2 header announces an index at byte \(position), where the input ends", at: position)
            }
            guard readingIndex else { return [] }
            let index: CARIndex
            do {
                index = try CARIndex(decoding: pending)
            } catch {
                throw CARError(error.code, error.detail, at: position - UInt64(pending.count))
            }
            pending = []
            return [.index(index)]
        case .ignoringRest:
            return []
        }
    }

    // MARK: Steps

    /// Feeds one byte of a length varint; returns the value when it is complete.
    private mutating func lengthVarint(_ input: inout UnsafeRawBufferPointer, inside what: String) throws(CARError) -> UInt64? {
        _ = try payloadAvailable(input, inside: what)
        if varint.isEmpty { itemStart = position }
        let byte = input[0]
        _ = take(&input, 1)
        return try varint.push(byte, at: itemStart)
    }

    private mutating func headerComplete(into events: inout [Event]) throws(CARError) {
        let value: DAGCBOR
        do {
            value = try DAGCBORDecoder().decode(pending)
        } catch {
            throw CARError(.invalidHeader, "header is not dag-cbor: \(error)", at: itemStart)
        }
        guard case .map(let fields) = value else {
            throw CARError(.invalidHeader, "header is a \(value.kind), not a map", at: itemStart)
        }
        guard let versionField = fields["version"] else {
            throw CARError(.invalidHeader, "header has no version", at: itemStart)
        }
        guard let version = versionField.unsignedValue else {
            throw CARError(.invalidHeader, "version is \(versionField), not a non-negative integer", at: itemStart)
        }
        switch version {
        case 1:
            guard let rootsField = fields["roots"] else {
                throw CARError(.invalidHeader, "CARv1 header has no roots", at: itemStart)
            }
            guard case .array(let items) = rootsField else {
                throw CARError(.invalidHeader, "roots is a \(rootsField.kind), not a list", at: itemStart)
            }
            guard items.count <= limits.maxRoots else {
                throw CARError(.limitExceeded, "\(items.count) roots exceed the limit of \(limits.maxRoots)", at: itemStart)
            }
            var roots: [CID] = []
            roots.reserveCapacity(items.count)
            for (number, item) in items.enumerated() {
                guard case .link(let cid) = item else {
                    throw CARError(.invalidHeader, "root \(number) is a \(item.kind), not a link", at: itemStart)
                }
                roots.append(cid)
            }
            pending = []
            let header = CARHeader(roots: roots, v2: v2)
            self.header = header
            events.append(.header(header))
            phase = .sectionLength
            leavePayloadIfComplete()
        case 2 where v2 != nil:
            throw CARError(.unsupportedVersion, "a CARv2 data payload must be a CARv1, but its header says version 2", at: itemStart)
        case 2:
            // Only the exact pragma introduces a CARv2 (the length varint was 10).
            guard pending.elementsEqual(CARv2Header.pragma.dropFirst()) else {
                throw CARError(.invalidV2Header, "a version 2 header must be exactly the CARv2 pragma", at: itemStart)
            }
            pending = []
            phase = .v2Header
        default:
            throw CARError(.unsupportedVersion, "version \(version) (tau reads versions 1 and 2)", at: itemStart)
        }
    }

    /// Parses the CID at the start of a section's bytes. Returns `nil` when
    /// `bytes` is only part of the section and the CID may continue past it.
    private func sectionCID<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes, at offset: inout Int, sectionLength: Int
    ) throws(CARError) -> CID? where Bytes.Index == Int {
        do {
            return try CID(parsing: bytes, at: &offset)
        } catch where error == .truncated {
            guard bytes.count == sectionLength else { return nil }
            throw CARError(.invalidSection, "the CID runs past the end of its \(sectionLength)-byte section", at: itemStart)
        } catch {
            throw CARError(.invalidCID, "section does not start with a CID: \(error)", at: itemStart)
        }
    }

    private mutating func blockBytesComplete(cid: CID, into events: inout [Event]) throws(CARError) {
        let data = blockBytes
        blockBytes = []
        try blockComplete(cid: cid, data: data, into: &events)
    }

    private mutating func blockComplete(cid: CID, data: [UInt8], into events: inout [Event]) throws(CARError) {
        events.append(.block(try makeBlock(cid: cid, data: data)))
        phase = .sectionLength
        leavePayloadIfComplete()
    }

    private func makeBlock(cid: CID, data: [UInt8]) throws(CARError) -> Block {
        guard verifyingBlocks else { return Block(cid: cid, bytes: data) }
        do {
            return try Block(verifying: data, cid: cid)
        } catch {
            switch error.code {
            case .tooLarge:
                throw CARError(.limitExceeded, "block of \(data.count) bytes for \(cid) exceeds \(Block.maxSize) bytes", at: itemStart)
            case .unsupportedHash:
                throw CARError(.verificationFailed, "cannot verify \(cid): tau does not compute hash function 0x\(String(cid.hashCode, radix: 16)) (read without verification to accept it)", at: itemStart)
            default:
                throw CARError(.verificationFailed, "block does not hash to its CID \(cid)", at: itemStart)
            }
        }
    }

    /// After a section of a CARv2 payload: moves past the payload when it is complete.
    private mutating func leavePayloadIfComplete() {
        guard let payloadEnd, position == payloadEnd, let v2 else { return }
        if v2.indexOffset == 0 {
            phase = .ignoringRest
        } else {
            skip(to: v2.indexOffset, then: .index)
        }
    }

    private mutating func skip(to target: UInt64, then destination: Destination) {
        if position == target { enter(destination) } else { phase = .skipping(to: target, then: destination) }
    }

    private mutating func enter(_ destination: Destination) {
        switch destination {
        case .payload:
            payloadEnd = position + (v2?.dataSize ?? 0)
            phase = .headerLength
        case .index:
            pending = []
            phase = .index
        }
    }

    /// How many of `input`'s bytes the current item may take: all of them,
    /// except that inside a CARv2 payload nothing may cross its end.
    private func payloadAvailable(_ input: UnsafeRawBufferPointer, inside what: String) throws(CARError) -> Int {
        guard let payloadEnd else { return input.count }
        guard position < payloadEnd else {
            throw CARError(.truncated, "the CARv2 data payload (data size \(v2?.dataSize ?? 0)) ends inside \(what)", at: position)
        }
        return Int(min(UInt64(input.count), payloadEnd - position))
    }

    /// The first `count` bytes of `input`, which then starts after them.
    private mutating func take(_ input: inout UnsafeRawBufferPointer, _ count: Int) -> UnsafeRawBufferPointer {
        let head = UnsafeRawBufferPointer(rebasing: input[..<count])
        input = UnsafeRawBufferPointer(rebasing: input[count...])
        position += UInt64(count)
        return head
    }
}

/// A multiformats unsigned varint read one byte at a time, for varints split
/// across pieces. Same rules as `Varint.decode`: at most 9 bytes, minimal.
struct StreamingVarint {
    private var value: UInt64 = 0
    private var length = 0

    var isEmpty: Bool { length == 0 }

    /// Adds the next byte; returns the value when this byte ends the varint.
    mutating func push(_ byte: UInt8, at start: UInt64) throws(CARError) -> UInt64? {
        value |= UInt64(byte & 0x7F) << UInt64(7 * length)
        length += 1
        if byte & 0x80 != 0 {
            guard length < Varint.maxLength else {
                throw CARError(.invalidVarint, "varint longer than \(Varint.maxLength) bytes", at: start)
            }
            return nil
        }
        guard byte != 0 || length == 1 else {
            throw CARError(.invalidVarint, "varint is not minimally encoded", at: start)
        }
        defer { self = StreamingVarint() }
        return value
    }
}
