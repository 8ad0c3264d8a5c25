// The top of a connection's pipeline: negotiates the stream multiplexer
// (multistream-select for /yamux/1.0.0) once Noise has secured the channel,
// then drives the YamuxSession state machine: it decodes frames, hands data
// to streams, writes what streams send as their windows and the socket
// allow, and reports the connection to the host. Format: formats/libp2p.md,
// sections 5 and 7.

import Logging
import NIOCore

final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let yamuxProtocol = "/yamux/1.0.0"
    /// Bytes one stream may send before others get a turn.
    static let writeQuantum = 256 * 1024

    private enum State {
        case securing
        case negotiating(MultistreamSelect, ByteBuffer)
        case running
        case closed
    }

    private var state = State.securing
    private let direction: Direction
    private var session: YamuxSession
    private var decoder = YamuxFrameDecoder()
    private var streams: [UInt32: StreamCore] = [:]
    private var writeQueue = CircularBuffer<UInt32>(initialCapacity: 16)
    private var events: [YamuxSession.Event] = []
    private var context: ChannelHandlerContext?
    private let swarm: Swarm
    private let established: EventLoopPromise<Connection>
    private var establishedCompleted = false
    private(set) var connection: Connection?
    private var secured: NoiseSession?
    private var needsFlush = false
    private var idleSince: NIODeadline?
    private var handshakeTimer: Scheduled<Void>?
    private var idleTimer: RepeatedTask?
    private var logger: Logger

    init(direction: Direction, swarm: Swarm, established: EventLoopPromise<Connection>) {
        self.direction = direction
        self.swarm = swarm
        self.established = established
        self.session = YamuxSession(isClient: direction == .outbound, configuration: swarm.limits.yamux)
        self.logger = swarm.logger
    }

    // MARK: Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress { logger[metadataKey: "remote"] = "\(remote)" }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: swarm.limits.handshakeTimeout) {
            bound.value.handshakeTimedOut()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        teardown(P2PError(.closed, "connection handler removed"))
        self.context = nil
    }

    private func handshakeTimedOut() {
        guard !establishedCompleted else { return }
        fail(P2PError(.timeout, "connection setup took longer than \(swarm.limits.handshakeTimeout)"))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? NoiseHandler.Secured, case .securing = state else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        secured = event.session
        logger[metadataKey: "peer"] = "\(event.session.remotePeer)"
        var negotiation = direction == .outbound
            ? MultistreamSelect(proposing: [Self.yamuxProtocol], maxLineLength: swarm.limits.maxProtocolLength)
            : MultistreamSelect(supporting: [Self.yamuxProtocol], maxLineLength: swarm.limits.maxProtocolLength)
        var output = context.channel.allocator.buffer(capacity: 64)
        negotiation.start(into: &output)
        state = .negotiating(negotiation, context.channel.allocator.buffer(capacity: 0))
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch state {
        case .securing:
            fail(P2PError(.protocolViolation, "data before the security handshake completed"))
        case .negotiating(var negotiation, var input):
            input.writeBuffer(&buffer)
            var output = context.channel.allocator.buffer(capacity: 0)
            do {
                let outcome = try negotiation.receive(&input, output: &output)
                if output.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(output), promise: nil) }
                guard case .selected = outcome else {
                    state = .negotiating(negotiation, input)
                    return
                }
                try becomeRunning(context: context)
                if input.readableBytes > 0 { processFrames(&input, context: context) }
            } catch {
                fail(error)
            }
        case .running:
            processFrames(&buffer, context: context)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pumpWrites() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .securing: teardown(P2PError(.closed, "the remote closed the connection during the security handshake"))
        case .negotiating: teardown(P2PError(.closed, "the remote closed the connection during muxer negotiation"))
        default: teardown(P2PError(.closed, "connection closed"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let error = error as? P2PError ?? P2PError(.io, "\(error)")
        fail(error)
    }

    // MARK: Setup and teardown

    private func becomeRunning(context: ChannelHandlerContext) throws(P2PError) {
        guard let secured else { throw P2PError(.protocolViolation, "muxer selected before security") }
        handshakeTimer?.cancel()
        handshakeTimer = nil
        state = .running
        let connection = Connection(
            id: swarm.nextConnectionID(), session: secured, direction: direction,
            remoteAddress: context.channel.remoteAddress.flatMap(Multiaddr.init(socketAddress:)),
            localAddress: context.channel.localAddress.flatMap(Multiaddr.init(socketAddress:)),
            channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        self.connection = connection
        if let error = swarm.register(connection) { throw error }
        var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
        session.ping(now: .now(), outbox: &outbox)
        context.writeAndFlush(wrapOutboundOut(outbox), promise: nil)
        idleSince = .now()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let period = max(TimeAmount.milliseconds(100), .nanoseconds(swarm.limits.idleTimeout.nanoseconds / 4))
        idleTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            bound.value.checkIdle()
        }
        establishedCompleted = true
        established.succeed(connection)
    }

    /// Fails setup or closes a running connection after a protocol error.
    private func fail(_ error: P2PError) {
        guard let context else { return }
        if !establishedCompleted {
            establishedCompleted = true
            established.fail(error)
        } else if case .running = state {
            logger.info("closing connection: \(error)")
            if error.code == .protocolViolation {
                var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
                session.goAway(.protocolError, outbox: &outbox)
                context.writeAndFlush(wrapOutboundOut(outbox), promise: nil)
            }
        }
        teardown(error)
        context.close(promise: nil)
    }

    private func teardown(_ error: P2PError) {
        if case .closed = state { return }
        let wasRunning: Bool
        if case .running = state { wasRunning = true } else { wasRunning = false }
        state = .closed
        handshakeTimer?.cancel()
        idleTimer?.cancel()
        if !establishedCompleted {
            establishedCompleted = true
            established.fail(error)
        }
        let cores = streams.values
        streams.removeAll()
        writeQueue.removeAll()
        for core in cores {
            core.finishReading(error)
            core.failWrites(error)
            if let connection { swarm.releaseStream(connection.remotePeer) }
        }
        if wasRunning, let connection { swarm.unregister(connection) }
    }

    /// Sends GoAway (normal) and closes the connection.
    func close() {
        guard let context else { return }
        if case .running = state {
            var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
            session.goAway(.normal, outbox: &outbox)
            context.writeAndFlush(wrapOutboundOut(outbox), promise: nil)
        }
        teardown(P2PError(.closed, "connection closed by this side"))
        context.close(promise: nil)
    }

    private func checkIdle() {
        guard case .running = state, streams.isEmpty, let since = idleSince else { return }
        if NIODeadline.now() - since >= swarm.limits.idleTimeout {
            logger.debug("closing idle connection")
            close()
        }
    }

    // MARK: Inbound frames

    private func processFrames(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        var outbox = context.channel.allocator.buffer(capacity: 0)
        var pump = false
        do {
            while let frame = try decoder.next(&buffer) {
                events.removeAll(keepingCapacity: true)
                try session.receive(frame, now: now, outbox: &outbox) { self.events.append($0) }
                for event in events { pump = handle(event, now: now, outbox: &outbox) || pump }
            }
        } catch {
            if outbox.readableBytes > 0 { context.write(wrapOutboundOut(outbox), promise: nil) }
            fail(error)
            return
        }
        if outbox.readableBytes > 0 {
            context.write(wrapOutboundOut(outbox), promise: nil)
            needsFlush = true
        }
        if pump { pumpWrites() }
    }

    /// Returns whether writers may proceed.
    private func handle(_ event: YamuxSession.Event, now: NIODeadline, outbox: inout ByteBuffer) -> Bool {
        switch event {
        case .streamOpened(let id):
            guard let connection, let context, swarm.reserveStream(connection.remotePeer) else {
                session.reset(id, outbox: &outbox)
                return false
            }
            let core = StreamCore(id: id, direction: .inbound, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
                                  eventLoop: context.eventLoop)
            streams[id] = core
            idleSince = nil
            swarm.acceptStream(core, on: connection)
        case .data(let id, let bytes):
            if let core = streams[id] {
                let consumed = core.deliver(bytes)
                if consumed > 0 { session.consumed(id, count: consumed, now: now, outbox: &outbox) }
            }
        case .remoteClosed(let id):
            streams[id]?.finishReading(nil)
        case .streamReset(let id):
            if let core = streams[id] {
                let error = P2PError(.streamReset, "reset by the remote")
                core.finishReading(error, discard: true)
                core.failWrites(error)
                removeStream(id)
            }
        case .streamClosed(let id):
            removeStream(id)
        case .sendWindowAvailable(let id):
            if let core = streams[id], !core.pendingWrites.isEmpty, !core.inWriteQueue {
                core.inWriteQueue = true
                writeQueue.append(id)
                return true
            }
        case .roundTrip(let rtt):
            logger.trace("yamux round trip \(rtt.nanoseconds / 1000) µs")
        case .goAway(let code):
            logger.debug("remote sent GoAway \(code)")
            if streams.isEmpty { close() }
        }
        return false
    }

    private func removeStream(_ id: UInt32) {
        guard streams.removeValue(forKey: id) != nil, let connection else { return }
        swarm.releaseStream(connection.remotePeer)
        if streams.isEmpty {
            idleSince = .now()
            if session.remoteGoAway { close() }
        }
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    private func writeControl(_ outbox: ByteBuffer) {
        guard outbox.readableBytes > 0, let context else { return }
        context.write(wrapOutboundOut(outbox), promise: nil)
        needsFlush = true
    }

    // MARK: Stream operations (on the event loop)

    func openStream() throws(P2PError) -> StreamCore {
        guard case .running = state, let context, let connection else {
            throw P2PError(.closed, "connection is not open")
        }
        guard swarm.reserveStream(connection.remotePeer) else {
            throw P2PError(.limitExceeded, "\(swarm.limits.maxStreamsPerPeer) streams already open with \(connection.remotePeer)")
        }
        var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
        let id: UInt32
        do {
            id = try session.openStream(now: .now(), outbox: &outbox)
        } catch {
            swarm.releaseStream(connection.remotePeer)
            throw error
        }
        let core = StreamCore(id: id, direction: .outbound, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
                              eventLoop: context.eventLoop)
        streams[id] = core
        idleSince = nil
        writeControl(outbox)
        flushIfNeeded()
        return core
    }

    func enqueue(_ operation: StreamCore.WriteOperation, on core: StreamCore) {
        let failure: P2PError?
        if let error = core.terminalError {
            failure = error
        } else if case .running = state, streams[core.id] === core {
            failure = core.writeClosed ? P2PError(.closed, "the stream is closed for writing") : nil
        } else {
            failure = P2PError(.closed, "the stream is closed")
        }
        if let failure {
            switch operation {
            case .data(_, let continuation): continuation.resume(throwing: failure)
            case .finish(let continuation):
                // Closing twice, or after the stream ended normally, is not an error.
                if failure.code == .closed { continuation?.resume() } else { continuation?.resume(throwing: failure) }
            }
            return
        }
        if case .finish = operation { core.writeClosed = true }
        core.pendingWrites.append(operation)
        if !core.inWriteQueue && (session.sendWindow(core.id) > 0 || isFinishNext(core)) {
            core.inWriteQueue = true
            writeQueue.append(core.id)
        }
        pumpWrites()
    }

    private func isFinishNext(_ core: StreamCore) -> Bool {
        if case .finish = core.pendingWrites.first { return true }
        return false
    }

    /// Writes queued stream data, a quantum per stream in turn, while the
    /// channel is writable; streams without send window wait for an update.
    private func pumpWrites() {
        guard case .running = state, let context else { return }
        while context.channel.isWritable, let id = writeQueue.popFirst() {
            guard let core = streams[id] else { continue }
            core.inWriteQueue = false
            var budget = Self.writeQuantum
            var wrote = false
            operations: while let operation = core.pendingWrites.first {
                switch operation {
                case .data(var buffer, let continuation):
                    while buffer.readableBytes > 0, budget > 0,
                        let header = session.nextDataFrame(id, wanted: min(buffer.readableBytes, budget))
                    {
                        var headerBytes = context.channel.allocator.buffer(capacity: YamuxHeader.size)
                        header.write(into: &headerBytes)
                        context.write(wrapOutboundOut(headerBytes), promise: nil)
                        context.write(wrapOutboundOut(buffer.readSlice(length: Int(header.length))!), promise: nil)
                        budget -= Int(header.length)
                        wrote = true
                    }
                    if buffer.readableBytes == 0 {
                        core.pendingWrites.removeFirst()
                        continuation.resume()
                    } else {
                        core.pendingWrites[core.pendingWrites.startIndex] = .data(buffer, continuation)
                        break operations
                    }
                case .finish(let continuation):
                    core.pendingWrites.removeFirst()
                    var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
                    let gone = session.closeWrite(id, outbox: &outbox)
                    if outbox.readableBytes > 0 {
                        context.write(wrapOutboundOut(outbox), promise: nil)
                        wrote = true
                    }
                    continuation?.resume()
                    if gone { removeStream(id) }
                }
            }
            if !core.pendingWrites.isEmpty, session.isOpen(id), session.sendWindow(id) > 0 {
                core.inWriteQueue = true
                writeQueue.append(id)
            }
            if wrote {
                needsFlush = false
                context.flush()
            }
        }
        flushIfNeeded()
    }

    /// A reader consumed data: grant window back when due.
    func reportConsumed(_ core: StreamCore) {
        let count = core.takeUnreported()
        guard count > 0, case .running = state, session.isOpen(core.id), let context else { return }
        var outbox = context.channel.allocator.buffer(capacity: 0)
        session.consumed(core.id, count: count, now: .now(), outbox: &outbox)
        if outbox.readableBytes > 0 {
            writeControl(outbox)
            flushIfNeeded()
        }
    }

    func resetStream(_ core: StreamCore, error: P2PError) {
        core.finishReading(error, discard: true)
        core.failWrites(error)
        guard streams[core.id] === core, let context else { return }
        if case .running = state {
            var outbox = context.channel.allocator.buffer(capacity: YamuxHeader.size)
            session.reset(core.id, outbox: &outbox)
            writeControl(outbox)
            flushIfNeeded()
        }
        removeStream(core.id)
    }
}
