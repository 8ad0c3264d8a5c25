import NIOCore

/// The life of one HTTP/1.1 connection, as a pure state machine: which phase
/// it is in, when it times out, and whether it stays open after a response.
/// `HTTPConnectionHandler` feeds it events and performs what it answers.
///
/// One request at a time: while a request is under way the handler reads the
/// socket only for that request's body, so pipelined requests wait in the
/// socket (their bytes already read wait in the handler's buffer). Between
/// requests, a socket that is not writable (a client that pipelines and does
/// not read its answers) holds the next request back too, so the responses
/// waiting for the client stay bounded by the channel's write watermarks.
///
/// Deadlines, by phase (formats/http.md, "Timeouts"):
/// - waiting for a request, nothing buffered: `idleTimeout` after the last response (or the connect);
/// - waiting for earlier responses to drain (socket unwritable between requests): `writeTimeout`;
/// - a request head partly received: `requestHeadTimeout` after its first bytes (slowloris);
/// - a request under way: `idleTimeout` after the last body bytes while its
///   handler waits for more; `writeTimeout` while the socket stays
///   unwritable (a client that stopped reading). A handler still computing
///   its response, or not reading its body, has no deadline here.
public struct HTTPConnectionState: Sendable {
    public struct Limits: Hashable, Sendable {
        public var idleTimeout: TimeAmount
        public var requestHeadTimeout: TimeAmount
        public var writeTimeout: TimeAmount
        /// Responses per connection; the last one closes it. 0: one response, no keep-alive.
        public var keepAliveRequests: Int

        public init(idleTimeout: TimeAmount, requestHeadTimeout: TimeAmount, writeTimeout: TimeAmount, keepAliveRequests: Int) {
            self.idleTimeout = idleTimeout
            self.requestHeadTimeout = requestHeadTimeout
            self.writeTimeout = writeTimeout
            self.keepAliveRequests = keepAliveRequests
        }
    }

    public enum Phase: Equatable, Sendable {
        case awaitingRequest
        case active
        case closed
    }

    public enum TimeoutAction: Equatable, Sendable {
        case none
        /// Idle or stalled: close without a word.
        case close
        /// The head, or body bytes the handler waits for, did not arrive in time: 408 if possible, then close.
        case requestTimeout
    }

    public let limits: Limits
    public private(set) var phase = Phase.awaitingRequest
    private var idleSince: NIODeadline
    private var headStartedAt: NIODeadline?
    private var stalledSince: NIODeadline?
    private var bodyWaitSince: NIODeadline?
    public private(set) var requestsStarted = 0
    /// Set by a graceful shutdown: close once the current exchange is done.
    public private(set) var closeRequested = false

    public init(limits: Limits, now: NIODeadline) {
        self.limits = limits
        idleSince = now
    }

    /// Bytes arrived that do not complete a request head.
    public mutating func partialHeadArrived(now: NIODeadline) {
        guard phase == .awaitingRequest, headStartedAt == nil else { return }
        headStartedAt = now
    }

    /// A complete head was parsed: an exchange begins.
    public mutating func requestStarted() {
        precondition(phase == .awaitingRequest, "a request started while another was under way")
        phase = .active
        headStartedAt = nil
        bodyWaitSince = nil
        requestsStarted += 1
    }

    /// Whether the response being started may leave the connection open: the
    /// client asked for it, no shutdown is pending, and the per-connection
    /// request budget is not spent.
    public func mayKeepAlive(clientWantsIt: Bool) -> Bool {
        clientWantsIt && !closeRequested && phase != .closed && requestsStarted < limits.keepAliveRequests
    }

    /// The handler waits for body bytes (none are buffered), or got some and waits for more.
    public mutating func bodyWanted(now: NIODeadline) {
        guard phase == .active else { return }
        bodyWaitSince = now
    }

    /// The body is complete, or its consumer stopped asking for it.
    public mutating func bodyNotWanted() {
        bodyWaitSince = nil
    }

    /// The exchange is over (response written, body read). True: read the next request; false: close.
    public mutating func exchangeFinished(keptAlive: Bool, now: NIODeadline) -> Bool {
        guard phase == .active else { return false }
        bodyWaitSince = nil
        guard keptAlive && !closeRequested else {
            phase = .closed
            return false
        }
        phase = .awaitingRequest
        idleSince = now
        return true
    }

    public mutating func writabilityChanged(writable: Bool, now: NIODeadline) {
        if writable {
            stalledSince = nil
        } else if phase != .closed, stalledSince == nil {
            stalledSince = now
        }
    }

    /// Whether the next request may start: none is under way and the
    /// responses already written are not stuck behind a client that does not read.
    public var mayStartRequest: Bool {
        phase == .awaitingRequest && stalledSince == nil
    }

    /// A shutdown is pending and nothing is under way or still draining: close now.
    public var shouldCloseForShutdown: Bool {
        closeRequested && phase == .awaitingRequest && headStartedAt == nil && stalledSince == nil
    }

    /// A graceful shutdown began. True: close now (nothing under way).
    public mutating func shutdownRequested() -> Bool {
        closeRequested = true
        return shouldCloseForShutdown
    }

    public mutating func closed() {
        phase = .closed
    }

    /// When the timer should next look at this connection.
    public var deadline: NIODeadline? {
        switch phase {
        case .awaitingRequest:
            if let stalledSince { return stalledSince + limits.writeTimeout }
            if let headStartedAt { return headStartedAt + limits.requestHeadTimeout }
            return idleSince + limits.idleTimeout
        case .active:
            let write = stalledSince.map { $0 + limits.writeTimeout }
            let body = bodyWaitSince.map { $0 + limits.idleTimeout }
            switch (write, body) {
            case let (write?, body?): return min(write, body)
            case let (write, body): return write ?? body
            }
        case .closed:
            return nil
        }
    }

    /// What to do when the timer fires at `now`.
    public func timeout(now: NIODeadline) -> TimeoutAction {
        switch phase {
        case .awaitingRequest:
            guard let deadline, now >= deadline else { return .none }
            return headStartedAt == nil || stalledSince != nil ? .close : .requestTimeout
        case .active:
            if let stalledSince, now >= stalledSince + limits.writeTimeout { return .close }
            if let bodyWaitSince, now >= bodyWaitSince + limits.idleTimeout { return .requestTimeout }
            return .none
        case .closed:
            return .none
        }
    }
}
