import Foundation
import Testing
import TestSupport

/// `tau routing` and `tau services` across running nodes (formats/dht.md §8).
@Suite("tau routing", .serialized)
struct RoutingCommandTests {
    let tau = TestEnvironment.product("tau")
    let support = NodeCommandTests()

    /// Polls `condition` for up to `seconds`.
    func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(100_000)
        }
        return try condition()
    }

    func identity(_ repo: String) throws -> (id: String, address: String) {
        let info = try JSONSerialization.jsonObject(with: Data(try support.tau(["id"], repo: repo).out.utf8)) as! [String: Any]
        return (try #require(info["ID"] as? String), try #require((info["Addresses"] as? [String])?.first))
    }

    /// Five nodes in a line, each connected only to the next: a file added on
    /// node 5 is read with `tau cat` on node 1, found through the DHT, and node 1 dials node 5 directly.
    @Test("five nodes in a line: cat on node 1 what node 5 added; findprovs, findpeer, get, services ls")
    func fiveNodesInALine() throws {
        let root = try support.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repos = (1...5).map { root.appendingPathComponent("n\($0)").path }
        for repo in repos { #expect(try support.tau(["init"], repo: repo).status == 0) }
        let offline = try support.tau(["routing", "findpeer", "12D3KooWBPXyCB18qNj1gs1ke3GH9zuQ8drxS1DExrS4uDBf7MTN"], repo: repos[0])
        #expect(offline.status == 1 && offline.err.contains("needs a running node"), "\(offline.err)")

        // Nodes 2–5 first, in a line; node 1 joins after node 5 has provided,
        // so node 1 holds no provider record and must find it through node 2.
        var nodes = try repos[1...].map { try NodeCommandTests.RunningNode(tau: tau, repo: $0) }
        defer { for node in nodes { _ = node.stop() } }
        var identities = try repos[1...].map(identity)
        for index in 0..<3 {
            let connected = try support.tau(["swarm", "connect", identities[index + 1].address], repo: repos[index + 1])
            #expect(connected.status == 0, "\(connected.err)")
        }

        // Text (the helper reads output as a string), 1.7 MB: seven leaves under one root.
        let content = Data((0..<40_000).map { "line \($0) of a file found through the DHT\n" }.joined().utf8)
        let file = root.appendingPathComponent("file.bin")
        try content.write(to: file)
        let added = try support.tau(["add", "-Q", file.path], repo: repos[4])
        #expect(added.status == 0, "\(added.err)")
        let cid = added.out
        #expect(try eventually { try support.tau(["routing", "findprovs", cid], repo: repos[1]).out == identities[3].id })
        nodes.insert(try NodeCommandTests.RunningNode(tau: tau, repo: repos[0]), at: 0)
        identities.insert(try identity(repos[0]), at: 0)
        #expect(try support.tau(["swarm", "connect", identities[1].address], repo: repos[0]).status == 0)

        // Node 1 finds node 5's record through the DHT.
        #expect(try eventually { try support.tau(["routing", "findprovs", cid], repo: repos[0]).out == identities[4].id },
                "node 5 log:\n\((try? String(contentsOfFile: repos[4] + ".log", encoding: .utf8)) ?? "")")
        // (The lookups themselves may already have dialled node 5: Kademlia queries the peers it learns of.)
        let cat = try support.tau(["cat", cid], repo: repos[0])
        #expect(cat.status == 0, "\(cat.err)")
        #expect(cat.out == String(decoding: content, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try support.tau(["swarm", "peers"], repo: repos[0]).out.contains(identities[4].id))

        let found = try support.tau(["routing", "findpeer", identities[3].id], repo: repos[0])
        #expect(found.status == 0 && found.out.contains("/ip4/127.0.0.1/tcp/"), "\(found.err)")
        let key = try support.tau(["routing", "get", "/pk/\(identities[2].id)"], repo: repos[0])
        #expect(key.status == 0 && !key.out.isEmpty, "\(key.err)")
        let unknown = try support.tau(["routing", "findprovs", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"], repo: repos[0])
        #expect(unknown.status == 0 && unknown.out.isEmpty)
        let badKey = try support.tau(["routing", "get", "/ipns/x"], repo: repos[0])
        #expect(badKey.status == 1 && badKey.err.contains("keys are /pk/PEERID"))

        // Every node announces its gateway.
        #expect(try eventually {
            Set(try support.tau(["services", "ls", "gateway"], repo: repos[0]).out.split(separator: "\n").map(String.init))
                == Set(identities.map { "gateway \($0.id)" })
        })
    }
}
