/// A minimal HTTP/1.1 request head, as the admin API needs it.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    public var target: String
    /// Header names lowercased; values trimmed. Repeated headers keep the last value.
    public var headers: [String: String]

    public var path: Substring { target.prefix { $0 != "?" } }
}

/// Parses a request head from bytes arriving in pieces: a pure state machine,
/// as swift-nio parsers are. Limits are init parameters.
public struct HTTPRequestHeadParser: Sendable {
    public enum ParseError: Error, Equatable, Sendable {
        case tooLarge
        case malformed(String)
    }

    /// Largest head accepted, request line and headers included (default 16 KiB).
    public let maxHeadBytes: Int
    private var buffer: [UInt8] = []

    public init(maxHeadBytes: Int = 16 << 10) {
        self.maxHeadBytes = maxHeadBytes
    }

    /// Feeds bytes; returns the head and the bytes after it once the blank
    /// line has arrived, `nil` while more is needed.
    public mutating func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> (head: HTTPRequestHead, rest: [UInt8])? {
        buffer.append(contentsOf: bytes)
        guard let end = Self.headEnd(buffer) else {
            if buffer.count > maxHeadBytes { throw .tooLarge }
            return nil
        }
        guard end <= maxHeadBytes else { throw .tooLarge }
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        let rest = Array(buffer[(end + 4)...])
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            throw .malformed("bad request line")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("bad header line") }
            let name = line[..<colon].lowercased()
            guard !name.isEmpty, !name.contains(" ") else { throw .malformed("bad header name") }
            headers[name] = line[line.index(after: colon)...].trimmingWhitespace()
        }
        return (HTTPRequestHead(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers), rest)
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Decodes a chunked transfer-encoded body arriving in pieces.
public struct ChunkedBodyDecoder: Sendable {
    public enum DecodeError: Error, Equatable, Sendable { case malformed }

    private enum State: Sendable { case size, data(remaining: Int), dataEnd, trailer, done }
    private var state = State.size
    private var line: [UInt8] = []
    /// Longest chunk-size line accepted.
    static let maxLine = 1024

    public init() {}

    public var isDone: Bool { if case .done = state { return true } else { return false } }

    /// Feeds bytes; calls `body` with each piece of payload in order.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var index = 0
        while index < bytes.count {
            switch state {
            case .size, .trailer, .dataEnd:
                let byte = bytes[index]
                index += 1
                if byte != 10 {
                    line.append(byte)
                    if line.count > Self.maxLine { throw DecodeError.malformed }
                    continue
                }
                if line.last == 13 { line.removeLast() }
                defer { line.removeAll(keepingCapacity: true) }
                switch state {
                case .size:
                    let sizeText = String(decoding: line.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self)
                    guard let size = Int(sizeText.trimmingWhitespace(), radix: 16), size >= 0 else { throw DecodeError.malformed }
                    state = size == 0 ? .trailer : .data(remaining: size)
                case .dataEnd:
                    guard line.isEmpty else { throw DecodeError.malformed }
                    state = .size
                default:
                    if line.isEmpty { state = .done }
                }
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                try body(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                state = remaining == take ? .dataEnd : .data(remaining: remaining - take)
            case .done:
                return
            }
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
