import Foundation
import Logging
import P2P
import Testing
import TestSupport

/// Noise handshakes with py-libp2p 0.8.1 peers whose identity keys are RSA,
/// secp256k1 (py-libp2p's own key classes) or ECDSA P-256 (a key class in
/// Tests/P2PTests/Peers/peer.py), both ways, then ping and identify; and the
/// refusal of a 1024-bit RSA peer. Serialized: each test runs a Python process.
@Suite("Noise with RSA, ECDSA and secp256k1 peers", .serialized)
struct KeyTypeInteropTests {
    static let kinds: [(name: String, type: KeyType)] = [("rsa", .rsa), ("secp256k1", .secp256k1), ("ecdsa", .ecdsa)]

    static func host(logger: Logger = Logger(label: "test")) async throws -> P2PHost {
        var limits = P2PHost.Limits()
        limits.handshakeTimeout = .seconds(5)
        return try await startedHost(limits: limits, logger: logger)
    }

    @Test(arguments: kinds.map(\.name))
    func tauDialsAPeerWithKey(_ kind: String) async throws {
        let type = try #require(Self.kinds.first { $0.name == kind }?.type)
        let (python, address) = try await PythonPeer.listen(["--key", kind])
        defer { python.stop() }
        let host = try await Self.host()
        do {
            // connect checks that the key the peer proved hashes to the /p2p/ ID py-libp2p printed.
            let peer = try await host.connect(address)
            #expect(peer == address.peerID)
            #expect(peer.multihash.function == (type == .secp256k1 ? .identity : .sha2_256))
            let connection = try #require(host.connections(to: peer).first)
            #expect(connection.remoteKey.type == type)
            #expect(try await host.ping(peer) < .seconds(2))
            let info = try await host.identify(peer)
            #expect(info.publicKey == connection.remoteKey, "identify carried the same \(kind) key")
            #expect(info.agentVersion?.contains("py-libp2p") == true)
        } catch {
            await host.shutdown()
            throw PeerFailure("\(error); python stderr:\n\(python.stderrTail)")
        }
        await host.shutdown()
    }

    @Test(arguments: kinds.map(\.name))
    func aPeerWithKeyDialsTau(_ kind: String) async throws {
        let type = try #require(Self.kinds.first { $0.name == kind }?.type)
        let host = try await Self.host()
        do {
            // py-libp2p checks our Ed25519 signature; we check its key's.
            let line = try await PythonPeer.dial(host.dialAddress, ["identify"], options: ["--key", kind])
            try #require(line.hasPrefix("ok identify "), "\(line)")
            let answer = try JSONSerialization.jsonObject(with: Data(line.dropFirst(12).utf8)) as? [String: Any] ?? [:]
            #expect(answer["publicKey"] as? String == hex(host.identity.publicKey.protobuf))
            let peer = try PeerID(try #require(answer["localPeer"] as? String))
            // Our identify of the inbound peer stored its key, which hashes to its ID.
            #expect(await eventually { host.peerstore.info(peer)?.publicKey?.type == type })
            #expect(host.peerstore.info(peer)?.publicKey.map { peer.matches($0) } == true)
        } catch {
            await host.shutdown()
            throw error
        }
        await host.shutdown()
    }

    @Test func aPeerWithA1024BitRSAKeyIsRefused() async throws {
        let log = CapturedLog()
        let host = try await Self.host(logger: log.logger)
        let (python, address) = try await PythonPeer.listen(["--key", "rsa-1024"])
        defer { python.stop() }
        do {
            let error = await #expect(throws: P2PError.invalidKey) { try await host.connect(address) }
            #expect(error?.detail.contains("RSA key of 1024 bits is too small: libp2p requires at least 2048 bits") == true,
                    "\(String(describing: error))")
            #expect(host.peers().isEmpty)

            // The other way: py-libp2p dials us with the same kind of key and is turned away.
            let line = try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--key", "rsa-1024"])
            #expect(line.hasPrefix("error"), "\(line)")
            #expect(await eventually {
                log.all.contains { $0.contains("inbound connection") && $0.contains("RSA key of 1024 bits is too small") }
            }, "\(log.all)")
            #expect(host.peers().isEmpty)
            // A 2048-bit RSA peer still gets in.
            let ping = try await PythonPeer.dial(host.dialAddress, ["ping"], options: ["--key", "rsa"])
            #expect(ping.hasPrefix("ok ping"), "\(ping)")
        } catch {
            await host.shutdown()
            throw error
        }
        await host.shutdown()
    }
}
