// Timing, fan-out and size settings of the membership protocol, with
// memberlist's DefaultLANConfig numbers as defaults. Format: formats/membership.md, section 5.

// The C library for log, log10 and log2 only: the module does no I/O.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every setting of the state machine, named, with its default.
public struct MembershipConfiguration: Hashable, Sendable {
    /// One probe per period (memberlist ProbeInterval: 1 s), scaled by local health.
    public var probeInterval: Duration
    /// How long a direct ping waits for its ack before indirect probes (ProbeTimeout: 500 ms), scaled by local health.
    public var probeTimeout: Duration
    /// Members asked to probe indirectly (IndirectChecks: 3).
    public var indirectChecks: Int
    /// Updates are sent `retransmitMultiplier · ceil(log10(N + 1))` times (RetransmitMult: 4).
    public var retransmitMultiplier: Int
    /// Minimum suspicion timeout = `suspicionMultiplier · log10(max(1, N)) · probeInterval` (SuspicionMult: 4).
    public var suspicionMultiplier: Double
    /// Maximum suspicion timeout = `suspicionMaxTimeoutMultiplier · minimum` (SuspicionMaxTimeoutMult: 6).
    public var suspicionMaxTimeoutMultiplier: Double
    /// Lifeguard local health: the score runs 0 ..< this; timeouts scale by score + 1 (AwarenessMaxMultiplier: 8).
    public var awarenessMaxMultiplier: Int
    /// Updates-only messages to `gossipFanout` random members, when there is something to say (GossipInterval: 200 ms).
    public var gossipInterval: Duration
    /// Members each gossip round goes to (GossipNodes: 3).
    public var gossipFanout: Int
    /// Full state sync with one random member (PushPullInterval: 30 s), stretched above 32 members as memberlist does.
    public var pushPullInterval: Duration
    /// Dead and left members are kept this long as tombstones, then forgotten (GossipToTheDeadTime: 30 s).
    public var tombstoneTime: Duration
    /// The driver calls `tick` at least this often (or at `nextDeadline`).
    public var tickInterval: Duration
    /// Members kept in the view; alive updates about new members past it are dropped (100,000).
    public var maxMembers: Int
    /// Bytes of piggybacked updates per message (8 KiB); push-pull uses the codec's message limit.
    public var maxPiggybackBytes: Int
    /// Updates piggybacked per message (64).
    public var maxPiggybackUpdates: Int
    /// Limits of the wire codec; outgoing messages are built to fit them.
    public var limits: MembershipMessage.Limits

    public init(probeInterval: Duration = .seconds(1), probeTimeout: Duration = .milliseconds(500),
                indirectChecks: Int = 3, retransmitMultiplier: Int = 4, suspicionMultiplier: Double = 4,
                suspicionMaxTimeoutMultiplier: Double = 6, awarenessMaxMultiplier: Int = 8,
                gossipInterval: Duration = .milliseconds(200), gossipFanout: Int = 3,
                pushPullInterval: Duration = .seconds(30), tombstoneTime: Duration = .seconds(30),
                tickInterval: Duration = .milliseconds(100), maxMembers: Int = 100_000,
                maxPiggybackBytes: Int = 8 << 10, maxPiggybackUpdates: Int = 64,
                limits: MembershipMessage.Limits = .standard) {
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.indirectChecks = indirectChecks
        self.retransmitMultiplier = retransmitMultiplier
        self.suspicionMultiplier = suspicionMultiplier
        self.suspicionMaxTimeoutMultiplier = suspicionMaxTimeoutMultiplier
        self.awarenessMaxMultiplier = awarenessMaxMultiplier
        self.gossipInterval = gossipInterval
        self.gossipFanout = gossipFanout
        self.pushPullInterval = pushPullInterval
        self.tombstoneTime = tombstoneTime
        self.tickInterval = tickInterval
        self.maxMembers = maxMembers
        self.maxPiggybackBytes = maxPiggybackBytes
        self.maxPiggybackUpdates = maxPiggybackUpdates
        self.limits = limits
    }

    /// memberlist's DefaultLANConfig.
    public static let lan = MembershipConfiguration()

    /// How many times an update is sent before it leaves the queue, for `memberCount` members.
    public func retransmitLimit(memberCount: Int) -> Int {
        retransmitMultiplier * Int(Double(memberCount + 1).log10Rounded)
    }

    /// Lifeguard's suspicion bounds for `memberCount` members (rule 4.3).
    public func suspicionTimeouts(memberCount: Int) -> (minimum: Duration, maximum: Duration) {
        let minimum = probeInterval.scaled(by: suspicionMultiplier * log10(Double(max(1, memberCount))))
        return (minimum, minimum.scaled(by: suspicionMaxTimeoutMultiplier))
    }

    /// The suspicion timeout after `confirmations` of `expected` independent confirmations (rule 4.3):
    /// `max(min, max − (max − min) · log(C + 1) / log(K + 1))`.
    public static func suspicionTimeout(confirmations: Int, expected: Int, minimum: Duration,
                                        maximum: Duration) -> Duration {
        guard expected > 0 else { return minimum }
        let fraction = log(Double(confirmations + 1)) / log(Double(expected + 1))
        let raw = maximum - (maximum - minimum).scaled(by: fraction)
        return max(minimum, raw)
    }

    /// The push-pull period for `memberCount` members: the interval up to 32
    /// members, then times `ceil(log2(N) − log2(32)) + 1` (memberlist's pushPullScale),
    /// so the cluster's sync load grows slowly.
    public func pushPullPeriod(memberCount: Int) -> Duration {
        guard memberCount > 32 else { return pushPullInterval }
        let multiplier = (log2(Double(memberCount)) - log2(32)).rounded(.up) + 1
        return pushPullInterval.scaled(by: multiplier)
    }
}

extension Double {
    /// ceil(log10(self)), at least 1 for self > 1.
    var log10Rounded: Double { Swift.max(1, log10(self).rounded(.up)) }
}
