// Shared helpers of the membership tests: members with simulated
// signatures, instants, and pickers over actions. Format: formats/membership.md.

import Membership
import Simulation

func id(_ index: Int) -> MemberID { MembershipCluster.memberID(index) }

func at(_ seconds: Double) -> MembershipInstant { MembershipInstant(nanoseconds: Int64(seconds * 1e9)) }

func makeMember(_ index: Int, configuration: MembershipConfiguration = .lan, tags: MemberTags = MemberTags(),
                incarnation: UInt64 = 0, now: MembershipInstant = .zero) -> Membership {
    let signature = SimulatedSignature(member: id(index))
    return Membership(local: id(index), addresses: [MembershipNode.address(of: id(index))], tags: tags,
                      incarnation: incarnation, configuration: configuration, seed: UInt64(index + 1), now: now,
                      signer: signature, verifier: signature)
}

/// A correctly signed alive update for member `index`.
func signedAlive(_ index: Int, incarnation: UInt64 = 0, tags: MemberTags = MemberTags(), load: UInt64 = 0) -> AliveUpdate {
    var alive = AliveUpdate(member: id(index), incarnation: incarnation,
                            addresses: [MembershipNode.address(of: id(index))], tags: tags, load: load)
    alive.signature = SimulatedSignature(member: id(index)).sign(alive.signedBytes)
    return alive
}

/// Teaches `member` about members `indices` (signed alive updates in a gossip message).
func introduce(_ indices: [Int], to member: inout Membership, from sender: Int, now: MembershipInstant = .zero) {
    _ = member.receive(MembershipMessage(.gossip, updates: indices.map { .alive(signedAlive($0)) }), from: id(sender),
                       now: now)
}

struct Sent {
    var message: MembershipMessage
    var to: MemberID?
}

func sends(_ actions: [MembershipAction]) -> [Sent] {
    actions.compactMap { if case .send(let message, let to, _) = $0 { Sent(message: message, to: to) } else { nil } }
}

func events(_ actions: [MembershipAction]) -> [MemberEvent] {
    actions.compactMap { if case .changed(let event) = $0 { event } else { nil } }
}

extension MembershipMessage.Kind {
    var isPing: Bool { if case .ping = self { true } else { false } }
    var isPingRequest: Bool { if case .pingRequest = self { true } else { false } }
    var isAck: Bool { if case .ack = self { true } else { false } }
    var sequence: UInt64? {
        switch self {
        case .ping(let sequence, _), .pingRequest(let sequence, _, _), .ack(let sequence), .nack(let sequence):
            sequence
        default: nil
        }
    }
}

/// Ticks `member` at each deadline up to `end`, collecting the actions.
func runTimers(_ member: inout Membership, from start: MembershipInstant, to end: MembershipInstant)
    -> [(MembershipInstant, MembershipAction)]
{
    var collected: [(MembershipInstant, MembershipAction)] = []
    var now = start
    while true {
        let next = max(now, member.nextDeadline)
        guard next <= end else { break }
        now = next
        for action in member.tick(now: now) { collected.append((now, action)) }
    }
    return collected
}
