import Logging
import NIOCore

/// Asks a connection to close once its current exchange is done (graceful shutdown).
struct HTTPShutdownEvent: Sendable {}

/// What every connection of one server shares.
struct HTTPConnectionServices: Sendable {
    let router: HTTPRouter
    let limits: HTTPServer.Limits
    let metrics: HTTPServerMetrics
    let logger: Logger
}

/// One HTTP/1.1 connection: parses requests (`HTTPRequestParser`), routes
/// each to its handler on the event loop, feeds it the body with
/// backpressure, answers `Expect: 100-continue`, and writes what the handler
/// sends through its `HTTPResponseWriter`, waiting for the socket to drain
/// between pieces. The connection's phases and deadlines are
/// `HTTPConnectionState`'s; this class performs its decisions.
final class HTTPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a streamed body is delimited on the wire.
    private enum Framing {
        case contentLength
        case chunked
        /// HTTP/1.0 without a length: the close ends it.
        case close
    }

    private enum BodyState {
        /// No body, or all of it was read.
        case none
        /// Going to the handler; `demand` false while its consumer lags.
        case streaming(BodyProducer.Source, demand: Bool)
        /// Read and dropped (the handler does not want it).
        case discarding
        /// Never read (413 for its announced length): the connection closes after the response.
        case refused
    }

    private enum ResponseState: Equatable {
        case notStarted
        case started(Framing)
        case finished
    }

    /// The request being answered.
    private struct Exchange {
        let id: Int
        let head: HTTPRequestHead
        let started: NIODeadline
        let maxBodyBytes: Int
        var keepAlive: Bool
        var body = BodyState.none
        var bodyReceived = 0
        var continueSent = false
        var response = ResponseState.notStarted
        var status: UInt = 0
        var bytesSent = 0
        var task: Task<Void, Never>?

        var sendsBody: Bool { head.method != .head }
    }

    private let services: HTTPConnectionServices
    private let dates = HTTPDateCache()
    private var parser: HTTPRequestParser
    private var state: HTTPConnectionState
    private var pending: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    private var nextExchangeID = 0
    private var readHeld = false
    private var inReadLoop = false
    private var flushNeeded = false
    private var processing = false
    private var writableWaiter: EventLoopPromise<Void>?
    /// A body being written on the event loop (`HTTPResponseWriter.pump`).
    private var pumpNext: (() -> HTTPPumpStep)?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(services: HTTPConnectionServices) {
        self.services = services
        let limits = services.limits
        parser = HTTPRequestParser(limits: limits.parserLimits)
        state = HTTPConnectionState(limits: .init(idleTimeout: TimeAmount(limits.idleTimeout),
                                                  requestHeadTimeout: TimeAmount(limits.requestHeadTimeout),
                                                  writeTimeout: TimeAmount(limits.writeTimeout),
                                                  keepAliveRequests: limits.keepAliveRequests),
                                    now: .now())
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        services.metrics.connectionsChanged(by: 1)
        rearmTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard state.phase != .closed else { return }
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        inReadLoop = true
        processPending()
        inReadLoop = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flushNeeded {
            flushNeeded = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Reads only what the current exchange needs: the next head when idle,
    /// body bytes while the handler wants them. Pipelined requests wait in the socket.
    func read(context: ChannelHandlerContext) {
        if wantsBytes {
            context.read()
        } else {
            readHeld = true
        }
    }

    private var wantsBytes: Bool {
        switch state.phase {
        case .awaitingRequest: return true
        case .closed: return false
        case .active:
            guard let exchange, parser.isInBody else { return false }
            switch exchange.body {
            case .streaming(_, let demand): return demand
            case .discarding: return true
            case .none, .refused: return false
            }
        }
    }

    private func resumeReading() {
        guard readHeld, wantsBytes, let context else { return }
        readHeld = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        state.writabilityChanged(writable: writable, now: .now())
        if writable, let waiter = writableWaiter {
            writableWaiter = nil
            waiter.succeed(())
        }
        rearmTimer()
        if writable, pumpNext != nil { runPump() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        if let waiter = writableWaiter {
            writableWaiter = nil
            waiter.fail(HTTPServerError.connectionClosed)
        }
        timer?.cancel()
        timer = nil
        dropExchange(HTTPServerError.connectionClosed)
        pending = nil
        services.metrics.connectionsChanged(by: -1)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HTTPShutdownEvent {
            if state.shutdownRequested() { close() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        services.logger.debug("http connection error", metadata: ["error": "\(error)"])
        state.closed()
        context.close(promise: nil)
    }

    // MARK: Requests

    /// Parses buffered bytes and acts on them until the current exchange
    /// needs nothing more from the socket or the buffer runs dry.
    private func processPending() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state.phase != .closed {
            if state.phase == .active {
                guard let exchange, parser.isInBody else { return }
                switch exchange.body {
                case .streaming(_, demand: false) where !parser.endIsDue: return
                case .refused, .none: return
                case .streaming, .discarding: break
                }
            }
            if pending == nil {
                guard parser.endIsDue else { return }
                pending = ByteBuffer()
            }
            let part: HTTPRequestParser.Part?
            do {
                part = try parser.parse(&pending!)
            } catch {
                parseFailed(error)
                return
            }
            if pending!.readableBytes == 0 { pending = nil }
            guard let part else {
                if parser.isPartway {
                    state.partialHeadArrived(now: .now())
                    rearmTimer()
                }
                return
            }
            switch part {
            case .head(let head):
                state.requestStarted()
                start(head)
            case .body(let bytes):
                bodyArrived(bytes)
            case .end:
                bodyEnded()
            }
        }
    }

    private func start(_ head: HTTPRequestHead) {
        guard let context else { return }
        nextExchangeID += 1
        let id = nextExchangeID
        let match = services.router.route(head)
        var maxBodyBytes = services.limits.maxBodyBytes
        if case .route(let route) = match, let routeLimit = route.maxBodyBytes { maxBodyBytes = routeLimit }
        exchange = Exchange(id: id, head: head, started: .now(), maxBodyBytes: maxBodyBytes,
                            keepAlive: state.mayKeepAlive(clientWantsIt: head.keepAlive))
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let writer = HTTPResponseWriter(connection: connection, exchangeID: id)

        var body = HTTPRequestBody()
        if head.hasBody {
            if case .length(let length) = head.framing, length > maxBodyBytes {
                exchange!.body = .refused
                writer.sendText(.contentTooLarge, "the request body is larger than \(maxBodyBytes) bytes")
                return
            }
            let made = BodyProducer.makeSequence(
                backPressureStrategy: .init(lowWatermark: BodyBuffering.lowWatermark, highWatermark: BodyBuffering.highWatermark),
                finishOnDeinit: false, delegate: BodyDelegate(connection: connection, exchangeID: id))
            exchange!.body = .streaming(made.source, demand: true)
            body = HTTPRequestBody(producer: made.sequence)
            state.bodyWanted(now: .now())
            rearmTimer()
        }

        switch match {
        case .route(let route):
            route.handler.handle(HTTPRequest(head: head, body: body), writer)
        case .notFound:
            writer.sendText(.notFound, "no such resource")
        case .methodNotAllowed(let allow):
            writer.sendText(.methodNotAllowed, "method \(head.method) is not allowed here",
                            fields: [("Allow", allow.map(\.rawValue).joined(separator: ", "))])
        }

        // RFC 9110 §10.1.1: the client waits for this before it sends the
        // body, unless the handler has answered already.
        if var current = exchange, current.id == id, current.head.expectsContinue, !current.continueSent,
           current.response == .notStarted, case .streaming = current.body {
            current.continueSent = true
            exchange = current
            context.write(wrapOutboundOut(Self.continueResponse), promise: nil)
            if inReadLoop { flushNeeded = true } else { context.flush() }
        }
    }

    private func bodyArrived(_ bytes: ByteBuffer) {
        guard var current = exchange else { return }
        current.bodyReceived += bytes.readableBytes
        exchange = current
        guard current.bodyReceived <= current.maxBodyBytes else {
            failBody(.contentTooLarge, HTTPServerError(.bodyTooLarge, "more than \(current.maxBodyBytes) bytes"))
            return
        }
        guard case .streaming(let source, _) = current.body else {
            state.bodyWanted(now: .now())
            rearmTimer()
            return
        }
        switch source.yield(bytes) {
        case .produceMore:
            state.bodyWanted(now: .now())
        case .stopProducing:
            exchange!.body = .streaming(source, demand: false)
            state.bodyNotWanted()
        case .dropped:
            exchange!.body = .discarding
            state.bodyWanted(now: .now())
        }
        rearmTimer()
    }

    private func bodyEnded() {
        guard var current = exchange else { return }
        if case .streaming(let source, _) = current.body { source.finish() }
        current.body = .none
        exchange = current
        state.bodyNotWanted()
        if current.response == .finished { exchangeFinished() }
    }

    /// The body cannot go on (too large, broken framing, timed out): the
    /// handler's body stream throws; the client gets `status` if no response
    /// began, else the connection is cut. Either way the connection closes.
    private func failBody(_ status: HTTPStatus, _ error: HTTPServerError) {
        guard var current = exchange else { return }
        if case .streaming(let source, _) = current.body { source.finish(error) }
        current.body = .refused
        current.keepAlive = false
        exchange = current
        state.bodyNotWanted()
        switch current.response {
        case .notStarted: send(text: status, error.description, exchangeID: current.id)
        case .started: abort(exchangeID: current.id)
        case .finished: close()
        }
    }

    /// A head or body the parser refused.
    private func parseFailed(_ error: HTTPParseError) {
        pending = nil
        if exchange != nil, parser.isInBody {
            failBody(error.status, HTTPServerError(.malformedBody, error.description))
            return
        }
        state.partialHeadArrived(now: .now())
        sendAndClose(status: error.status, error.description)
    }

    /// Writes a whole text response outside any exchange (a refused head, a
    /// timeout), then closes.
    private func sendAndClose(status: HTTPStatus, _ message: String) {
        guard let context, state.phase != .closed else { return }
        state.closed()
        let body = ByteBuffer(string: message + "\n")
        let head = HTTPHeadWriter.text(status, bodyLength: body.readableBytes)
        context.write(wrapOutboundOut(head), promise: nil)
        context.write(wrapOutboundOut(dates.tail(.close)), promise: nil)
        context.write(wrapOutboundOut(body), promise: nil)
        services.metrics.recordResponse(status: status.code, bytes: head.readableBytes + body.readableBytes, nanoseconds: 0)
        close()
    }

    // MARK: Writing

    private func isCurrent(_ id: Int) -> Bool {
        exchange?.id == id && state.phase == .active && context != nil
    }

    /// Whether the connection may stay open after this response: the
    /// exchange allows it, and the body will be read to its end (a body
    /// refused, or one the client holds back for a 100 never sent, is not).
    private func persistence(_ exchange: inout Exchange) -> HTTPDateCache.Persistence {
        if parser.isInBody {
            switch exchange.body {
            case .refused:
                exchange.keepAlive = false
            case .streaming, .discarding:
                if exchange.head.expectsContinue && !exchange.continueSent { exchange.keepAlive = false }
            case .none:
                break
            }
        }
        guard exchange.keepAlive else { return .close }
        return exchange.head.version.minor == 0 ? .keepAliveHTTP10 : .keepAlive
    }

    private func writeOut(_ buffer: ByteBuffer) {
        guard let context else { return }
        exchange?.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func writeHead(_ head: ByteBuffer, status: HTTPStatus, framing: Framing) {
        guard var current = exchange else { return }
        current.status = status.code
        current.response = .started(framing)
        let tail = dates.tail(persistence(&current))
        exchange = current
        writeOut(head)
        writeOut(tail)
    }

    func send(head: ByteBuffer, status: HTTPStatus, body: ByteBuffer?, exchangeID id: Int) {
        guard isCurrent(id), exchange!.response == .notStarted else { return }
        writeHead(head, status: status, framing: .contentLength)
        if let body, body.readableBytes > 0, exchange!.sendsBody { writeOut(body) }
        responseFinished()
    }

    private func send(text status: HTTPStatus, _ message: String, fields: [(name: String, value: String)] = [],
                      exchangeID id: Int) {
        let body = ByteBuffer(string: message + "\n")
        send(head: HTTPHeadWriter.text(status, bodyLength: body.readableBytes, fields: fields), status: status, body: body,
             exchangeID: id)
    }

    func fail(_ status: HTTPStatus, _ message: String, fields: [(name: String, value: String)], exchangeID id: Int) {
        guard isCurrent(id) else { return }
        if exchange!.response == .notStarted {
            send(text: status, message, fields: fields, exchangeID: id)
        } else {
            abort(exchangeID: id)
        }
    }

    func closeAfterResponse(exchangeID id: Int) {
        guard isCurrent(id) else { return }
        exchange!.keepAlive = false
    }

    func begin(head: ByteBuffer, status: HTTPStatus, framing: HTTPResponseFraming, exchangeID id: Int) -> EventLoopFuture<Void>? {
        guard isCurrent(id), exchange!.response == .notStarted, let context else { return nil }
        var head = head
        let wire: Framing
        switch framing {
        case .lengthInHead:
            wire = .contentLength
        case .length(let length):
            wire = .contentLength
            head.writeString("Content-Length: \(length)\r\n")
        case .streamed where exchange!.head.version.minor >= 1:
            wire = .chunked
            head.writeStaticString("Transfer-Encoding: chunked\r\n")
        case .streamed:
            wire = .close
            exchange!.keepAlive = false
        }
        writeHead(head, status: status, framing: wire)
        context.flush()
        return writable()
    }

    func write(_ chunk: ByteBuffer, exchangeID id: Int) -> EventLoopFuture<Void>? {
        guard isCurrent(id), case .started(let framing) = exchange!.response, let context else { return nil }
        guard exchange!.sendsBody, chunk.readableBytes > 0 else { return context.eventLoop.makeSucceededVoidFuture() }
        if framing == .chunked {
            writeOut(ByteBuffer(string: String(chunk.readableBytes, radix: 16) + "\r\n"))
            writeOut(chunk)
            writeOut(Self.crlf)
        } else {
            writeOut(chunk)
        }
        context.flush()
        return writable()
    }

    func end(exchangeID id: Int) {
        guard isCurrent(id), case .started(let framing) = exchange!.response else { return }
        pumpNext = nil
        if framing == .chunked, exchange!.sendsBody { writeOut(Self.lastChunk) }
        responseFinished()
    }

    func abort(exchangeID id: Int) {
        guard isCurrent(id) else { return }
        dropExchange(HTTPServerError.connectionClosed)
        close()
    }

    func pump(_ next: @escaping () -> HTTPPumpStep, exchangeID id: Int) {
        guard isCurrent(id), case .started = exchange!.response else { return }
        pumpNext = next
        runPump()
    }

    func cancelOnClose(_ task: Task<Void, Never>, exchangeID id: Int) {
        guard isCurrent(id) else {
            task.cancel()
            return
        }
        exchange!.task = task
    }

    /// Writes what the pump gives while the socket takes it; resumes when it drains.
    private func runPump() {
        guard let next = pumpNext, let context, let id = exchange?.id else { return }
        defer { context.flush() }
        while isCurrent(id), pumpNext != nil {
            guard context.channel.isWritable else {
                state.writabilityChanged(writable: false, now: .now())
                rearmTimer()
                return
            }
            switch next() {
            case .write(let piece):
                if exchange!.sendsBody { writeOut(piece) }
            case .finished:
                end(exchangeID: id)
                return
            case .stop:
                pumpNext = nil
                return
            }
        }
    }

    /// The response is fully handed to the channel: record it; the exchange
    /// is over once the body is read too.
    private func responseFinished() {
        guard var current = exchange else { return }
        current.response = .finished
        current.task = nil
        pumpNext = nil
        exchange = current
        record(current)
        guard parser.isInBody else {
            exchangeFinished()
            return
        }
        if !current.keepAlive {
            close()
            return
        }
        // The handler is done but the body is not: read the rest and drop it.
        if case .streaming(let source, _) = current.body { source.finish(HTTPServerError.responseEnded) }
        exchange!.body = .discarding
        state.bodyWanted(now: .now())
        rearmTimer()
        resumeReading()
        processPending()
    }

    /// Response written and body read: read the next request or close.
    private func exchangeFinished() {
        guard let current = exchange, let context else { return }
        exchange = nil
        if state.exchangeFinished(keptAlive: current.keepAlive, now: .now()) {
            if inReadLoop { flushNeeded = true } else { context.flush() }
            rearmTimer()
            resumeReading()
            processPending()
        } else {
            close()
        }
    }

    /// Ends the exchange without a complete response: its body stream
    /// throws, its task is cancelled.
    private func dropExchange(_ error: HTTPServerError) {
        guard let current = exchange else { return }
        if case .started = current.response { record(current) }
        if case .streaming(let source, _) = current.body { source.finish(error) }
        current.task?.cancel()
        exchange = nil
        pumpNext = nil
    }

    private func record(_ exchange: Exchange) {
        let elapsed = NIODeadline.now() - exchange.started
        services.metrics.recordResponse(status: exchange.status, bytes: exchange.bytesSent, nanoseconds: elapsed.nanoseconds)
    }

    /// Closes once everything written so far has gone out.
    private func close() {
        guard let context else { return }
        state.closed()
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private static let continueResponse = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    /// Succeeds now if the socket can take more, else when it drains; nil
    /// when the connection is gone.
    private func writable() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        if context.channel.isWritable { return context.eventLoop.makeSucceededVoidFuture() }
        if writableWaiter == nil { writableWaiter = context.eventLoop.makePromise() }
        state.writabilityChanged(writable: false, now: .now())
        rearmTimer()
        return writableWaiter!.futureResult
    }

    // MARK: The body's consumer (through BodyDelegate, on the event loop)

    func bodyDemanded(exchangeID id: Int) {
        guard isCurrent(id), case .streaming(let source, demand: false) = exchange!.body else { return }
        exchange!.body = .streaming(source, demand: true)
        state.bodyWanted(now: .now())
        rearmTimer()
        resumeReading()
        processPending()
    }

    func bodyAbandoned(exchangeID id: Int) {
        guard isCurrent(id), case .streaming = exchange!.body, parser.isInBody else { return }
        exchange!.body = .discarding
        state.bodyWanted(now: .now())
        rearmTimer()
        resumeReading()
        processPending()
    }

    // MARK: Timeouts

    /// Makes sure a timer fires by the state's deadline. A later deadline
    /// leaves the armed timer alone: it re-arms itself when it fires early.
    private func rearmTimer() {
        guard let context, let deadline = state.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        switch state.timeout(now: .now()) {
        case .none:
            rearmTimer()
        case .close:
            services.logger.debug("http connection timed out")
            dropExchange(HTTPServerError.connectionClosed)
            state.closed()
            context?.close(promise: nil)
        case .requestTimeout:
            if exchange != nil {
                failBody(.requestTimeout, HTTPServerError(.connectionClosed, "the request body did not arrive in time"))
            } else {
                sendAndClose(status: .requestTimeout, "the request head did not arrive in time")
            }
        }
    }
}
