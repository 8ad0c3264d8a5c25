import Foundation
import Testing
import TestSupport

/// A local cloud of three node processes (`tau dream`): content added on one
/// node is read through another node's gateway and CLI, fetched with Bitswap;
/// a provider killed mid-transfer leaves the other to finish it.
@Suite("a 3-node cloud", .serialized)
struct CloudTests {
    let tau = TestEnvironment.product("tau")

    func tau(_ arguments: [String], stdin: Data? = nil) throws -> (out: Data, err: String, status: Int32) {
        let result = try run(tau, arguments, stdin: stdin)
        return (result.stdout, result.stderr.trimmingCharacters(in: .whitespacesAndNewlines), result.status)
    }

    /// Base ports apart from DreamTests' (20000-25999) and other tests',
    /// below the kernel's ephemeral range (32768 and up).
    static let basePorts = (0..<4).map { 26000 + Int((getpid() + $0 * 17) % 60) * 100 }

    struct Node {
        let repo: String
        let gateway: String
        let admin: String
        let pid: Int32
    }

    @Test("add on node 1, read through node 3's gateway and CLI; kill a provider mid-transfer")
    func addHereReadThere() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tau-cloud-\(UUID().uuidString)").path
        defer {
            _ = try? tau(["dream", "down", "--dir", dir, "--purge"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        var up = try tau(["dream", "up", "--nodes", "3", "--dir", dir, "--base-port", String(Self.basePorts[0])])
        // A port another program holds: the dream refuses it; try the next range.
        for next in Self.basePorts.dropFirst() where up.status != 0 && up.err.contains("is in use") {
            up = try tau(["dream", "up", "--nodes", "3", "--dir", dir, "--base-port", String(next)])
        }
        try #require(up.status == 0, "\(up.err)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/dream.json"))) as! [String: Any]
        let nodes = (state["nodes"] as! [[String: Any]]).map {
            Node(repo: $0["repo"] as! String, gateway: $0["gateway"] as! String,
                 admin: $0["admin"] as! String, pid: ($0["pid"] as! NSNumber).int32Value)
        }
        try #require(nodes.count == 3)
        try await waitForPeers(repo: nodes[2].repo, count: 2)

        // 1. Added on node 1, read whole through node 3's gateway.
        var generator = SeededBytes(seed: 71)
        let first = Data(generator.bytes(24 << 20))
        let firstCID = try add(first, on: nodes[0])
        let (status, body) = try await onOwnThread { try Self.httpGet(nodes[2].gateway, "/ipfs/\(firstCID)") }
        #expect(status == 200)
        #expect(sha256Hex(body) == sha256Hex(first), "\(body.count) of \(first.count) bytes")

        // 2. `tau cat` on node 3 (forwarded into the node) waits for content
        //    no node has yet; added on node 2, it is pushed to node 3 at once:
        //    node 2 kept node 3's want after answering DONT_HAVE
        //    (formats/bitswap.md S4), so nobody waits for a rebroadcast.
        let second = Data(generator.bytes(3 << 20 + 12345))
        let secondCID = try onlyHash(second)
        let messagesBefore = try await Self.metric(nodes[1].admin, "tau_bitswap_messages_total{direction=\"in\"}")
        let waiting = try startProcess(["cat", "--repo", nodes[2].repo, secondCID])
        defer { if waiting.process.isRunning { waiting.process.terminate() } }
        // Node 3's want has reached node 2 (node 1 has no wants to send it).
        for _ in 0..<300 {
            if try await Self.metric(nodes[1].admin, "tau_bitswap_messages_total{direction=\"in\"}") > messagesBefore { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(waiting.process.isRunning, "tau cat waits for the content")
        #expect(try add(second, on: nodes[1]) == secondCID)
        let added = ContinuousClock.now
        let catOut = try await onOwnThread { () -> Data in
            let out = waiting.output.fileHandleForReading.readDataToEndOfFile()
            waiting.process.waitUntilExit()
            return out
        }
        let wait = ContinuousClock.now - added
        #expect(waiting.process.terminationStatus == 0)
        #expect(sha256Hex(catOut) == sha256Hex(second), "\(catOut.count) of \(second.count) bytes")
        let pushed = try await Self.metric(nodes[1].admin, "tau_bitswap_wants_answered_on_add_total")
        #expect(pushed >= 1, "node 2 sent the block node 3 was waiting for when it was added")
        print("tau cat on node 3 finished \(wait) after tau add on node 2 returned")

        // 3. Two providers (nodes 1 and 2); node 3's gateway streams to a slow
        //    reader, and node 1 is killed after the first 8 MiB arrive.
        let third = Data(generator.bytes(64 << 20))
        let thirdCID = try add(third, on: nodes[0])
        #expect(try add(third, on: nodes[1]) == thirdCID)
        let victim = nodes[0].pid
        let (killedStatus, killedBody) = try await onOwnThread {
            try Self.httpGet(nodes[2].gateway, "/ipfs/\(thirdCID)", pauseAfter: 8 << 20) {
                kill(victim, SIGKILL)
            }
        }
        #expect(Self.isGone(victim), "node 1 is gone")
        #expect(killedStatus == 200)
        #expect(killedBody.count == third.count)
        #expect(sha256Hex(killedBody) == sha256Hex(third))
    }

    /// `tau add -Q --only-hash`: the CID the bytes will have.
    func onlyHash(_ bytes: Data) throws -> String {
        let result = try tau(["add", "-Q", "--only-hash"], stdin: bytes)
        try #require(result.status == 0, "\(result.err)")
        return String(decoding: result.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A `tau` process left running, its standard output on a pipe.
    func startProcess(_ arguments: [String]) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = tau
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
    }

    /// A counter or gauge from a node's admin `/metrics` (0 when absent).
    static func metric(_ admin: String, _ name: String) async throws -> Double {
        let (status, body) = try await onOwnThread { try Self.httpGet(admin, "/metrics") }
        guard status == 200 else { throw CLITestError("GET /metrics: \(status)") }
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    /// The process has exited (a zombie not yet reaped by its new parent counts).
    static func isGone(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// `tau add -Q` on a running node: the root CID.
    func add(_ bytes: Data, on node: Node) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tau-cloud-input-\(UUID().uuidString)").path
        try bytes.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try tau(["add", "-Q", "--repo", node.repo, file])
        try #require(result.status == 0, "\(result.err)")
        return String(decoding: result.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func waitForPeers(repo: String, count: Int) async throws {
        var peers = 0
        for _ in 0..<200 {
            peers = String(decoding: try tau(["swarm", "peers", "--repo", repo]).out, as: UTF8.self)
                .split(separator: "\n").count
            if peers >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(repo) has \(peers) peers, expected \(count)")
    }

    /// A blocking HTTP/1.0 GET (the server closes after the body): status and
    /// body. With `pauseAfter`, `atPause` runs once that many body bytes are
    /// in, and the rest is read slowly (64 KiB per millisecond at most).
    static func httpGet(_ hostPort: String, _ target: String, pauseAfter: Int? = nil,
                        atPause: () -> Void = {}) throws -> (Int, Data) {
        let parts = hostPort.split(separator: ":")
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CLITestError("socket: \(errno)") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(parts[1])!.bigEndian)
        inet_pton(AF_INET, String(parts[0]), &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw CLITestError("connect \(hostPort): \(errno)") }
        let request = Array("GET \(target) HTTP/1.0\r\nHost: \(hostPort)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw CLITestError("send: \(errno)")
        }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var headerEnd: Int?
        var paused = false
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 { throw CLITestError("recv after \(received.count) bytes: errno \(errno)") }
            if count == 0 { break }
            received.append(contentsOf: buffer[..<count])
            if headerEnd == nil, let range = received.range(of: Data("\r\n\r\n".utf8)) {
                headerEnd = range.upperBound
            }
            if let pauseAfter, let headerEnd {
                if !paused, received.count - headerEnd >= pauseAfter {
                    paused = true
                    atPause()
                }
                if paused { usleep(1000) }
            }
        }
        guard let headerEnd else { throw CLITestError("no response head in \(received.count) bytes") }
        let statusLine = String(decoding: received[..<headerEnd], as: UTF8.self).split(separator: " ")
        let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        return (status, Data(received[headerEnd...]))
    }
}

struct CLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
