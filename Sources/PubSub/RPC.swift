// The pubsub RPC: what GossipSub, FloodSub and meshsub 1.0 peers send on a
// stream, each RPC prefixed by its length as an unsigned varint.
// Format: formats/pubsub.md, section 2.

import Protobuf

/// One RPC: subscription changes, published messages and GossipSub control.
public struct PubSubRPC: Hashable, Sendable {
    public var subscriptions: [Subscription]
    public var messages: [PubSubMessage]
    /// GossipSub control (nil when the RPC has none, as FloodSub sends).
    public var control: Control?

    public init(subscriptions: [Subscription] = [], messages: [PubSubMessage] = [], control: Control? = nil) {
        self.subscriptions = subscriptions
        self.messages = messages
        self.control = control
    }

    /// `SubOpts`: the sender (un)subscribed to a topic.
    public struct Subscription: Hashable, Sendable {
        public var subscribe: Bool
        public var topic: String
        public init(subscribe: Bool, topic: String) {
            self.subscribe = subscribe
            self.topic = topic
        }
    }

    /// `ControlMessage`.
    public struct Control: Hashable, Sendable {
        public var ihave: [IHave]
        public var iwant: [IWant]
        public var graft: [Graft]
        public var prune: [Prune]
        /// GossipSub 1.2's IDONTWANT: read and kept, never required.
        public var idontwant: [IWant]

        public init(ihave: [IHave] = [], iwant: [IWant] = [], graft: [Graft] = [], prune: [Prune] = [],
                    idontwant: [IWant] = []) {
            self.ihave = ihave
            self.iwant = iwant
            self.graft = graft
            self.prune = prune
            self.idontwant = idontwant
        }

        public var isEmpty: Bool { ihave.isEmpty && iwant.isEmpty && graft.isEmpty && prune.isEmpty && idontwant.isEmpty }
    }

    public struct IHave: Hashable, Sendable {
        public var topic: String
        public var messageIDs: [[UInt8]]
        public init(topic: String, messageIDs: [[UInt8]]) {
            self.topic = topic
            self.messageIDs = messageIDs
        }
    }

    /// IWANT (and IDONTWANT, which has the same shape).
    public struct IWant: Hashable, Sendable {
        public var messageIDs: [[UInt8]]
        public init(messageIDs: [[UInt8]]) { self.messageIDs = messageIDs }
    }

    public struct Graft: Hashable, Sendable {
        public var topic: String
        public init(topic: String) { self.topic = topic }
    }

    public struct Prune: Hashable, Sendable {
        public var topic: String
        /// Peer exchange: peers the pruned peer may connect to instead.
        public var peers: [PeerExchange]
        /// Seconds before the pruned peer may graft again (v1.1; nil from v1.0 peers).
        public var backoff: UInt64?
        public init(topic: String, peers: [PeerExchange] = [], backoff: UInt64? = nil) {
            self.topic = topic
            self.peers = peers
            self.backoff = backoff
        }
    }

    /// `PeerInfo`: a peer ID's bytes and, optionally, its signed peer record.
    public struct PeerExchange: Hashable, Sendable {
        public var peerID: [UInt8]
        public var signedPeerRecord: [UInt8]?
        public init(peerID: [UInt8], signedPeerRecord: [UInt8]? = nil) {
            self.peerID = peerID
            self.signedPeerRecord = signedPeerRecord
        }
    }

    /// What one RPC may hold. Defaults follow go-libp2p-pubsub's, so nothing
    /// a Kubo peer sends by default is refused.
    public struct Limits: Hashable, Sendable {
        /// Bytes of one RPC: 1 MiB (the spec's default message size limit).
        public var maxRPCSize: Int
        /// Subscription changes in one RPC: 1,024.
        public var maxSubscriptions: Int
        /// Published messages in one RPC: 1,024.
        public var maxMessages: Int
        /// Message IDs across all IHAVE, IWANT and IDONTWANT entries: 5,000.
        public var maxMessageIDs: Int
        /// GRAFT plus PRUNE entries: 1,024.
        public var maxGraftsAndPrunes: Int
        /// Peers offered by all PRUNEs: 256.
        public var maxExchangedPeers: Int
        /// Bytes of a topic name: 1,024.
        public var maxTopicLength: Int

        public init(maxRPCSize: Int = 1 << 20, maxSubscriptions: Int = 1024, maxMessages: Int = 1024,
                    maxMessageIDs: Int = 5000, maxGraftsAndPrunes: Int = 1024, maxExchangedPeers: Int = 256,
                    maxTopicLength: Int = 1024) {
            self.maxRPCSize = maxRPCSize
            self.maxSubscriptions = maxSubscriptions
            self.maxMessages = maxMessages
            self.maxMessageIDs = maxMessageIDs
            self.maxGraftsAndPrunes = maxGraftsAndPrunes
            self.maxExchangedPeers = maxExchangedPeers
            self.maxTopicLength = maxTopicLength
        }

        public static let standard = Limits()
    }
}

/// `Message`: one published message as it travels. Fields are kept as sent;
/// `SignedMessages` checks them.
public struct PubSubMessage: Hashable, Sendable {
    /// The author's peer ID bytes (absent under the anonymous policy).
    public var from: [UInt8]?
    public var data: [UInt8]
    /// 8 bytes, big-endian, under the signing policies.
    public var seqno: [UInt8]?
    public var topic: String
    public var signature: [UInt8]?
    /// The author's protobuf public key, when the peer ID does not inline it.
    public var key: [UInt8]?

    public init(from: [UInt8]? = nil, data: [UInt8], seqno: [UInt8]? = nil, topic: String,
                signature: [UInt8]? = nil, key: [UInt8]? = nil) {
        self.from = from
        self.data = data
        self.seqno = seqno
        self.topic = topic
        self.signature = signature
        self.key = key
    }

    /// The message's fields in field-number order, as the signature covers
    /// them (`signature` and `key` left out when `signed` is false).
    func encode(into writer: inout ProtobufWriter, withSignature: Bool) {
        if let from { writer.writeBytes(field: 1, from) }
        writer.writeBytes(field: 2, data)
        if let seqno { writer.writeBytes(field: 3, seqno) }
        writer.writeString(field: 4, topic)
        guard withSignature else { return }
        if let signature { writer.writeBytes(field: 5, signature) }
        if let key { writer.writeBytes(field: 6, key) }
    }

    var encodedLength: Int {
        var length = ProtobufWriter.bytesFieldLength(field: 2, payload: data.count)
            + ProtobufWriter.bytesFieldLength(field: 4, payload: topic.utf8.count)
        for (field, value) in [(1, from), (3, seqno), (5, signature), (6, key)] {
            if let value { length += ProtobufWriter.bytesFieldLength(field: field, payload: value.count) }
        }
        return length
    }

    static func decode(_ reader: inout RPCReader, limits: PubSubRPC.Limits) throws(PubSubError) -> PubSubMessage {
        var message = PubSubMessage(data: [], topic: "")
        var topics = 0
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1...6:
                try RPCReader.expect(wire, .lengthDelimited, field: "Message.\(number)")
                if number == 4 {
                    message.topic = try readTopic(&reader, limits: limits)
                    topics += 1
                    continue
                }
                let bytes = Array(try reader.readBytes())
                switch number {
                case 1: message.from = bytes
                case 2: message.data = bytes
                case 3: message.seqno = bytes
                case 5: message.signature = bytes
                default: message.key = bytes
                }
            default:
                try reader.skip(wire)
            }
        }
        // v1.0's `repeated string topicIDs = 4`: one topic per message is all we route.
        guard topics == 1 else { throw PubSubError(.malformed, "a message with \(topics) topics") }
        return message
    }
}

func readTopic(_ reader: inout RPCReader, limits: PubSubRPC.Limits) throws(PubSubError) -> String {
    let raw = try reader.readBytes()
    guard raw.count <= limits.maxTopicLength else {
        throw PubSubError(.limitExceeded, "topic of \(raw.count) bytes (limit \(limits.maxTopicLength))")
    }
    guard let topic = String(validating: raw, as: UTF8.self) else { throw PubSubError(.malformed, "topic is not UTF-8") }
    return topic
}

extension PubSubRPC {
    /// Decodes one RPC (without its length prefix).
    /// - Throws: `.malformed` for bytes that are not an RPC, `.limitExceeded`
    ///   past any of `limits`.
    public init(decoding bytes: some Collection<UInt8>, limits: Limits = .standard) throws(PubSubError) {
        let array = Array(bytes)
        guard array.count <= limits.maxRPCSize else {
            throw PubSubError(.limitExceeded, "RPC of \(array.count) bytes (limit \(limits.maxRPCSize))")
        }
        self = try RPCReader.reading(array) { (reader: inout RPCReader) throws(PubSubError) in
            try PubSubRPC.decode(&reader, limits: limits)
        }
    }

    static func decode(_ reader: inout RPCReader, limits: Limits) throws(PubSubError) -> PubSubRPC {
        var rpc = PubSubRPC()
        var counts = Counts()
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try RPCReader.expect(wire, .lengthDelimited, field: "RPC.subscriptions")
                try counts.add(\.subscriptions, 1, limits.maxSubscriptions, "subscriptions")
                var inner = try reader.readMessage()
                var subscription = Subscription(subscribe: false, topic: "")
                while let (field, fieldWire) = try inner.nextField() {
                    switch field {
                    case 1:
                        try RPCReader.expect(fieldWire, .varint, field: "SubOpts.subscribe")
                        subscription.subscribe = try inner.readVarint() != 0
                    case 2:
                        try RPCReader.expect(fieldWire, .lengthDelimited, field: "SubOpts.topicid")
                        subscription.topic = try readTopic(&inner, limits: limits)
                    default: try inner.skip(fieldWire)
                    }
                }
                rpc.subscriptions.append(subscription)
            case 2:
                try RPCReader.expect(wire, .lengthDelimited, field: "RPC.publish")
                try counts.add(\.messages, 1, limits.maxMessages, "messages")
                var inner = try reader.readMessage()
                rpc.messages.append(try PubSubMessage.decode(&inner, limits: limits))
            case 3:
                try RPCReader.expect(wire, .lengthDelimited, field: "RPC.control")
                var inner = try reader.readMessage()
                var control = rpc.control ?? Control()
                try decodeControl(&inner, into: &control, counts: &counts, limits: limits)
                rpc.control = control
            default:
                try reader.skip(wire)
            }
        }
        return rpc
    }

    /// Running totals checked against the limits while decoding.
    struct Counts {
        var subscriptions = 0, messages = 0, messageIDs = 0, graftsAndPrunes = 0, peers = 0

        mutating func add(_ key: WritableKeyPath<Counts, Int>, _ count: Int, _ limit: Int,
                          _ what: String) throws(PubSubError) {
            self[keyPath: key] += count
            guard self[keyPath: key] <= limit else {
                throw PubSubError(.limitExceeded, "more than \(limit) \(what) in one RPC")
            }
        }
    }

    static func decodeControl(_ reader: inout RPCReader, into control: inout Control, counts: inout Counts,
                              limits: Limits) throws(PubSubError) {
        func messageIDs(_ inner: inout RPCReader, field idField: Int) throws(PubSubError) -> (String, [[UInt8]]) {
            var topic = ""
            var ids: [[UInt8]] = []
            while let (field, wire) = try inner.nextField() {
                if field == idField {
                    try RPCReader.expect(wire, .lengthDelimited, field: "messageIDs")
                    try counts.add(\.messageIDs, 1, limits.maxMessageIDs, "message IDs")
                    ids.append(Array(try inner.readBytes()))
                } else if field == 1, idField == 2 {
                    try RPCReader.expect(wire, .lengthDelimited, field: "topicID")
                    topic = try readTopic(&inner, limits: limits)
                } else {
                    try inner.skip(wire)
                }
            }
            return (topic, ids)
        }
        while let (number, wire) = try reader.nextField() {
            guard (1...5).contains(number) else {
                try reader.skip(wire)
                continue
            }
            try RPCReader.expect(wire, .lengthDelimited, field: "ControlMessage.\(number)")
            var inner = try reader.readMessage()
            switch number {
            case 1:
                let (topic, ids) = try messageIDs(&inner, field: 2)
                control.ihave.append(IHave(topic: topic, messageIDs: ids))
            case 2:
                control.iwant.append(IWant(messageIDs: try messageIDs(&inner, field: 1).1))
            case 5:
                control.idontwant.append(IWant(messageIDs: try messageIDs(&inner, field: 1).1))
            case 3:
                try counts.add(\.graftsAndPrunes, 1, limits.maxGraftsAndPrunes, "GRAFTs and PRUNEs")
                var graft = Graft(topic: "")
                while let (field, fieldWire) = try inner.nextField() {
                    if field == 1 {
                        try RPCReader.expect(fieldWire, .lengthDelimited, field: "ControlGraft.topicID")
                        graft.topic = try readTopic(&inner, limits: limits)
                    } else { try inner.skip(fieldWire) }
                }
                control.graft.append(graft)
            default:
                try counts.add(\.graftsAndPrunes, 1, limits.maxGraftsAndPrunes, "GRAFTs and PRUNEs")
                var prune = Prune(topic: "")
                while let (field, fieldWire) = try inner.nextField() {
                    switch field {
                    case 1:
                        try RPCReader.expect(fieldWire, .lengthDelimited, field: "ControlPrune.topicID")
                        prune.topic = try readTopic(&inner, limits: limits)
                    case 2:
                        try RPCReader.expect(fieldWire, .lengthDelimited, field: "ControlPrune.peers")
                        try counts.add(\.peers, 1, limits.maxExchangedPeers, "exchanged peers")
                        var info = try inner.readMessage()
                        var peer = PeerExchange(peerID: [])
                        while let (infoField, infoWire) = try info.nextField() {
                            switch infoField {
                            case 1:
                                try RPCReader.expect(infoWire, .lengthDelimited, field: "PeerInfo.peerID")
                                peer.peerID = Array(try info.readBytes())
                            case 2:
                                try RPCReader.expect(infoWire, .lengthDelimited, field: "PeerInfo.signedPeerRecord")
                                peer.signedPeerRecord = Array(try info.readBytes())
                            default: try info.skip(infoWire)
                            }
                        }
                        prune.peers.append(peer)
                    case 3:
                        try RPCReader.expect(fieldWire, .varint, field: "ControlPrune.backoff")
                        prune.backoff = try inner.readVarint()
                    default: try inner.skip(fieldWire)
                    }
                }
                control.prune.append(prune)
            }
        }
    }
}

extension PubSubRPC {
    /// The RPC's protobuf encoding (without a length prefix), fields in
    /// field-number order.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 64 + messages.reduce(0) { $0 + $1.encodedLength + 8 })
        for subscription in subscriptions {
            var inner = ProtobufWriter()
            inner.writeVarint(field: 1, subscription.subscribe ? 1 : 0)
            inner.writeString(field: 2, subscription.topic)
            writer.writeBytes(field: 1, inner.bytes)
        }
        for message in messages {
            writer.writeLengthDelimitedHeader(field: 2, length: message.encodedLength)
            message.encode(into: &writer, withSignature: true)
        }
        if let control { writer.writeBytes(field: 3, control.encoded()) }
        return writer.bytes
    }
}

extension PubSubRPC.Control {
    func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        for entry in ihave {
            var inner = ProtobufWriter()
            inner.writeString(field: 1, entry.topic)
            for id in entry.messageIDs { inner.writeBytes(field: 2, id) }
            writer.writeBytes(field: 1, inner.bytes)
        }
        for entry in iwant {
            var inner = ProtobufWriter()
            for id in entry.messageIDs { inner.writeBytes(field: 1, id) }
            writer.writeBytes(field: 2, inner.bytes)
        }
        for entry in graft {
            var inner = ProtobufWriter()
            inner.writeString(field: 1, entry.topic)
            writer.writeBytes(field: 3, inner.bytes)
        }
        for entry in prune {
            var inner = ProtobufWriter()
            inner.writeString(field: 1, entry.topic)
            for peer in entry.peers {
                var info = ProtobufWriter()
                info.writeBytes(field: 1, peer.peerID)
                if let record = peer.signedPeerRecord { info.writeBytes(field: 2, record) }
                inner.writeBytes(field: 2, info.bytes)
            }
            if let backoff = entry.backoff { inner.writeVarint(field: 3, backoff) }
            writer.writeBytes(field: 4, inner.bytes)
        }
        for entry in idontwant {
            var inner = ProtobufWriter()
            for id in entry.messageIDs { inner.writeBytes(field: 1, id) }
            writer.writeBytes(field: 5, inner.bytes)
        }
        return writer.bytes
    }
}
