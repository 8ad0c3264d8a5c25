import NIOCore

/// What the gateway reads of an HTTP/1.x request head. Headers it has no use
/// for are checked for syntax and dropped: nothing is allocated for them.
public struct HTTPRequestHead: Hashable, Sendable {
    public enum Method: Hashable, Sendable {
        case get
        case head
        case other(String)
    }

    public var method: Method
    /// The request-target in origin form (`/path?query`) exactly as sent; for
    /// an absolute-form target (`http://host/path`), its path and query.
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// The `Host` header (or the absolute-form target's authority): lowercased,
    /// port and a trailing dot removed. Nil when absent.
    public var host: String?
    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool
    public var range: String?
    public var ifNoneMatch: String?
    public var ifRange: String?
    public var accept: String?
    public var cacheControl: String?
    public var serviceWorker: String?
    public var contentLength: Int?
    public var hasTransferEncoding: Bool
    /// Whether `Accept` names a media type of an explicit response format
    /// (`application/vnd.ipld.*`, `application/vnd.ipfs.*`, `application/x-tar`):
    /// such a request can never be answered from a cached deserialized response.
    public var acceptsExplicitFormat: Bool
    /// Bytes the head took on the wire, final empty line included.
    public var headLength: Int

    public init(method: Method, target: String, minorVersion: Int = 1, host: String? = nil) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.host = host
        keepAlive = minorVersion >= 1
        hasTransferEncoding = false
        acceptsExplicitFormat = false
        headLength = 0
    }

    /// Whether the request announces a body (the gateway accepts none).
    public var hasBody: Bool { hasTransferEncoding || (contentLength ?? 0) > 0 }
}

/// Why a request head was refused, with the status it earns. The connection
/// is closed after the answer: the parser cannot tell where the next request starts.
public enum HTTPParseError: Error, Hashable, Sendable {
    /// 414: the request line is longer than the URI limit allows.
    case uriTooLong
    /// 431: the header section exceeds the byte or field-count limit.
    case headersTooLarge
    /// 505: not HTTP/1.0 or HTTP/1.1.
    case unsupportedVersion
    /// 400: anything else that is not a well-formed HTTP/1.x request head.
    case malformed(String)
}

/// A pure, incremental HTTP/1.x request-head parser (RFC 9112, sections 2–5):
/// bytes accumulate in the caller's buffer, `parse` returns a head once its
/// final empty line is there and moves the buffer's reader index past it.
/// It never reads request bodies; the caller refuses requests that have one.
///
/// Strictness, where RFC 9112 leaves a choice: lines end in CRLF (a bare CR or
/// LF is an error), no whitespace between a field name and its colon, no
/// obsolete line folding, at most one `Host` and one `Content-Length` value;
/// empty lines before the request line are skipped.
public struct HTTPRequestParser: Sendable {
    public struct Limits: Hashable, Sendable {
        /// Longest request-target. Default 8 KiB. Longer: 414.
        public var maxURILength: Int
        /// Largest header section (field lines and their CRLFs, after the
        /// request line). Default 16 KiB. Larger: 431.
        public var maxHeaderBytes: Int
        /// Most header fields. Default 100. More: 431.
        public var maxHeaderCount: Int

        public init(maxURILength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100) {
            self.maxURILength = maxURILength
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
        }
    }

    public let limits: Limits
    /// Bytes of the current head already searched for its end, so that a head
    /// arriving in many pieces is scanned once.
    private var scanned = 0

    /// The longest method token accepted (longer ones are refused with 400).
    static let maxMethodLength = 24
    /// "GET " + " HTTP/1.1" and some slack around the target.
    private var maxRequestLineLength: Int { limits.maxURILength + Self.maxMethodLength + 12 }

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether bytes of an unfinished head are waiting (for the head timeout).
    public var isPartway: Bool { scanned > 0 }

    /// Parses the next request head from `buffer`, consuming it. Returns nil
    /// when more bytes are needed.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPRequestHead? {
        // RFC 9112 §2.2: ignore empty lines received before a request line.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
        }
        let result = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTPParseError) -> HTTPRequestHead? in try parse(bytes) }
        }
        let head = try result.get()
        if let head {
            buffer.moveReaderIndex(forwardBy: head.headLength)
            scanned = 0
        }
        return head
    }

    private mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> HTTPRequestHead? {
        guard let end = Self.findEndOfHead(bytes, from: max(0, scanned - 3)) else {
            scanned = bytes.count
            if let lineEnd = Self.findCRLF(bytes, in: 0..<bytes.count) {
                guard lineEnd <= maxRequestLineLength else { throw .uriTooLong }
                guard bytes.count - (lineEnd + 2) <= limits.maxHeaderBytes + 2 else { throw .headersTooLarge }
            } else if bytes.count > maxRequestLineLength {
                throw .uriTooLong
            }
            return nil
        }
        return try parseHead(bytes, length: end + 4)
    }

    /// Parses a complete head: `bytes[0..<length]` ends with CRLF CRLF.
    private func parseHead(_ bytes: UnsafeRawBufferPointer, length: Int) throws(HTTPParseError) -> HTTPRequestHead {
        guard let lineEnd = Self.findCRLF(bytes, in: 0..<length) else { throw .malformed("no request line") }
        guard lineEnd <= maxRequestLineLength else { throw .uriTooLong }
        guard length - (lineEnd + 2) - 2 <= limits.maxHeaderBytes else { throw .headersTooLarge }

        // request-line = method SP request-target SP HTTP-version
        guard let firstSpace = Self.index(of: 0x20, in: bytes, 0..<lineEnd), firstSpace > 0 else {
            throw .malformed("no method in the request line")
        }
        guard firstSpace <= Self.maxMethodLength, Self.isToken(bytes, 0..<firstSpace) else {
            throw .malformed("invalid method")
        }
        guard let secondSpace = Self.index(of: 0x20, in: bytes, (firstSpace + 1)..<lineEnd), secondSpace > firstSpace + 1 else {
            throw .malformed("no request-target in the request line")
        }
        let targetRange = (firstSpace + 1)..<secondSpace
        guard targetRange.count <= limits.maxURILength else { throw .uriTooLong }
        for position in targetRange where !(0x21...0x7E).contains(bytes[position]) {
            throw .malformed("invalid character in the request-target")
        }
        let minorVersion = try Self.version(bytes, (secondSpace + 1)..<lineEnd)

        let method: HTTPRequestHead.Method
        switch firstSpace {
        case 3 where Self.equals(bytes, 0..<3, "GET"): method = .get
        case 4 where Self.equals(bytes, 0..<4, "HEAD"): method = .head
        default: method = .other(Self.string(bytes, 0..<firstSpace))
        }
        var head = HTTPRequestHead(method: method, target: Self.string(bytes, targetRange), minorVersion: minorVersion)
        head.headLength = length

        var absoluteHost: String?
        if bytes[targetRange.lowerBound] != UInt8(ascii: "/") {
            (absoluteHost, head.target) = try Self.splitAbsoluteForm(head.target)
        }

        var connectionClose = false
        var connectionKeepAlive = false
        var hostSeen = false
        var fieldCount = 0
        var lineStart = lineEnd + 2
        while lineStart < length - 2 {
            guard let end = Self.findCRLF(bytes, in: lineStart..<length) else { throw .malformed("unterminated header line") }
            fieldCount += 1
            guard fieldCount <= limits.maxHeaderCount else { throw .headersTooLarge }
            let first = bytes[lineStart]
            guard first != 0x20 && first != 0x09 else { throw .malformed("obsolete line folding") }
            guard let colon = Self.index(of: UInt8(ascii: ":"), in: bytes, lineStart..<end), colon > lineStart else {
                throw .malformed("header line without a field name")
            }
            let name = lineStart..<colon
            guard Self.isToken(bytes, name) else { throw .malformed("invalid header field name") }
            var valueStart = colon + 1
            var valueEnd = end
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = valueStart..<valueEnd
            for position in value {
                let byte = bytes[position]
                if byte < 0x20 && byte != 0x09 || byte == 0x7F { throw .malformed("control character in a header value") }
            }

            switch name.count {
            case 4 where Self.equalsLowercased(bytes, name, "host"):
                guard !hostSeen else { throw .malformed("more than one Host header") }
                hostSeen = true
                head.host = try Self.normalizedHost(bytes, value)
            case 5 where Self.equalsLowercased(bytes, name, "range"):
                Self.append(bytes, value, to: &head.range)
            case 6 where Self.equalsLowercased(bytes, name, "accept"):
                Self.append(bytes, value, to: &head.accept)
                if Self.namesExplicitFormat(bytes, value) { head.acceptsExplicitFormat = true }
            case 8 where Self.equalsLowercased(bytes, name, "if-range"):
                Self.append(bytes, value, to: &head.ifRange)
            case 10 where Self.equalsLowercased(bytes, name, "connection"):
                Self.scanConnectionTokens(bytes, value, close: &connectionClose, keepAlive: &connectionKeepAlive)
            case 13 where Self.equalsLowercased(bytes, name, "if-none-match"):
                Self.append(bytes, value, to: &head.ifNoneMatch)
            case 13 where Self.equalsLowercased(bytes, name, "cache-control"):
                Self.append(bytes, value, to: &head.cacheControl)
            case 14 where Self.equalsLowercased(bytes, name, "content-length"):
                let length = try Self.contentLength(bytes, value)
                if let previous = head.contentLength, previous != length {
                    throw .malformed("conflicting Content-Length values")
                }
                head.contentLength = length
            case 14 where Self.equalsLowercased(bytes, name, "service-worker"):
                Self.append(bytes, value, to: &head.serviceWorker)
            case 17 where Self.equalsLowercased(bytes, name, "transfer-encoding"):
                head.hasTransferEncoding = true
            default:
                break
            }
            lineStart = end + 2
        }

        if let absoluteHost { head.host = absoluteHost }
        if minorVersion == 1 && !hostSeen && absoluteHost == nil { throw .malformed("HTTP/1.1 request without Host") }
        head.keepAlive = !connectionClose && (minorVersion >= 1 || connectionKeepAlive)
        return head
    }

    // MARK: Pieces

    private static func version(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTPParseError) -> Int {
        guard range.count == 8, equals(bytes, range.lowerBound..<(range.lowerBound + 5), "HTTP/"),
              bytes[range.lowerBound + 6] == UInt8(ascii: "."),
              let major = digit(bytes[range.lowerBound + 5]), let minor = digit(bytes[range.lowerBound + 7])
        else { throw .malformed("invalid HTTP version") }
        guard major == 1, minor <= 1 else { throw .unsupportedVersion }
        return minor
    }

    /// `http://authority/path?query` → (normalized host, "/path?query").
    private static func splitAbsoluteForm(_ target: String) throws(HTTPParseError) -> (String?, String) {
        if target == "*" { return (nil, target) }
        let utf8 = Array(target.utf8)
        let lowered = utf8.prefix(8).map { $0 | 0x20 }
        let schemeLength: Int
        if lowered.starts(with: Array("http://".utf8)) {
            schemeLength = 7
        } else if lowered.starts(with: Array("https://".utf8)) {
            schemeLength = 8
        } else {
            throw .malformed("request-target is neither origin-form nor absolute-form")
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
            guard let close = index(of: UInt8(ascii: "]"), in: bytes, range) else { throw .malformed("invalid Host") }
            end = close + 1
        } else if let colon = index(of: UInt8(ascii: ":"), in: bytes, range) {
            end = colon
        }
        if end > range.lowerBound + 1, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        var host = [UInt8]()
        host.reserveCapacity(end - range.lowerBound)
        for position in range.lowerBound..<end {
            let byte = bytes[position]
            guard isHostByte(byte) else { throw .malformed("invalid character in Host") }
            host.append(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
        }
        return String(decoding: host, as: UTF8.self)
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
        guard !range.isEmpty, range.count <= 18 else { throw .malformed("invalid Content-Length") }
        var value = 0
        for position in range {
            guard let digit = digit(bytes[position]) else { throw .malformed("invalid Content-Length") }
            value = value * 10 + digit
        }
        return value
    }

    private static func scanConnectionTokens(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>,
                                             close: inout Bool, keepAlive: inout Bool) {
        var start = range.lowerBound
        while start < range.upperBound {
            var end = index(of: UInt8(ascii: ","), in: bytes, start..<range.upperBound) ?? range.upperBound
            let next = end + 1
            while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            if equalsLowercased(bytes, start..<end, "close") { close = true }
            if equalsLowercased(bytes, start..<end, "keep-alive") { keepAlive = true }
            start = next
        }
    }

    private static func namesExplicitFormat(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        contains(bytes, range, "application/vnd.ipld") || contains(bytes, range, "application/vnd.ipfs")
            || contains(bytes, range, "application/x-tar")
    }

    // MARK: Byte helpers

    static func findEndOfHead(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var position = start
        let last = bytes.count - 4
        while position <= last {
            // Look at the last byte a match here would have: it rules out up to
            // four starting positions at once (most bytes are neither CR nor LF).
            switch bytes[position + 3] {
            case 0x0A:
                if bytes[position] == 0x0D, bytes[position + 1] == 0x0A, bytes[position + 2] == 0x0D { return position }
                position += 2
            case 0x0D:
                position += 1
            default:
                position += 4
            }
        }
        return nil
    }

    static func findCRLF(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> Int? {
        var position = range.lowerBound
        while position + 1 < range.upperBound {
            if bytes[position] == 0x0D {
                if bytes[position + 1] == 0x0A { return position }
                return nil  // a bare CR: the caller reports the line as malformed
            }
            if bytes[position] == 0x0A { return nil }
            position += 1
        }
        return nil
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var position = range.lowerBound
        while position < range.upperBound {
            if bytes[position] == byte { return position }
            position += 1
        }
        return nil
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
    }

    /// tchar (RFC 9110 §5.6.2).
    private static func isToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return false }
        for position in range {
            switch bytes[position] {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"),
                 UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
                 UInt8(ascii: "|"), UInt8(ascii: "~"):
                continue
            default:
                return false
            }
        }
        return true
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != expected[offset] { return false }
        return true
    }

    /// Compares with `lowercase`, ignoring ASCII case in `bytes`.
    private static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for offset in 0..<range.count {
            let byte = bytes[range.lowerBound + offset]
            let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            if folded != expected[offset] { return false }
        }
        return true
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        let count = lowercase.utf8CodeUnitCount
        guard range.count >= count else { return false }
        for start in range.lowerBound...(range.upperBound - count)
        where equalsLowercased(bytes, start..<(start + count), lowercase) {
            return true
        }
        return false
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Repeated list-valued fields combine into one comma-separated value (RFC 9110 §5.3).
    private static func append(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, to field: inout String?) {
        let value = string(bytes, range)
        if let existing = field { field = existing + ", " + value } else { field = value }
    }
}
