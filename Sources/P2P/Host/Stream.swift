// Streams: the application's end of a Yamux stream. Reads take buffered
// chunks under a lock (no event-loop hop while data is waiting); writes hop
// to the connection's event loop and return once the bytes are in the
// channel, so a writer is held back by the stream's send window and the
// socket's write buffer. Format: formats/libp2p.md, section 7.

import Multiformats
import NIOCore
import Synchronization

/// Whether this side opened the stream or connection.
public enum Direction: String, Sendable {
    case inbound
    case outbound
}

/// The shared state of one Yamux stream between the connection's event loop
/// (which delivers data and performs writes) and the tasks using it.
final class StreamCore: @unchecked Sendable {
    enum ReadEnd {
        case open
        case finished
        case failed(P2PError)
    }

    enum WriteOperation {
        case data(ByteBuffer, CheckedContinuation<Void, Error>)
        case finish(CheckedContinuation<Void, Error>?)
    }

    let id: UInt32
    let eventLoop: EventLoop
    let handler: NIOLoopBound<ConnectionHandler>
    let direction: Direction

    /// What readers and the event loop share.
    private struct ReadState {
        var queue = CircularBuffer<ByteBuffer>(initialCapacity: 8)
        var queuedBytes = 0
        var pushback: ByteBuffer?
        var readEnd = ReadEnd.open
        var reader: CheckedContinuation<ByteBuffer?, Error>?
        var unreported = 0
        var reportScheduled = false
        var discarding = false

        /// What a read gets now.
        mutating func take() -> Immediate {
            if let chunk = pushback {
                pushback = nil
                return .chunk(chunk, report: false)
            }
            if let chunk = queue.popFirst() {
                queuedBytes -= chunk.readableBytes
                unreported += chunk.readableBytes
                let report = !reportScheduled
                reportScheduled = true
                return .chunk(chunk, report: report)
            }
            switch readEnd {
            case .open: return .wait
            case .finished: return .end
            case .failed(let error): return .failure(error)
            }
        }
    }

    private let shared = Mutex(ReadState())

    // Event-loop only (the ConnectionHandler's).
    var pendingWrites = CircularBuffer<WriteOperation>(initialCapacity: 2)
    var inWriteQueue = false
    /// FIN queued or sent: writes are refused.
    var writeClosed = false
    /// Set when the stream is gone: writes fail with it.
    var terminalError: P2PError?

    init(id: UInt32, direction: Direction, handler: NIOLoopBound<ConnectionHandler>, eventLoop: EventLoop) {
        self.id = id
        self.direction = direction
        self.handler = handler
        self.eventLoop = eventLoop
    }

    // MARK: Reading (any thread)

    fileprivate enum Immediate {
        case chunk(ByteBuffer, report: Bool)
        case end
        case failure(Error)
        case wait
    }

    private func scheduleReport() {
        eventLoop.execute { self.handler.value.reportConsumed(self) }
    }

    /// The next chunk, or nil once the remote closed its side and everything was read.
    func read() async throws -> ByteBuffer? {
        switch shared.withLock({ $0.take() }) {
        case .chunk(let chunk, let report):
            if report { scheduleReport() }
            return chunk
        case .end: return nil
        case .failure(let error): throw error
        case .wait: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, Error>) in
                let now = shared.withLock { state -> Immediate in
                    let result = state.take()
                    if case .wait = result { state.reader = continuation }
                    return result
                }
                switch now {
                case .chunk(let chunk, let report):
                    if report { scheduleReport() }
                    continuation.resume(returning: chunk)
                case .end: continuation.resume(returning: nil)
                case .failure(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            let waiting = shared.withLock { state -> CheckedContinuation<ByteBuffer?, Error>? in
                defer { state.reader = nil }
                return state.reader
            }
            waiting?.resume(throwing: CancellationError())
        }
    }

    /// Puts bytes back in front of the stream (already counted as consumed).
    func unread(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        shared.withLock { state in
            if var existing = state.pushback {
                var combined = bytes
                combined.writeBuffer(&existing)
                state.pushback = combined
            } else {
                state.pushback = bytes
            }
        }
    }

    /// Drops what is buffered and everything that arrives later.
    func discardInbound() {
        let (count, waiting) = shared.withLock { state -> (Int, CheckedContinuation<ByteBuffer?, Error>?) in
            state.discarding = true
            let count = state.queuedBytes
            state.queue.removeAll()
            state.queuedBytes = 0
            state.pushback = nil
            state.unreported += count
            let schedule = count > 0 && !state.reportScheduled
            if schedule { state.reportScheduled = true }
            defer { state.reader = nil }
            return (schedule ? 1 : 0, state.reader)
        }
        waiting?.resume(returning: nil)
        if count > 0 { scheduleReport() }
    }

    // MARK: Event-loop side

    /// Hands a chunk to the reader. Returns the bytes consumed at once
    /// (given to a waiting reader or discarded), which the caller reports.
    func deliver(_ chunk: ByteBuffer) -> Int {
        let (waiting, consumed) = shared.withLock { state -> (CheckedContinuation<ByteBuffer?, Error>?, Int) in
            if state.discarding { return (nil, chunk.readableBytes) }
            if let waiting = state.reader {
                state.reader = nil
                return (waiting, chunk.readableBytes)
            }
            state.queue.append(chunk)
            state.queuedBytes += chunk.readableBytes
            return (nil, 0)
        }
        waiting?.resume(returning: chunk)
        return consumed
    }

    /// Bytes consumed since the last report.
    func takeUnreported() -> Int {
        shared.withLock { state in
            defer {
                state.unreported = 0
                state.reportScheduled = false
            }
            return state.unreported
        }
    }

    /// The remote will send nothing more: reads end after the buffered data
    /// (with nil, or by throwing `error`); with `discard`, buffered data is
    /// dropped and the error comes at once (a reset).
    func finishReading(_ error: P2PError?, discard: Bool = false) {
        let waiting = shared.withLock { state -> CheckedContinuation<ByteBuffer?, Error>? in
            guard case .open = state.readEnd else { return nil }
            if let error {
                state.readEnd = .failed(error)
                if discard {
                    state.queue.removeAll()
                    state.queuedBytes = 0
                    state.pushback = nil
                }
            } else {
                state.readEnd = .finished
            }
            defer { state.reader = nil }
            return state.reader
        }
        if let error { waiting?.resume(throwing: error) } else { waiting?.resume(returning: nil) }
    }

    /// Fails pending and future writes with `error`.
    func failWrites(_ error: P2PError) {
        if terminalError == nil { terminalError = error }
        while let operation = pendingWrites.popFirst() {
            switch operation {
            case .data(_, let continuation): continuation.resume(throwing: error)
            case .finish(let continuation): continuation?.resume(throwing: error)
            }
        }
    }
}

/// A libp2p stream: one Yamux stream whose protocol was negotiated with
/// multistream-select.
///
/// Reads return chunks as they arrive (`nil` at the end); the stream's
/// receive window is granted back to the sender as chunks are read, so an
/// application that stops reading stops the sender. `write` returns once the
/// bytes are handed to the connection, which happens as the remote's window
/// and the socket allow. Use from one reading task and one writing task at a
/// time; `reset()` may be called from anywhere.
public final class P2PStream: Sendable {
    let core: StreamCore
    /// The protocol both sides agreed on, e.g. `/ipfs/ping/1.0.0`.
    public let protocolID: String
    /// The peer at the other end.
    public let remotePeer: PeerID
    /// The connection carrying the stream.
    public let connection: Connection
    public var direction: Direction { core.direction }
    /// The Yamux stream ID (odd for streams the dialer of the connection opened).
    public var streamID: UInt32 { core.id }

    init(core: StreamCore, protocolID: String, connection: Connection) {
        self.core = core
        self.protocolID = protocolID
        self.remotePeer = connection.remotePeer
        self.connection = connection
    }

    /// The next chunk of data, or nil when the remote closed its side and all
    /// data was read.
    /// - Throws: `.streamReset` if either side reset the stream, `.closed` if
    ///   the connection closed first, `CancellationError` if the task was cancelled.
    public func read() async throws -> ByteBuffer? { try await core.read() }

    /// Exactly `count` bytes.
    /// - Throws: `.closed` if the stream ends first, and `read()`'s errors.
    public func read(exactly count: Int) async throws -> ByteBuffer { try await core.read(exactly: count) }

    /// Everything until the remote closes its side.
    /// - Throws: `.limitExceeded` past `maxBytes`, and `read()`'s errors.
    public func readToEnd(maxBytes: Int) async throws -> ByteBuffer { try await core.readToEnd(maxBytes: maxBytes) }

    /// One message preceded by its length as an unsigned varint (the framing
    /// of identify, Bitswap and most libp2p protocols), or nil at a clean end
    /// of stream before the first byte.
    /// - Throws: `.limitExceeded` for a length above `maxLength`, `.malformed`
    ///   for a bad varint, `.closed` when the stream ends inside the message.
    public func readLengthPrefixed(maxLength: Int) async throws -> ByteBuffer? {
        try await core.readLengthPrefixed(maxLength: maxLength)
    }

    /// Writes `bytes`; returns when they are handed to the connection.
    /// - Throws: `.closed` after `closeWrite()` or when the connection is
    ///   gone, `.streamReset` when the stream was reset.
    public func write(_ bytes: ByteBuffer) async throws { try await core.write(bytes) }

    /// Writes `bytes` (copied into a buffer).
    public func write(_ bytes: some Sequence<UInt8>) async throws { try await core.write(ByteBuffer(bytes: bytes)) }

    /// Writes `message` preceded by its length as an unsigned varint.
    public func writeLengthPrefixed(_ message: some Collection<UInt8>) async throws {
        var buffer = ByteBuffer()
        buffer.writeBytes(Varint.encode(UInt64(message.count)))
        buffer.writeBytes(message)
        try await core.write(buffer)
    }

    /// Half-closes the stream (Yamux FIN) after the data already written:
    /// the remote reads to the end; this side can still read.
    public func closeWrite() async throws { try await core.closeWrite() }

    /// Closes this side for writing and stops reading: data that arrives
    /// later is dropped (its window is still granted, so the remote is not stalled).
    public func close() async {
        try? await core.closeWrite()
        core.discardInbound()
    }

    /// Resets the stream (Yamux RST): both directions end at once, pending
    /// reads and writes fail with `.streamReset`.
    public func reset() { core.reset() }
}

extension StreamCore {
    func write(_ bytes: ByteBuffer) async throws {
        guard bytes.readableBytes > 0 else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            eventLoop.execute { self.handler.value.enqueue(.data(bytes, continuation), on: self) }
        }
    }

    func closeWrite() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            eventLoop.execute { self.handler.value.enqueue(.finish(continuation), on: self) }
        }
    }

    func reset() {
        eventLoop.execute { self.handler.value.resetStream(self, error: P2PError(.streamReset, "reset by this side")) }
    }

    func read(exactly count: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        // Room for the whole message before the first piece goes in: growing
        // by doubling would copy a 1 MiB Bitswap message about twice over.
        var reserved = false
        while result.readableBytes < count {
            guard var chunk = try await read() else {
                throw P2PError(.closed, "stream ended after \(result.readableBytes) of \(count) bytes")
            }
            let need = count - result.readableBytes
            if chunk.readableBytes > need {
                var head = chunk.readSlice(length: need)!
                unread(chunk)
                if result.readableBytes == 0 { return head }
                result.writeBuffer(&head)
            } else if result.readableBytes == 0 && chunk.readableBytes == count {
                return chunk
            } else {
                if !reserved {
                    result.reserveCapacity(count)
                    reserved = true
                }
                result.writeBuffer(&chunk)
            }
        }
        return result
    }

    func readToEnd(maxBytes: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        while var chunk = try await read() {
            guard result.readableBytes + chunk.readableBytes <= maxBytes else {
                throw P2PError(.limitExceeded, "stream carries more than \(maxBytes) bytes")
            }
            result.writeBuffer(&chunk)
        }
        return result
    }

    func readLengthPrefixed(maxLength: Int) async throws -> ByteBuffer? {
        var header = ByteBuffer()
        var length: UInt64?
        while length == nil {
            guard var chunk = try await read() else {
                if header.readableBytes == 0 { return nil }
                throw P2PError(.closed, "stream ended inside a length prefix")
            }
            // The prefix is almost always whole in the first chunk: parse it
            // there rather than copying the chunk (often the message's first
            // 64 KiB or more) into a buffer of its own.
            if header.readableBytes == 0 { header = chunk } else { header.writeBuffer(&chunk) }
            let view = header.readableBytesView
            var index = view.startIndex
            do {
                length = try Varint.decode(view, at: &index)
            } catch let error where error == .truncated {
                continue
            } catch {
                throw P2PError(.malformed, "message length: \(error)")
            }
            header.moveReaderIndex(forwardBy: index - view.startIndex)
        }
        guard length! <= UInt64(maxLength) else {
            throw P2PError(.limitExceeded, "message of \(length!) bytes (limit \(maxLength))")
        }
        let count = Int(length!)
        if header.readableBytes >= count {
            let message = header.readSlice(length: count)!
            unread(header)
            return message
        }
        unread(header)
        return try await read(exactly: count)
    }
}
