import Foundation
import Testing
import TestSupport

/// `tau dream`: a local cloud of node processes.
@Suite("tau dream", .serialized)
struct DreamTests {
    let tau = TestEnvironment.product("tau")

    func tau(_ arguments: [String]) throws -> (out: String, err: String, status: Int32) {
        let result = try run(tau, arguments)
        return (String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                result.stderr.trimmingCharacters(in: .whitespacesAndNewlines), result.status)
    }

    /// Base ports from a range no other test uses (20000-25999), below the
    /// kernel's ephemeral range (32768 and up) so no outgoing connection of
    /// a test running alongside can hold one; the dream checks they are free.
    static let basePorts = (0..<4).map { 20000 + Int((getpid() + $0 * 17) % 60) * 100 }

    @Test("up: nodes with their own repos and keys, bootstrapped to each other; down: nothing left running")
    func upStatusDown() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tau-dream-\(UUID().uuidString)").path
        defer { _ = try? tau(["dream", "down", "--dir", dir, "--purge"]); try? FileManager.default.removeItem(atPath: dir) }
        var basePort = Self.basePorts[0]
        var up = try tau(["dream", "up", "--nodes", "3", "--dir", dir, "--base-port", String(basePort)])
        // A port another program holds: the dream refuses it; try the next range.
        for next in Self.basePorts.dropFirst() where up.status != 0 && up.err.contains("is in use") {
            basePort = next
            up = try tau(["dream", "up", "--nodes", "3", "--dir", dir, "--base-port", String(basePort)])
        }
        #expect(up.status == 0, "\(up.err)")
        let lines = up.out.split(separator: "\n").filter { $0.hasPrefix("node ") }
        #expect(lines.count == 3)
        let ids = Set(lines.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
        #expect(ids.count == 3, "each node has its own key")
        // The private network key is shared.
        let keys = try (1...3).map { try String(contentsOfFile: "\(dir)/node-\($0)/swarm.key", encoding: .utf8) }
        #expect(Set(keys).count == 1)
        // Bootstrapping connects every node to the two others.
        var peers = 0
        for _ in 0..<100 {
            peers = try tau(["swarm", "peers", "--repo", "\(dir)/node-3"]).out.split(separator: "\n").count
            if peers == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(peers == 2)
        let status = try tau(["dream", "status", "--dir", dir])
        #expect(status.out.components(separatedBy: "running").count - 1 == 3)
        // --json: per node its index, pid, peer ID, repo and every service at BASE + 10·i + offset.
        let listed = try tau(["dream", "status", "--json", "--dir", dir])
        let nodes = try #require((try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [String: Any])?["nodes"] as? [[String: Any]])
        #expect(nodes.count == 3)
        for node in nodes {
            let index = try #require(node["index"] as? Int)
            let base = basePort + 10 * index
            let services = try #require(node["services"] as? [String: String])
            #expect(services["gateway"] == "127.0.0.1:\(base)")
            #expect(services["admin"] == "127.0.0.1:\(base + 1)")
            let peer = try #require(node["peer_id"] as? String)
            #expect(services["swarm"] == "/ip4/127.0.0.1/tcp/\(base + 2)/p2p/\(peer)")
            #expect(ids.contains(peer))
            #expect(node["repo"] as? String == "\(dir)/node-\(index)")
            #expect((node["pid"] as? Int).map { kill(Int32($0), 0) == 0 } == true)
        }
        let again = try tau(["dream", "up", "--nodes", "3", "--dir", dir, "--base-port", String(basePort)])
        #expect(again.status != 0 && again.err.contains("already runs"))
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/dream.json"))) as! [String: Any]
        let pids = (state["nodes"] as! [[String: Any]]).map { ($0["pid"] as! NSNumber).int32Value }
        #expect(try tau(["dream", "down", "--dir", dir]).status == 0)
        #expect(pids.allSatisfy { kill($0, 0) != 0 }, "every node process exited")
        #expect(!FileManager.default.fileExists(atPath: dir + "/node-1/api"))
    }
}
