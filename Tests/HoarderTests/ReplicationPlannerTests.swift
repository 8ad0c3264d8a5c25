import Hoarder
import Multiformats
import Testing

/// Statuses and plans over a 4-hoarder cloud (formats/hoarder.md, sections 4–5):
/// stash, replicate, lose an owner, repair, the owner returns, unstash.
@Suite struct ReplicationPlannerTests {
    static let root = CID.v1(.raw, Multihash(hashing: Array("a root".utf8), with: .sha2_256))
    static var rootKey: [UInt8] { Array(root.multihashBytes) }

    struct Cloud {
        let nodes = (0..<4).map { _ in Author() }
        var live: Set<Int> = [0, 1, 2, 3]
        var registry = StashRegistry()
        var claims = ClaimSet()
        var holding: [Int: Set<[UInt8]>] = [:]
        var clock: UInt64 = 1

        var hoarders: [PlacementMember] { live.sorted().map { nodes[$0].member } }
        func isMember(_ id: [UInt8]) -> Bool { nodes.contains { $0.id == id } }
        func index(of id: [UInt8]) -> Int { nodes.firstIndex { $0.id == id }! }

        func plan(_ node: Int) -> ReplicationPlan {
            ReplicationPlanner.plan(local: nodes[node].id, registry: registry, hoarders: hoarders, claims: claims,
                                    holding: holding[node] ?? [], fetching: [])
        }

        mutating func claim(_ node: Int, _ state: Claim.State) {
            clock += 1
            let outcome = claims.merge(nodes[node].claim(ReplicationPlannerTests.root, state, clock: clock),
                                       isMember: isMember, verifier: Ed25519Verifier())
            #expect(outcome == .applied)
            if state == .holding { holding[node, default: []].insert(ReplicationPlannerTests.rootKey) }
            if state == .released { holding[node]?.remove(ReplicationPlannerTests.rootKey) }
        }

        var status: RootStatus {
            ReplicationPlanner.status(of: registry.record(for: ReplicationPlannerTests.root)!, hoarders: hoarders, claims: claims)
        }
    }

    @Test func aRootIsReplicatedRepairedAndSettlesBackToK() {
        var cloud = Cloud()
        _ = cloud.registry.merge(cloud.nodes[0].record(Self.root, .stash, replicas: 3, clock: 1), isMember: cloud.isMember,
                                 verifier: Ed25519Verifier())
        let owners = cloud.status.owners.map(cloud.index(of:))
        let spare = Set(0..<4).subtracting(owners).first!
        #expect(owners.count == 3)
        #expect(cloud.status.state == .underReplicated && cloud.status.holders.isEmpty)
        // Each owner, and only the owners, is told to fetch.
        for node in 0..<4 { #expect(cloud.plan(node).fetch == (owners.contains(node) ? [Self.root] : [])) }
        cloud.claim(owners[0], .fetching)
        #expect(cloud.status.state == .repairing)
        for owner in owners { cloud.claim(owner, .holding) }
        #expect(cloud.status.state == .ok && Set(cloud.status.holders) == Set(owners.map { cloud.nodes[$0].id }))
        for node in 0..<4 { #expect(cloud.plan(node) == ReplicationPlan()) }

        // An owner dies: K stays 3 (three live), two replicas left; the spare is the next owner.
        let dead = owners[1]
        cloud.live.remove(dead)
        #expect(cloud.status.state == .underReplicated && cloud.status.holders.count == 2)
        #expect(cloud.plan(spare).fetch == [Self.root])
        cloud.claim(spare, .fetching)
        #expect(cloud.status.state == .repairing)
        cloud.claim(spare, .holding)
        #expect(cloud.status.state == .ok)

        // The dead owner returns still holding: four replicas; the spare releases, the owner keeps.
        cloud.live.insert(dead)
        #expect(cloud.status.holders.count == 4)
        #expect(cloud.plan(dead) == ReplicationPlan())
        #expect(cloud.plan(spare).release == [Self.root])
        cloud.claim(spare, .released)
        #expect(cloud.status.state == .ok && cloud.status.holders.count == 3)
        for node in 0..<4 { #expect(cloud.plan(node) == ReplicationPlan()) }

        // Unstash: every holder releases.
        _ = cloud.registry.merge(cloud.nodes[2].record(Self.root, .unstash, clock: cloud.registry.nextClock(wallMilliseconds: 0)),
                                 isMember: cloud.isMember, verifier: Ed25519Verifier())
        for owner in owners { #expect(cloud.plan(owner).release == [Self.root]) }
    }

    @Test func aNonOwnerKeepsItsReplicaUntilKOwnersHoldTheirs() {
        var cloud = Cloud()
        _ = cloud.registry.merge(cloud.nodes[0].record(Self.root, .stash, replicas: 3, clock: 1), isMember: cloud.isMember,
                                 verifier: Ed25519Verifier())
        let owners = cloud.status.owners.map(cloud.index(of:))
        let spare = Set(0..<4).subtracting(owners).first!
        cloud.claim(spare, .holding)
        cloud.claim(owners[0], .holding)
        cloud.claim(owners[1], .holding)
        #expect(cloud.plan(spare).release.isEmpty)   // two owners hold: not yet
        cloud.claim(owners[2], .fetching)
        #expect(cloud.plan(spare).release.isEmpty)   // fetching is not holding
        cloud.claim(owners[2], .holding)
        #expect(cloud.plan(spare).release == [Self.root])
    }

    @Test func claimsOnlyCountFromTheirOwnHolder() {
        let cloud = Cloud()
        let outsider = Author()
        var claims = ClaimSet()
        // A non-member's claim, and a member's claim signed by someone else.
        #expect(claims.merge(outsider.claim(Self.root, .holding, clock: 1), isMember: cloud.isMember, verifier: Ed25519Verifier()) == .rejected)
        var forged = outsider.claim(Self.root, .holding, clock: 1)
        forged.holder = cloud.nodes[0].id
        #expect(claims.merge(forged, isMember: cloud.isMember, verifier: Ed25519Verifier()) == .rejected)
        #expect(claims.rejected == 2 && claims.claims(for: Self.root).isEmpty)
        // An older claim does not undo a newer one.
        claims.merge(cloud.nodes[0].claim(Self.root, .released, clock: 5), isMember: cloud.isMember, verifier: Ed25519Verifier())
        #expect(claims.merge(cloud.nodes[0].claim(Self.root, .holding, clock: 4), isMember: cloud.isMember, verifier: Ed25519Verifier()) == .stale)
        #expect(claims.claim(of: cloud.nodes[0].id, for: Self.root)?.state == .released)
    }

    @Test func claimsRoundTrip() throws {
        let claim = Author().claim(Self.root, .holding, clock: 42)
        #expect(try Claim(decoding: claim.encoded()) == claim)
        #expect(throws: HoarderError.malformed) { try Claim(decoding: Author().record(Self.root, .stash, clock: 1).encoded()) }
    }
}
