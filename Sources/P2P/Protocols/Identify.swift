// The identify protocol's message. Format: formats/libp2p.md, section 9.

import Protobuf

/// The `Identify` protobuf message (`/ipfs/id/1.0.0`, `/ipfs/id/push/1.0.0`).
///
/// On the wire each message is preceded by its length as an unsigned varint
/// (go-libp2p and py-libp2p both frame it so); a reader merges every message
/// sent before the stream closes, repeated fields appending and singular
/// ones replacing.
public struct IdentifyMessage: Hashable, Sendable {
    public var protocolVersion: String?
    public var agentVersion: String?
    /// The sender's protobuf public key.
    public var publicKey: [UInt8]?
    /// Binary multiaddrs the sender listens on.
    public var listenAddrs: [[UInt8]]
    /// The binary multiaddr the sender sees this side connecting from.
    public var observedAddr: [UInt8]?
    public var protocols: [String]
    /// A signed peer record envelope (field 8), carried and not verified.
    public var signedPeerRecord: [UInt8]?

    public static let protocolID = "/ipfs/id/1.0.0"
    public static let pushProtocolID = "/ipfs/id/push/1.0.0"
    /// The protocol version tau announces (what go-libp2p, Kubo and py-libp2p announce).
    public static let defaultProtocolVersion = "ipfs/0.1.0"
    /// The largest identify message accepted (one framed message).
    public static let maxLength = 64 * 1024
    /// The most listen addresses and protocols kept from one peer.
    public static let maxListenAddrs = 128
    public static let maxProtocols = 1024

    public init(protocolVersion: String? = nil, agentVersion: String? = nil, publicKey: [UInt8]? = nil,
                listenAddrs: [[UInt8]] = [], observedAddr: [UInt8]? = nil, protocols: [String] = [],
                signedPeerRecord: [UInt8]? = nil) {
        self.protocolVersion = protocolVersion
        self.agentVersion = agentVersion
        self.publicKey = publicKey
        self.listenAddrs = listenAddrs
        self.observedAddr = observedAddr
        self.protocols = protocols
        self.signedPeerRecord = signedPeerRecord
    }

    /// Fields in field-number order: publicKey 1, listenAddrs 2, protocols 3,
    /// observedAddr 4, protocolVersion 5, agentVersion 6, signedPeerRecord 8.
    public var encoded: [UInt8] {
        var writer = ProtobufWriter(capacity: 256)
        if let publicKey { writer.writeBytes(field: 1, publicKey) }
        for address in listenAddrs { writer.writeBytes(field: 2, address) }
        for name in protocols { writer.writeString(field: 3, name) }
        if let observedAddr { writer.writeBytes(field: 4, observedAddr) }
        if let protocolVersion { writer.writeString(field: 5, protocolVersion) }
        if let agentVersion { writer.writeString(field: 6, agentVersion) }
        if let signedPeerRecord { writer.writeBytes(field: 8, signedPeerRecord) }
        return writer.bytes
    }

    /// Decodes one message (without its length prefix).
    public init(decoding bytes: some Collection<UInt8>) throws(P2PError) {
        self.init()
        try merge(decoding: bytes)
    }

    /// Decodes one message into this one, as protobuf merging does.
    public mutating func merge(decoding bytes: some Collection<UInt8>) throws(P2PError) {
        guard bytes.count <= Self.maxLength else {
            throw P2PError(.limitExceeded, "identify message of \(bytes.count) bytes")
        }
        try ProtoReader.reading(Array(bytes)) { reader throws(P2PError) in
            while let (field, wire) = try reader.nextField() {
                switch field {
                case 1:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.publicKey")
                    publicKey = Array(try reader.readBytes())
                case 2:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.listenAddrs")
                    let address = Array(try reader.readBytes())
                    guard listenAddrs.count < Self.maxListenAddrs else {
                        throw P2PError(.limitExceeded, "more than \(Self.maxListenAddrs) listen addresses")
                    }
                    listenAddrs.append(address)
                case 3:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.protocols")
                    let name = try reader.readString()
                    guard protocols.count < Self.maxProtocols else {
                        throw P2PError(.limitExceeded, "more than \(Self.maxProtocols) protocols")
                    }
                    protocols.append(name)
                case 4:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.observedAddr")
                    observedAddr = Array(try reader.readBytes())
                case 5:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.protocolVersion")
                    protocolVersion = try reader.readString()
                case 6:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.agentVersion")
                    agentVersion = try reader.readString()
                case 8:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "Identify.signedPeerRecord")
                    signedPeerRecord = Array(try reader.readBytes())
                default:
                    try reader.skip(wire)
                }
            }
        }
    }

    /// The listen addresses that parse (others, e.g. of protocols tau does not know, are skipped).
    public var parsedListenAddrs: [Multiaddr] { listenAddrs.compactMap { try? Multiaddr(bytes: $0) } }

    /// The observed address, if present and it parses.
    public var parsedObservedAddr: Multiaddr? { observedAddr.flatMap { try? Multiaddr(bytes: $0) } }

    /// The public key, if present and it parses.
    public var parsedPublicKey: PublicKey? { publicKey.flatMap { try? PublicKey(protobuf: $0) } }
}

/// `/ipfs/ping/1.0.0`: the dialer sends 32 random bytes, the listener echoes
/// them, as many times as the dialer likes on one stream.
public enum Ping {
    public static let protocolID = "/ipfs/ping/1.0.0"
    public static let payloadLength = 32
}
