import NIOCore

/// The life of one HTTP/1.1 connection, as a pure state machine: which phase
/// it is in, when it times out, and whether it stays open after a response.
/// `ConnectionHandler` feeds it events and performs what it answers.
///
/// One request at a time: while a response is under way the handler stops
/// reading, so pipelined requests wait in the socket (their bytes already
/// read wait in the handler's buffer).
///
/// Deadlines, one at a time, by phase:
/// - waiting for a request, nothing buffered: `idleTimeout` after the last response (or the connect);
/// - a request head partly received: `requestHeadTimeout` after its first bytes (slowloris);
/// - responding while the socket is unwritable: `writeTimeout` after it became so
///   (a client that stopped reading). A writable socket, or a response still being
///   computed, has no deadline: the block service bounds its own waits.
struct ConnectionState {
    struct Limits {
        var idleTimeout: TimeAmount
        var requestHeadTimeout: TimeAmount
        var writeTimeout: TimeAmount
        /// Responses per connection; the last one closes it. 0: one response, no keep-alive.
        var keepAliveRequests: Int
    }

    enum Phase: Equatable {
        case awaitingRequest
        case responding
        case closed
    }

    enum TimeoutAction: Equatable {
        case none
        /// Idle or stalled: close without a word.
        case close
        /// The head did not arrive in time: 408, then close.
        case requestTimeout
    }

    let limits: Limits
    private(set) var phase = Phase.awaitingRequest
    private var idleSince: NIODeadline
    private var headStartedAt: NIODeadline?
    private var stalledSince: NIODeadline?
    private(set) var responsesStarted = 0
    /// Set by a graceful shutdown: close once the current response is done.
    private(set) var closeRequested = false

    init(limits: Limits, now: NIODeadline) {
        self.limits = limits
        idleSince = now
    }

    /// Bytes arrived that do not complete a request head.
    mutating func partialHeadArrived(now: NIODeadline) {
        guard phase == .awaitingRequest, headStartedAt == nil else { return }
        headStartedAt = now
    }

    /// A complete head was parsed: a response begins.
    mutating func requestStarted() {
        precondition(phase == .awaitingRequest, "a request started while another was being answered")
        phase = .responding
        headStartedAt = nil
        stalledSince = nil
        responsesStarted += 1
    }

    /// Whether the response being started may leave the connection open: the
    /// client asked for it, no shutdown is pending, and the per-connection
    /// request budget is not spent.
    func mayKeepAlive(clientWantsIt: Bool) -> Bool {
        clientWantsIt && !closeRequested && phase != .closed && responsesStarted < limits.keepAliveRequests
    }

    /// The response was written in full. True: read the next request; false: close.
    mutating func responseFinished(keptAlive: Bool, now: NIODeadline) -> Bool {
        guard phase == .responding else { return false }
        stalledSince = nil
        guard keptAlive && !closeRequested else {
            phase = .closed
            return false
        }
        phase = .awaitingRequest
        idleSince = now
        return true
    }

    mutating func writabilityChanged(writable: Bool, now: NIODeadline) {
        if writable {
            stalledSince = nil
        } else if phase == .responding, stalledSince == nil {
            stalledSince = now
        }
    }

    /// A graceful shutdown began. True: close now (nothing under way).
    mutating func shutdownRequested() -> Bool {
        closeRequested = true
        return phase == .awaitingRequest && headStartedAt == nil
    }

    mutating func closed() {
        phase = .closed
    }

    /// When the timer should next look at this connection.
    var deadline: NIODeadline? {
        switch phase {
        case .awaitingRequest:
            if let headStartedAt { return headStartedAt + limits.requestHeadTimeout }
            return idleSince + limits.idleTimeout
        case .responding:
            return stalledSince.map { $0 + limits.writeTimeout }
        case .closed:
            return nil
        }
    }

    /// What to do when the timer fires at `now`.
    func timeout(now: NIODeadline) -> TimeoutAction {
        guard let deadline, now >= deadline else { return .none }
        switch phase {
        case .awaitingRequest: return headStartedAt == nil ? .close : .requestTimeout
        case .responding: return .close
        case .closed: return .none
        }
    }
}
