import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serializes a status line and header fields straight into a `ByteBuffer`.
/// A head stops before `Date` and the final empty line: the connection
/// appends those, so that a head can be built once, cached and written many
/// times. Heads never carry `Connection` either: the connection decides it.
public struct HTTPHeadWriter: Sendable {
    public private(set) var buffer: ByteBuffer

    /// Starts with the status line, or with nothing when `status` is nil (a
    /// block of fields to be appended to heads later).
    public init(status: HTTPStatus?, capacity: Int = 384) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
        if let status {
            buffer.writeStaticString("HTTP/1.1 ")
            buffer.writeString(String(status.code))
            buffer.writeStaticString(" ")
            buffer.writeString(status.reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Appends `name: value`. CR, LF and NUL in `value` become spaces: no
    /// content (a file name, a redirect target) can split a header.
    public mutating func add(_ name: StaticString, _ value: some StringProtocol) {
        buffer.writeStaticString(name)
        writeValue(value)
    }

    /// `add` for a name known only at run time (it must be a token; callers pass their own constants).
    public mutating func add(name: String, _ value: some StringProtocol) {
        buffer.writeString(name)
        writeValue(value)
    }

    public mutating func add(_ name: StaticString, _ value: some BinaryInteger) {
        add(name, String(value))
    }

    /// Appends fields serialized by another writer.
    public mutating func append(_ fields: ByteBuffer) {
        buffer.writeImmutableBuffer(fields)
    }

    private mutating func writeValue(_ value: some StringProtocol) {
        buffer.writeStaticString(": ")
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            buffer.writeBytes(value.utf8.map { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 ? 0x20 : $0 })
        } else {
            buffer.writeString(String(value))
        }
        buffer.writeStaticString("\r\n")
    }

    /// The head of a short text response: `Content-Type: text/plain; charset=utf-8`,
    /// `Content-Length`, and `fields`.
    public static func text(_ status: HTTPStatus, bodyLength: Int, fields: [(name: String, value: String)] = []) -> ByteBuffer {
        var writer = HTTPHeadWriter(status: status)
        writer.add("Content-Type", "text/plain; charset=utf-8")
        for field in fields { writer.add(name: field.name, field.value) }
        writer.add("Content-Length", bodyLength)
        return writer.buffer
    }
}

/// The `Date` field and the final empty line of every response, rebuilt once
/// a second. One per connection, used only on its event loop: no lock.
final class HTTPDateCache {
    enum Persistence {
        /// HTTP/1.1 keep-alive: nothing to say.
        case keepAlive
        /// HTTP/1.0 keep-alive: say so.
        case keepAliveHTTP10
        case close
    }

    private var second: Int = -1
    private var keepAlive = ByteBuffer()
    private var keepAliveHTTP10 = ByteBuffer()
    private var close = ByteBuffer()

    /// `Date: …\r\n` (plus a `Connection` field when needed) and `\r\n`.
    func tail(_ persistence: Persistence) -> ByteBuffer {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec != second { rebuild(Int(now.tv_sec)) }
        switch persistence {
        case .keepAlive: return keepAlive
        case .keepAliveHTTP10: return keepAliveHTTP10
        case .close: return close
        }
    }

    private func rebuild(_ seconds: Int) {
        second = seconds
        let date = Self.imfFixdate(seconds)
        keepAlive = ByteBuffer(string: "Date: \(date)\r\n\r\n")
        keepAliveHTTP10 = ByteBuffer(string: "Date: \(date)\r\nConnection: keep-alive\r\n\r\n")
        close = ByteBuffer(string: "Date: \(date)\r\nConnection: close\r\n\r\n")
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
    static func imfFixdate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
