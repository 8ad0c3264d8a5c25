import NIOCore

// Writing responses: what `HTTPResponseWriter` calls on the event loop, the
// framing of response bodies, and waiting for the socket to drain
// (formats/http.md, "Responses: writing and backpressure").
extension HTTPConnectionHandler {
    func isCurrent(_ id: Int) -> Bool {
        exchange?.id == id && state.phase == .active && context != nil
    }

    /// Whether the connection may stay open after this response: the
    /// exchange allows it, and the body will be read to its end (a body
    /// refused, or one the client holds back for a 100 never sent, is not).
    func persistence(_ exchange: inout Exchange) -> HTTPDateCache.Persistence {
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

    func writeOut(_ buffer: ByteBuffer) {
        guard let context else { return }
        exchange?.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    // The exchange is changed in place (`exchange!.…`), not copied out and
    // back: a copy retains and releases every reference in the request head,
    // which was a tenth of the CPU time per small response.
    func writeHead(_ head: ByteBuffer, status: HTTPStatus, framing: Framing) {
        guard exchange != nil else { return }
        exchange!.status = status.code
        exchange!.response = .started(framing)
        let tail = dates.tail(persistence(&exchange!))
        writeOut(head)
        writeOut(tail)
    }

    func send(head: ByteBuffer, status: HTTPStatus, body: ByteBuffer?, exchangeID id: Int) {
        guard isCurrent(id), exchange!.response == .notStarted else { return }
        writeHead(head, status: status, framing: .contentLength)
        if let body, body.readableBytes > 0, exchange!.sendsBody { writeOut(body) }
        responseFinished()
    }

    func send(text status: HTTPStatus, _ message: String, fields: [(name: String, value: String)] = [],
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
    func runPump() {
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
    func responseFinished() {
        guard exchange != nil else { return }
        exchange!.response = .finished
        exchange!.task = nil
        pumpNext = nil
        record(status: exchange!.status, bytes: exchange!.bytesSent, started: exchange!.started)
        guard parser.isInBody else {
            exchangeFinished()
            return
        }
        if !exchange!.keepAlive {
            close()
            return
        }
        // The handler is done but the body is not: read the rest and drop it.
        if case .streaming(let source, _) = exchange!.body { source.finish(HTTPServerError.responseEnded) }
        exchange!.body = .discarding
        state.bodyWanted(now: .now())
        rearmTimer()
        resumeReading()
        processPending()
    }

    /// Response written and body read: read the next request or close.
    func exchangeFinished() {
        guard let keptAlive = exchange?.keepAlive, let context else { return }
        exchange = nil
        if state.exchangeFinished(keptAlive: keptAlive, now: .now()) {
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
    func dropExchange(_ error: HTTPServerError) {
        guard let current = exchange else { return }
        if case .started = current.response { record(status: current.status, bytes: current.bytesSent, started: current.started) }
        if case .streaming(let source, _) = current.body { source.finish(error) }
        current.task?.cancel()
        exchange = nil
        pumpNext = nil
    }

    func record(status: UInt, bytes: Int, started: NIODeadline) {
        let elapsed = NIODeadline.now() - started
        services.metrics.recordResponse(status: status, bytes: bytes, nanoseconds: elapsed.nanoseconds)
    }

    /// Closes once everything written so far has gone out, lingering: the
    /// FIN goes first, then what the client still sends is dropped until it
    /// closes, or for `lingeringCloseTimeout` at most.
    func close() {
        guard let context else { return }
        state.closed()
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { [self] result in
            linger(context: context, written: result)
        }
    }

    private func linger(context: ChannelHandlerContext, written: Result<Void, any Error>) {
        let timeout = TimeAmount(services.limits.lingeringCloseTimeout)
        // A server shutting down does not wait on its clients' FINs.
        guard case .success = written, timeout > .zero, !state.closeRequested, lingering == nil,
              context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        lingering = 0
        let outputClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: outputClosed)
        outputClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        // The client's FIN closes the channel (no remote half-closure); else the bound does.
        let bound = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { context.close(promise: nil) }
        context.channel.closeFuture.whenComplete { _ in bound.cancel() }
        pending = nil
        readHeld = false
        context.read()
    }

    static let crlf = ByteBuffer(string: "\r\n")
    static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    static let continueResponse = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    /// Succeeds now if the socket can take more, else when it drains; nil
    /// when the connection is gone.
    func writable() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        if context.channel.isWritable { return context.eventLoop.makeSucceededVoidFuture() }
        if writableWaiter == nil { writableWaiter = context.eventLoop.makePromise() }
        state.writabilityChanged(writable: false, now: .now())
        rearmTimer()
        return writableWaiter!.futureResult
    }
}
