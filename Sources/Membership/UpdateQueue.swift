// The queue of updates waiting to be piggybacked, as memberlist's
// TransmitLimitedQueue: one update per member (a newer one replaces an older),
// fewest-transmitted first, each sent a limited number of times.
// Format: formats/membership.md, rule 7.

struct UpdateQueue: Sendable {
    struct Entry: Sendable {
        var update: MembershipUpdate
        /// Bytes the update adds to a message, computed once.
        var size: Int
        var transmits: Int
        /// Insertion order: among equally transmitted updates the newest goes first.
        var order: UInt64
    }

    private(set) var entries: [MemberID: Entry] = [:]
    private var counter: UInt64 = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Queues `update`, replacing whatever was queued about the same member.
    mutating func enqueue(_ update: MembershipUpdate) {
        counter += 1
        entries[update.member] = Entry(update: update, size: update.encodedSize, transmits: 0, order: counter)
    }

    /// Up to `maxCount` updates within `maxBytes`, fewest-transmitted first
    /// (newest first among equals). Each taken update counts one transmit and
    /// leaves the queue once sent `retransmitLimit` times.
    mutating func take(maxBytes: Int, maxCount: Int, retransmitLimit: Int) -> [MembershipUpdate] {
        guard !entries.isEmpty, maxCount > 0 else { return [] }
        let ordered = entries.values.sorted {
            $0.transmits != $1.transmits ? $0.transmits < $1.transmits : $0.order > $1.order
        }
        var taken: [MembershipUpdate] = []
        var bytes = 0
        for entry in ordered {
            guard taken.count < maxCount else { break }
            guard bytes + entry.size <= maxBytes else { continue }
            bytes += entry.size
            taken.append(entry.update)
            let member = entry.update.member
            if entry.transmits + 1 >= retransmitLimit {
                entries[member] = nil
            } else {
                entries[member]?.transmits += 1
            }
        }
        return taken
    }

    /// The queued update about `member`, if any.
    func queued(about member: MemberID) -> MembershipUpdate? { entries[member]?.update }
}
