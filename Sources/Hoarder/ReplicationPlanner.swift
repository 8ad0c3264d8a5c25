// What each stashed root needs and what this hoarder should do about it,
// from the registry, the claims and the live hoarders: every member computes
// the same statuses from the same view. Pure. Format: formats/hoarder.md, section 5.

import Multiformats

/// `tau hoarder status`: one root's wanted K, who holds it, and its state.
public struct RootStatus: Hashable, Sendable {
    public enum State: String, Hashable, Sendable {
        case ok
        case underReplicated = "under-replicated"
        case repairing
    }

    public let root: CID
    /// K for this root now: min(the record's k, live hoarders).
    public let replicas: Int
    /// Live hoarders holding a verified replica, in rendezvous order.
    public let holders: [[UInt8]]
    /// The K owners by placement.
    public let owners: [[UInt8]]
    public let state: State
}

/// What this hoarder should start or stop.
public struct ReplicationPlan: Hashable, Sendable {
    /// Roots it owns and neither holds nor is fetching: fetch, verify, pin, claim.
    public var fetch: [CID] = []
    /// Roots it holds but no longer needs (rule 5.3): unpin, claim `released`.
    public var release: [CID] = []

    public init(fetch: [CID] = [], release: [CID] = []) {
        self.fetch = fetch
        self.release = release
    }
}

public enum ReplicationPlanner {
    /// The status of `record`'s root (rules 5.1–5.2).
    public static func status(of record: StashRecord, hoarders: [PlacementMember], claims: ClaimSet) -> RootStatus {
        let replicas = min(record.replicas, hoarders.count)
        let position = Placement.position(of: Array(record.root.multihashBytes))
        // O(N·K) for the owners; only the few holders are ranked, not every hoarder.
        let owners = Placement.owners(of: position, among: hoarders, replicas: replicas).map(\.id)
        var states: [[UInt8]: Claim.State] = [:]
        for claim in claims.claims(for: record.root) { states[claim.holder] = claim.state }
        let holders = Placement.ranking(of: position, among: hoarders.filter { states[$0.id] == .holding }).map(\.id)
        let state: RootStatus.State
        if holders.count >= replicas && replicas > 0 {
            state = .ok
        } else if owners.contains(where: { states[$0] == .fetching }) {
            state = .repairing
        } else {
            state = .underReplicated
        }
        return RootStatus(root: record.root, replicas: replicas, holders: holders, owners: owners, state: state)
    }

    /// This hoarder's work (rule 5.3).
    /// - Parameters:
    ///   - local: this hoarder (also when it is not among `hoarders`, as while it drains).
    ///   - holding / fetching: roots (multihash bytes) it holds or is fetching now.
    public static func plan(local: [UInt8], registry: StashRegistry, hoarders: [PlacementMember], claims: ClaimSet,
                            holding: Set<[UInt8]>, fetching: Set<[UInt8]>) -> ReplicationPlan {
        var plan = ReplicationPlan()
        var wanted: Set<[UInt8]> = []
        for record in registry.stashed {
            let key = Array(record.root.multihashBytes)
            wanted.insert(key)
            let status = status(of: record, hoarders: hoarders, claims: claims)
            if status.owners.contains(local) {
                if !holding.contains(key) && !fetching.contains(key) { plan.fetch.append(record.root) }
            } else if holding.contains(key) {
                // Released only once K owners other than us hold verified replicas.
                let ownersHolding = status.holders.filter { $0 != local && status.owners.contains($0) }.count
                if ownersHolding >= status.replicas { plan.release.append(record.root) }
            }
        }
        // Unstashed roots (or roots never stashed) are released at once.
        for record in registry.records.values where record.operation == .unstash {
            let key = Array(record.root.multihashBytes)
            if holding.contains(key) && !wanted.contains(key) { plan.release.append(record.root) }
        }
        return plan
    }
}
