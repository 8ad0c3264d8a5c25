// multistream-select 1.0: protocol negotiation on a fresh connection or
// stream. Format: formats/libp2p.md, section 5.

import Multiformats
import NIOCore

/// The line framing of multistream-select: `varint(n) || text || "\n"`, where
/// n counts the text and the newline.
public enum MultistreamLine {
    /// Appends `text` as one line.
    public static func write(_ text: String, into buffer: inout ByteBuffer) {
        let utf8 = text.utf8
        var prefix: [UInt8] = []
        Varint.append(UInt64(utf8.count + 1), to: &prefix)
        buffer.writeBytes(prefix)
        buffer.writeString(text)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// Reads one line from the front of `buffer`, without its newline.
    /// Returns nil (consuming nothing) when the line is not complete yet.
    /// - Throws: `.limitExceeded` for a line longer than `maxLength` bytes of
    ///   text, `.malformed` for a bad varint, an empty line, a missing newline
    ///   or text that is not UTF-8.
    public static func read(from buffer: inout ByteBuffer, maxLength: Int) throws(P2PError) -> String? {
        let view = buffer.readableBytesView
        var index = view.startIndex
        let length: UInt64
        do {
            length = try Varint.decode(view, at: &index)
        } catch let error where error == .truncated {
            // A varint of more than 9 bytes is refused by decode; a shorter
            // incomplete one waits for more bytes.
            return nil
        } catch {
            throw P2PError(.malformed, "multistream length: \(error)")
        }
        guard length >= 1 else { throw P2PError(.malformed, "empty multistream message") }
        guard length <= UInt64(maxLength) + 1 else {
            throw P2PError(.limitExceeded, "multistream message of \(length) bytes (limit \(maxLength + 1))")
        }
        let prefixLength = index - view.startIndex
        guard buffer.readableBytes >= prefixLength + Int(length) else { return nil }
        let textStart = buffer.readerIndex + prefixLength
        guard buffer.getInteger(at: textStart + Int(length) - 1, as: UInt8.self) == UInt8(ascii: "\n") else {
            throw P2PError(.malformed, "multistream message does not end with a newline")
        }
        let textBytes = buffer.getBytes(at: textStart, length: Int(length) - 1) ?? []
        guard let text = String(validating: textBytes, as: UTF8.self) else {
            throw P2PError(.malformed, "multistream message is not UTF-8")
        }
        buffer.moveReaderIndex(forwardBy: prefixLength + Int(length))
        return text
    }
}

/// One multistream-select 1.0 negotiation, as a pure state machine: the
/// handler (connection upgrade or stream) feeds it the bytes it receives and
/// writes what it produces.
///
/// The initiator sends the multistream header and its first proposal at once
/// (no round trip waiting for the header), then one proposal per `na`. The
/// responder sends its header at once, answers `ls` with its protocols, and
/// echoes the first proposal it supports or says `na`.
public struct MultistreamSelect: Sendable {
    /// The multistream-select protocol ID, the first line each side sends.
    public static let protocolID = "/multistream/1.0.0"
    /// The first byte of every negotiation: the varint length of the header line.
    static let headerLengthByte = UInt8(protocolID.utf8.count + 1)
    /// Default longest line (protocol ID) accepted, in bytes without the newline.
    public static let defaultMaxLineLength = 1024
    /// Default number of proposals a responder answers with `na` before giving up.
    public static let defaultMaxAttempts = 32

    public enum Outcome: Equatable, Sendable {
        /// More bytes are needed.
        case pending
        /// Both sides agreed on this protocol. Bytes after the agreement are
        /// left in the input buffer: they belong to the protocol.
        case selected(String)
    }

    enum State: Sendable {
        case initial
        case awaitingHeader
        case awaitingReply(index: Int)
        case awaitingProposal(attempts: Int)
        case done(String)
    }

    enum Role: Sendable {
        case initiator([String])
        case responder(Set<String>)
    }

    let role: Role
    let maxLineLength: Int
    let maxAttempts: Int
    private(set) var state: State = .initial
    /// Whether this side's header is known to have been accepted.
    private var headerSeen = false

    /// The dialing side, proposing `protocols` in order of preference.
    public init(proposing protocols: [String], maxLineLength: Int = defaultMaxLineLength) {
        precondition(!protocols.isEmpty, "propose at least one protocol")
        role = .initiator(protocols)
        self.maxLineLength = maxLineLength
        self.maxAttempts = protocols.count
    }

    /// The listening side, accepting any of `protocols`.
    public init(supporting protocols: Set<String>, maxLineLength: Int = defaultMaxLineLength,
                maxAttempts: Int = defaultMaxAttempts) {
        role = .responder(protocols)
        self.maxLineLength = maxLineLength
        self.maxAttempts = maxAttempts
    }

    /// The protocol agreed on, once there is one.
    public var selected: String? {
        if case .done(let name) = state { return name }
        return nil
    }

    /// Writes what this side sends before hearing anything.
    public mutating func start(into output: inout ByteBuffer) {
        guard case .initial = state else { return }
        MultistreamLine.write(Self.protocolID, into: &output)
        if case .initiator(let protocols) = role {
            MultistreamLine.write(protocols[0], into: &output)
        }
        state = .awaitingHeader
    }

    /// Consumes complete lines from `input`, appending replies to `output`.
    /// - Throws: `.negotiationFailed` when the peer does not speak
    ///   multistream-select 1.0 or replies out of turn, `.protocolNotSupported`
    ///   when every proposal got `na`, `.limitExceeded` after too many
    ///   proposals, and the line errors of `MultistreamLine.read`.
    public mutating func receive(_ input: inout ByteBuffer, output: inout ByteBuffer) throws(P2PError) -> Outcome {
        if case .initial = state { start(into: &output) }
        if case .awaitingHeader = state, let first = input.getInteger(at: input.readerIndex, as: UInt8.self),
            first != Self.headerLengthByte
        {
            // Every multistream-select exchange starts with the header line, whose
            // length is one byte (19): fail at once on anything else rather than
            // wait for a "line" whose length came from noise (a peer of another
            // private network, or no protocol at all).
            throw P2PError(.negotiationFailed, "the peer does not speak \(Self.protocolID) (first byte 0x\(String(first, radix: 16)))")
        }
        while true {
            if case .done(let name) = state { return .selected(name) }
            guard let line = try MultistreamLine.read(from: &input, maxLength: maxLineLength) else { return .pending }
            try handle(line, output: &output)
        }
    }

    private mutating func handle(_ line: String, output: inout ByteBuffer) throws(P2PError) {
        switch (state, role) {
        case (.awaitingHeader, .initiator):
            try checkHeader(line)
            state = .awaitingReply(index: 0)
        case (.awaitingHeader, .responder):
            try checkHeader(line)
            state = .awaitingProposal(attempts: 0)
        case (.awaitingReply(let index), .initiator(let protocols)):
            if line == protocols[index] {
                state = .done(line)
            } else if line == "na" {
                guard index + 1 < protocols.count else {
                    throw P2PError(.protocolNotSupported, "peer supports none of \(protocols.joined(separator: ", "))")
                }
                MultistreamLine.write(protocols[index + 1], into: &output)
                state = .awaitingReply(index: index + 1)
            } else {
                throw P2PError(.negotiationFailed, "peer answered \(Self.printable(line)) to \(protocols[index])")
            }
        case (.awaitingProposal(let attempts), .responder(let supported)):
            if line == "ls" {
                writeList(supported.sorted(), into: &output)
                state = .awaitingProposal(attempts: attempts)
            } else if supported.contains(line) {
                MultistreamLine.write(line, into: &output)
                state = .done(line)
            } else {
                guard attempts + 1 < maxAttempts else {
                    throw P2PError(.limitExceeded, "peer proposed \(maxAttempts) protocols we do not support")
                }
                MultistreamLine.write("na", into: &output)
                state = .awaitingProposal(attempts: attempts + 1)
            }
        default:
            throw P2PError(.negotiationFailed, "unexpected multistream message \(Self.printable(line))")
        }
    }

    private func checkHeader(_ line: String) throws(P2PError) {
        guard line == Self.protocolID else {
            throw P2PError(.negotiationFailed, "expected \(Self.protocolID), got \(Self.printable(line))")
        }
    }

    /// `text` quoted for a log line, control characters escaped, at most 80 characters.
    static func printable(_ text: String) -> String {
        "\"" + text.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : $0.escaped(asASCII: true) }.joined() + "\""
    }

    /// The `ls` reply: one message whose text is each protocol as a line of
    /// its own, then a newline.
    private func writeList(_ protocols: [String], into output: inout ByteBuffer) {
        var inner = ByteBuffer()
        for name in protocols { MultistreamLine.write(name, into: &inner) }
        inner.writeInteger(UInt8(ascii: "\n"))
        var prefix: [UInt8] = []
        Varint.append(UInt64(inner.readableBytes), to: &prefix)
        output.writeBytes(prefix)
        output.writeBuffer(&inner)
    }
}
