// The admin client's side of HTTP (AdminClient.swift): the server side is
// the HTTP core, Sources/HTTPServer.

/// Where a response head ends, for the admin client.
public enum HTTPRequestHeadParser {
    /// The offset of the CR LF CR LF that ends a head in `bytes`.
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
