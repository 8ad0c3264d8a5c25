// Yamux frame headers and a streaming frame decoder. Format:
// formats/libp2p.md, section 7.

import NIOCore

/// A 12-byte Yamux header: version, type, flags, stream ID, length (big-endian).
public struct YamuxHeader: Hashable, Sendable, CustomStringConvertible {
    public enum FrameType: UInt8, Sendable {
        case data = 0
        case windowUpdate = 1
        case ping = 2
        case goAway = 3
    }

    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let syn = Flags(rawValue: 0x1)
        public static let ack = Flags(rawValue: 0x2)
        public static let fin = Flags(rawValue: 0x4)
        public static let rst = Flags(rawValue: 0x8)
    }

    /// GoAway codes.
    public enum GoAwayCode: UInt32, Sendable {
        case normal = 0
        case protocolError = 1
        case internalError = 2
    }

    public static let size = 12
    public static let version: UInt8 = 0

    public var type: FrameType
    /// Flags; bits other than SYN, ACK, FIN and RST are carried and ignored.
    public var flags: Flags
    public var streamID: UInt32
    /// Data: payload bytes. Window update: the increment. Ping: the opaque
    /// value. GoAway: the code.
    public var length: UInt32

    public init(type: FrameType, flags: Flags = [], streamID: UInt32, length: UInt32) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.length = length
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(Self.version, type.rawValue, flags.rawValue, streamID, length)
    }

    public var encoded: [UInt8] {
        var buffer = ByteBuffer()
        write(into: &buffer)
        return buffer.readBytes(length: Self.size)!
    }

    /// Reads a header from the front of `buffer`; nil (consuming nothing) if
    /// fewer than 12 bytes are there.
    /// - Throws: `.protocolViolation` for a version other than 0 or an unknown type.
    public static func read(from buffer: inout ByteBuffer) throws(P2PError) -> YamuxHeader? {
        guard let (version, type, flags, streamID, length) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, as: (UInt8, UInt8, UInt16, UInt32, UInt32).self)
        else { return nil }
        guard version == Self.version else { throw P2PError(.protocolViolation, "Yamux version \(version)") }
        guard let frameType = FrameType(rawValue: type) else { throw P2PError(.protocolViolation, "Yamux frame type \(type)") }
        buffer.moveReaderIndex(forwardBy: size)
        return YamuxHeader(type: frameType, flags: Flags(rawValue: flags), streamID: streamID, length: length)
    }

    public var description: String {
        var names: [String] = []
        if flags.contains(.syn) { names.append("SYN") }
        if flags.contains(.ack) { names.append("ACK") }
        if flags.contains(.fin) { names.append("FIN") }
        if flags.contains(.rst) { names.append("RST") }
        return "\(type) stream \(streamID) length \(length)" + (names.isEmpty ? "" : " [" + names.joined(separator: ",") + "]")
    }
}

/// Splits a byte stream into Yamux headers and payload pieces without
/// copying payloads: a data frame's payload comes out as slices of the input
/// buffers, however the frame was cut across them.
public struct YamuxFrameDecoder {
    public enum Event: Equatable, Sendable {
        case header(YamuxHeader)
        /// Part of the current data frame's payload; `last` when it completes the frame.
        case payload(ByteBuffer, last: Bool)
    }

    /// Bytes of an incomplete header carried over from the previous input.
    private var headerBytes = ByteBuffer()
    /// Payload bytes still expected for the current data frame.
    public private(set) var payloadRemaining = 0

    public init() {}

    /// The next event from `input`, or nil when `input` is exhausted.
    /// - Throws: `.protocolViolation` for a bad version or type.
    public mutating func next(_ input: inout ByteBuffer) throws(P2PError) -> Event? {
        if payloadRemaining > 0 {
            guard input.readableBytes > 0 else { return nil }
            let count = min(payloadRemaining, input.readableBytes)
            payloadRemaining -= count
            return .payload(input.readSlice(length: count)!, last: payloadRemaining == 0)
        }
        let header: YamuxHeader
        if headerBytes.readableBytes > 0 || input.readableBytes < YamuxHeader.size {
            let need = YamuxHeader.size - headerBytes.readableBytes
            guard input.readableBytes > 0 else { return nil }
            var piece = input.readSlice(length: min(need, input.readableBytes))!
            headerBytes.writeBuffer(&piece)
            guard let complete = try YamuxHeader.read(from: &headerBytes) else { return nil }
            headerBytes.clear()
            header = complete
        } else {
            header = try YamuxHeader.read(from: &input)!
        }
        if header.type == .data { payloadRemaining = Int(header.length) }
        return .header(header)
    }
}
