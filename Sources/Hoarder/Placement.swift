// Placement of roots on hoarders by rendezvous (highest-random-weight)
// hashing: every member ranks the same live hoarders for a root in the same
// order from the same view, and a join or leave moves only the roots whose
// top K it enters or leaves. Pure. Format: formats/hoarder.md, section 2.

import Multiformats
import UnixFS

/// A hoarder as placement sees it: its identity bytes (a peer ID) and the
/// 64-bit position placement derives from them once.
public struct PlacementMember: Hashable, Sendable, Comparable {
    public let id: [UInt8]
    /// The first 8 bytes of SHA-256(id), big-endian.
    public let position: UInt64

    public init(id: [UInt8]) {
        self.id = id
        position = Placement.position(of: id)
    }

    public static func < (lhs: PlacementMember, rhs: PlacementMember) -> Bool {
        lhs.position != rhs.position ? lhs.position < rhs.position : lhs.id.lexicographicallyPrecedes(rhs.id)
    }
}

public enum Placement {
    /// K when a root does not ask for its own: 3 (and never more than the live hoarders).
    public static let defaultReplicas = 3

    /// The first 8 bytes of SHA-256(`bytes`), big-endian: a root's or a member's position.
    public static func position(of bytes: [UInt8]) -> UInt64 {
        let digest = Multihash(hashing: bytes, with: .sha2_256).digest
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The weight of `member` for the root at `rootPosition` (rule 2.2): the
    /// 64-bit finaliser of MurmurHash3 over their XOR, so ranking N members for
    /// a root costs N multiplications, not N hashes.
    @inlinable
    public static func weight(_ member: UInt64, _ rootPosition: UInt64) -> UInt64 {
        Murmur3.finalMix(member ^ rootPosition)
    }

    /// Every member in rendezvous order for the root: highest weight first,
    /// ties (equal weights) by member order. The first K are the owners; the
    /// next is who repairs when an owner dies.
    public static func ranking(of rootPosition: UInt64, among members: [PlacementMember]) -> [PlacementMember] {
        members.map { (weight($0.position, rootPosition), $0) }
            .sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            .map(\.1)
    }

    /// The `replicas` owners of the root (all members when there are fewer),
    /// highest weight first; O(N·K) without sorting everyone.
    public static func owners(of rootPosition: UInt64, among members: [PlacementMember],
                              replicas: Int = defaultReplicas) -> [PlacementMember] {
        let count = min(max(replicas, 0), members.count)
        guard count > 0 else { return [] }
        // The `count` best so far, best first (K is small: insertion into a short array).
        var best: [(weight: UInt64, member: PlacementMember)] = []
        best.reserveCapacity(count + 1)
        for member in members {
            let entry = (weight: weight(member.position, rootPosition), member: member)
            if best.count == count, let last = best.last, !ranksBefore(entry, last) { continue }
            let index = best.firstIndex { ranksBefore(entry, $0) } ?? best.count
            best.insert(entry, at: index)
            if best.count > count { best.removeLast() }
        }
        return best.map(\.member)
    }

    /// The owners of a root given by its multihash bytes.
    public static func owners(of root: CID, among members: [PlacementMember], replicas: Int = defaultReplicas) -> [PlacementMember] {
        owners(of: position(of: Array(root.multihashBytes)), among: members, replicas: replicas)
    }

    @inline(__always)
    static func ranksBefore(_ a: (weight: UInt64, member: PlacementMember), _ b: (weight: UInt64, member: PlacementMember)) -> Bool {
        a.weight != b.weight ? a.weight > b.weight : a.member < b.member
    }
}
