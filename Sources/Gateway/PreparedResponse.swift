import HTTPServer
import Multiformats
import NIOCore

/// A response's status and header fields, before serialization.
struct ResponseMeta: Sendable {
    var status: HTTPStatus
    var contentType: String?
    var etag: String?
    var cacheControl: String?
    /// Other fields, in order; `repeatOnNotModified` ones also go into a 304
    /// (RFC 9110 §15.4.5: what a 200 would carry for caches).
    var fields: [(name: StaticString, value: String, repeatOnNotModified: Bool)] = []

    init(status: HTTPStatus, contentType: String? = nil, etag: String? = nil, cacheControl: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.etag = etag
        self.cacheControl = cacheControl
    }

    mutating func add(_ name: StaticString, _ value: String, repeatOnNotModified: Bool = false) {
        fields.append((name, value, repeatOnNotModified))
    }

    /// Every field but `Content-Length`, `Content-Range` and `Transfer-Encoding`.
    func commonFields() -> ByteBuffer {
        var writer = HTTPHeadWriter(status: nil)
        if let contentType { writer.add("Content-Type", contentType) }
        if let etag { writer.add("ETag", etag) }
        if let cacheControl { writer.add("Cache-Control", cacheControl) }
        for field in fields { writer.add(field.name, field.value) }
        return writer.buffer
    }

    /// The head of a 200/206/… with `fields` and a body of `length` bytes
    /// (nil: none announced, for a chunked or close-delimited body).
    func head(status: HTTPStatus? = nil, fields: ByteBuffer? = nil, contentLength: UInt64?,
              contentRange: String? = nil, chunked: Bool = false) -> ByteBuffer {
        var writer = HTTPHeadWriter(status: status ?? self.status)
        writer.append(fields ?? commonFields())
        if let contentRange { writer.add("Content-Range", contentRange) }
        if let contentLength { writer.add("Content-Length", contentLength) }
        if chunked { writer.add("Transfer-Encoding", "chunked") }
        return writer.buffer
    }

    /// The head of the 304 that answers a matching `If-None-Match`.
    func notModifiedHead() -> ByteBuffer {
        var writer = HTTPHeadWriter(status: .notModified)
        if let etag { writer.add("ETag", etag) }
        if let cacheControl { writer.add("Cache-Control", cacheControl) }
        for field in fields where field.repeatOnNotModified { writer.add(field.name, field.value) }
        return writer.buffer
    }
}

/// A large file's body as the content cache holds it: `segmentSize`-byte
/// pieces at offsets that are multiples of `segmentSize` (the last one
/// shorter), each a derived value the connection writes without copying.
/// A piece not in the cache is filled by the responder while it streams.
struct FileSegments: Hashable, Sendable {
    let file: CID
    let size: UInt64
    let segmentSize: Int

    /// The cache key of segment `index`: `c`, the file's CID, the segment size, the index.
    func key(_ index: Int) -> [UInt8] {
        var key: [UInt8] = [0x63]
        key.reserveCapacity(file.bytes.count + 13)
        key.append(contentsOf: file.bytes)
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: segmentSize).littleEndian) { key.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(index).littleEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// The file offsets segment `index` covers.
    func range(of index: Int) -> Range<UInt64> {
        let start = UInt64(index) * UInt64(segmentSize)
        return start..<min(start + UInt64(segmentSize), size)
    }
}

/// What a response's body is, once a request's conditions and range are applied.
enum ResponseBody {
    case buffer(ByteBuffer)
    /// These bytes of a file, from its cached segments.
    case segments(FileSegments, Range<UInt64>)
}

/// A whole response ready to send: written as is, or as its 206, 304 or 416
/// form. Small files, listings and redirects are cached in this form in the
/// content cache (a derived value), so a warm request costs a cache probe and
/// one gathering write; a large file's is cached too, its body then being the
/// file's segments.
final class PreparedResponse: Sendable {
    let status: HTTPStatus
    /// Fields shared by every form (no Content-Length).
    let fields: ByteBuffer
    /// Status line, fields and Content-Length of the full response.
    let head: ByteBuffer
    /// The body, when it is held inline.
    let body: ByteBuffer
    /// The body, when it is a large file's segments.
    let segments: FileSegments?
    let etag: String?
    let notModifiedHead: ByteBuffer?
    /// Whether a `Range` request gets a 206 (files and raw blocks with status 200).
    let supportsRanges: Bool

    init(meta: ResponseMeta, body: ByteBuffer, supportsRanges: Bool) {
        status = meta.status
        fields = meta.commonFields()
        head = meta.head(fields: fields, contentLength: UInt64(body.readableBytes))
        self.body = body
        segments = nil
        etag = meta.etag
        notModifiedHead = meta.etag == nil ? nil : meta.notModifiedHead()
        self.supportsRanges = supportsRanges && meta.status == .ok
    }

    /// A large file, its body streamed from `segments`.
    init(meta: ResponseMeta, segments: FileSegments) {
        status = meta.status
        fields = meta.commonFields()
        head = meta.head(fields: fields, contentLength: segments.size)
        body = ByteBuffer()
        self.segments = segments
        etag = meta.etag
        notModifiedHead = meta.etag == nil ? nil : meta.notModifiedHead()
        supportsRanges = meta.status == .ok
    }

    /// A response that is only a head: a 304 or a 416.
    init(head: ByteBuffer, status: HTTPStatus) {
        self.status = status
        fields = ByteBuffer()
        self.head = head
        body = ByteBuffer()
        segments = nil
        etag = nil
        notModifiedHead = nil
        supportsRanges = false
    }

    /// Bytes held, for the cache's budget (segments are charged on their own).
    var cost: Int {
        fields.capacity + head.capacity + body.capacity + (notModifiedHead?.capacity ?? 0) + 256
    }

    /// The body's length.
    var length: UInt64 { segments?.size ?? UInt64(body.readableBytes) }

    /// What to write for a request with these conditional and range headers.
    func form(for head: GatewayFields) -> (head: ByteBuffer, body: ResponseBody?, status: HTTPStatus) {
        let sendsBody = !head.isHead
        if let etag, let notModifiedHead, let condition = head.ifNoneMatch, EntityTag.noneMatchHits(condition, etag) {
            return (notModifiedHead, nil, .notModified)
        }
        let size = length
        var selected = 0..<size
        var status = self.status
        var formHead = self.head
        if supportsRanges, head.range != nil, EntityTag.ifRangeHolds(head.ifRange, etag ?? "W/") {
            switch RangeRequest(header: head.range, size: size) {
            case .whole:
                break
            case .partial(let range):
                var writer = HTTPHeadWriter(status: .partialContent)
                writer.append(fields)
                writer.add("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(size)")
                writer.add("Content-Length", range.count)
                formHead = writer.buffer
                status = .partialContent
                selected = range.lowerBound..<(range.upperBound + 1)
            case .unsatisfiable:
                return (Self.unsatisfiableHead(size: size), nil, .rangeNotSatisfiable)
            }
        }
        guard sendsBody, !selected.isEmpty else { return (formHead, nil, status) }
        if let segments { return (formHead, .segments(segments, selected), status) }
        let slice = selected.count == body.readableBytes
            ? body : body.getSlice(at: body.readerIndex + Int(selected.lowerBound), length: selected.count)!
        return (formHead, .buffer(slice), status)
    }

    static func unsatisfiableHead(size: UInt64) -> ByteBuffer {
        var writer = HTTPHeadWriter(status: .rangeNotSatisfiable)
        writer.add("Content-Range", "bytes */\(size)")
        writer.add("Content-Length", 0)
        return writer.buffer
    }

    /// A short plain-text response (errors, and 412 for only-if-cached).
    static func text(_ status: HTTPStatus, _ message: String,
                     fields: [(name: StaticString, value: String)] = []) -> PreparedResponse {
        var meta = ResponseMeta(status: status, contentType: "text/plain; charset=utf-8")
        for field in fields { meta.add(field.name, field.value) }
        return PreparedResponse(meta: meta, body: ByteBuffer(string: message + "\n"), supportsRanges: false)
    }
}
