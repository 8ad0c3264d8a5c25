import Errors
import NIOCore

/// Why a request body or a response could not go on.
public struct HTTPServerError: CodedError {
    public enum Code: String, Hashable, Sendable {
        /// The body exceeded the route's limit (the connection answered 413).
        case bodyTooLarge
        /// The body's chunked framing is broken (the connection answered 400).
        case malformedBody
        /// The connection closed or timed out before the body or the response was complete.
        case connectionClosed
        /// The response ended before the body was read; the rest of the body is discarded.
        case responseEnded
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public var summary: String {
        switch code {
        case .bodyTooLarge: "the request body is too large"
        case .malformedBody: "the request body is malformed"
        case .connectionClosed: "the connection closed"
        case .responseEnded: "the response ended before the request body was read"
        }
    }

    public static let bodyTooLarge = Self(.bodyTooLarge)
    public static let malformedBody = Self(.malformedBody)
    public static let connectionClosed = Self(.connectionClosed)
    public static let responseEnded = Self(.responseEnded)
}

/// A request as a handler sees it: the head, and the body as an async
/// sequence of byte buffers (de-chunked; empty when the request has none).
public struct HTTPRequest: Sendable {
    public let head: HTTPRequestHead
    public let body: HTTPRequestBody

    public init(head: HTTPRequestHead, body: HTTPRequestBody = HTTPRequestBody()) {
        self.head = head
        self.body = body
    }
}

/// How many read buffers a request body may hold for a consumer that lags
/// before the connection stops reading the socket, and how few before it
/// reads again (each buffer is one socket read, up to 64 KiB).
enum BodyBuffering {
    static let highWatermark = 8
    static let lowWatermark = 2
}

typealias BodyProducer = NIOThrowingAsyncSequenceProducer<
    ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyDelegate
>

/// A request body. Iterate it once; while the consumer lags the connection
/// stops reading from the socket, so a slow consumer slows the client down.
/// A body never iterated (the handler dropped it) is read and discarded.
/// Errors are `HTTPServerError`s.
public struct HTTPRequestBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let producer: BodyProducer?

    /// An empty body.
    public init() {
        producer = nil
    }

    init(producer: BodyProducer) {
        self.producer = producer
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var inner: BodyProducer.AsyncIterator?

        public mutating func next() async throws -> ByteBuffer? {
            guard inner != nil else { return nil }
            return try await inner!.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: producer?.makeAsyncIterator())
    }

    /// The whole body in one buffer; throws `bodyTooLarge` past `maxBytes`.
    public func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await var piece in self {
            guard result.readableBytes + piece.readableBytes <= maxBytes else { throw HTTPServerError.bodyTooLarge }
            result.writeBuffer(&piece)
        }
        return result
    }
}

/// Tells the connection when the body's consumer wants more, and when it is gone.
struct BodyDelegate: NIOAsyncSequenceProducerDelegate {
    let connection: NIOLoopBound<HTTPConnectionHandler>
    let exchangeID: Int

    func produceMore() {
        let connection = connection, id = exchangeID
        connection.eventLoop.execute { connection.value.bodyDemanded(exchangeID: id) }
    }

    func didTerminate() {
        let connection = connection, id = exchangeID
        connection.eventLoop.execute { connection.value.bodyAbandoned(exchangeID: id) }
    }
}
