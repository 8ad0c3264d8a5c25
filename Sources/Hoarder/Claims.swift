// Claims: what each hoarder says it does with a root (fetching, holding a
// verified replica, released), signed and merged last-writer-wins per
// (root, holder) like the registry. Pure. Format: formats/hoarder.md, section 4.

import Multiformats

public struct Claim: Hashable, Sendable {
    public enum State: String, Hashable, Sendable {
        /// The holder is fetching the DAG (counts toward `repairing`).
        case fetching
        /// The holder has every block, verified against its CID, and pinned.
        case holding
        /// The holder no longer keeps it (rule 5.3).
        case released
    }

    public var root: CID
    public var holder: [UInt8]
    public var state: State
    /// The holder's hybrid clock in milliseconds (as the registry's rule 3.3).
    public var clock: UInt64
    public var signature: [UInt8]

    public init(root: CID, holder: [UInt8], state: State, clock: UInt64, signature: [UInt8] = []) {
        self.root = root
        self.holder = holder
        self.state = state
        self.clock = clock
        self.signature = signature
    }

    public static let signingPrefix = Array("tau-hoarder-claim-v1:".utf8)

    func fields(withSignature: Bool) -> [String: DAGCBOR] {
        var map: [String: DAGCBOR] = [
            "root": .link(root), "holder": .bytes(holder), "state": .string(state.rawValue), "clock": .unsigned(clock),
        ]
        if withSignature { map["sig"] = .bytes(signature) }
        return map
    }

    /// The prefix, then the dag-cbor map without `sig`.
    public var signedBytes: [UInt8] { Self.signingPrefix + ((try? DAGCBOR.map(fields(withSignature: false)).encoded()) ?? []) }

    public func encoded() -> [UInt8] { (try? DAGCBOR.map(fields(withSignature: true)).encoded()) ?? [] }

    /// - Throws: `HoarderError.malformed`, `.limitExceeded`.
    public init(decoding bytes: [UInt8]) throws(HoarderError) {
        let map = try StashRegistry.decodeMap(bytes, what: "a claim")
        guard map.count == 5, let root = map["root"]?.linkValue,
              let holder = map["holder"]?.bytesValue, !holder.isEmpty, holder.count <= 128,
              let state = map["state"]?.stringValue.flatMap(State.init(rawValue:)),
              let clock = map["clock"]?.unsignedValue,
              let signature = map["sig"]?.bytesValue, signature.count <= 1024 else {
            throw HoarderError(.malformed, "not a claim (fields root, holder, state, clock, sig)")
        }
        self.init(root: root, holder: holder, state: state, clock: clock, signature: signature)
    }

    /// Later clock wins; on equal clocks released > holding > fetching, then the greater signature.
    public func supersedes(_ other: Claim) -> Bool {
        if clock != other.clock { return clock > other.clock }
        if state != other.state { return state.rank > other.state.rank }
        return other.signature.lexicographicallyPrecedes(signature)
    }
}

extension Claim.State {
    var rank: Int {
        switch self {
        case .fetching: 0
        case .holding: 1
        case .released: 2
        }
    }
}

/// Every member's latest claim per root, merged as the registry is (rules 4.1–4.2).
public struct ClaimSet: Sendable {
    struct Key: Hashable, Sendable {
        let root: [UInt8]
        let holder: [UInt8]
    }

    private var claims: [Key: Claim] = [:]
    /// Holders per root multihash, for `claims(for:)` without a scan.
    private var holdersByRoot: [[UInt8]: Set<[UInt8]>] = [:]
    public private(set) var highestClock: UInt64 = 0
    public private(set) var rejected = 0

    public init() {}

    /// Merges `claim`: only the holder itself may claim, so a claim must be
    /// signed by its `holder`, who must be a member.
    @discardableResult
    public mutating func merge(_ claim: Claim, isMember: ([UInt8]) -> Bool, verifier: some StashRecordVerifier) -> StashRegistry.MergeOutcome {
        guard isMember(claim.holder) else {
            rejected += 1
            return .rejected
        }
        let key = Key(root: Array(claim.root.multihashBytes), holder: claim.holder)
        if let current = claims[key], !claim.supersedes(current) { return .stale }
        guard verifier.verify(author: claim.holder, payload: claim.signedBytes, signature: claim.signature) else {
            rejected += 1
            return .rejected
        }
        claims[key] = claim
        holdersByRoot[key.root, default: []].insert(claim.holder)
        highestClock = max(highestClock, claim.clock)
        return .applied
    }

    /// The latest claim of each member that claimed `root`.
    public func claims(for root: CID) -> [Claim] {
        let rootKey = Array(root.multihashBytes)
        return (holdersByRoot[rootKey] ?? []).compactMap { claims[Key(root: rootKey, holder: $0)] }
    }

    /// The latest claim of `holder` for `root`.
    public func claim(of holder: [UInt8], for root: CID) -> Claim? {
        claims[Key(root: Array(root.multihashBytes), holder: holder)]
    }
}
