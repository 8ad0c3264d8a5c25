// The values the membership state machine speaks in: member IDs, tags,
// statuses, virtual instants, the seeded generator, and the signing hooks.
// Format: formats/membership.md.

/// A member's identity: opaque bytes (a libp2p peer ID's multihash in the node).
public struct MemberID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public static func < (lhs: MemberID, rhs: MemberID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public var description: String {
        let hex = bytes.prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        return bytes.count > 8 ? hex + "…" : hex
    }
}

/// What services a member runs: service name → value bytes ("hoarder" →
/// capacity, "gateway" → address). Encoded sorted by name, so one set of
/// tags has one encoding (and one signature).
public struct MemberTags: Hashable, Sendable {
    public var values: [String: [UInt8]]
    public init(_ values: [String: [UInt8]] = [:]) { self.values = values }

    public subscript(service: String) -> [UInt8]? {
        get { values[service] }
        set { values[service] = newValue }
    }

    /// Entries in encoding order (names compared by their UTF-8 bytes).
    public var sorted: [(name: String, value: [UInt8])] {
        values.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }.map { ($0.key, $0.value) }
    }

    /// Bytes counted against `Limits.maxTagBytes`: names plus values.
    public var byteCount: Int { values.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } }
}

/// Where a member stands in the local view (rules 4.1–4.6 of the format).
public enum MemberStatus: UInt8, Hashable, Sendable {
    case alive = 0, suspect = 1, dead = 2, left = 3

    /// Dead or left: a tombstone, not probed, reaped after `tombstoneTime`.
    public var isGone: Bool { self == .dead || self == .left }
}

/// One member as the local view holds it.
public struct MemberState: Hashable, Sendable {
    public var id: MemberID
    public var addresses: [String]
    public var tags: MemberTags
    public var load: UInt64
    public var status: MemberStatus
    public var incarnation: UInt64

    public init(id: MemberID, addresses: [String], tags: MemberTags, load: UInt64, status: MemberStatus,
                incarnation: UInt64) {
        self.id = id
        self.addresses = addresses
        self.tags = tags
        self.load = load
        self.status = status
        self.incarnation = incarnation
    }
}

/// A point in (virtual or monotonic) time, in nanoseconds from an arbitrary origin.
public struct MembershipInstant: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = MembershipInstant(nanoseconds: 0)
    /// Later than every deadline: what `nextDeadline` means by "nothing scheduled".
    public static let distantFuture = MembershipInstant(nanoseconds: .max)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Self, rhs: Duration) -> Self {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return Self(nanoseconds: overflow ? .max : sum)
    }

    public static func - (lhs: Self, rhs: Duration) -> Self { Self(nanoseconds: lhs.nanoseconds - rhs.nanoseconds) }

    public static func - (lhs: Self, rhs: Self) -> Duration { .nanoseconds(lhs.nanoseconds - rhs.nanoseconds) }

    public var description: String { "\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled + attoseconds / 1_000_000_000
    }

    /// Multiplies by a real factor, rounding down to whole nanoseconds.
    func scaled(by factor: Double) -> Duration { .nanoseconds(Int64(Double(nanoseconds) * factor)) }
}

/// A small seeded generator (SplitMix64): the same seed gives the same
/// probe order, the same jitter, the same run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Signs the local member's alive updates (rule 10). In the node: the libp2p identity key.
public protocol MemberSigner: Sendable {
    func sign(_ bytes: [UInt8]) -> [UInt8]
}

/// Checks that an alive update was signed by the member it describes
/// (rule 10). In the node: the public key inside the peer ID.
public protocol MemberVerifier: Sendable {
    func verify(member: MemberID, payload: [UInt8], signature: [UInt8]) -> Bool
}

/// A signer from a closure.
public struct ClosureSigner: MemberSigner {
    let body: @Sendable ([UInt8]) -> [UInt8]
    public init(_ body: @escaping @Sendable ([UInt8]) -> [UInt8]) { self.body = body }
    public func sign(_ bytes: [UInt8]) -> [UInt8] { body(bytes) }
}

/// A verifier from a closure.
public struct ClosureVerifier: MemberVerifier {
    let body: @Sendable (MemberID, [UInt8], [UInt8]) -> Bool
    public init(_ body: @escaping @Sendable (MemberID, [UInt8], [UInt8]) -> Bool) { self.body = body }
    public func verify(member: MemberID, payload: [UInt8], signature: [UInt8]) -> Bool {
        body(member, payload, signature)
    }
}
