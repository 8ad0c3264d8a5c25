// The libp2p Noise handshake: XX messages in 2-byte length-prefixed frames,
// carrying signed identity payloads. A pure state machine driven by the
// connection's NoiseHandler. Format: formats/libp2p.md, section 6.

import Crypto
import NIOCore

/// What a completed handshake established.
public struct NoiseSession: Sendable {
    /// The authenticated remote peer.
    public let remotePeer: PeerID
    public let remoteKey: PublicKey
    /// The remote's Noise extensions, when it sent any.
    public let remoteExtensions: NoiseExtensions?
    let sendKey: [UInt8]
    let receiveKey: [UInt8]
    public let handshakeHash: [UInt8]

    /// The transport cipher states for this side.
    public func makeTransport() -> NoiseTransport { NoiseTransport(sendKey: sendKey, receiveKey: receiveKey) }
}

/// One side of the libp2p Noise handshake, as a pure state machine.
///
/// The initiator writes message 1 at `start`, reads message 2 (checking the
/// responder's payload and, when dialing a known peer, its peer ID) and
/// writes message 3; the responder reads message 1, writes message 2 and
/// reads message 3. Extensions go in messages 2 and 3 only.
public struct NoiseUpgrade {
    /// Noise frames carry at most this many bytes after their 2-byte length.
    public static let maxFrameLength = 65535

    private var handshake: NoiseXXHandshake
    private let identity: KeyPair
    private let staticPublic: [UInt8]
    private let expectedPeer: PeerID?
    private let extensions: NoiseExtensions?
    private var remote: (key: PublicKey, extensions: NoiseExtensions?)?
    private var finished = false

    /// - Parameters:
    ///   - expectedPeer: when dialing a known peer, the peer the responder must prove to be.
    ///   - extensions: sent in message 2 (responder) or 3 (initiator).
    ///   - ephemeral: a fixed ephemeral key, for tests only.
    public init(initiator: Bool, identity: KeyPair, staticKey: Curve25519.KeyAgreement.PrivateKey,
                expectedPeer: PeerID? = nil, extensions: NoiseExtensions? = nil,
                ephemeral: Curve25519.KeyAgreement.PrivateKey? = nil) {
        handshake = NoiseXXHandshake(initiator: initiator, localStatic: staticKey, ephemeral: ephemeral)
        self.identity = identity
        self.staticPublic = Array(staticKey.publicKey.rawRepresentation)
        self.expectedPeer = expectedPeer
        self.extensions = extensions
    }

    /// Writes message 1 (initiator); nothing for the responder.
    public mutating func start(into output: inout ByteBuffer) throws(P2PError) {
        guard handshake.initiator, handshake.step == 0 else { return }
        try writeFrame(payload: [], into: &output)
    }

    /// Consumes complete frames from `input`, writing replies to `output`.
    /// Returns the session when the handshake completes; bytes after the
    /// last handshake frame stay in `input` (they are transport frames).
    /// - Throws: `.handshakeFailed` for a malformed message or payload,
    ///   `.decryptionFailed` when a message does not authenticate,
    ///   `.invalidSignature`, `.peerIDMismatch`, `.invalidKey` or `.unsupported`
    ///   (an identity key formats/libp2p.md section 2 refuses, e.g. RSA under 2048 bits).
    public mutating func receive(_ input: inout ByteBuffer, output: inout ByteBuffer) throws(P2PError) -> NoiseSession? {
        while !finished {
            guard input.readableBytes >= 2, let length = input.getInteger(at: input.readerIndex, as: UInt16.self) else {
                return nil
            }
            guard input.readableBytes >= 2 + Int(length) else { return nil }
            input.moveReaderIndex(forwardBy: 2)
            let message = input.readBytes(length: Int(length))!
            let payload = try handshake.readMessage(message[...])
            switch handshake.step {
            case 1:
                // Message 1 carries no payload in libp2p; tolerate and ignore one.
                try writeFrame(payload: localPayload(), into: &output)
            case 2:
                try acceptRemote(payload)
                try writeFrame(payload: localPayload(), into: &output)
                finished = true
            default:
                try acceptRemote(payload)
                finished = true
            }
        }
        return session()
    }

    private func localPayload() -> [UInt8] {
        NoiseHandshakePayload.signed(by: identity, staticKey: staticPublic, extensions: extensions).encoded
    }

    private mutating func writeFrame(payload: [UInt8], into output: inout ByteBuffer) throws(P2PError) {
        let message = try handshake.writeMessage(payload: payload)
        guard message.count <= Self.maxFrameLength else {
            throw P2PError(.limitExceeded, "Noise handshake message of \(message.count) bytes")
        }
        output.writeInteger(UInt16(message.count))
        output.writeBytes(message)
    }

    private mutating func acceptRemote(_ payloadBytes: [UInt8]) throws(P2PError) {
        let payload = try NoiseHandshakePayload(decoding: payloadBytes)
        guard let remoteStatic = handshake.remoteStatic else {
            throw P2PError(.handshakeFailed, "no remote static key after message \(handshake.step)")
        }
        let key = try payload.verify(staticKey: remoteStatic)
        if let expectedPeer, !expectedPeer.matches(key) {
            throw P2PError(.peerIDMismatch, "dialed \(expectedPeer) but the remote is \(key.peerID)")
        }
        remote = (key, payload.extensions)
    }

    private func session() -> NoiseSession? {
        guard finished, let remote else { return nil }
        let keys = handshake.transportKeys()
        return NoiseSession(remotePeer: remote.key.peerID, remoteKey: remote.key, remoteExtensions: remote.extensions,
                            sendKey: keys.send, receiveKey: keys.receive, handshakeHash: handshake.handshakeHash)
    }
}
