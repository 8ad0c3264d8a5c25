import Foundation
import P2P
import PubSub
import Synchronization
import TestSupport
import Testing

/// A Kubo v0.22.0 node with GossipSub on (go-libp2p-pubsub 0.9.3), driven by
/// Tests/PubSubTests/Peers/kubo_pubsub.py: one answer line per command, and
/// "message …" lines whenever Kubo delivers a message of a topic it joined.
/// A reader task sorts the two. `stop()` ends the node and removes its repo.
final class KuboPubSubPeer: Sendable {
    static let script = "Tests/PubSubTests/Peers/kubo_pubsub.py"

    /// A message as Kubo's subscription delivered it.
    struct Message: Sendable, Hashable {
        var topic: String
        /// The author, as Kubo prints it.
        var from: String
        var data: [UInt8]
    }

    let process: PythonProcess
    let directory: URL
    let peerID: PeerID
    /// Kubo's TCP listen address, with /p2p/<peer ID>.
    let address: Multiaddr
    /// `rsa-<bits>` or `ed25519`, from the repo's config.
    let keyType: String
    /// Answer lines not yet taken, the messages so far, and whether stdout ended.
    private final class Lines: Sendable {
        let state = Mutex<(answers: [String], messages: [Message], ended: Bool)>(([], [], false))
    }
    private let lines = Lines()
    private let reader: Task<Void, Never>

    /// Creates a repo in a new temporary directory and starts the node.
    static func start(identity: String, swarmKey: SwarmKey? = nil) async throws -> KuboPubSubPeer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tau-kubo-pubsub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process: PythonProcess
        do {
            process = try PythonProcess(script: script, [directory.appendingPathComponent("repo").path, "--identity", identity]
                                        + (swarmKey.map { ["--swarm-key", KuboInteropTests.hex($0.bytes)] } ?? []))
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        do {
            let ready = try await process.nextLine(timeout: .seconds(60)).split(separator: " ").map(String.init)
            guard ready.count == 4, ready[0] == "ready" else {
                throw PeerFailure("Kubo did not start: \(ready.joined(separator: " "))\n\(process.stderrTail)")
            }
            let id = try PeerID(ready[1])
            return KuboPubSubPeer(process: process, directory: directory, peerID: id,
                                  address: try Multiaddr(ready[2]).withPeerID(id), keyType: ready[3])
        } catch {
            process.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    private init(process: PythonProcess, directory: URL, peerID: PeerID, address: Multiaddr, keyType: String) {
        (self.process, self.directory, self.peerID, self.address, self.keyType) = (process, directory, peerID, address, keyType)
        let lines = self.lines
        reader = Task { [process] in
            // nextLine throws once the process has ended (or after an hour of silence).
            while let line = try? await process.nextLine(timeout: .seconds(3600)) {
                let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                if words.first == "message", words.count == 4 {
                    let message = Message(topic: words[1], from: words[2], data: KuboInteropTests.bytes(hex: words[3]))
                    lines.state.withLock { $0.messages.append(message) }
                } else {
                    lines.state.withLock { $0.answers.append(line) }
                }
            }
            lines.state.withLock { $0.ended = true }
        }
    }

    deinit { stop() }

    /// Sends one command and returns its answer line.
    func request(_ command: String, timeout: Duration = .seconds(30)) async throws -> String {
        process.send(command)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (answer, ended) = lines.state.withLock { state -> (String?, Bool) in
                (state.answers.isEmpty ? nil : state.answers.removeFirst(), state.ended)
            }
            if let answer { return answer }
            if ended { throw PeerFailure("Kubo exited; stderr:\n\(process.stderrTail)") }
            if clock.now > deadline { throw PeerFailure("no answer from Kubo to \(command.prefix(40)) within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The peers Kubo knows subscribed to `topic` (go-libp2p-pubsub's ListPeers; it has no mesh query).
    func peers(_ topic: String) async throws -> [String] {
        let answer = try await request("peers \(topic)")
        guard answer.hasPrefix("peers ") else { throw PeerFailure("unexpected answer \(answer)") }
        return try JSONDecoder().decode([String].self, from: Data(answer.dropFirst(6).utf8))
    }

    /// The messages delivered so far.
    var messages: [Message] { lines.state.withLock { $0.messages } }

    var stderrTail: String { process.stderrTail }

    /// quit (Kubo closes its node), then SIGTERM, then SIGKILL; removes the repo.
    func stop() {
        process.stop()
        reader.cancel()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// GossipSub between tau and Kubo v0.22.0 (go-libp2p 0.29.2, go-libp2p-pubsub
/// 0.9.3) over loopback, both ways: StrictSign messages whose author is
/// checked exactly, with Kubo's RSA-2048 and Ed25519 identities, both Noise
/// roles, with and without a private network. Serialized: each test runs a
/// Kubo node.
///
/// No publish is repeated. Before publishing, each side must list the other
/// as subscribed to the topic and tau's mesh must hold Kubo: tau publishes to
/// its mesh; Kubo publishes its own messages to every subscribed peer
/// (Kubo turns on flood publishing) and accepts a message of a topic it
/// joined from any peer, mesh or not. Kubo has no query for its mesh.
@Suite("pubsub with Kubo", .serialized) struct KuboInteropTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for c in hex.utf8 {
            let nibble: UInt8 = switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: 0
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return bytes
    }

    /// A tau host on loopback (in the private network of `swarmKey`, if any) with pubsub on a 100 ms heartbeat.
    static func tauNode(swarmKey: SwarmKey?) async throws -> PubSubNode {
        var limits = P2PHost.Limits()
        limits.handshakeTimeout = .seconds(5)
        let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")],
                           swarmKey: swarmKey, limits: limits)
        try await host.start()
        var configuration = PubSub.Configuration()
        configuration.gossip.heartbeatInterval = .milliseconds(100)
        let pubsub = PubSub(host: host, configuration: configuration)
        pubsub.start()
        return PubSubNode(host: host, pubsub: pubsub)
    }

    /// Who dials whom, so both Noise roles meet each Kubo identity.
    enum Dialer: String, Sendable { case tau, kubo }

    @Test(arguments: [("ed25519", false, Dialer.tau), ("rsa", false, .kubo), ("rsa", true, .tau), ("ed25519", true, .kubo)])
    func messagesFlowBothWays(identity: String, privateNetwork: Bool, dialer: Dialer) async throws {
        let topic = "tau-kubo-interop"
        let swarmKey = privateNetwork ? SwarmKey.generate() : nil
        let kubo = try await KuboPubSubPeer.start(identity: identity, swarmKey: swarmKey)
        defer { kubo.stop() }
        #expect(kubo.keyType == (identity == "rsa" ? "rsa-2048" : "ed25519"))
        let node = try await Self.tauNode(swarmKey: swarmKey)
        let label = "\(identity)\(privateNetwork ? ", private network" : ""), \(dialer.rawValue) dials"
        let tauID = node.host.peerID
        do {
            let inbox = Inbox(node.pubsub.subscribe(topic))
            #expect(try await kubo.request("sub \(topic)") == "subscribed")
            switch dialer {
            case .tau:
                #expect(try await node.host.connect(kubo.address) == kubo.peerID)
            case .kubo:
                let answer = try await kubo.request("connect \(node.address)")
                #expect(answer == "connected", "\(answer)")
            }
            let clock = ContinuousClock()
            let connected = clock.now
            // Both sides see the other's subscription; tau grafts Kubo (or accepts Kubo's GRAFT).
            let joined = await eventually(timeout: .seconds(20)) {
                guard node.pubsub.peers(topic: topic).contains(kubo.peerID), node.pubsub.mesh(topic).contains(kubo.peerID)
                else { return false }
                return (try? await kubo.peers(topic))?.contains(tauID.description) == true
            }
            if !joined {
                let kuboPeers = (try? await kubo.peers(topic)) ?? []
                Issue.record("tau peers \(node.pubsub.peers()), mesh \(node.pubsub.mesh(topic)); Kubo peers \(kuboPeers)")
                throw PeerFailure("no mesh with Kubo within 20 s")
            }
            let meshTime = clock.now - connected
            // Identify: Kubo speaks GossipSub v1.1 (tau's router takes the newest protocol both speak).
            let kuboInfo = node.host.peerstore.info(kubo.peerID)
            #expect(kuboInfo?.protocols.contains(PubSubProtocol.meshsub11.rawValue) == true, "\(kuboInfo?.protocols ?? [])")
            #expect(kuboInfo?.agentVersion?.hasPrefix("kubo/0.22.0") == true, "\(kuboInfo?.agentVersion ?? "no agent")")

            // tau → Kubo: Kubo checks our signature (go-libp2p-pubsub signs and verifies strictly by default).
            let large = chachaKeystream(seed: "tau to kubo \(label)", count: 100_000)
            for ours in [Array("from tau (\(label))".utf8), large] {
                try node.pubsub.publish(ours, to: topic)
                let expected = KuboPubSubPeer.Message(topic: topic, from: tauID.description, data: ours)
                let arrived = await eventually(timeout: .seconds(20)) { kubo.messages.contains(expected) }
                #expect(arrived, "\(ours.count) bytes; Kubo got \(kubo.messages.map { "\($0.from) \($0.data.count)" })")
                #expect(kubo.messages.filter { $0 == expected }.count == 1)
            }

            // Kubo → tau: with an RSA identity the author's key travels in the message.
            let largeTheirs = chachaKeystream(seed: "kubo to tau \(label)", count: 100_000)
            for theirs in [Array("from Kubo (\(label))".utf8), largeTheirs] {
                #expect(try await kubo.request("pub \(topic) \(Self.hex(theirs))") == "published")
                let arrived = await eventually(timeout: .seconds(20)) { inbox.messages.contains { $0.data == theirs } }
                #expect(arrived, "\(theirs.count) bytes; tau statistics \(node.pubsub.statistics)")
                let received = inbox.messages.filter { $0.data == theirs }
                #expect(received.count == 1)
                #expect(received.first?.from == kubo.peerID)
                #expect(received.first?.receivedFrom == kubo.peerID)
                #expect(received.first?.topic == topic)
                #expect(received.first?.seqno?.count == 8)
            }
            #expect(node.pubsub.statistics.invalidSignatures == 0)
            #expect(node.pubsub.statistics.refusedRPCs == 0)
            print("kubo pubsub interop (\(label)): mesh in \(meshTime)")
            inbox.cancel()
        } catch {
            await node.stop()
            throw PeerFailure("\(error); Kubo stderr:\n\(kubo.stderrTail)")
        }
        await node.stop()
    }
}
