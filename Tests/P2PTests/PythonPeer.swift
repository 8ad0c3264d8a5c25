import Foundation
import P2P
import TestSupport

/// A py-libp2p peer (Tests/P2PTests/Peers/peer.py) run as a subprocess.
final class PythonPeer: PythonProcess, @unchecked Sendable {
    init(_ arguments: [String]) throws {
        try super.init(script: "Tests/P2PTests/Peers/peer.py", arguments)
    }

    /// Starts a listening peer and returns it with its address (from its "ready" line).
    static func listen(_ options: [String] = []) async throws -> (PythonPeer, Multiaddr) {
        let peer = try PythonPeer(["listen"] + options)
        do {
            let line = try await peer.nextLine()
            guard line.hasPrefix("ready ") else { throw PeerFailure("unexpected first line \(line)") }
            return (peer, try Multiaddr(String(line.dropFirst(6))))
        } catch {
            peer.stop()
            throw error
        }
    }

    /// Runs one dial scenario to its result line.
    static func dial(_ address: Multiaddr, _ scenario: [String], options: [String] = []) async throws -> String {
        let peer = try PythonPeer(["dial", address.description] + scenario + options)
        defer { peer.stop() }
        return try await peer.nextLine(timeout: .seconds(30))
    }
}
