// The libp2p Noise handshake payload. Format: formats/libp2p.md, section 6.2.

import Protobuf

/// `NoiseExtensions { repeated bytes webtransport_certhashes = 1; repeated string stream_muxers = 2; }`.
public struct NoiseExtensions: Hashable, Sendable {
    public var webtransportCerthashes: [[UInt8]]
    public var streamMuxers: [String]

    public init(webtransportCerthashes: [[UInt8]] = [], streamMuxers: [String] = []) {
        self.webtransportCerthashes = webtransportCerthashes
        self.streamMuxers = streamMuxers
    }

    public var isEmpty: Bool { webtransportCerthashes.isEmpty && streamMuxers.isEmpty }

    var encoded: [UInt8] {
        var writer = ProtobufWriter()
        for hash in webtransportCerthashes { writer.writeBytes(field: 1, hash) }
        for muxer in streamMuxers { writer.writeString(field: 2, muxer) }
        return writer.bytes
    }

    /// Reads the message `reader` holds (the payload's `extensions` field).
    init(reading message: ProtoReader, maxEntries: Int) throws(P2PError) {
        self.init()
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try ProtoReader.expect(wire, .lengthDelimited, field: "NoiseExtensions.webtransport_certhashes")
                webtransportCerthashes.append(Array(try reader.readBytes()))
            case 2:
                try ProtoReader.expect(wire, .lengthDelimited, field: "NoiseExtensions.stream_muxers")
                streamMuxers.append(try reader.readString())
            default:
                try reader.skip(wire)
            }
            guard webtransportCerthashes.count + streamMuxers.count <= maxEntries else {
                throw P2PError(.limitExceeded, "more than \(maxEntries) Noise extensions")
            }
        }
    }
}

/// `NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2; NoiseExtensions extensions = 4; }`.
///
/// Decoding keeps the last value of a repeated singular field and skips
/// fields it does not know (py-libp2p adds an `early_data` field to the
/// extensions; field 3, `data`, was removed from the spec).
public struct NoiseHandshakePayload: Hashable, Sendable {
    public var identityKey: [UInt8]
    public var identitySignature: [UInt8]
    public var extensions: NoiseExtensions?

    /// The prefix of the signed data: the signature covers this string then
    /// the 32-byte Noise static public key.
    public static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)
    /// The longest payload accepted: a handshake message holds at most 65535
    /// bytes, less the keys and tags around the payload.
    public static let maxLength = 65535
    /// The most extension entries (certhashes plus muxers) accepted.
    public static let maxExtensions = 64

    public init(identityKey: [UInt8], identitySignature: [UInt8], extensions: NoiseExtensions? = nil) {
        self.identityKey = identityKey
        self.identitySignature = identitySignature
        self.extensions = extensions
    }

    /// Fields in number order; extensions only when present.
    public var encoded: [UInt8] {
        var writer = ProtobufWriter(capacity: identityKey.count + identitySignature.count + 8)
        writer.writeBytes(field: 1, identityKey)
        writer.writeBytes(field: 2, identitySignature)
        if let extensions { writer.writeBytes(field: 4, extensions.encoded) }
        return writer.bytes
    }

    public init(decoding bytes: some Collection<UInt8>) throws(P2PError) {
        guard bytes.count <= Self.maxLength else {
            throw P2PError(.limitExceeded, "Noise handshake payload of \(bytes.count) bytes")
        }
        var key: [UInt8]?
        var signature: [UInt8]?
        var extensions: NoiseExtensions?
        try ProtoReader.reading(Array(bytes)) { reader throws(P2PError) in
            while let (field, wire) = try reader.nextField() {
                switch field {
                case 1:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "identity_key")
                    key = Array(try reader.readBytes())
                case 2:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "identity_sig")
                    signature = Array(try reader.readBytes())
                case 4:
                    try ProtoReader.expect(wire, .lengthDelimited, field: "extensions")
                    extensions = try NoiseExtensions(reading: try reader.readMessage(), maxEntries: Self.maxExtensions)
                default:
                    try reader.skip(wire)
                }
            }
        }
        guard let key, let signature else {
            throw P2PError(.handshakeFailed, "Noise handshake payload without identity key or signature")
        }
        self.init(identityKey: key, identitySignature: signature, extensions: extensions)
    }

    /// The payload proving that `identity` owns the Noise static key `staticKey`.
    static func signed(by identity: KeyPair, staticKey: [UInt8], extensions: NoiseExtensions?) -> NoiseHandshakePayload {
        NoiseHandshakePayload(identityKey: identity.publicKey.protobuf,
                              identitySignature: identity.sign(signaturePrefix + staticKey),
                              extensions: extensions)
    }

    /// Checks the signature over `staticKey` and returns the identity key.
    func verify(staticKey: [UInt8]) throws(P2PError) -> PublicKey {
        let key = try PublicKey(protobuf: identityKey)
        guard key.verify(signature: identitySignature, for: Self.signaturePrefix + staticKey) else {
            throw P2PError(.invalidSignature, "the Noise static key is not signed by the identity key of \(key.peerID)")
        }
        return key
    }
}
