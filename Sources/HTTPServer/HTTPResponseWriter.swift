import NIOCore

/// How a response body is delimited.
public enum HTTPResponseFraming: Hashable, Sendable {
    /// The head carries `Content-Length` already (a head built once and cached).
    case lengthInHead
    /// The connection adds `Content-Length: n`.
    case length(UInt64)
    /// Unknown length: chunked for HTTP/1.1, delimited by the close for HTTP/1.0.
    case streamed
}

/// What a body pump answers each time the socket can take more.
public enum HTTPPumpStep {
    /// Write these bytes and ask again.
    case write(ByteBuffer)
    /// The body is complete.
    case finished
    /// The pump can go no further on the event loop: whoever holds the
    /// writer continues with `write` and `end` (e.g. a task reading blocks).
    case stop
}

/// A handler's handle on the response to one request. Every method may be
/// called from any thread or task: calls hop to the connection's event loop
/// (and run at once when made on it). Calls for an exchange that is over
/// (the connection closed or timed out, the response ended) do nothing or throw.
///
/// A response is either sent whole (`send`), or begun (`begin`) and then
/// written (`write`, `pump`) and ended (`end`); `abort` cuts the connection.
/// `head` buffers are a status line and header fields as `HTTPHeadWriter`
/// makes them, without `Date`, `Connection` and the final empty line, which
/// the connection adds. Bodies of HEAD requests are not written.
public struct HTTPResponseWriter: Sendable {
    let connection: NIOLoopBound<HTTPConnectionHandler>
    let exchangeID: Int

    init(connection: NIOLoopBound<HTTPConnectionHandler>, exchangeID: Int) {
        self.connection = connection
        self.exchangeID = exchangeID
    }

    public var eventLoop: any EventLoop { connection.eventLoop }

    private func onLoop(_ body: @escaping @Sendable (HTTPConnectionHandler, Int) -> Void) {
        let connection = connection, id = exchangeID
        if connection.eventLoop.inEventLoop {
            body(connection.value, id)
        } else {
            connection.eventLoop.execute { body(connection.value, id) }
        }
    }

    private func onLoop(_ body: @escaping @Sendable (HTTPConnectionHandler, Int) -> EventLoopFuture<Void>?) async throws {
        let connection = connection, id = exchangeID
        let eventLoop = connection.eventLoop
        let future: EventLoopFuture<Void>
        if eventLoop.inEventLoop {
            future = body(connection.value, id) ?? eventLoop.makeFailedFuture(HTTPServerError.connectionClosed)
        } else {
            future = eventLoop.flatSubmit {
                body(connection.value, id) ?? eventLoop.makeFailedFuture(HTTPServerError.connectionClosed)
            }
        }
        try await future.get()
    }

    /// Sends a whole response. `head` carries `Content-Length` (0 when there is no body).
    public func send(head: ByteBuffer, status: HTTPStatus, body: ByteBuffer? = nil) {
        // The hot path of prepared responses: no closure when on the loop.
        if connection.eventLoop.inEventLoop {
            connection.value.send(head: head, status: status, body: body, exchangeID: exchangeID)
        } else {
            onLoop { $0.send(head: head, status: status, body: body, exchangeID: $1) }
        }
    }

    /// Sends a whole response with these fields and `Content-Length`.
    public func send(_ status: HTTPStatus, fields: [(name: String, value: String)] = [], body: ByteBuffer = ByteBuffer()) {
        var writer = HTTPHeadWriter(status: status)
        for field in fields { writer.add(name: field.name, field.value) }
        writer.add("Content-Length", body.readableBytes)
        send(head: writer.buffer, status: status, body: body)
    }

    /// Sends a short `text/plain` response: `message` and a newline.
    public func sendText(_ status: HTTPStatus, _ message: String, fields: [(name: String, value: String)] = []) {
        let body = ByteBuffer(string: message + "\n")
        send(head: HTTPHeadWriter.text(status, bodyLength: body.readableBytes, fields: fields), status: status, body: body)
    }

    /// Sends a short `text/plain` response if no response began, else aborts
    /// (for errors found at any point of an exchange).
    public func fail(_ status: HTTPStatus, _ message: String, fields: [(name: String, value: String)] = []) {
        onLoop { $0.fail(status, message, fields: fields, exchangeID: $1) }
    }

    /// Closes the connection after this response (call before the response starts).
    public func closeAfterResponse() {
        onLoop { $0.closeAfterResponse(exchangeID: $1) }
    }

    /// Writes the head of a response whose body follows; returns when the socket can take more.
    public func begin(head: ByteBuffer, status: HTTPStatus, framing: HTTPResponseFraming) async throws {
        try await onLoop { $0.begin(head: head, status: status, framing: framing, exchangeID: $1) }
    }

    /// `begin`, without waiting (for handlers on the event loop).
    public func start(head: ByteBuffer, status: HTTPStatus, framing: HTTPResponseFraming) {
        onLoop { _ = $0.begin(head: head, status: status, framing: framing, exchangeID: $1) }
    }

    /// Writes a piece of the body; returns when the socket can take more.
    public func write(_ chunk: ByteBuffer) async throws {
        try await onLoop { $0.write(chunk, exchangeID: $1) }
    }

    /// The response is complete (a chunked body gets its last chunk).
    public func end() {
        onLoop { $0.end(exchangeID: $1) }
    }

    /// Ends the response by closing the connection: a chunked body without its
    /// last chunk, or a body shorter than its Content-Length, which the client
    /// must treat as an error.
    public func abort() {
        onLoop { $0.abort(exchangeID: $1) }
    }

    /// Writes the body from `next` on the event loop, as the socket drains:
    /// for bodies ready in memory, written without copies. Call on the event
    /// loop, after `start`.
    public func pump(_ next: @escaping () -> HTTPPumpStep) {
        connection.value.pump(next, exchangeID: exchangeID)
    }

    /// Cancels `task` if the connection closes or times out before the response ends.
    public func cancelOnClose(_ task: Task<Void, Never>) {
        onLoop { $0.cancelOnClose(task, exchangeID: $1) }
    }
}
