import Crypto
import Hoarder
import Multiformats

/// Real Ed25519 signatures for the tests: authors and holders are raw public keys.
struct Ed25519Verifier: StashRecordVerifier {
    func verify(author: [UInt8], payload: [UInt8], signature: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: author) else { return false }
        return key.isValidSignature(signature, for: payload)
    }
}

struct Author {
    let key = Curve25519.Signing.PrivateKey()
    var id: [UInt8] { Array(key.publicKey.rawRepresentation) }

    func record(_ root: CID, _ operation: StashRecord.Operation, replicas: Int = 3, clock: UInt64) -> StashRecord {
        var record = StashRecord(root: root, operation: operation, replicas: replicas, clock: clock, author: id)
        record.signature = Array(try! key.signature(for: record.signedBytes))
        return record
    }

    func claim(_ root: CID, _ state: Claim.State, clock: UInt64) -> Claim {
        var claim = Claim(root: root, holder: id, state: state, clock: clock)
        claim.signature = Array(try! key.signature(for: claim.signedBytes))
        return claim
    }

    var member: PlacementMember { PlacementMember(id: id) }
}

