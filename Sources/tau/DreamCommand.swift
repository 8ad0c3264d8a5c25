import ArgumentParser
import Foundation
import Node
import P2P

/// A local cloud: N nodes on loopback, each with its own repo, ports and key,
/// sharing one swarm key and bootstrapped to each other.
struct DreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dream", abstract: "Run a local multi-node cloud on this machine.",
        subcommands: [DreamUp.self, DreamStatus.self, DreamDown.self])
}

/// Where a dream lives and what `up` recorded about its nodes.
struct DreamOptions: ParsableArguments {
    @Option(help: "The dream's directory (default: $TAU_DREAM, else ~/.tau-dream).")
    var dir: String?

    var path: String {
        if let dir { return Console.current.resolve(dir) }
        if let env = ProcessInfo.processInfo.environment["TAU_DREAM"], !env.isEmpty { return env }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".tau-dream").path
    }

    var stateFile: String { path + "/dream.json" }
}

struct DreamNode: Codable {
    let index: Int
    let repo: String
    var pid: Int32
    let peerID: String
    let gateway: String
    let admin: String
    let swarm: String

    var isRunning: Bool { kill(pid, 0) == 0 }
}

struct DreamState: Codable {
    var nodes: [DreamNode]

    static func load(_ options: DreamOptions) throws -> DreamState? {
        guard let data = FileManager.default.contents(atPath: options.stateFile) else { return nil }
        return try JSONDecoder().decode(DreamState.self, from: data)
    }

    func save(_ options: DreamOptions) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: options.stateFile), options: .atomic)
    }
}

/// Node i of a dream gives service S the port `BASE + 10·i + offset(S)`.
/// Later services take the next offsets (kv 3, s3 4, dns 5, tls 6).
enum DreamPorts {
    static let stride = 10
    static let gateway = 0
    static let admin = 1
    static let swarm = 2
    static let all = [gateway, admin, swarm]

    static func port(base: Int, node index: Int, offset: Int) -> Int { base + stride * index + offset }
}

struct DreamUp: TauCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Start N nodes (repos, ports and keys of their own; one swarm key; bootstrapped to each other).")

    @Option(help: "How many nodes.")
    var nodes: Int = 3

    @Option(name: .customLong("base-port"), help: "Node i gives each service the port BASE+10i+offset: gateway +0, admin +1, swarm +2.")
    var basePort: Int = 19000

    @OptionGroup var dream: DreamOptions

    func execute() async throws {
        guard (1...32).contains(nodes) else { throw CLIError("--nodes must be from 1 to 32") }
        guard basePort > 0, DreamPorts.port(base: basePort, node: nodes, offset: DreamPorts.stride - 1) < 65536 else { throw CLIError("--base-port leaves no room for \(nodes) nodes") }
        if let state = try DreamState.load(dream), state.nodes.contains(where: \.isRunning) {
            throw CLIError("a dream already runs in \(dream.path) (tau dream down first)")
        }
        try FileManager.default.createDirectory(atPath: dream.path, withIntermediateDirectories: true)
        // One swarm key for the whole cloud: a private network of its own.
        let swarmKeyPath = dream.path + "/swarm.key"
        if !FileManager.default.fileExists(atPath: swarmKeyPath) {
            try SwarmKey.generate().fileContents.write(toFile: swarmKeyPath, atomically: true, encoding: .utf8)
            chmod(swarmKeyPath, 0o600)
        }
        let swarmKey = try String(contentsOfFile: swarmKeyPath, encoding: .utf8)

        // Repos, identities and addresses first, so every node knows the others.
        var plans: [(repo: String, peer: PeerID, gateway: String, admin: String, swarm: String)] = []
        for index in 1...nodes {
            let repo = dream.path + "/node-\(index)"
            if !FileManager.default.fileExists(atPath: repo + "/data.mdb") {
                try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
                let created = try run(["init", "--repo", repo], log: nil)
                guard created == 0 else { throw CLIError("tau init of \(repo) failed") }
            }
            try swarmKey.write(toFile: repo + "/" + NodeIdentity.swarmKeyFileName, atomically: true, encoding: .utf8)
            chmod(repo + "/" + NodeIdentity.swarmKeyFileName, 0o600)
            let peer = try NodeIdentity.loadOrCreate(repo: repo).peerID
            func port(_ offset: Int) -> Int { DreamPorts.port(base: basePort, node: index, offset: offset) }
            for candidate in DreamPorts.all.map(port) where !Self.portIsFree(candidate) {
                throw CLIError("port \(candidate) is in use (choose another --base-port)")
            }
            plans.append((repo, peer, "127.0.0.1:\(port(DreamPorts.gateway))", "127.0.0.1:\(port(DreamPorts.admin))",
                          "/ip4/127.0.0.1/tcp/\(port(DreamPorts.swarm))"))
        }
        var started: [DreamNode] = []
        for (offset, plan) in plans.enumerated() {
            var configuration = NodeConfiguration()
            configuration.gateway.listen = plan.gateway
            configuration.admin.listen = plan.admin
            configuration.swarm.listen = [plan.swarm]
            configuration.swarm.bootstrap = plans.enumerated().filter { $0.offset != offset }
                .map { "\($0.element.swarm)/p2p/\($0.element.peer)" }
            try configuration.yaml().write(toFile: plan.repo + "/config.yaml", atomically: true, encoding: .utf8)
            let pid = try Self.spawnNode(repo: plan.repo)
            started.append(DreamNode(index: offset + 1, repo: plan.repo, pid: pid, peerID: plan.peer.description,
                                     gateway: plan.gateway, admin: plan.admin, swarm: "\(plan.swarm)/p2p/\(plan.peer)"))
        }
        try DreamState(nodes: started).save(dream)
        // Ready when every admin API answers; the node's own pid (not the
        // launcher's) is what status and down watch.
        let deadline = Date().addingTimeInterval(60)
        for index in started.indices {
            while AdminClient.runningNode(repo: started[index].repo) == nil {
                guard Date() < deadline else {
                    throw CLIError("node \(started[index].index) did not start; see \(started[index].repo)/node.log")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let pidText = try String(contentsOfFile: started[index].repo + "/" + AdminClient.pidFileName, encoding: .utf8)
            started[index].pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? started[index].pid
        }
        try DreamState(nodes: started).save(dream)
        say("dream of \(nodes) nodes in \(dream.path) (private network, swarm key \(swarmKeyPath))")
        for node in started {
            say("node \(node.index): \(node.peerID)  gateway http://\(node.gateway)/  admin http://\(node.admin)/  swarm \(node.swarm)")
        }
    }

    /// Starts `tau start` for `repo` in a session of its own (it outlives this command).
    static func spawnNode(repo: String) throws -> Int32 {
        let process = Process()
        let tau = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let executable = tau.hasPrefix("/") ? tau : FileManager.default.currentDirectoryPath + "/" + tau
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/setsid") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = [executable, "start", "--repo", repo]
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["start", "--repo", repo]
        }
        let logPath = repo + "/node.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process.processIdentifier
    }

    static func portIsFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        // As the servers bind: a port in TIME_WAIT is free to them.
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Runs this tau with `arguments`; returns its exit status.
    func run(_ arguments: [String], log: String?) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

struct DreamStatus: TauCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the dream's nodes and whether they run.")

    @Flag(help: "Print JSON: {\"nodes\": [{index, pid, peer_id, repo, running, services: {name: address}}]}.")
    var json = false

    @OptionGroup var dream: DreamOptions

    func execute() async throws {
        guard let state = try DreamState.load(dream) else { throw CLIError("no dream in \(dream.path) (tau dream up)") }
        if json {
            struct Entry: Encodable {
                let index: Int
                let pid: Int32
                let peer_id: String
                let repo: String
                let running: Bool
                let services: [String: String]
            }
            struct Output: Encodable { let nodes: [Entry] }
            // What each running node wrote about itself (node.json), so
            // services the dream did not plan appear too.
            let entries = state.nodes.map { node -> Entry in
                let facts = node.isRunning ? NodeFacts.read(repo: node.repo) : nil
                return Entry(index: node.index, pid: facts?.pid ?? node.pid, peer_id: facts?.peerID ?? node.peerID,
                             repo: node.repo, running: facts != nil, services: facts?.services ?? [:])
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            say(String(decoding: try encoder.encode(Output(nodes: entries)), as: UTF8.self))
            return
        }
        for node in state.nodes {
            let running = node.isRunning && AdminClient.runningNode(repo: node.repo) != nil
            say("node \(node.index): \(running ? "running" : "stopped")  \(node.peerID)  gateway http://\(node.gateway)/  admin http://\(node.admin)/")
        }
    }
}

struct DreamDown: TauCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop every node of the dream cleanly.")

    @Flag(help: "Also delete the nodes' repos.")
    var purge = false

    @OptionGroup var dream: DreamOptions

    func execute() async throws {
        guard let state = try DreamState.load(dream) else { throw CLIError("no dream in \(dream.path)") }
        for node in state.nodes where node.isRunning { kill(node.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(30)
        for node in state.nodes {
            while node.isRunning && Date() < deadline {
                // Reap it if it is our child; otherwise just wait for it to go.
                _ = waitpid(node.pid, nil, WNOHANG)
                try await Task.sleep(for: .milliseconds(50))
            }
            if node.isRunning {
                kill(node.pid, SIGKILL)
                say("node \(node.index) did not stop in 30 s: killed")
            }
        }
        try? FileManager.default.removeItem(atPath: dream.stateFile)
        if purge {
            for node in state.nodes { try? FileManager.default.removeItem(atPath: node.repo) }
        }
        say("dream stopped (\(state.nodes.count) nodes)\(purge ? "; repos deleted" : "")")
    }
}
