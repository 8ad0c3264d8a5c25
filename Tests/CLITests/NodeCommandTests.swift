import Foundation
import Testing
import TestSupport

/// `tau start` and commands running inside the node through the admin API.
@Suite("tau start and the admin API", .serialized)
struct NodeCommandTests {
    let tau = TestEnvironment.product("tau")

    final class RunningNode {
        let repo: String
        let process: Process
        let log: URL
        var admin: String = ""

        init(tau: URL, repo: String, extra: [String] = []) throws {
            self.repo = repo
            log = URL(fileURLWithPath: repo + ".log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process = Process()
            process.executableURL = tau
            process.arguments = ["start", "--repo", repo, "--admin", "127.0.0.1:0", "--gateway", "127.0.0.1:0",
                                 "--swarm", "/ip4/127.0.0.1/tcp/0"] + extra
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: repo + "/api", encoding: .utf8), !text.isEmpty {
                    admin = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    return
                }
                guard process.isRunning else { break }
                usleep(50_000)
            }
            throw CommandFailure(command: "tau start", status: process.isRunning ? -1 : process.terminationStatus,
                                 stderr: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }

        /// SIGTERM, then the exit status.
        func stop() -> Int32 {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    }

    func scratch() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tau-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    func tau(_ arguments: [String], repo: String, stdin: Data? = nil, in directory: URL? = nil) throws -> (out: String, err: String, status: Int32) {
        let result = try run(tau, arguments + ["--repo", repo], stdin: stdin, currentDirectory: directory)
        return (String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                result.stderr.trimmingCharacters(in: .whitespacesAndNewlines), result.status)
    }

    /// A raw HTTP GET to the admin address.
    func httpGet(_ address: String, _ path: String, token: String? = nil) throws -> (status: Int, body: String) {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "http://\(address)\(path)"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let result = try run(URL(fileURLWithPath: "/usr/bin/curl"), arguments)
        let text = String(decoding: result.stdout, as: UTF8.self)
        let status = Int(text.split(separator: "\n").last ?? "") ?? 0
        return (status, String(text.dropLast(String(status).count + 1)))
    }

    @Test("commands run inside the node; metrics; token; graceful stop")
    func lifecycle() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path
        #expect(try tau(["init"], repo: repo).status == 0)
        let node = try RunningNode(tau: tau, repo: repo)

        // add from a relative path and from standard input, through the node.
        try Data("served by the node\n".utf8).write(to: root.appendingPathComponent("note.txt"))
        let added = try tau(["add", "-Q", "note.txt"], repo: repo, in: root)
        #expect(added.status == 0, "\(added.err)")
        let fromStdin = try tau(["add", "-Q", "--cid-version=1"], repo: repo, stdin: Data("piped\n".utf8))
        // --only-hash runs locally: the node must have stored exactly what it names.
        let expected = try tau(["add", "-n", "-Q", "--cid-version=1"], repo: repo, stdin: Data("piped\n".utf8))
        #expect(fromStdin.status == 0 && fromStdin.out == expected.out && !expected.out.isEmpty)
        #expect(try tau(["cat", fromStdin.out], repo: repo).out == "piped")
        #expect(try tau(["cat", added.out], repo: repo).out == "served by the node")
        #expect(try tau(["pin", "ls", "-q"], repo: repo).out.split(separator: "\n").count == 2)
        // get writes into the client's directory.
        #expect(try tau(["get", added.out, "-o", "copy.txt"], repo: repo, in: root).status == 0)
        #expect(try String(contentsOf: root.appendingPathComponent("copy.txt"), encoding: .utf8) == "served by the node\n")
        // Errors keep their one line and exit status.
        let bad = try tau(["cat", "notacid"], repo: repo)
        #expect(bad.status == 1 && bad.err.hasPrefix("Error: ") && bad.err.split(separator: "\n").count == 1)
        // Commands that manage the node are refused while it runs.
        let second = try tau(["start"], repo: repo)
        #expect(second.status != 0)

        let metrics = try httpGet(node.admin, "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("tau_store_blocks"))
        #expect(try httpGet(node.admin, "/api/v0/id").status == 401)
        let token = try String(contentsOfFile: repo + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try httpGet(node.admin, "/api/v0/id", token: token).status == 200)
        let mode = try FileManager.default.attributesOfItem(atPath: repo + "/admin.token")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        #expect(node.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: repo + "/api"))
        // The repo is whole and usable directly once the node is gone.
        #expect(try tau(["repo", "verify"], repo: repo).status == 0)
        #expect(try tau(["cat", added.out], repo: repo).out == "served by the node")
    }

    @Test("two nodes: tau id, swarm connect and peers through the admin API")
    func swarm() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repoA = root.appendingPathComponent("a").path, repoB = root.appendingPathComponent("b").path
        #expect(try tau(["init"], repo: repoA).status == 0)
        #expect(try tau(["init"], repo: repoB).status == 0)
        // Offline: only a running node answers; the error says none runs and names the repo's peer ID.
        let offline = try tau(["id"], repo: repoA)
        #expect(offline.status == 1 && offline.out.isEmpty)
        #expect(offline.err.hasPrefix("Error: no node is running on "), "\(offline.err)")
        let idA = try #require(offline.err.split(separator: " ").last.map { String($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(idA.hasPrefix("12D3KooW"))
        let a = try RunningNode(tau: tau, repo: repoA)
        let b = try RunningNode(tau: tau, repo: repoB)
        defer { _ = a.stop(); _ = b.stop() }
        let online = try JSONSerialization.jsonObject(with: Data(try tau(["id"], repo: repoA).out.utf8)) as! [String: Any]
        #expect(online["ID"] as? String == idA)
        let address = try #require((online["Addresses"] as? [String])?.first)
        #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/") && address.hasSuffix("/p2p/\(idA)"))
        #expect((online["Protocols"] as? [String] ?? []).contains("/ipfs/ping/1.0.0"))
        let connected = try tau(["swarm", "connect", address], repo: repoB)
        #expect(connected.out == "connect \(idA) success", "\(connected.err)")
        #expect(try tau(["swarm", "peers"], repo: repoB).out == address)
        let idB = (try JSONSerialization.jsonObject(with: Data(try tau(["id"], repo: repoB).out.utf8)) as! [String: Any])["ID"] as! String
        #expect(try tau(["swarm", "peers"], repo: repoA).out.hasSuffix("/p2p/\(idB)"))
        // A peer nobody runs, at a port nothing listens on.
        let repoC = root.appendingPathComponent("c").path
        #expect(try tau(["init"], repo: repoC).status == 0)
        let idC = try #require(try tau(["id"], repo: repoC).err.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines)
        let bad = try tau(["swarm", "connect", "/ip4/127.0.0.1/tcp/1/p2p/\(idC)"], repo: repoB)
        #expect(bad.status != 0 && bad.err.contains("failure"))
        let mode = try FileManager.default.attributesOfItem(atPath: repoA + "/identity.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a stale api file does not stop the CLI")
    func staleAPIFile() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path
        #expect(try tau(["init"], repo: repo).status == 0)
        try "127.0.0.1:1\n".write(toFile: repo + "/api", atomically: true, encoding: .utf8)
        #expect(try tau(["pin", "ls"], repo: repo).status == 0)
    }

    @Test("config generate writes a configuration that start accepts; bad ones are refused")
    func configuration() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path
        #expect(try tau(["init"], repo: repo).status == 0)
        let generated = try run(tau, ["config", "generate"])
        let yaml = String(decoding: generated.stdout, as: UTF8.self)
        #expect(yaml.contains("listen: 127.0.0.1:8080") && yaml.contains("listen: 127.0.0.1:5001"))
        try "admin:\n  listen: 0.0.0.0:5001\n".write(toFile: root.appendingPathComponent("bad.yaml").path, atomically: true, encoding: .utf8)
        let refused = try tau(["start", "--config", "bad.yaml"], repo: repo, in: root)
        #expect(refused.status != 0 && refused.err.contains("loopback"))
        try "cache:\n  size: lots\n".write(toFile: root.appendingPathComponent("bad2.yaml").path, atomically: true, encoding: .utf8)
        let refused2 = try tau(["start", "--config", "bad2.yaml"], repo: repo, in: root)
        #expect(refused2.status != 0 && refused2.err.contains("cache.size"))
    }
}
