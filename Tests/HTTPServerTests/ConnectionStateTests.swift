import HTTPServer
import NIOCore
import Testing

/// The connection's phases and deadlines, as a pure state machine.
@Suite struct ConnectionStateTests {
    static let limits = HTTPConnectionState.Limits(idleTimeout: .seconds(60), requestHeadTimeout: .seconds(10),
                                                   writeTimeout: .seconds(30), keepAliveRequests: 3)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func idleThenAHeadThatTrickles() {
        var state = HTTPConnectionState(limits: Self.limits, now: Self.start)
        #expect(state.deadline == Self.start + .seconds(60))
        #expect(state.timeout(now: Self.start + .seconds(59)) == .none)
        #expect(state.timeout(now: Self.start + .seconds(60)) == .close)
        state.partialHeadArrived(now: Self.start + .seconds(5))
        state.partialHeadArrived(now: Self.start + .seconds(7))
        #expect(state.deadline == Self.start + .seconds(15), "the head timeout runs from its first bytes")
        #expect(state.timeout(now: Self.start + .seconds(15)) == .requestTimeout)
    }

    @Test func aBodyThatStallsAndAClientThatStopsReading() {
        var state = HTTPConnectionState(limits: Self.limits, now: Self.start)
        state.requestStarted()
        #expect(state.phase == .active && state.deadline == nil, "a handler computing its answer has no deadline")
        state.bodyWanted(now: Self.start + .seconds(1))
        #expect(state.deadline == Self.start + .seconds(61))
        state.bodyWanted(now: Self.start + .seconds(20))
        #expect(state.timeout(now: Self.start + .seconds(61)) == .none, "each arrival restarts the wait")
        #expect(state.timeout(now: Self.start + .seconds(80)) == .requestTimeout)
        state.bodyNotWanted()
        #expect(state.deadline == nil, "a consumer that lags is not the client's fault")
        state.writabilityChanged(writable: false, now: Self.start + .seconds(100))
        state.writabilityChanged(writable: false, now: Self.start + .seconds(110))
        #expect(state.timeout(now: Self.start + .seconds(130)) == .close)
        state.writabilityChanged(writable: true, now: Self.start + .seconds(120))
        #expect(state.deadline == nil)
    }

    @Test func responsesStuckBetweenRequests() {
        var state = HTTPConnectionState(limits: Self.limits, now: Self.start)
        state.requestStarted()
        state.writabilityChanged(writable: false, now: Self.start + .seconds(1))
        let open = state.exchangeFinished(keptAlive: true, now: Self.start + .seconds(2))
        #expect(open && !state.mayStartRequest, "the next request waits for the last answer to drain")
        #expect(state.deadline == Self.start + .seconds(31), "writeTimeout, not idleTimeout, while answers drain")
        #expect(state.timeout(now: Self.start + .seconds(31)) == .close)
        let closesAtOnce = state.shutdownRequested()
        #expect(!closesAtOnce, "a shutdown lets written answers drain")
        state.writabilityChanged(writable: true, now: Self.start + .seconds(3))
        #expect(state.mayStartRequest && state.deadline == Self.start + .seconds(62))
        #expect(state.shouldCloseForShutdown)
    }

    @Test func keepAliveBudgetAndShutdown() {
        var state = HTTPConnectionState(limits: Self.limits, now: Self.start)
        for index in 1...3 {
            state.requestStarted()
            let keep = state.mayKeepAlive(clientWantsIt: true)
            #expect(keep == (index < 3), "the third response closes")
            #expect(!state.mayKeepAlive(clientWantsIt: false))
            let open = state.exchangeFinished(keptAlive: keep, now: Self.start + .seconds(Int64(index)))
            #expect(open == keep)
        }
        #expect(state.phase == .closed)

        var idle = HTTPConnectionState(limits: Self.limits, now: Self.start)
        let closesAtOnce = idle.shutdownRequested()
        #expect(closesAtOnce, "an idle connection closes at once")
        var busy = HTTPConnectionState(limits: Self.limits, now: Self.start)
        busy.requestStarted()
        let busyClosesAtOnce = busy.shutdownRequested()
        #expect(!busyClosesAtOnce)
        #expect(!busy.mayKeepAlive(clientWantsIt: true))
        let staysOpen = busy.exchangeFinished(keptAlive: true, now: Self.start)
        #expect(!staysOpen, "then it closes after its exchange")
    }
}
