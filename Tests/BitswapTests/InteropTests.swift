import Bitswap
import Blocks
import Foundation
import Multiformats
import P2P
import Synchronization
import Testing
import TestSupport
import UnixFS

/// py-libp2p 0.8.1's Bitswap (Tests/BitswapTests/Peers/bitswap_peer.py) run
/// as a subprocess; stdout is read line by line on a thread of its own.
final class BitswapPythonPeer: @unchecked Sendable {
    static let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/BitswapTests/Peers/bitswap_peer.py").path

    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errorURL: URL
    private let state = Mutex<(lines: [String], ended: Bool)>(([], false))

    /// `protocols`: the Bitswap versions the peer offers and tries (all by default).
    init(_ arguments: [String], protocols: [BitswapProtocol]? = nil) throws {
        signal(SIGPIPE, SIG_IGN)
        errorURL = FileManager.default.temporaryDirectory.appendingPathComponent("tau-bitswap-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = TestEnvironment.python
        process.arguments = [Self.script] + arguments
        if let protocols {
            var environment = ProcessInfo.processInfo.environment
            environment["BITSWAP_PROTOCOLS"] = protocols.map(\.rawValue).joined(separator: ",")
            process.environment = environment
        }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorURL)
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
    }

    deinit { stop() }

    func nextLine(timeout: Duration) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (line, done) = state.withLock { state -> (String?, Bool) in
                (state.lines.isEmpty ? nil : state.lines.removeFirst(), state.ended)
            }
            if let line { return line }
            if done { throw InteropFailure("peer exited without output; stderr:\n\(stderrTail)") }
            if clock.now > deadline { throw InteropFailure("no output within \(timeout); stderr:\n\(stderrTail)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var stderrTail: String {
        let text = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// quit, then SIGTERM, then SIGKILL.
    func stop() {
        if process.isRunning {
            try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate() }
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: errorURL)
    }
}

struct InteropFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// tau against py-libp2p 0.8.1's Bitswap over loopback, 16 MiB each way,
/// compared by SHA-256. Serialized: each runs a Python process on a 2-core machine.
@Suite("Bitswap interop with py-libp2p", .serialized)
struct InteropTests {
    static let size = 16 << 20

    /// All versions (1.2.0 negotiated), then a peer restricted to 1.1.0
    /// (1.0.0 carries only CIDv0 blocks; py-libp2p's files have raw leaves).
    @Test(arguments: [nil, [BitswapProtocol.v110]])
    func tauFetchesAFilePyLibp2pProvides(protocols: [BitswapProtocol]?) async throws {
        let size = protocols == nil ? Self.size : Self.size / 8
        let python = try BitswapPythonPeer(["provide", "\(size)", "11"], protocols: protocols)
        defer { python.stop() }
        let ready = try await python.nextLine(timeout: .seconds(40)).split(separator: " ").map(String.init)
        try #require(ready.count == 4 && ready[0] == "ready", "\(ready)")
        let address = try Multiaddr(ready[1])
        let root = try CID(ready[2])
        let node = try await NetworkTests.node()
        let store = MemoryBlockStore()
        do {
            try await node.0.connect(address)
            let result = try await node.1.fetchDAG(root: root, into: store)
            let bytes = try await readFile(root, from: store)
            let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
            print("bitswap interop: tau fetched \(size >> 20) MiB from py-libp2p \(protocols?[0].rawValue ?? "") (\(result.fetchedBlocks) blocks) in "
                  + String(format: "%.3f s, %.1f MB/s", seconds, Double(bytes.count) / seconds / 1e6))
            #expect(bytes.count == size)
            #expect(sha256(bytes) == ready[3])
            if let protocols, let peer = address.peerID {
                // Identify announced only the restricted versions: no presences were counted on.
                let announced = node.0.peerstore.info(peer)?.protocols.filter { $0.hasPrefix("/ipfs/bitswap") } ?? []
                #expect(Set(announced) == Set(protocols.map(\.rawValue)), "\(announced)")
            }
        } catch {
            await NetworkTests.shutdown(node)
            throw InteropFailure("\(error); python stderr:\n\(python.stderrTail)")
        }
        await NetworkTests.shutdown(node)
    }

    @Test(arguments: [nil, [BitswapProtocol.v110]])
    func pyLibp2pFetchesAFileTauProvides(protocols: [BitswapProtocol]?) async throws {
        let size = protocols == nil ? Self.size : Self.size / 8
        let store = MemoryBlockStore()
        // py-libp2p's own layout: CIDv1, raw leaves, 256 KiB chunks.
        let parameters = FileImportParameters(rawLeaves: true, cids: CIDBuilder(version: .v1))
        let file = try await ImportedFile(size: size, seed: 12, into: store, parameters: parameters)
        let node = try await NetworkTests.node(store)
        do {
            let address = node.0.dialAddress
            let python = try BitswapPythonPeer(["fetch", address.description, file.root.description, "45"], protocols: protocols)
            defer { python.stop() }
            let line = try await python.nextLine(timeout: .seconds(55))
            let words = line.split(separator: " ").map(String.init)
            try #require(words.count == 4 && words[0] == "ok", "\(line); python stderr:\n\(python.stderrTail)")
            print("bitswap interop: py-libp2p \(protocols?[0].rawValue ?? "") fetched \(size >> 20) MiB from tau in \(words[3]) s "
                  + String(format: "(%.1f MB/s)", Double(size) / (Double(words[3]) ?? 1) / 1e6))
            #expect(words[1] == sha256(file.bytes))
            #expect(Int(words[2]) == size)
            #expect(await eventually { node.1.statistics.blocksSent >= file.blockCount })
        } catch {
            await NetworkTests.shutdown(node)
            throw error
        }
        await NetworkTests.shutdown(node)
    }
}
