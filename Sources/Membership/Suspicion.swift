// Lifeguard's two additions to SWIM: a suspicion timer that shortens as
// independent members confirm the suspicion, and a local health score that
// stretches this member's own timeouts when it seems to be the slow one.
// Format: formats/membership.md, rules 4.3 and 5.

/// One running suspicion of one member (rule 4.3).
struct Suspicion: Sendable {
    let start: MembershipInstant
    let minimum: Duration
    let maximum: Duration
    /// Confirmations that bring the timeout down to `minimum` (K).
    let expected: Int
    /// Members that raised or confirmed the suspicion; the first does not count as a confirmation.
    private(set) var confirmers: Set<MemberID>
    private(set) var deadline: MembershipInstant

    init(start: MembershipInstant, from: MemberID, expected: Int, minimum: Duration, maximum: Duration) {
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self.expected = expected
        confirmers = [from]
        // With no confirmations to wait for, the timeout is already the minimum.
        deadline = start + (expected == 0 ? minimum : maximum)
    }

    var confirmations: Int { confirmers.count - 1 }

    /// Counts `from`'s confirmation if it is new and more are expected;
    /// true when it shortened the timer (the suspicion is then re-gossiped).
    mutating func confirm(from: MemberID) -> Bool {
        guard confirmations < expected, !confirmers.contains(from) else { return false }
        confirmers.insert(from)
        deadline = start + MembershipConfiguration.suspicionTimeout(
            confirmations: confirmations, expected: expected, minimum: minimum, maximum: maximum)
        return true
    }
}

/// Lifeguard local health (memberlist's awareness): 0 is healthy; each
/// missed ack or refutation raises it, each ack lowers it; timeouts are
/// multiplied by score + 1.
public struct LocalHealth: Hashable, Sendable {
    public private(set) var score: Int
    public let limit: Int

    init(limit: Int) {
        score = 0
        self.limit = max(1, limit)
    }

    mutating func apply(_ delta: Int) { score = min(max(0, score + delta), limit - 1) }

    public func scale(_ duration: Duration) -> Duration { duration * (score + 1) }
}
