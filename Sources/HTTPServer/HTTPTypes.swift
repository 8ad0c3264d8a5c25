// One HTTP/1.1 core for every HTTP service of the node. Behaviour, limits and
// their defaults: formats/http.md.
import NIOCore

/// A request method. Open: any token the parser accepts is a method; the
/// common ones are static members.
public struct HTTPMethod: Hashable, Sendable, RawRepresentable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        rawValue = value
    }

    public var description: String { rawValue }

    public static let get = HTTPMethod(rawValue: "GET")
    public static let head = HTTPMethod(rawValue: "HEAD")
    public static let post = HTTPMethod(rawValue: "POST")
    public static let put = HTTPMethod(rawValue: "PUT")
    public static let delete = HTTPMethod(rawValue: "DELETE")
    public static let options = HTTPMethod(rawValue: "OPTIONS")
    public static let patch = HTTPMethod(rawValue: "PATCH")
}

/// HTTP/1.0 or HTTP/1.1 (the parser refuses other versions).
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A response status: code and reason phrase.
public struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt
    public let reasonPhrase: String

    public init(code: UInt, reasonPhrase: String) {
        self.code = code
        self.reasonPhrase = reasonPhrase
    }

    /// The status with this code and its RFC 9110 reason phrase ("" for codes it does not name).
    public init(statusCode: Int) {
        let code = UInt(clamping: statusCode)
        self.init(code: code, reasonPhrase: Self.reasonPhrases[code] ?? "")
    }

    public var description: String { "\(code) \(reasonPhrase)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public static let `continue` = HTTPStatus(statusCode: 100)
    public static let ok = HTTPStatus(statusCode: 200)
    public static let noContent = HTTPStatus(statusCode: 204)
    public static let partialContent = HTTPStatus(statusCode: 206)
    public static let movedPermanently = HTTPStatus(statusCode: 301)
    public static let found = HTTPStatus(statusCode: 302)
    public static let notModified = HTTPStatus(statusCode: 304)
    public static let badRequest = HTTPStatus(statusCode: 400)
    public static let unauthorized = HTTPStatus(statusCode: 401)
    public static let forbidden = HTTPStatus(statusCode: 403)
    public static let notFound = HTTPStatus(statusCode: 404)
    public static let methodNotAllowed = HTTPStatus(statusCode: 405)
    public static let notAcceptable = HTTPStatus(statusCode: 406)
    public static let requestTimeout = HTTPStatus(statusCode: 408)
    public static let gone = HTTPStatus(statusCode: 410)
    public static let lengthRequired = HTTPStatus(statusCode: 411)
    public static let preconditionFailed = HTTPStatus(statusCode: 412)
    public static let contentTooLarge = HTTPStatus(statusCode: 413)
    public static let uriTooLong = HTTPStatus(statusCode: 414)
    public static let rangeNotSatisfiable = HTTPStatus(statusCode: 416)
    public static let expectationFailed = HTTPStatus(statusCode: 417)
    public static let requestHeaderFieldsTooLarge = HTTPStatus(statusCode: 431)
    public static let unavailableForLegalReasons = HTTPStatus(statusCode: 451)
    public static let internalServerError = HTTPStatus(statusCode: 500)
    public static let notImplemented = HTTPStatus(statusCode: 501)
    public static let badGateway = HTTPStatus(statusCode: 502)
    public static let serviceUnavailable = HTTPStatus(statusCode: 503)
    public static let httpVersionNotSupported = HTTPStatus(statusCode: 505)

    private static let reasonPhrases: [UInt: String] = [
        100: "Continue", 101: "Switching Protocols",
        200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
        205: "Reset Content", 206: "Partial Content",
        300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
        305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
        400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
        405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
        408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
        413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
        417: "Expectation Failed", 421: "Misdirected Request", 422: "Unprocessable Content", 426: "Upgrade Required",
        428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
        451: "Unavailable For Legal Reasons",
        500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
        504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    ]
}

/// The header fields of a request, in the order received. The bytes are a
/// slice of what the connection read (no copy); names compare without case.
/// Repeated fields stay separate; `subscript` joins them with ", " (RFC 9110 §5.3).
public struct HTTPHeaders: Sendable, Sequence {
    /// One field: offsets into `storage`.
    struct Field: Sendable {
        var nameStart: Int32
        var nameLength: Int32
        var valueStart: Int32
        var valueLength: Int32
    }

    var storage: ByteBuffer
    var fields: [Field]

    init(storage: ByteBuffer, fields: [Field]) {
        self.storage = storage
        self.fields = fields
    }

    /// Headers built in memory (tests, clients); values are stored as given.
    public init(_ pairs: [(name: String, value: String)] = []) {
        var storage = ByteBuffer()
        var fields: [Field] = []
        for (name, value) in pairs {
            let nameStart = storage.writerIndex
            storage.writeString(name)
            let valueStart = storage.writerIndex
            storage.writeString(value)
            fields.append(Field(nameStart: Int32(nameStart), nameLength: Int32(valueStart - nameStart),
                                valueStart: Int32(valueStart), valueLength: Int32(storage.writerIndex - valueStart)))
        }
        self.init(storage: storage, fields: fields)
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    /// Every value of `name`, joined with ", "; nil when absent.
    public subscript(_ name: String) -> String? {
        var result: String?
        forEachValue(of: name) { value in
            let text = String(decoding: value, as: UTF8.self)
            if let existing = result { result = existing + ", " + text } else { result = text }
        }
        return result
    }

    /// The first value of `name`.
    public func first(_ name: String) -> String? {
        var result: String?
        forEachValue(of: name) { value in
            if result == nil { result = String(decoding: value, as: UTF8.self) }
        }
        return result
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        var result: [String] = []
        forEachValue(of: name) { result.append(String(decoding: $0, as: UTF8.self)) }
        return result
    }

    public func contains(_ name: String) -> Bool {
        var found = false
        forEachValue(of: name) { _ in found = true }
        return found
    }

    /// Calls `body` with the bytes of each value of `name` (ASCII case ignored), without copying.
    public func forEachValue(of name: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard !fields.isEmpty else { return }
        var name = name
        name.withUTF8 { wanted in
            storage.withUnsafeReadableBytes { bytes in
                for field in fields where Int(field.nameLength) == wanted.count {
                    let start = Int(field.nameStart)
                    var equal = true
                    for offset in 0..<wanted.count where HTTPBytes.lowercased(bytes[start + offset]) != HTTPBytes.lowercased(wanted[offset]) {
                        equal = false
                        break
                    }
                    if equal {
                        body(UnsafeRawBufferPointer(rebasing: bytes[Int(field.valueStart)..<Int(field.valueStart + field.valueLength)]))
                    }
                }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(name: String, value: String)> {
        var index = 0
        return AnyIterator {
            guard index < fields.count else { return nil }
            let field = fields[index]
            index += 1
            let name = storage.getString(at: storage.readerIndex + Int(field.nameStart), length: Int(field.nameLength)) ?? ""
            let value = storage.getString(at: storage.readerIndex + Int(field.valueStart), length: Int(field.valueLength)) ?? ""
            return (name, value)
        }
    }
}

/// How a request's body is delimited (RFC 9112 §6).
public enum HTTPRequestFraming: Hashable, Sendable {
    /// No body.
    case none
    /// `Content-Length: n`, n > 0.
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// A request head: the request line, the header fields, and what the parser
/// worked out from them for the connection.
public struct HTTPRequestHead: Sendable {
    public var method: HTTPMethod
    /// The request-target in origin form (`/path?query`) exactly as sent; for
    /// an absolute-form target (`http://host/path`), its path and query.
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// The `Host` header (or the absolute-form target's authority): lowercased,
    /// port and a trailing dot removed. Nil when absent.
    public var host: String?
    /// Whether the client lets the connection carry another request after this one.
    public var keepAlive: Bool
    public var framing: HTTPRequestFraming
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body.
    public var expectsContinue: Bool
    /// Bytes the head took on the wire, final empty line included.
    public var headLength: Int

    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
                host: String? = nil) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.host = host
        keepAlive = version.minor >= 1
        framing = .none
        expectsContinue = false
        headLength = 0
    }

    /// Whether a body follows the head.
    public var hasBody: Bool { framing != .none }

    /// The target's path, without the query.
    public var path: Substring {
        guard let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target[...] }
        return target[..<question]
    }

    /// The target's query, without `?`; nil when there is none.
    public var query: Substring? {
        guard let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.index(after: question)...]
    }
}
