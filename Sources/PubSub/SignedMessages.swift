// Message authorship: signing, verification and message IDs.
// Format: formats/pubsub.md, section 3.

import Foundation
import P2P
import Protobuf

/// How messages are authored and checked (the spec's signature policies).
public enum SignaturePolicy: String, Hashable, Sendable {
    /// Every message carries `from`, an 8-byte `seqno` and a valid
    /// signature; messages without are dropped. The default, as Kubo's.
    case strictSign
    /// Messages carry none of `from`, `seqno`, `signature`, `key`; messages
    /// that carry any are dropped. Message IDs must then come from content.
    case strictNoSign
}

/// Signs and checks messages for one policy.
public enum SignedMessages {
    /// What the signature covers: this prefix, then the message's protobuf
    /// without `signature` and `key`.
    public static let signaturePrefix = Array("libp2p-pubsub:".utf8)

    /// A message authored by `author` under `.strictSign`.
    /// - Parameter seqno: the author's counter for this message (sent as 8
    ///   bytes, big-endian); it must not repeat for one author.
    public static func sign(data: [UInt8], topic: String, seqno: UInt64, author: KeyPair) -> PubSubMessage {
        var message = PubSubMessage(
            from: author.peerID.bytes, data: data, seqno: withUnsafeBytes(of: seqno.bigEndian, Array.init),
            topic: topic)
        message.signature = author.sign(signedBytes(of: message))
        // The key travels only when the peer ID does not inline it (RSA);
        // KeyPair is Ed25519, whose IDs always do.
        if author.peerID.publicKey == nil { message.key = author.publicKey.protobuf }
        return message
    }

    /// The bytes the signature of `message` covers.
    public static func signedBytes(of message: PubSubMessage) -> [UInt8] {
        var writer = ProtobufWriter(appending: signaturePrefix)
        message.encode(into: &writer, withSignature: false)
        return writer.bytes
    }

    /// Checks `message` against `policy`; under `.strictSign` returns its author.
    /// - Throws: `.invalidSignature` naming what is wrong.
    @discardableResult
    public static func verify(_ message: PubSubMessage, policy: SignaturePolicy) throws(PubSubError) -> PeerID? {
        switch policy {
        case .strictNoSign:
            guard message.from == nil, message.seqno == nil, message.signature == nil, message.key == nil else {
                throw PubSubError(.invalidSignature, "an authored message under StrictNoSign")
            }
            return nil
        case .strictSign:
            guard let from = message.from, let author = try? PeerID(bytes: from) else {
                throw PubSubError(.invalidSignature, "no valid author (from)")
            }
            guard message.seqno?.count == 8 else { throw PubSubError(.invalidSignature, "seqno is not 8 bytes") }
            guard let signature = message.signature else { throw PubSubError(.invalidSignature, "unsigned message") }
            let key: PublicKey
            if let inlined = author.publicKey {
                // A key sent beside an inlined one must be the same key.
                if let sent = message.key, (try? PublicKey(protobuf: sent)) != inlined {
                    throw PubSubError(.invalidSignature, "key does not match the author \(author)")
                }
                key = inlined
            } else {
                guard let sent = message.key, let parsed = try? PublicKey(protobuf: sent), author.matches(parsed) else {
                    throw PubSubError(.invalidSignature, "no key for the author \(author), or not its key")
                }
                key = parsed
            }
            guard key.verify(signature: signature, for: signedBytes(of: message)) else {
                throw PubSubError(.invalidSignature, "signature does not verify for \(author)")
            }
            return author
        }
    }

    /// The default message ID: `from` then `seqno`, as go-libp2p-pubsub's
    /// `DefaultMsgIdFn`.
    public static func defaultID(of message: PubSubMessage) -> [UInt8] {
        (message.from ?? []) + (message.seqno ?? [])
    }
}
