import Errors
import NIOCore

/// Why a request was refused, with the status it earns. The connection is
/// closed after the answer: the parser cannot tell where the next request starts.
public struct HTTPParseError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// 414: the request line is longer than the URI limit allows.
        case uriTooLong
        /// 431: the header section (or a chunked body's trailer section)
        /// exceeds the byte or field-count limit.
        case headersTooLarge
        /// 505: not HTTP/1.0 or HTTP/1.1.
        case unsupportedVersion
        /// 501: a transfer coding other than `chunked`.
        case unsupportedTransferCoding
        /// 417: an `Expect` other than `100-continue`.
        case unsupportedExpectation
        /// 400: anything else that is not a well-formed HTTP/1.x request head.
        case malformed
        /// 400: a chunked body whose framing is broken.
        case malformedBody
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// The status the connection answers with.
    public var status: HTTPStatus {
        switch code {
        case .uriTooLong: .uriTooLong
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferCoding: .notImplemented
        case .unsupportedExpectation: .expectationFailed
        case .malformed, .malformedBody: .badRequest
        }
    }

    public var summary: String {
        switch code {
        case .uriTooLong: "the request-target is too long"
        case .headersTooLarge: "the request header fields are too large"
        case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are supported"
        case .unsupportedTransferCoding: "only the chunked transfer coding is supported"
        case .unsupportedExpectation: "only Expect: 100-continue is supported"
        case .malformed: "malformed request"
        case .malformedBody: "malformed chunked body"
        }
    }

    public static let uriTooLong = Self(.uriTooLong)
    public static let headersTooLarge = Self(.headersTooLarge)
    public static let unsupportedVersion = Self(.unsupportedVersion)
    public static let unsupportedTransferCoding = Self(.unsupportedTransferCoding)
    public static let unsupportedExpectation = Self(.unsupportedExpectation)
    public static let malformed = Self(.malformed)
    public static let malformedBody = Self(.malformedBody)
}

/// A pure, incremental HTTP/1.x request parser (RFC 9112): bytes accumulate
/// in the caller's buffer; `parse` returns the next part of a request (its
/// head, a piece of its body, the end of its body) and moves the buffer's
/// reader index past it. Body pieces are slices of the buffer, not copies.
///
/// Strictness, where RFC 9112 leaves a choice: lines end in CRLF (a bare CR or
/// LF is an error), no whitespace between a field name and its colon, no
/// obsolete line folding, at most one `Host` and one `Content-Length` value,
/// not both `Content-Length` and `Transfer-Encoding`; empty lines before the
/// request line are skipped. Format: formats/http.md.
public struct HTTPRequestParser: Sendable {
    public struct Limits: Hashable, Sendable {
        /// Longest request-target. Default 8 KiB. Longer: 414.
        public var maxURILength: Int
        /// Largest header section (field lines and their CRLFs, after the
        /// request line), and largest trailer section of a chunked body. Default 16 KiB. Larger: 431.
        public var maxHeaderBytes: Int
        /// Most header fields. Default 100. More: 431.
        public var maxHeaderCount: Int

        public init(maxURILength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100) {
            self.maxURILength = maxURILength
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
        }
    }

    /// What `parse` found.
    public enum Part: Sendable {
        case head(HTTPRequestHead)
        /// Body bytes, de-chunked; never empty.
        case body(ByteBuffer)
        /// The body is complete (only after the head of a request with a body).
        case end
    }

    private enum State: Sendable {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytes: Int)
        /// The body ended; `.end` is due.
        case end
    }

    public let limits: Limits
    private var state = State.head
    /// Bytes of the current head already searched for its end, so that a head
    /// arriving in many pieces is scanned once.
    private var scanned = 0

    /// The longest method token accepted (longer ones are refused with 400).
    static let maxMethodLength = 24
    /// Longest chunk-size line (size, extensions, CRLF).
    static let maxChunkLineLength = 4096
    /// "GET " + " HTTP/1.1" and some slack around the target.
    private var maxRequestLineLength: Int { limits.maxURILength + Self.maxMethodLength + 12 }

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether bytes of an unfinished head are waiting (for the head timeout).
    public var isPartway: Bool {
        if case .head = state { return scanned > 0 }
        return false
    }

    /// Whether the parser is inside a body (the next parts are body parts or `.end`).
    public var isInBody: Bool {
        if case .head = state { return false }
        return true
    }

    /// Whether `.end` is due: `parse` returns it without needing more bytes.
    public var endIsDue: Bool {
        if case .end = state { return true }
        return false
    }

    /// Parses the next part from `buffer`, consuming it. Returns nil when more bytes are needed.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> Part? {
        while true {
            switch state {
            case .head:
                guard let head = try parseHead(&buffer) else { return nil }
                switch head.framing {
                case .none: state = .head
                case .length(let length): state = .fixed(remaining: length)
                case .chunked: state = .chunkSize
                }
                return .head(head)
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let count = min(remaining, buffer.readableBytes)
                state = count == remaining ? .end : .fixed(remaining: remaining - count)
                return .body(buffer.readSlice(length: count)!)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let count = min(remaining, buffer.readableBytes)
                state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
                return .body(buffer.readSlice(length: count)!)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw HTTPParseError(.malformedBody, "no CRLF after chunk data") }
                state = .chunkSize
            case .chunkSize:
                guard let size = try parseChunkSize(&buffer) else { return nil }
                state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .trailers(let bytes):
                guard let total = try parseTrailerLine(&buffer, soFar: bytes) else { return nil }
                state = total < 0 ? .end : .trailers(bytes: total)
            case .end:
                state = .head
                return .end
            }
        }
    }

    // MARK: Chunked bodies

    /// `chunk-size [chunk-ext] CRLF`; extensions are checked for visible ASCII and ignored.
    private func parseChunkSize(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> Int? {
        let result = buffer.withUnsafeReadableBytes { bytes -> Result<(size: Int, length: Int)?, HTTPParseError> in
            let window = 0..<min(bytes.count, Self.maxChunkLineLength)
            guard let end = HTTPBytes.findCRLF(bytes, in: window) else {
                if HTTPBytes.hasBareLineEnd(bytes, in: window) { return .failure(HTTPParseError(.malformedBody, "bare CR or LF")) }
                return bytes.count >= Self.maxChunkLineLength
                    ? .failure(HTTPParseError(.malformedBody, "chunk-size line too long")) : .success(nil)
            }
            var size = 0
            var position = 0
            while position < end, let digit = HTTPBytes.hexDigit(bytes[position]) {
                guard position < 15 else { return .failure(HTTPParseError(.malformedBody, "chunk size too large")) }
                size = size << 4 | digit
                position += 1
            }
            guard position > 0 else { return .failure(HTTPParseError(.malformedBody, "no chunk size")) }
            while position < end, HTTPBytes.isOptionalWhitespace(bytes[position]) { position += 1 }
            if position < end {
                guard bytes[position] == UInt8(ascii: ";") else { return .failure(HTTPParseError(.malformedBody, "invalid chunk size")) }
                for index in position..<end where !(0x20...0x7E).contains(bytes[index]) && bytes[index] != 0x09 {
                    return .failure(HTTPParseError(.malformedBody, "invalid chunk extension"))
                }
            }
            return .success((size, end + 2))
        }
        guard let parsed = try result.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return parsed.size
    }

    /// One trailer field line, checked and dropped. Returns the trailer bytes
    /// so far, -1 after the final empty line, nil when more bytes are needed.
    private func parseTrailerLine(_ buffer: inout ByteBuffer, soFar: Int) throws(HTTPParseError) -> Int? {
        let limit = limits.maxHeaderBytes
        let result = buffer.withUnsafeReadableBytes { bytes -> Result<(total: Int, length: Int)?, HTTPParseError> in
            let window = 0..<min(bytes.count, limit - soFar + 2)
            guard let end = HTTPBytes.findCRLF(bytes, in: window) else {
                if HTTPBytes.hasBareLineEnd(bytes, in: window) { return .failure(HTTPParseError(.malformedBody, "bare CR or LF")) }
                return bytes.count >= limit - soFar + 2 ? .failure(.headersTooLarge) : .success(nil)
            }
            if end == 0 { return .success((-1, 2)) }
            guard let colon = HTTPBytes.index(of: UInt8(ascii: ":"), in: bytes, 0..<end), HTTPBytes.isToken(bytes, 0..<colon) else {
                return .failure(HTTPParseError(.malformedBody, "invalid trailer field"))
            }
            return .success((soFar + end + 2, end + 2))
        }
        guard let parsed = try result.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return parsed.total
    }

    // MARK: Heads

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPRequestHead? {
        // RFC 9112 §2.2: ignore empty lines received before a request line.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = max(0, scanned - 2)
        }
        let result = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTPParseError) -> ParsedHead? in try scanHead(bytes) }
        }
        guard var parsed = try result.get() else { return nil }
        parsed.head.headers.storage = buffer.getSlice(at: buffer.readerIndex + parsed.headerStart, length: parsed.headerLength)!
        buffer.moveReaderIndex(forwardBy: parsed.head.headLength)
        scanned = 0
        return parsed.head
    }

    private struct ParsedHead {
        var head: HTTPRequestHead
        var headerStart: Int
        var headerLength: Int
    }

    private mutating func scanHead(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParsedHead? {
        guard let end = HTTPBytes.findEndOfHead(bytes, from: max(0, scanned - 3)) else {
            scanned = bytes.count
            if let lineEnd = try requestLineEnd(bytes, count: bytes.count) {
                guard bytes.count - (lineEnd + 2) <= limits.maxHeaderBytes + 2 else { throw .headersTooLarge }
            }
            return nil
        }
        return try parseHead(bytes, length: end + 4)
    }

    /// Where the request line ends, judged on its first bytes only, so that
    /// the verdict does not depend on how the head arrives: nil when more
    /// bytes are needed.
    private func requestLineEnd(_ bytes: UnsafeRawBufferPointer, count: Int) throws(HTTPParseError) -> Int? {
        let window = 0..<min(count, maxRequestLineLength + 2)
        if let end = HTTPBytes.findCRLF(bytes, in: window) { return end }
        if HTTPBytes.hasBareLineEnd(bytes, in: window) { throw HTTPParseError(.malformed, "bare CR or LF in the request line") }
        if count >= maxRequestLineLength + 2 { throw .uriTooLong }
        return nil
    }

    /// Parses a complete head: `bytes[0..<length]` ends with CRLF CRLF.
    private func parseHead(_ bytes: UnsafeRawBufferPointer, length: Int) throws(HTTPParseError) -> ParsedHead {
        guard let lineEnd = try requestLineEnd(bytes, count: length) else { throw HTTPParseError(.malformed, "no request line") }
        let headerStart = lineEnd + 2
        let headerLength = max(0, length - 2 - headerStart)
        guard headerLength <= limits.maxHeaderBytes else { throw .headersTooLarge }

        // request-line = method SP request-target SP HTTP-version
        guard let firstSpace = HTTPBytes.index(of: 0x20, in: bytes, 0..<lineEnd), firstSpace > 0 else {
            throw HTTPParseError(.malformed, "no method in the request line")
        }
        guard firstSpace <= Self.maxMethodLength, HTTPBytes.isToken(bytes, 0..<firstSpace) else {
            throw HTTPParseError(.malformed, "invalid method")
        }
        guard let secondSpace = HTTPBytes.index(of: 0x20, in: bytes, (firstSpace + 1)..<lineEnd), secondSpace > firstSpace + 1 else {
            throw HTTPParseError(.malformed, "no request-target in the request line")
        }
        let targetRange = (firstSpace + 1)..<secondSpace
        guard targetRange.count <= limits.maxURILength else { throw .uriTooLong }
        for position in targetRange where !(0x21...0x7E).contains(bytes[position]) {
            throw HTTPParseError(.malformed, "invalid character in the request-target")
        }
        let version = try Self.version(bytes, (secondSpace + 1)..<lineEnd)

        var head = HTTPRequestHead(method: Self.method(bytes, 0..<firstSpace), target: HTTPBytes.string(bytes, targetRange),
                                   version: version)
        head.headLength = length

        var absoluteHost: String?
        if bytes[targetRange.lowerBound] != UInt8(ascii: "/") {
            (absoluteHost, head.target) = try Self.splitAbsoluteForm(head.target)
        }

        var connectionClose = false
        var connectionKeepAlive = false
        var hostSeen = false
        var contentLength: Int?
        var transferCodings = 0
        var chunkedLast = false
        var expectation: Range<Int>?
        var fields: [HTTPHeaders.Field] = []
        var lineStart = headerStart
        while lineStart < length - 2 {
            guard let end = HTTPBytes.findCRLF(bytes, in: lineStart..<length) else { throw HTTPParseError(.malformed, "unterminated header line") }
            guard fields.count < limits.maxHeaderCount else { throw .headersTooLarge }
            let first = bytes[lineStart]
            guard !HTTPBytes.isOptionalWhitespace(first) else { throw HTTPParseError(.malformed, "obsolete line folding") }
            guard let colon = HTTPBytes.index(of: UInt8(ascii: ":"), in: bytes, lineStart..<end), colon > lineStart else {
                throw HTTPParseError(.malformed, "header line without a field name")
            }
            let name = lineStart..<colon
            guard HTTPBytes.isToken(bytes, name) else { throw HTTPParseError(.malformed, "invalid header field name") }
            let value = HTTPBytes.trimmed(bytes, (colon + 1)..<end)
            for position in value {
                let byte = bytes[position]
                if byte < 0x20 && byte != 0x09 || byte == 0x7F { throw HTTPParseError(.malformed, "control character in a header value") }
            }
            fields.append(HTTPHeaders.Field(nameStart: Int32(name.lowerBound - headerStart), nameLength: Int32(name.count),
                                            valueStart: Int32(value.lowerBound - headerStart), valueLength: Int32(value.count)))

            switch name.count {
            case 4 where HTTPBytes.equalsLowercased(bytes, name, "host"):
                guard !hostSeen else { throw HTTPParseError(.malformed, "more than one Host header") }
                hostSeen = true
                head.host = try Self.normalizedHost(bytes, value)
            case 6 where HTTPBytes.equalsLowercased(bytes, name, "expect"):
                expectation = value
            case 10 where HTTPBytes.equalsLowercased(bytes, name, "connection"):
                HTTPBytes.forEachListElement(bytes, value) { token in
                    if HTTPBytes.equalsLowercased(bytes, token, "close") { connectionClose = true }
                    if HTTPBytes.equalsLowercased(bytes, token, "keep-alive") { connectionKeepAlive = true }
                }
            case 14 where HTTPBytes.equalsLowercased(bytes, name, "content-length"):
                let parsed = try Self.contentLength(bytes, value)
                if let contentLength, contentLength != parsed {
                    throw HTTPParseError(.malformed, "conflicting Content-Length values")
                }
                contentLength = parsed
            case 17 where HTTPBytes.equalsLowercased(bytes, name, "transfer-encoding"):
                HTTPBytes.forEachListElement(bytes, value) { coding in
                    transferCodings += 1
                    chunkedLast = HTTPBytes.equalsLowercased(bytes, coding, "chunked")
                }
            default:
                break
            }
            lineStart = end + 2
        }

        if let absoluteHost { head.host = absoluteHost }
        if version.minor == 1 && !hostSeen && absoluteHost == nil { throw HTTPParseError(.malformed, "HTTP/1.1 request without Host") }
        head.keepAlive = !connectionClose && (version.minor >= 1 || connectionKeepAlive)
        if transferCodings > 0 {
            guard contentLength == nil else { throw HTTPParseError(.malformed, "both Content-Length and Transfer-Encoding") }
            guard version.minor >= 1 else { throw HTTPParseError(.malformed, "Transfer-Encoding in an HTTP/1.0 request") }
            guard chunkedLast, transferCodings == 1 else { throw .unsupportedTransferCoding }
            head.framing = .chunked
        } else if let contentLength, contentLength > 0 {
            head.framing = .length(contentLength)
        }
        if let expectation, version.minor >= 1 {
            guard HTTPBytes.equalsLowercased(bytes, expectation, "100-continue") else { throw .unsupportedExpectation }
            head.expectsContinue = head.framing != .none
        }
        head.headers.fields = fields
        return ParsedHead(head: head, headerStart: headerStart, headerLength: headerLength)
    }

    // MARK: Pieces

    private static func method(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPMethod {
        switch range.count {
        case 3 where HTTPBytes.equals(bytes, range, "GET"): .get
        case 4 where HTTPBytes.equals(bytes, range, "HEAD"): .head
        case 4 where HTTPBytes.equals(bytes, range, "POST"): .post
        case 3 where HTTPBytes.equals(bytes, range, "PUT"): .put
        default: HTTPMethod(rawValue: HTTPBytes.string(bytes, range))
        }
    }

    private static func version(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTPParseError) -> HTTPVersion {
        guard range.count == 8, HTTPBytes.equals(bytes, range.lowerBound..<(range.lowerBound + 5), "HTTP/"),
              bytes[range.lowerBound + 6] == UInt8(ascii: "."),
              let major = HTTPBytes.digit(bytes[range.lowerBound + 5]), let minor = HTTPBytes.digit(bytes[range.lowerBound + 7])
        else { throw HTTPParseError(.malformed, "invalid HTTP version") }
        guard major == 1, minor <= 1 else { throw .unsupportedVersion }
        return minor == 1 ? .http1_1 : .http1_0
    }

    /// `http://authority/path?query` → (normalized host, "/path?query").
    private static func splitAbsoluteForm(_ target: String) throws(HTTPParseError) -> (String?, String) {
        if target == "*" { return (nil, target) }
        let utf8 = Array(target.utf8)
        let lowered = utf8.prefix(8).map(HTTPBytes.lowercased)
        let schemeLength: Int
        if lowered.starts(with: Array("http://".utf8)) {
            schemeLength = 7
        } else if lowered.starts(with: Array("https://".utf8)) {
            schemeLength = 8
        } else {
            throw HTTPParseError(.malformed, "request-target is neither origin-form nor absolute-form")
        }
        let rest = utf8[schemeLength...]
        let pathStart = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? utf8.endIndex
        let authority = utf8[schemeLength..<pathStart]
        let host = try authority.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) -> String? in try normalizedHost(raw, 0..<raw.count) }
        }.get()
        var path = String(decoding: utf8[pathStart...], as: UTF8.self)
        if path.isEmpty || path.first == "?" { path = "/" + path }
        return (host, path)
    }

    /// Lowercases a Host value and drops its port and any trailing dot.
    private static func normalizedHost(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTPParseError) -> String? {
        guard !range.isEmpty else { return nil }
        var end = range.upperBound
        if bytes[range.lowerBound] == UInt8(ascii: "[") {
            guard let close = HTTPBytes.index(of: UInt8(ascii: "]"), in: bytes, range) else { throw HTTPParseError(.malformed, "invalid Host") }
            end = close + 1
        } else if let colon = HTTPBytes.index(of: UInt8(ascii: ":"), in: bytes, range) {
            end = colon
        }
        if end > range.lowerBound + 1, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        for position in range.lowerBound..<end where !isHostByte(bytes[position]) {
            throw HTTPParseError(.malformed, "invalid character in Host")
        }
        return String(unsafeUninitializedCapacity: end - range.lowerBound) { output in
            for (offset, position) in (range.lowerBound..<end).enumerated() { output[offset] = HTTPBytes.lowercased(bytes[position]) }
            return end - range.lowerBound
        }
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
             UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
             UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    private static func contentLength(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTPParseError) -> Int {
        guard !range.isEmpty, range.count <= 18 else { throw HTTPParseError(.malformed, "invalid Content-Length") }
        var value = 0
        for position in range {
            guard let digit = HTTPBytes.digit(bytes[position]) else { throw HTTPParseError(.malformed, "invalid Content-Length") }
            value = value * 10 + digit
        }
        return value
    }
}
