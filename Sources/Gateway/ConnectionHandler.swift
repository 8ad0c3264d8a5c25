import ContentCache
import Logging
import NIOCore
import NIOHTTP1

/// Asks a connection to close once its current response is done (graceful shutdown).
struct GatewayShutdownEvent: Sendable {}

/// What every connection of one server shares.
struct GatewayServices: Sendable {
    let configuration: GatewayConfiguration
    let responder: GatewayResponder
    let cache: ContentCache
    let sites: any SiteResolver
    let metrics: GatewayMetrics
    let logger: Logger
    /// Where request tasks run (not the cooperative pool: see `ServingExecutor`).
    let executor: any TaskExecutor
}

/// One HTTP/1.1 connection: parses request heads, answers warm requests from
/// ready responses in the content cache on the event loop, hands the others
/// to a task running `GatewayResponder`, and writes what that task sends
/// through its `ResponseSink`, waiting for the socket to drain between
/// chunks. The connection's lifecycle is `ConnectionState`'s; this class
/// performs its decisions.
final class ConnectionHandler: ChannelDuplexHandler {
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

    /// Where the segment pump is: the next file offset to write and the end.
    private struct SegmentPump {
        let segments: FileSegments
        var next: UInt64
        let end: UInt64
    }

    /// The request being answered.
    private struct Exchange {
        let id: Int
        let head: HTTPRequestHead
        let started: NIODeadline
        var keepAlive = false
        var headSent = false
        var status: UInt = 0
        var bytesSent = 0
        var framing = Framing.contentLength
    }

    private let services: GatewayServices
    private let dates: HTTPDateCache
    private var parser: HTTPRequestParser
    private var state: ConnectionState
    private var pending: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    private var nextExchangeID = 0
    private var task: Task<Void, Never>?
    private var readHeld = false
    private var inReadLoop = false
    private var flushNeeded = false
    private var processing = false
    private var writableWaiter: EventLoopPromise<Void>?
    /// A large file's body being written from its cached segments.
    private var pump: SegmentPump?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(services: GatewayServices, dates: HTTPDateCache) {
        self.services = services
        self.dates = dates
        let limits = services.configuration.limits
        parser = HTTPRequestParser(limits: limits.parserLimits)
        state = ConnectionState(limits: .init(idleTimeout: TimeAmount(limits.idleTimeout),
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

    /// Reads are held while a response is under way: pipelined requests wait
    /// in the socket rather than in memory.
    func read(context: ChannelHandlerContext) {
        if state.phase == .responding {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        state.writabilityChanged(writable: writable, now: .now())
        if writable, let waiter = writableWaiter {
            writableWaiter = nil
            waiter.succeed(())
        }
        rearmTimer()
        if writable, pump != nil { runPump() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        task?.cancel()
        task = nil
        if let waiter = writableWaiter {
            writableWaiter = nil
            waiter.fail(ChannelError.ioOnClosedChannel)
        }
        timer?.cancel()
        timer = nil
        if let exchange, exchange.headSent { record(exchange) }
        exchange = nil
        pump = nil
        pending = nil
        services.metrics.connectionsChanged(by: -1)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GatewayShutdownEvent {
            if state.shutdownRequested() { close() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        services.logger.debug("gateway connection error", metadata: ["error": "\(error)"])
        state.closed()
        context.close(promise: nil)
    }

    // MARK: Requests

    /// Parses and answers buffered requests until one needs the responder
    /// task or the buffer holds no complete head.
    private func processPending() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state.phase == .awaitingRequest, pending != nil {
            let head: HTTPRequestHead?
            do {
                head = try parser.parse(&pending!)
            } catch {
                refuse(error)
                return
            }
            if pending!.readableBytes == 0 { pending = nil }
            guard let head else {
                state.partialHeadArrived(now: .now())
                rearmTimer()
                return
            }
            state.requestStarted()
            start(head)
        }
    }

    private func start(_ head: HTTPRequestHead) {
        nextExchangeID += 1
        var current = Exchange(id: nextExchangeID, head: head, started: .now())
        current.keepAlive = state.mayKeepAlive(clientWantsIt: head.keepAlive)
        exchange = current

        switch head.method {
        case .get, .head:
            guard !head.hasBody else {
                finish(with: GatewayError(.badRequest, "GET and HEAD requests may not have a body", closesConnection: true))
                return
            }
        case .other:
            var error = GatewayError(.methodNotAllowed, "only GET and HEAD are supported", closesConnection: head.hasBody)
            error.extraFields = [("Allow", "GET, HEAD")]
            finish(with: error)
            return
        }

        let site = head.host.flatMap(services.sites.site(forHost:))
        if !head.acceptsExplicitFormat, head.serviceWorker == nil,
           let prepared = services.cache.derivedValue(forKey: GatewayRequest.preparedKey(site: site, target: head.target))
               as? PreparedResponse {
            respond(with: prepared)
            return
        }

        let request: GatewayRequest
        do {
            request = try GatewayRequest.route(head, site: site)
        } catch {
            finish(with: error)
            return
        }
        let sink = ResponseSink(handler: NIOLoopBound(self, eventLoop: context!.eventLoop), exchangeID: current.id)
        let responder = services.responder
        task = Task(executorPreference: services.executor) { await responder.respond(to: request, sink: sink) }
    }

    /// Answers a head the parser refused, then closes.
    private func refuse(_ error: HTTPParseError) {
        state.partialHeadArrived(now: .now())
        let status: HTTPResponseStatus
        let message: String
        switch error {
        case .uriTooLong: (status, message) = (.uriTooLong, "the request-target is too long")
        case .headersTooLarge: (status, message) = (.requestHeaderFieldsTooLarge, "the request header fields are too large")
        case .unsupportedVersion: (status, message) = (.httpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are supported")
        case .malformed(let reason): (status, message) = (.badRequest, "malformed request: \(reason)")
        }
        pending = nil
        sendAndClose(PreparedResponse.text(status, message))
    }

    /// Writes a whole response outside any exchange (a refused head, a
    /// timeout), then closes.
    private func sendAndClose(_ response: PreparedResponse) {
        guard let context, state.phase != .closed else { return }
        state.closed()
        context.write(wrapOutboundOut(response.head), promise: nil)
        context.write(wrapOutboundOut(dates.tail(.close)), promise: nil)
        context.write(wrapOutboundOut(response.body), promise: nil)
        services.metrics.recordResponse(status: response.status.code,
                                        bytes: response.head.readableBytes + response.body.readableBytes, nanoseconds: 0)
        close()
    }

    // MARK: Writing

    private func persistence(_ exchange: Exchange) -> HTTPDateCache.Persistence {
        guard exchange.keepAlive else { return .close }
        return exchange.head.minorVersion == 0 ? .keepAliveHTTP10 : .keepAlive
    }

    private func writeOut(_ buffer: ByteBuffer) {
        guard let context else { return }
        exchange?.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Answers the current exchange with a prepared response (or its
    /// 206/304/416 form): an inline body goes out at once; a large file's is
    /// pumped from its segments.
    private func respond(with prepared: PreparedResponse) {
        guard var current = exchange else { return }
        let form = prepared.form(for: current.head)
        current.status = form.status.code
        current.headSent = true
        current.framing = .contentLength
        exchange = current
        writeOut(form.head)
        writeOut(dates.tail(persistence(current)))
        switch form.body {
        case .buffer(let body)?:
            writeOut(body)
        case .segments(let segments, let range)?:
            pump = SegmentPump(segments: segments, next: range.lowerBound, end: range.upperBound)
            runPump()
            return
        case nil:
            break
        }
        finishExchange()
    }

    /// Writes cached segments until the body is done, the socket is full
    /// (then again when it drains) or a segment is missing (then a responder
    /// task streams the rest, filling the cache as it goes).
    private func runPump() {
        guard var current = pump, let context else { return }
        pump = nil
        defer { context.flush() }
        let segmentSize = UInt64(current.segments.segmentSize)
        while current.next < current.end {
            guard context.channel.isWritable else {
                pump = current
                state.writabilityChanged(writable: false, now: .now())
                rearmTimer()
                return
            }
            let index = Int(current.next / segmentSize)
            let covered = current.segments.range(of: index)
            guard let segment = services.cache.derivedValue(forKey: current.segments.key(index)) as? ByteBuffer,
                  segment.readableBytes == covered.count else {
                handOff(current)
                return
            }
            let upper = min(current.end, covered.upperBound)
            let piece = segment.getSlice(at: segment.readerIndex + Int(current.next - covered.lowerBound),
                                         length: Int(upper - current.next))!
            writeOut(piece)
            current.next = upper
        }
        finishExchange()
    }

    /// Streams the rest of a pumped body from a responder task.
    private func handOff(_ pumped: SegmentPump) {
        guard let current = exchange, let context else { return }
        let sink = ResponseSink(handler: NIOLoopBound(self, eventLoop: context.eventLoop), exchangeID: current.id)
        let responder = services.responder
        task = Task(executorPreference: services.executor) { await responder.stream(pumped.segments, range: pumped.next..<pumped.end, sink: sink) }
    }

    private func finish(with error: GatewayError) {
        if error.closesConnection { exchange?.keepAlive = false }
        respond(with: PreparedResponse.text(error.status, error.message, fields: error.extraFields))
    }

    /// The current response is fully handed to the channel: record it, then
    /// read the next request or close.
    private func finishExchange() {
        guard let current = exchange, let context else { return }
        record(current)
        exchange = nil
        task = nil
        if state.responseFinished(keptAlive: current.keepAlive, now: .now()) {
            if inReadLoop { flushNeeded = true } else { context.flush() }
            rearmTimer()
            if readHeld {
                readHeld = false
                context.read()
            }
            processPending()
        } else {
            close()
        }
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

    // MARK: The responder's side (called through ResponseSink, on the event loop)

    private func isCurrent(_ id: Int) -> Bool {
        exchange?.id == id && state.phase == .responding && context != nil
    }

    func sinkSend(_ prepared: PreparedResponse, exchangeID id: Int) {
        guard isCurrent(id) else { return }
        respond(with: prepared)
    }

    func sinkFail(_ error: GatewayError, exchangeID id: Int) {
        guard isCurrent(id) else { return }
        if exchange!.headSent {
            sinkAbort(exchangeID: id)
        } else {
            finish(with: error)
        }
    }

    /// Writes the head of a streamed response; `head` holds every field but
    /// the framing, which is chosen here: `Content-Length` when known, else
    /// chunked (HTTP/1.1) or delimited by the close (HTTP/1.0).
    func sinkBegin(head: ByteBuffer, status: HTTPResponseStatus, contentLength: UInt64?, exchangeID id: Int) -> EventLoopFuture<Void>? {
        guard isCurrent(id), var current = exchange, let context else { return nil }
        var head = head
        if let contentLength {
            current.framing = .contentLength
            head.writeString("Content-Length: \(contentLength)\r\n")
        } else if current.head.minorVersion >= 1 {
            current.framing = .chunked
            head.writeStaticString("Transfer-Encoding: chunked\r\n")
        } else {
            current.framing = .close
            current.keepAlive = false
        }
        current.status = status.code
        current.headSent = true
        exchange = current
        writeOut(head)
        writeOut(dates.tail(persistence(current)))
        context.flush()
        return writable()
    }

    func sinkWrite(_ chunk: ByteBuffer, exchangeID id: Int) -> EventLoopFuture<Void>? {
        guard isCurrent(id), let current = exchange, let context else { return nil }
        guard current.head.method != .head, chunk.readableBytes > 0 else { return context.eventLoop.makeSucceededVoidFuture() }
        if current.framing == .chunked {
            writeOut(ByteBuffer(string: String(chunk.readableBytes, radix: 16) + "\r\n"))
            writeOut(chunk)
            writeOut(Self.crlf)
        } else {
            writeOut(chunk)
        }
        context.flush()
        return writable()
    }

    func sinkEnd(exchangeID id: Int) {
        guard isCurrent(id), let current = exchange else { return }
        if current.framing == .chunked, current.head.method != .head { writeOut(Self.lastChunk) }
        finishExchange()
    }

    /// Ends the response by closing the connection: a chunked body without
    /// its last chunk, or a body shorter than its Content-Length, which the
    /// client must treat as an error.
    func sinkAbort(exchangeID id: Int) {
        guard isCurrent(id), let current = exchange else { return }
        record(current)
        exchange = nil
        pump = nil
        task = nil
        close()
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

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
            services.logger.debug("gateway connection timed out")
            if let exchange { record(exchange) }
            exchange = nil
            pump = nil
            task?.cancel()
            task = nil
            state.closed()
            context?.close(promise: nil)
        case .requestTimeout:
            sendAndClose(PreparedResponse.text(.requestTimeout, "the request head did not arrive in time"))
        }
    }
}

/// The responder task's handle on its connection. Every call hops to the
/// connection's event loop; calls for an exchange that is over (the
/// connection closed, timed out) do nothing or throw.
struct ResponseSink: Sendable {
    let handler: NIOLoopBound<ConnectionHandler>
    let exchangeID: Int

    private var eventLoop: any EventLoop { handler.eventLoop }

    /// Sends a whole response; the connection applies `If-None-Match` and `Range` to it.
    func send(_ prepared: PreparedResponse) {
        let handler = handler, id = exchangeID
        eventLoop.execute { handler.value.sinkSend(prepared, exchangeID: id) }
    }

    /// Sends an error response, or cuts the connection if the head already went out.
    func fail(_ error: GatewayError) {
        let handler = handler, id = exchangeID
        eventLoop.execute { handler.value.sinkFail(error, exchangeID: id) }
    }

    func begin(head: ByteBuffer, status: HTTPResponseStatus, contentLength: UInt64?) async throws {
        let handler = handler, id = exchangeID
        let eventLoop = eventLoop
        try await eventLoop.flatSubmit {
            handler.value.sinkBegin(head: head, status: status, contentLength: contentLength, exchangeID: id)
                ?? eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }.get()
    }

    /// Writes a body chunk; returns when the socket can take more.
    func write(_ chunk: ByteBuffer) async throws {
        let handler = handler, id = exchangeID
        let eventLoop = eventLoop
        try await eventLoop.flatSubmit {
            handler.value.sinkWrite(chunk, exchangeID: id) ?? eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }.get()
    }

    func end() {
        let handler = handler, id = exchangeID
        eventLoop.execute { handler.value.sinkEnd(exchangeID: id) }
    }

    func abort() {
        let handler = handler, id = exchangeID
        eventLoop.execute { handler.value.sinkAbort(exchangeID: id) }
    }
}
