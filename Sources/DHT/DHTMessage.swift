// The Kademlia message of /ipfs/kad/1.0.0 (go-libp2p-kad-dht's pb/dht.proto):
// one request and one response per exchange, each prefixed by its length as
// an unsigned varint. Format: formats/dht.md, section 2.

import Protobuf

/// One request or response.
public struct DHTMessage: Hashable, Sendable {
    public enum Kind: UInt64, Hashable, Sendable {
        case putValue = 0, getValue = 1, addProvider = 2, getProviders = 3, findNode = 4, ping = 5
    }

    /// `ConnectionType`: what the sender knows of its connection to a peer.
    public enum Connectedness: UInt64, Hashable, Sendable {
        case notConnected = 0, connected = 1, canConnect = 2, cannotConnect = 3
    }

    /// `Message.Peer`: a peer ID's bytes and its addresses in binary multiaddr form.
    public struct Peer: Hashable, Sendable {
        public var id: [UInt8]
        public var addresses: [[UInt8]]
        public var connectedness: Connectedness
        public init(id: [UInt8], addresses: [[UInt8]] = [], connectedness: Connectedness = .notConnected) {
            self.id = id
            self.addresses = addresses
            self.connectedness = connectedness
        }
    }

    /// `Record`: a value filed under a key, as PUT_VALUE and GET_VALUE carry it.
    public struct Record: Hashable, Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        /// RFC 3339 time the receiver stored it (set by the receiver, never trusted).
        public var timeReceived: String
        public init(key: [UInt8], value: [UInt8], timeReceived: String = "") {
            self.key = key
            self.value = value
            self.timeReceived = timeReceived
        }
    }

    /// What one message may hold. Messages over `maxMessageSize` or with a
    /// key over `maxKeyLength` are refused; peers beyond `maxPeers` and
    /// addresses beyond `maxAddressesPerPeer` are skipped, not refused (Kubo
    /// fills GET_PROVIDERS answers up to 4 MiB and sends every address it knows).
    public struct Limits: Hashable, Sendable {
        /// Bytes of one message: 64 KiB for requests we serve (Kubo caps
        /// records at 10 KiB); `answers` allows 4 MiB, Kubo's message limit.
        public var maxMessageSize: Int
        /// Peers kept of `closerPeers` plus `providerPeers`: 200.
        public var maxPeers: Int
        /// Addresses kept of one peer: 32.
        public var maxAddressesPerPeer: Int
        /// Bytes of a key: 512.
        public var maxKeyLength: Int

        public init(maxMessageSize: Int = 64 << 10, maxPeers: Int = 200, maxAddressesPerPeer: Int = 32,
                    maxKeyLength: Int = 512) {
            self.maxMessageSize = maxMessageSize
            self.maxPeers = maxPeers
            self.maxAddressesPerPeer = maxAddressesPerPeer
            self.maxKeyLength = maxKeyLength
        }

        public static let standard = Limits()
        /// For answers to our queries: 4 MiB, 1,000 peers, 32 addresses each.
        public static let answers = Limits(maxMessageSize: 4 << 20, maxPeers: 1000)
    }

    public var kind: Kind
    public var key: [UInt8]
    public var record: Record?
    public var closerPeers: [Peer]
    public var providerPeers: [Peer]
    /// `clusterLevelRaw`: unused by every implementation, kept as sent.
    public var clusterLevel: Int32

    public init(kind: Kind, key: [UInt8] = [], record: Record? = nil, closerPeers: [Peer] = [],
                providerPeers: [Peer] = [], clusterLevel: Int32 = 0) {
        self.kind = kind
        self.key = key
        self.record = record
        self.closerPeers = closerPeers
        self.providerPeers = providerPeers
        self.clusterLevel = clusterLevel
    }
}

extension DHTMessage {
    /// Decodes one message (without its length prefix).
    /// - Throws: `.malformed` for bytes that are not a message (or an unknown
    ///   type), `.limitExceeded` past any of `limits`.
    public init(decoding bytes: some Collection<UInt8>, limits: Limits = .standard) throws(DHTError) {
        let array = Array(bytes)
        guard array.count <= limits.maxMessageSize else {
            throw DHTError(.limitExceeded, "message of \(array.count) bytes (limit \(limits.maxMessageSize))")
        }
        self = try MessageReader.reading(array) { (reader: inout MessageReader) throws(DHTError) in
            try DHTMessage.decode(&reader, limits: limits)
        }
    }

    static func decode(_ reader: inout MessageReader, limits: Limits) throws(DHTError) -> DHTMessage {
        var message = DHTMessage(kind: .putValue)
        var peers = 0
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try MessageReader.expect(wire, .varint, field: "Message.type")
                let raw = try reader.readVarint()
                guard let kind = Kind(rawValue: raw) else { throw DHTError(.malformed, "unknown message type \(raw)") }
                message.kind = kind
            case 10:
                try MessageReader.expect(wire, .varint, field: "Message.clusterLevelRaw")
                message.clusterLevel = Int32(truncatingIfNeeded: try reader.readVarint())
            case 2:
                try MessageReader.expect(wire, .lengthDelimited, field: "Message.key")
                message.key = try readKey(&reader, limits: limits)
            case 3:
                try MessageReader.expect(wire, .lengthDelimited, field: "Message.record")
                var inner = try reader.readMessage()
                message.record = try Record.decode(&inner, limits: limits)
            case 8, 9:
                try MessageReader.expect(wire, .lengthDelimited, field: "Message.peers")
                peers += 1
                var inner = try reader.readMessage()
                let peer = try Peer.decode(&inner, limits: limits)
                guard peers <= limits.maxPeers else { continue }
                if number == 8 { message.closerPeers.append(peer) } else { message.providerPeers.append(peer) }
            default:
                try reader.skip(wire)
            }
        }
        return message
    }

    /// The message's protobuf encoding (without a length prefix), fields in
    /// field-number order as go-libp2p-kad-dht writes them.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 64 + key.count + (record?.value.count ?? 0))
        writer.writeVarint(field: 1, kind.rawValue)
        if !key.isEmpty { writer.writeBytes(field: 2, key) }
        if let record {
            var inner = ProtobufWriter(capacity: 16 + record.key.count + record.value.count)
            if !record.key.isEmpty { inner.writeBytes(field: 1, record.key) }
            if !record.value.isEmpty { inner.writeBytes(field: 2, record.value) }
            if !record.timeReceived.isEmpty { inner.writeString(field: 5, record.timeReceived) }
            writer.writeBytes(field: 3, inner.bytes)
        }
        for (field, list) in [(8, closerPeers), (9, providerPeers)] {
            for peer in list { writer.writeBytes(field: field, peer.encoded()) }
        }
        if clusterLevel != 0 { writer.writeVarint(field: 10, UInt64(UInt32(bitPattern: clusterLevel))) }
        return writer.bytes
    }
}

func readKey(_ reader: inout MessageReader, limits: DHTMessage.Limits) throws(DHTError) -> [UInt8] {
    let raw = try reader.readBytes()
    guard raw.count <= limits.maxKeyLength else {
        throw DHTError(.limitExceeded, "key of \(raw.count) bytes (limit \(limits.maxKeyLength))")
    }
    return Array(raw)
}

extension DHTMessage.Record {
    static func decode(_ reader: inout MessageReader, limits: DHTMessage.Limits) throws(DHTError) -> Self {
        var record = Self(key: [], value: [])
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try MessageReader.expect(wire, .lengthDelimited, field: "Record.key")
                record.key = try readKey(&reader, limits: limits)
            case 2:
                try MessageReader.expect(wire, .lengthDelimited, field: "Record.value")
                record.value = Array(try reader.readBytes())
            case 5:
                try MessageReader.expect(wire, .lengthDelimited, field: "Record.timeReceived")
                record.timeReceived = try reader.readString()
            default:
                try reader.skip(wire)
            }
        }
        return record
    }
}

extension DHTMessage.Peer {
    static func decode(_ reader: inout MessageReader, limits: DHTMessage.Limits) throws(DHTError) -> Self {
        var peer = Self(id: [])
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try MessageReader.expect(wire, .lengthDelimited, field: "Peer.id")
                peer.id = try readKey(&reader, limits: limits)
            case 2:
                try MessageReader.expect(wire, .lengthDelimited, field: "Peer.addrs")
                let address = try reader.readBytes()
                if peer.addresses.count < limits.maxAddressesPerPeer { peer.addresses.append(Array(address)) }
            case 3:
                try MessageReader.expect(wire, .varint, field: "Peer.connection")
                // Unknown values read as "not connected": the field is advisory.
                peer.connectedness = DHTMessage.Connectedness(rawValue: try reader.readVarint()) ?? .notConnected
            default:
                try reader.skip(wire)
            }
        }
        return peer
    }

    func encoded() -> [UInt8] {
        var writer = ProtobufWriter(capacity: 8 + id.count + addresses.reduce(0) { $0 + $1.count + 2 })
        writer.writeBytes(field: 1, id)
        for address in addresses { writer.writeBytes(field: 2, address) }
        if connectedness != .notConnected { writer.writeVarint(field: 3, connectedness.rawValue) }
        return writer.bytes
    }
}
