// Value records and their validators: the DHT stores a value only when its
// namespace's validator accepts it. Format: formats/dht.md, section 6.

import P2P

/// Checks PUT_VALUE records. tau knows one namespace, `/pk/`: the key is
/// `/pk/` followed by a peer ID's bytes, the value that peer's protobuf
/// public key (as Kubo files public keys that peer IDs do not inline).
public enum RecordValidator {
    public static let publicKeyPrefix = Array("/pk/".utf8)

    /// The `/pk/` key of `peer`.
    public static func publicKeyKey(_ peer: PeerID) -> [UInt8] { publicKeyPrefix + peer.bytes }

    /// - Throws: `.invalidRecord` for an unknown namespace or a value that is
    ///   not the key's peer's public key.
    public static func validate(key: [UInt8], value: [UInt8]) throws(DHTError) {
        guard key.starts(with: publicKeyPrefix) else {
            let namespace = String(decoding: key.prefix(16), as: UTF8.self)
            throw DHTError(.invalidRecord, "no validator for the namespace of \(namespace.debugDescription)")
        }
        let peer: PeerID
        let publicKey: PublicKey
        do {
            peer = try PeerID(bytes: key.dropFirst(publicKeyPrefix.count))
            publicKey = try PublicKey(protobuf: value)
        } catch {
            throw DHTError(.invalidRecord, "/pk/ record: \(error)")
        }
        guard peer.matches(publicKey) else {
            throw DHTError(.invalidRecord, "/pk/ record: the value is not the key of \(peer)")
        }
    }

}
