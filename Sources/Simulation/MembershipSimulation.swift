// Membership members as simulated nodes: a driver that runs N members of
// the SWIM state machine on the virtual network. Format: formats/membership.md, section 11.

import Membership
import Protobuf

/// One member on the virtual network. Addresses are `sim/<hex ID>`, so a
/// send to a seed known only by address finds its node.
public struct MembershipNode: SimulatedNode {
    public var membership: Membership
    /// Events worth asserting on (not joins and updates, which are many), with their time.
    public private(set) var events: [(at: Duration, event: MemberEvent)] = []

    public var id: MemberID { membership.local }

    public init(_ membership: Membership) { self.membership = membership }

    public var nextDeadline: Duration { .nanoseconds(membership.nextDeadline.nanoseconds) }

    public mutating func tick(now: Duration) -> [Envelope<MemberID, MembershipMessage>] {
        perform(membership.tick(now: MembershipInstant(nanoseconds: now.nanoseconds)), now: now)
    }

    public mutating func receive(_ message: MembershipMessage, from: MemberID, now: Duration)
        -> [Envelope<MemberID, MembershipMessage>]
    {
        perform(membership.receive(message, from: from, now: MembershipInstant(nanoseconds: now.nanoseconds)),
                now: now)
    }

    public func wireSize(of message: MembershipMessage) -> Int {
        let size = message.encoded().count
        return ProtobufWriter.varintLength(UInt64(size)) + size  // the frame's length prefix
    }

    /// Turns actions into envelopes and records events.
    public mutating func perform(_ actions: [MembershipAction], now: Duration) -> [Envelope<MemberID, MembershipMessage>] {
        var sends: [Envelope<MemberID, MembershipMessage>] = []
        for action in actions {
            switch action {
            case .send(let message, let to, let addresses):
                guard let target = to ?? addresses.lazy.compactMap(Self.member(at:)).first else { continue }
                sends.append(Envelope(to: target, message: message))
            case .changed(let event):
                switch event {
                case .joined, .updated: break
                default: events.append((now, event))
                }
            }
        }
        return sends
    }

    public static func address(of id: MemberID) -> String {
        "sim/" + id.bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func member(at address: String) -> MemberID? {
        guard address.hasPrefix("sim/") else { return nil }
        let hex = Array(address.utf8.dropFirst(4))
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: hex.count, by: 2) {
            guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(byte)
        }
        return MemberID(bytes)
    }
}

/// A signer and verifier for simulations: the "signature" is a keyed
/// checksum of the payload with the member's ID, so forgeries (a wrong ID or
/// altered bytes) fail while costing no real crypto.
public struct SimulatedSignature: MemberSigner, MemberVerifier {
    public let member: MemberID
    public init(member: MemberID) { self.member = member }

    public func sign(_ bytes: [UInt8]) -> [UInt8] { Self.checksum(member: member, payload: bytes) }

    public func verify(member: MemberID, payload: [UInt8], signature: [UInt8]) -> Bool {
        signature == Self.checksum(member: member, payload: payload)
    }

    /// FNV-1a over the ID then the payload, as 8 bytes.
    public static func checksum(member: MemberID, payload: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in member.bytes + [0xFF] + payload {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
    }
}

/// N members on one virtual network: builds them, joins them, and answers
/// questions about their views.
public struct MembershipCluster: Sendable {
    public var network: VirtualNetwork<MembershipNode>
    public let configuration: MembershipConfiguration
    public private(set) var ids: [MemberID] = []
    private let seed: UInt64

    /// `count` members with IDs 0…count−1 as 4 big-endian bytes, not yet joined.
    public init(count: Int, configuration: MembershipConfiguration, conditions: NetworkConditions = NetworkConditions(),
                seed: UInt64) {
        self.configuration = configuration
        self.seed = seed
        network = VirtualNetwork(conditions: conditions, seed: seed)
        for index in 0..<count {
            let id = Self.memberID(index)
            ids.append(id)
            network.add(makeNode(id, incarnation: 0))
        }
    }

    public static func memberID(_ index: Int) -> MemberID {
        MemberID((0..<4).map { UInt8(truncatingIfNeeded: index >> (8 * (3 - $0))) })
    }

    public func makeNode(_ id: MemberID, incarnation: UInt64, tags: MemberTags = MemberTags()) -> MembershipNode {
        let signature = SimulatedSignature(member: id)
        let verifier = SimulatedSignature(member: id)
        let nodeSeed = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(id.bytes.reduce(0) { $0 << 8 | Int($1) }) &+ incarnation
        return MembershipNode(Membership(local: id, addresses: [MembershipNode.address(of: id)], tags: tags,
                                         incarnation: incarnation, configuration: configuration, seed: nodeSeed,
                                         now: MembershipInstant(nanoseconds: network.now.nanoseconds),
                                         signer: signature, verifier: verifier))
    }

    /// Member `index` joins through `seed` (an address only, as a real seed list gives).
    public mutating func join(_ index: Int, seed seedIndex: Int) {
        let seedAddress = MembershipNode.address(of: ids[seedIndex])
        network.act(on: ids[index]) { node, now in
            node.perform(node.membership.join(seeds: [(nil, [seedAddress])],
                                              now: MembershipInstant(nanoseconds: now.nanoseconds)), now: now)
        }
    }

    /// Every member joins through member 0, `spacing` apart.
    public mutating func joinAll(spacing: Duration = .milliseconds(10)) {
        for index in 1..<ids.count {
            join(index, seed: 0)
            network.run(for: spacing)
        }
    }

    /// Runs in steps of `step` until `condition` holds or `limit` passes; true if it held.
    public mutating func run(until condition: (MembershipCluster) -> Bool, step: Duration, limit: Duration) -> Bool {
        let end = network.now + limit
        while network.now < end {
            if condition(self) { return true }
            network.run(until: min(end, network.now + step))
        }
        return condition(self)
    }

    /// The live set (alive and suspect members) in `id`'s view.
    public func liveView(of id: MemberID) -> Set<MemberID> { network.node(id)?.membership.liveMembers ?? [] }

    /// True when every running member's live set is exactly the running members.
    public func converged() -> Bool {
        let running = Set(network.runningNodeIDs)
        return running.allSatisfy { liveView(of: $0) == running }
    }

    /// True when every running member other than `member` holds it as dead or left (or forgot it).
    public func allSeeGone(_ member: MemberID) -> Bool {
        network.runningNodeIDs.filter { $0 != member }.allSatisfy { id in
            guard let state = network.node(id)?.membership.member(member) else { return true }
            return state.status.isGone
        }
    }

    public func statistics(of id: MemberID) -> MembershipStatistics? { network.node(id)?.membership.statistics }

    /// Sum of a statistic over all members.
    public func total(_ keyPath: KeyPath<MembershipStatistics, Int>) -> Int {
        ids.reduce(0) { $0 + (network.node($1)?.membership.statistics[keyPath: keyPath] ?? 0) }
    }
}
