// The messages of /tau/membership/1.0.0: one protobuf message per
// length-prefixed frame, each carrying piggybacked updates.
// Format: formats/membership.md, sections 2 and 3.

import Protobuf

/// A signed statement by a member about itself: it is alive at `incarnation`,
/// reachable at `addresses`, running the services of `tags` at `load`.
public struct AliveUpdate: Hashable, Sendable {
    public var member: MemberID
    public var incarnation: UInt64
    public var addresses: [String]
    public var tags: MemberTags
    public var load: UInt64
    /// The member's signature over `signedBytes` (rule 10).
    public var signature: [UInt8]

    public init(member: MemberID, incarnation: UInt64, addresses: [String], tags: MemberTags, load: UInt64,
                signature: [UInt8] = []) {
        self.member = member
        self.incarnation = incarnation
        self.addresses = addresses
        self.tags = tags
        self.load = load
        self.signature = signature
    }

    /// What the member signs: the ASCII prefix `tau-membership-alive:` then
    /// this update's encoding without its signature field (rule 10).
    public var signedBytes: [UInt8] {
        var unsigned = self
        unsigned.signature = []
        return Array(Self.signingPrefix.utf8) + MembershipUpdate.alive(unsigned).encoded()
    }

    public static let signingPrefix = "tau-membership-alive:"
}

/// One piece of gossip about one member (rules 4.1–4.6).
public enum MembershipUpdate: Hashable, Sendable {
    case alive(AliveUpdate)
    /// `from` suspects `member` at `incarnation`.
    case suspect(member: MemberID, incarnation: UInt64, from: MemberID)
    /// `from` declares `member` dead at `incarnation`; from the member itself it is a leave.
    case dead(member: MemberID, incarnation: UInt64, from: MemberID)

    public var member: MemberID {
        switch self {
        case .alive(let alive): alive.member
        case .suspect(let member, _, _), .dead(let member, _, _): member
        }
    }

    public var incarnation: UInt64 {
        switch self {
        case .alive(let alive): alive.incarnation
        case .suspect(_, let incarnation, _), .dead(_, let incarnation, _): incarnation
        }
    }
}

/// One message of the protocol, with the updates it piggybacks.
public struct MembershipMessage: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// "Are you `target`, and alive?" Answered by `ack(sequence)`.
        case ping(sequence: UInt64, target: MemberID)
        /// "Ping `target` for me": answered by a forwarded ack, or a nack when the target stays silent.
        case pingRequest(sequence: UInt64, target: MemberID, addresses: [String])
        case ack(sequence: UInt64)
        /// From an indirect prober: the target did not answer it (Lifeguard: the prober itself is healthy).
        case nack(sequence: UInt64)
        /// A full state sync; `join` when the sender is joining. Answered by `pushPullResponse`.
        case pushPullRequest(join: Bool)
        case pushPullResponse
        /// Updates only, sent each gossip interval while there are updates to spread.
        case gossip
    }

    public var kind: Kind
    /// Piggybacked updates; for push-pull, the sender's view (rule 8).
    public var updates: [MembershipUpdate]

    public init(_ kind: Kind, updates: [MembershipUpdate] = []) {
        self.kind = kind
        self.updates = updates
    }

    /// The stream protocol carrying these messages, one per varint-length-prefixed frame.
    public static let protocolID = "/tau/membership/1.0.0"

    /// What one message may hold; past any of these a message is refused with `.limitExceeded`.
    public struct Limits: Hashable, Sendable {
        /// Bytes of one message: 64 KiB.
        public var maxMessageBytes: Int
        /// Updates in one message: 2,048.
        public var maxUpdates: Int
        /// Bytes of a member ID: 128.
        public var maxMemberIDBytes: Int
        /// Addresses of one member: 16.
        public var maxAddresses: Int
        /// Bytes of one address: 256.
        public var maxAddressBytes: Int
        /// Tag names plus values of one member: 1 KiB.
        public var maxTagBytes: Int
        /// Tags of one member: 32.
        public var maxTags: Int
        /// Bytes of a signature: 256.
        public var maxSignatureBytes: Int

        public init(maxMessageBytes: Int = 64 << 10, maxUpdates: Int = 2048, maxMemberIDBytes: Int = 128,
                    maxAddresses: Int = 16, maxAddressBytes: Int = 256, maxTagBytes: Int = 1024,
                    maxTags: Int = 32, maxSignatureBytes: Int = 256) {
            self.maxMessageBytes = maxMessageBytes
            self.maxUpdates = maxUpdates
            self.maxMemberIDBytes = maxMemberIDBytes
            self.maxAddresses = maxAddresses
            self.maxAddressBytes = maxAddressBytes
            self.maxTagBytes = maxTagBytes
            self.maxTags = maxTags
            self.maxSignatureBytes = maxSignatureBytes
        }

        public static let standard = Limits()
    }
}

// MARK: Field numbers (formats/membership.md, section 2)

enum MessageField {
    static let type = 1, sequence = 2, target = 3, targetAddresses = 4, updates = 5, join = 6
}

enum UpdateField {
    static let kind = 1, member = 2, incarnation = 3, from = 4, addresses = 5, tags = 6, load = 7, signature = 8
}

enum TagField {
    static let name = 1, value = 2
}

enum MessageType: UInt64 {
    case ping = 0, pingRequest = 1, ack = 2, nack = 3, pushPullRequest = 4, pushPullResponse = 5, gossip = 6
}

enum UpdateKind: UInt64 {
    case alive = 0, suspect = 1, dead = 2
}

// MARK: Encoding

extension MembershipUpdate {
    /// The update's protobuf encoding (an embedded `Update` message), fields in number order.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 64)
        switch self {
        case .alive(let alive):
            writer.writeVarint(field: UpdateField.kind, UpdateKind.alive.rawValue)
            writer.writeBytes(field: UpdateField.member, alive.member.bytes)
            writer.writeVarint(field: UpdateField.incarnation, alive.incarnation)
            for address in alive.addresses { writer.writeString(field: UpdateField.addresses, address) }
            for (name, value) in alive.tags.sorted {
                var tag = ProtobufWriter(capacity: name.utf8.count + value.count + 4)
                tag.writeString(field: TagField.name, name)
                tag.writeBytes(field: TagField.value, value)
                writer.writeBytes(field: UpdateField.tags, tag.bytes)
            }
            if alive.load != 0 { writer.writeVarint(field: UpdateField.load, alive.load) }
            if !alive.signature.isEmpty { writer.writeBytes(field: UpdateField.signature, alive.signature) }
        case .suspect(let member, let incarnation, let from), .dead(let member, let incarnation, let from):
            let kind: UpdateKind = if case .suspect = self { .suspect } else { .dead }
            writer.writeVarint(field: UpdateField.kind, kind.rawValue)
            writer.writeBytes(field: UpdateField.member, member.bytes)
            writer.writeVarint(field: UpdateField.incarnation, incarnation)
            writer.writeBytes(field: UpdateField.from, from.bytes)
        }
        return writer.bytes
    }

    /// Bytes this update adds to a message (its field header included).
    public var encodedSize: Int {
        ProtobufWriter.bytesFieldLength(field: MessageField.updates, payload: encoded().count)
    }
}

extension MembershipMessage {
    /// The message's protobuf encoding, without the frame's length prefix.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 32 + updates.count * 64)
        writeHeader(&writer)
        for update in updates { writer.writeBytes(field: MessageField.updates, update.encoded()) }
        return writer.bytes
    }

    /// Bytes of the message without its updates: what a sender reserves before piggybacking.
    public var headerSize: Int {
        var writer = ProtobufWriter(capacity: 32)
        writeHeader(&writer)
        return writer.bytes.count
    }

    private func writeHeader(_ writer: inout ProtobufWriter) {
        switch kind {
        case .ping(let sequence, let target):
            writer.writeVarint(field: MessageField.type, MessageType.ping.rawValue)
            writer.writeVarint(field: MessageField.sequence, sequence)
            writer.writeBytes(field: MessageField.target, target.bytes)
        case .pingRequest(let sequence, let target, let addresses):
            writer.writeVarint(field: MessageField.type, MessageType.pingRequest.rawValue)
            writer.writeVarint(field: MessageField.sequence, sequence)
            writer.writeBytes(field: MessageField.target, target.bytes)
            for address in addresses { writer.writeString(field: MessageField.targetAddresses, address) }
        case .ack(let sequence):
            writer.writeVarint(field: MessageField.type, MessageType.ack.rawValue)
            writer.writeVarint(field: MessageField.sequence, sequence)
        case .nack(let sequence):
            writer.writeVarint(field: MessageField.type, MessageType.nack.rawValue)
            writer.writeVarint(field: MessageField.sequence, sequence)
        case .pushPullRequest(let join):
            writer.writeVarint(field: MessageField.type, MessageType.pushPullRequest.rawValue)
            if join { writer.writeVarint(field: MessageField.join, 1) }
        case .pushPullResponse:
            writer.writeVarint(field: MessageField.type, MessageType.pushPullResponse.rawValue)
        case .gossip:
            writer.writeVarint(field: MessageField.type, MessageType.gossip.rawValue)
        }
    }
}

// MARK: Decoding

extension MembershipMessage {
    /// Decodes one message (without its length prefix).
    /// - Throws: `.malformed` for bytes that are not a message (an unknown
    ///   type or update kind, a missing field), `.limitExceeded` past any of `limits`.
    public init(decoding bytes: some Collection<UInt8>, limits: Limits = .standard) throws(MembershipError) {
        let array = Array(bytes)
        guard array.count <= limits.maxMessageBytes else {
            throw MembershipError(.limitExceeded, "message of \(array.count) bytes (limit \(limits.maxMessageBytes))")
        }
        self = try MembershipReader.reading(array) { (reader: inout MembershipReader) throws(MembershipError) in
            try MembershipMessage.decode(&reader, limits: limits)
        }
    }

    static func decode(_ reader: inout MembershipReader, limits: Limits) throws(MembershipError) -> Self {
        var type: MessageType?
        var sequence: UInt64 = 0
        var target: MemberID?
        var addresses: [String] = []
        var join = false
        var updates: [MembershipUpdate] = []
        while let (number, wire) = try reader.nextField() {
            switch number {
            case MessageField.type:
                try MembershipReader.expect(wire, .varint, field: "Message.type")
                let raw = try reader.readVarint()
                guard let known = MessageType(rawValue: raw) else {
                    throw MembershipError(.malformed, "unknown message type \(raw)")
                }
                type = known
            case MessageField.sequence:
                try MembershipReader.expect(wire, .varint, field: "Message.sequence")
                sequence = try reader.readVarint()
            case MessageField.target:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Message.target")
                target = try readMemberID(&reader, limits: limits)
            case MessageField.targetAddresses:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Message.targetAddresses")
                try appendAddress(&reader, to: &addresses, limits: limits)
            case MessageField.join:
                try MembershipReader.expect(wire, .varint, field: "Message.join")
                join = try reader.readVarint() != 0
            case MessageField.updates:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Message.updates")
                guard updates.count < limits.maxUpdates else {
                    throw MembershipError(.limitExceeded, "more than \(limits.maxUpdates) updates")
                }
                var inner = try reader.readMessage()
                updates.append(try MembershipUpdate.decode(&inner, limits: limits))
            default:
                try reader.skip(wire)
            }
        }
        guard let type else { throw MembershipError(.malformed, "message without a type") }
        let kind: Kind
        switch type {
        case .ping, .pingRequest:
            guard let target else { throw MembershipError(.malformed, "ping without a target") }
            kind = type == .ping ? .ping(sequence: sequence, target: target)
                : .pingRequest(sequence: sequence, target: target, addresses: addresses)
        case .ack: kind = .ack(sequence: sequence)
        case .nack: kind = .nack(sequence: sequence)
        case .pushPullRequest: kind = .pushPullRequest(join: join)
        case .pushPullResponse: kind = .pushPullResponse
        case .gossip: kind = .gossip
        }
        return MembershipMessage(kind, updates: updates)
    }
}

extension MembershipUpdate {
    static func decode(_ reader: inout MembershipReader, limits: MembershipMessage.Limits) throws(MembershipError)
        -> Self
    {
        var kind: UpdateKind?
        var member: MemberID?
        var incarnation: UInt64 = 0
        var from: MemberID?
        var addresses: [String] = []
        var tags = MemberTags()
        var load: UInt64 = 0
        var signature: [UInt8] = []
        while let (number, wire) = try reader.nextField() {
            switch number {
            case UpdateField.kind:
                try MembershipReader.expect(wire, .varint, field: "Update.kind")
                let raw = try reader.readVarint()
                guard let known = UpdateKind(rawValue: raw) else {
                    throw MembershipError(.malformed, "unknown update kind \(raw)")
                }
                kind = known
            case UpdateField.member:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Update.member")
                member = try readMemberID(&reader, limits: limits)
            case UpdateField.incarnation:
                try MembershipReader.expect(wire, .varint, field: "Update.incarnation")
                incarnation = try reader.readVarint()
            case UpdateField.from:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Update.from")
                from = try readMemberID(&reader, limits: limits)
            case UpdateField.addresses:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Update.addresses")
                try appendAddress(&reader, to: &addresses, limits: limits)
            case UpdateField.tags:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Update.tags")
                var inner = try reader.readMessage()
                let (name, value) = try readTag(&inner)
                guard tags.values[name] == nil else { throw MembershipError(.malformed, "tag \(name) twice") }
                tags.values[name] = value
                guard tags.values.count <= limits.maxTags else {
                    throw MembershipError(.limitExceeded, "more than \(limits.maxTags) tags")
                }
                guard tags.byteCount <= limits.maxTagBytes else {
                    throw MembershipError(.limitExceeded, "tags over \(limits.maxTagBytes) bytes")
                }
            case UpdateField.load:
                try MembershipReader.expect(wire, .varint, field: "Update.load")
                load = try reader.readVarint()
            case UpdateField.signature:
                try MembershipReader.expect(wire, .lengthDelimited, field: "Update.signature")
                let raw = try reader.readBytes()
                guard raw.count <= limits.maxSignatureBytes else {
                    throw MembershipError(.limitExceeded, "signature of \(raw.count) bytes (limit \(limits.maxSignatureBytes))")
                }
                signature = Array(raw)
            default:
                try reader.skip(wire)
            }
        }
        guard let kind, let member else { throw MembershipError(.malformed, "update without kind or member") }
        switch kind {
        case .alive:
            return .alive(AliveUpdate(member: member, incarnation: incarnation, addresses: addresses, tags: tags,
                                      load: load, signature: signature))
        case .suspect, .dead:
            guard let from else { throw MembershipError(.malformed, "suspect or dead update without a sender") }
            return kind == .suspect ? .suspect(member: member, incarnation: incarnation, from: from)
                : .dead(member: member, incarnation: incarnation, from: from)
        }
    }
}

func readMemberID(_ reader: inout MembershipReader, limits: MembershipMessage.Limits) throws(MembershipError)
    -> MemberID
{
    let raw = try reader.readBytes()
    guard !raw.isEmpty else { throw MembershipError(.malformed, "empty member ID") }
    guard raw.count <= limits.maxMemberIDBytes else {
        throw MembershipError(.limitExceeded, "member ID of \(raw.count) bytes (limit \(limits.maxMemberIDBytes))")
    }
    return MemberID(Array(raw))
}

func appendAddress(_ reader: inout MembershipReader, to addresses: inout [String],
                   limits: MembershipMessage.Limits) throws(MembershipError) {
    let address = try reader.readString()
    guard address.utf8.count <= limits.maxAddressBytes else {
        throw MembershipError(.limitExceeded, "address of \(address.utf8.count) bytes (limit \(limits.maxAddressBytes))")
    }
    guard addresses.count < limits.maxAddresses else {
        throw MembershipError(.limitExceeded, "more than \(limits.maxAddresses) addresses")
    }
    addresses.append(address)
}

func readTag(_ reader: inout MembershipReader) throws(MembershipError) -> (String, [UInt8]) {
    var name: String?
    var value: [UInt8] = []
    while let (number, wire) = try reader.nextField() {
        switch number {
        case TagField.name:
            try MembershipReader.expect(wire, .lengthDelimited, field: "Tag.name")
            name = try reader.readString()
        case TagField.value:
            try MembershipReader.expect(wire, .lengthDelimited, field: "Tag.value")
            value = Array(try reader.readBytes())
        default:
            try reader.skip(wire)
        }
    }
    guard let name else { throw MembershipError(.malformed, "tag without a name") }
    return (name, value)
}
