import Foundation
import Testing
import TestSupport

/// `tau pubsub` between two running nodes (formats/pubsub.md §6).
@Suite("tau pubsub", .serialized)
struct PubSubCommandTests {
    let tau = TestEnvironment.product("tau")
    let support = NodeCommandTests()

    /// Polls `condition` for up to 20 s.
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    @Test("sub prints what pub sends on another node; ls and peers; the subscription ends with its client")
    func subAndPub() throws {
        let root = try support.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repoA = root.appendingPathComponent("a").path, repoB = root.appendingPathComponent("b").path
        #expect(try support.tau(["init"], repo: repoA).status == 0)
        #expect(try support.tau(["init"], repo: repoB).status == 0)
        // Without a node: a clear error.
        let offline = try support.tau(["pubsub", "ls"], repo: repoA)
        #expect(offline.status == 1 && offline.err.contains("needs a running node"), "\(offline.err)")
        let a = try NodeCommandTests.RunningNode(tau: tau, repo: repoA)
        let b = try NodeCommandTests.RunningNode(tau: tau, repo: repoB)
        defer { _ = a.stop(); _ = b.stop() }
        let info = try JSONSerialization.jsonObject(with: Data(try support.tau(["id"], repo: repoA).out.utf8)) as! [String: Any]
        let address = try #require((info["Addresses"] as? [String])?.first)
        let idA = try #require(info["ID"] as? String)
        #expect(try support.tau(["swarm", "connect", address], repo: repoB).status == 0)

        // `tau pubsub sub` on node A, its output read line by line.
        let sub = Process()
        sub.executableURL = tau
        sub.arguments = ["pubsub", "sub", "--json", "tau-cli", "--repo", repoA]
        let outputURL = root.appendingPathComponent("sub.out")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        sub.standardOutput = try FileHandle(forWritingTo: outputURL)
        sub.standardError = FileHandle.nullDevice
        try sub.run()
        defer { if sub.isRunning { kill(sub.processIdentifier, SIGKILL); sub.waitUntilExit() } }
        #expect(try eventually { try support.tau(["pubsub", "ls"], repo: repoA).out == "tau-cli" })
        // B learns of A's subscription.
        #expect(try eventually { try support.tau(["pubsub", "peers", "tau-cli"], repo: repoB).out == idA })

        let published = try support.tau(["pubsub", "pub", "tau-cli"], repo: repoB, stdin: Data("hello from b".utf8))
        #expect(published.status == 0, "\(published.err)")
        func lines() -> [String] {
            ((try? String(contentsOf: outputURL, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        #expect(eventually { !lines().isEmpty })
        let line = try #require(lines().first)
        let message = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(message["data"] as? String == Data("hello from b".utf8).base64EncodedString())
        #expect(message["topicIDs"] as? [String] == ["tau-cli"])
        let idB = (try JSONSerialization.jsonObject(with: Data(try support.tau(["id"], repo: repoB).out.utf8)) as! [String: Any])["ID"] as? String
        #expect(message["from"] as? String == idB)

        // The client goes (SIGKILL: a child of the test runner may not get
        // SIGTERM, whose mask it inherits): the node leaves the topic.
        kill(sub.processIdentifier, SIGKILL)
        sub.waitUntilExit()
        #expect(try eventually { try support.tau(["pubsub", "ls"], repo: repoA).out.isEmpty })
    }
}
