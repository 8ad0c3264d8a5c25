// What the state machine asks its driver to do, what it reports about the
// view, and its counters. Format: formats/membership.md, section 4.

/// A change of the local view, for the services that watch membership.
public enum MemberEvent: Hashable, Sendable {
    /// A member appeared (or came back after being dead or forgotten).
    case joined(MemberState)
    /// A member announced new addresses, tags or load.
    case updated(MemberState)
    /// A suspected member proved alive (it refuted the suspicion).
    case recovered(MemberState)
    case suspected(MemberState)
    case died(MemberState)
    case left(MemberState)
    /// A tombstone was reaped: the member is no longer in the view.
    case forgotten(MemberID)
    /// The local member was suspected or declared dead and refuted it at `incarnation`.
    case refuted(incarnation: UInt64)
}

/// One thing for the driver to do.
public enum MembershipAction: Hashable, Sendable {
    /// Send `message` on `/tau/membership/1.0.0` to `to` (nil: a seed known
    /// only by its addresses) at `addresses` (empty: a connection the driver already has).
    case send(MembershipMessage, to: MemberID?, addresses: [String])
    case changed(MemberEvent)
}

/// Counters of one member's protocol activity.
public struct MembershipStatistics: Hashable, Sendable {
    /// Messages the state machine asked to send.
    public var messagesSent = 0
    /// Updates piggybacked on them (push-pull entries included).
    public var updatesSent = 0
    public var probesSent = 0
    public var indirectProbesSent = 0
    public var acksReceived = 0
    public var nacksReceived = 0
    /// Members this member suspected after a failed probe.
    public var suspicionsRaised = 0
    /// Members seen suspect that later proved alive: false suspicions.
    public var falseSuspicions = 0
    /// Times this member refuted a suspicion or a death about itself.
    public var refutations = 0
    /// Members the local view moved to dead (not left).
    public var deaths = 0
    /// Alive updates whose signature failed: dropped.
    public var rejectedUpdates = 0
    /// Alive updates about new members dropped because the view was full.
    public var droppedMembers = 0
    public var pushPulls = 0

    public init() {}
}
