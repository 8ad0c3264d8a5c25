import Foundation
import Logging
import P2P

/// The node's libp2p identity and swarm key files in the repo.
public enum NodeIdentity {
    /// The node's Ed25519 key (libp2p PrivateKey protobuf), mode 0600.
    public static let keyFileName = "identity.key"
    /// An optional private-network key (`/key/swarm/psk/1.0.0/`).
    public static let swarmKeyFileName = "swarm.key"

    /// Loads the repo's key, creating one if the repo has none yet.
    public static func loadOrCreate(repo: String) throws -> KeyPair {
        let path = repo + "/" + keyFileName
        if FileManager.default.fileExists(atPath: path) { return try KeyPair.load(from: path) }
        let key = KeyPair.generate()
        try key.save(to: path)
        return key
    }

    /// The repo's swarm key, if it has one.
    public static func swarmKey(repo: String) throws -> SwarmKey? {
        let path = repo + "/" + swarmKeyFileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try SwarmKey.load(from: path)
    }
}
