import Hoarder
import Multiformats
import Testing

/// Rendezvous placement (formats/hoarder.md, section 2): the same owners from
/// any member's view, even load, and little movement on joins and leaves.
@Suite struct PlacementTests {
    static func members(_ count: Int, from start: Int = 0) -> [PlacementMember] {
        (start..<start + count).map { PlacementMember(id: Array("member-\($0)".utf8)) }
    }

    static func roots(_ count: Int) -> [UInt64] {
        (0..<count).map { Placement.position(of: Array("root-\($0)".utf8)) }
    }

    @Test func ownersDoNotDependOnTheOrderMembersAreListedIn() {
        let members = Self.members(50)
        var generator = SystemRandomNumberGenerator()
        for root in Self.roots(200) {
            let owners = Placement.owners(of: root, among: members)
            #expect(owners.count == 3)
            #expect(Placement.owners(of: root, among: members.shuffled(using: &generator)) == owners)
            // The owners are the head of the full ranking.
            #expect(Array(Placement.ranking(of: root, among: members).prefix(3)) == owners)
        }
    }

    @Test func kIsCappedByTheLiveMembers() {
        let root = Placement.position(of: [1])
        #expect(Placement.owners(of: root, among: Self.members(2)).count == 2)
        #expect(Placement.owners(of: root, among: []).isEmpty)
        #expect(Placement.owners(of: root, among: Self.members(10), replicas: 5).count == 5)
    }

    @Test func loadIsEven() {
        let members = Self.members(100)
        var load: [PlacementMember: Int] = [:]
        for root in Self.roots(30_000) {
            for owner in Placement.owners(of: root, among: members) { load[owner, default: 0] += 1 }
        }
        // 90,000 replicas over 100 members: 900 each; binomial spread ≈ ±30.
        let counts = members.map { load[$0] ?? 0 }
        #expect(counts.min()! > 780 && counts.max()! < 1020, "\(counts.min()!)…\(counts.max()!)")
    }

    @Test func aJoinMovesOnlyWhatTheNewcomerTakes() {
        let members = Self.members(100)
        let newcomer = Self.members(1, from: 100)[0]
        let roots = Self.roots(20_000)
        var moved = 0
        for root in roots {
            let before = Placement.owners(of: root, among: members)
            let after = Placement.owners(of: root, among: members + [newcomer])
            if before != after {
                moved += 1
                // The only change: the newcomer in, the old third owner out.
                #expect(after.contains(newcomer))
                #expect(Set(before).subtracting(after).count == 1)
            }
        }
        // Expected K/(N+1) ≈ 2.97 %; the goal is at most 1.5 × K/N.
        let fraction = Double(moved) / Double(roots.count)
        #expect(fraction <= 1.5 * 3 / 100, "\(fraction)")
        #expect(fraction > 0.02, "\(fraction)")
    }

    @Test func aLeaveMovesOnlyTheLeaversRootsToTheNextInRank() {
        let members = Self.members(100)
        let leaver = members[37]
        let rest = members.filter { $0 != leaver }
        var moved = 0
        for root in Self.roots(20_000) {
            let ranking = Placement.ranking(of: root, among: members)
            let before = Array(ranking.prefix(3))
            let after = Placement.owners(of: root, among: rest)
            if before.contains(leaver) {
                moved += 1
                // Repair goes to the fourth in rendezvous order; the others stay.
                #expect(Set(after) == Set(before).subtracting([leaver]).union([ranking[3]]))
            } else {
                #expect(after == before)
            }
        }
        #expect(Double(moved) / 20_000 <= 1.5 * 3 / 100)
    }

    @Test func aRootsPositionIsItsMultihashNotItsCIDVersion() throws {
        let multihash = Multihash(hashing: Array("hello".utf8), with: .sha2_256)
        let v0 = CID.v0(multihash)
        let v1 = CID.v1(.dagPB, multihash)
        let members = Self.members(20)
        #expect(Placement.owners(of: v0, among: members) == Placement.owners(of: v1, among: members))
    }

    /// The worked example of formats/hoarder.md §2.
    @Test func workedExample() {
        let root = Placement.position(of: Array("root-0".utf8))
        #expect(root == 0xce46_55c9_8250_7b29)
        let members = Self.members(5)
        #expect(members[4].position == 0xbfbe_dd22_bdd1_f8d0)
        #expect(Placement.weight(members[4].position, root) == 0xf2b4_7dca_a668_ec21)
        #expect(Placement.ranking(of: root, among: members).map { String(decoding: $0.id, as: UTF8.self) }
            == ["member-4", "member-2", "member-1", "member-0", "member-3"])
    }
}
