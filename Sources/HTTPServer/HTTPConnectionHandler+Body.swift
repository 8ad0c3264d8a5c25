import NIOCore

// The request body: feeding it to the handler with backpressure, its end, and
// its failures (formats/http.md, "Request bodies: streaming and backpressure").
extension HTTPConnectionHandler {
    func bodyArrived(_ bytes: ByteBuffer) {
        // In place, not copied out and back (see `writeHead`).
        guard exchange != nil else { return }
        exchange!.bodyReceived += bytes.readableBytes
        guard exchange!.bodyReceived <= exchange!.maxBodyBytes else {
            failBody(.contentTooLarge, HTTPServerError(.bodyTooLarge, "more than \(exchange!.maxBodyBytes) bytes"))
            return
        }
        guard case .streaming(let source, _) = exchange!.body else {
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

    func bodyEnded() {
        guard exchange != nil else { return }
        if case .streaming(let source, _) = exchange!.body { source.finish() }
        exchange!.body = .none
        state.bodyNotWanted()
        if exchange!.response == .finished { exchangeFinished() }
    }

    /// The body cannot go on (too large, broken framing, timed out): the
    /// handler's body stream throws; the client gets `status` if no response
    /// began, else the connection is cut. Either way the connection closes.
    func failBody(_ status: HTTPStatus, _ error: HTTPServerError) {
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
}
