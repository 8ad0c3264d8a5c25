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
///
/// This file: channel events, requests and timeouts. Writing responses:
/// `HTTPConnectionHandler+Writing.swift`; request bodies:
/// `HTTPConnectionHandler+Body.swift`.
final class HTTPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a streamed body is delimited on the wire.
    enum Framing {
        case contentLength
        case chunked
        /// HTTP/1.0 without a length: the close ends it.
        case close
    }

    enum BodyState {
        /// No body, or all of it was read.
        case none
        /// Going to the handler; `demand` false while its consumer lags.
        case streaming(BodyProducer.Source, demand: Bool)
        /// Read and dropped (the handler does not want it).
        case discarding
        /// Never read (413 for its announced length): the connection closes after the response.
        case refused
    }

    enum ResponseState: Equatable {
        case notStarted
        case started(Framing)
        case finished
    }

    /// The request being answered.
    struct Exchange {
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

    let services: HTTPConnectionServices
    let dates = HTTPDateCache()
    var parser: HTTPRequestParser
    var state: HTTPConnectionState
    var pending: ByteBuffer?
    var context: ChannelHandlerContext?
    var exchange: Exchange?
    var nextExchangeID = 0
    var readHeld = false
    var inReadLoop = false
    var flushNeeded = false
    var processing = false
    var writableWaiter: EventLoopPromise<Void>?
    /// A body being written on the event loop (`HTTPResponseWriter.pump`).
    var pumpNext: (() -> HTTPPumpStep)?
    var timer: Scheduled<Void>?
    var timerDeadline: NIODeadline?
    /// Output closed, input drained and dropped until the client closes
    /// (`HTTPServer.Limits.lingeringCloseTimeout`); how many bytes were dropped.
    var lingering: Int?

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
        if let dropped = lingering {
            lingering = dropped + bytes.readableBytes
            if lingering! > services.limits.lingeringCloseBytes { context.close(promise: nil) }
            return
        }
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
        if wantsBytes || lingering != nil {
            context.read()
        } else {
            readHeld = true
        }
    }

    var wantsBytes: Bool {
        switch state.phase {
        case .awaitingRequest: return state.mayStartRequest
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

    func resumeReading() {
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
        if writable, state.phase == .awaitingRequest {
            // Earlier responses drained: close for a pending shutdown, or take the next request.
            if state.shouldCloseForShutdown {
                close()
            } else {
                resumeReading()
                processPending()
            }
        }
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
    func processPending() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state.phase != .closed {
            if state.phase == .awaitingRequest, !state.mayStartRequest { return }
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

    func start(_ head: HTTPRequestHead) {
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
        if exchange?.id == id, exchange!.head.expectsContinue, !exchange!.continueSent,
           exchange!.response == .notStarted, case .streaming = exchange!.body {
            exchange!.continueSent = true
            context.write(wrapOutboundOut(Self.continueResponse), promise: nil)
            if inReadLoop { flushNeeded = true } else { context.flush() }
        }
    }

    /// A head or body the parser refused.
    func parseFailed(_ error: HTTPParseError) {
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
    func sendAndClose(status: HTTPStatus, _ message: String) {
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

    // MARK: Timeouts

    /// Makes sure a timer fires by the state's deadline. A later deadline
    /// leaves the armed timer alone: it re-arms itself when it fires early.
    func rearmTimer() {
        guard let context, let deadline = state.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired()
        }
    }

    func timerFired() {
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
