import Foundation

/// What a running node tells tools about itself, in its repo's `node.json`
/// (formats/admin-api.md, "Finding a running node"): its process, identity
/// and the address of every service it runs. `tau dream status --json` lists
/// the same object per node.
public struct NodeFacts: Codable, Sendable, Equatable {
    public var pid: Int32
    /// `nil` when the swarm is disabled.
    public var peerID: String?
    public var repo: String
    /// Service name → address: `host:port` for TCP servers, a multiaddr with
    /// `/p2p/` for the swarm. Only services that run are listed.
    public var services: [String: String]

    enum CodingKeys: String, CodingKey {
        case pid
        case peerID = "peer_id"
        case repo
        case services
    }

    public static let fileName = "node.json"

    /// The facts of the node running on `repo`, or `nil` when none runs
    /// there (no file, or its process is gone).
    public static func read(repo: String) -> NodeFacts? {
        guard let data = FileManager.default.contents(atPath: repo + "/" + fileName),
            let facts = try? JSONDecoder().decode(NodeFacts.self, from: data),
            kill(facts.pid, 0) == 0 || errno == EPERM
        else { return nil }
        return facts
    }

    public func json(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The last component: once everything before it has started, it writes the
/// files tools find the node by (`node.json`, `api`, `node.pid`, `gateway`)
/// and announces the node; it is the first to stop, removing them, so no
/// client comes to a node that is shutting down.
final class AnnounceComponent: NodeComponent {
    let name = "node"
    unowned let node: TauNode
    let components: [any NodeComponent]

    init(node: TauNode, components: [any NodeComponent]) {
        self.node = node
        self.components = components
    }

    private var repoPath: String { node.options.repoPath }
    private var files: [String] {
        [NodeFacts.fileName, AdminClient.apiFileName, AdminClient.pidFileName, "gateway"].map { repoPath + "/" + $0 }
    }

    func start() async throws {
        var services: [String: String] = [:]
        for component in components { if let address = component.address { services[component.name] = address } }
        let facts = NodeFacts(pid: getpid(), peerID: node.host?.peerID.description, repo: node.repo.path, services: services)
        let admin = components.lazy.compactMap { ($0 as? AdminComponent)?.boundAddress }.first
        let gateway = components.lazy.compactMap { ($0 as? GatewayComponent)?.boundAddress }.first
        do {
            try facts.json(pretty: true).write(to: URL(fileURLWithPath: repoPath + "/" + NodeFacts.fileName), options: .atomic)
            try "\(getpid())\n".write(toFile: repoPath + "/" + AdminClient.pidFileName, atomically: true, encoding: .utf8)
            if let gateway {
                try (gateway.description + "\n").write(toFile: repoPath + "/gateway", atomically: true, encoding: .utf8)
            }
            // Last: its presence is what clients take as "a node runs here".
            if let admin {
                try (admin.description + "\n").write(toFile: repoPath + "/" + AdminClient.apiFileName, atomically: true, encoding: .utf8)
            }
        } catch {
            removeFiles()
            throw ServiceStartError(service: name, reason: "cannot write \(repoPath)/\(NodeFacts.fileName): \(error.localizedDescription)")
        }
        if let admin { node.logger.info("admin API listening", metadata: ["address": "\(admin)"]) }
        let swarm = node.host.map { host in host.addresses.map { $0.withPeerID(host.peerID) } } ?? []
        node.options.onReady(TauNode.ReadyInfo(admin: admin, gateway: gateway, swarm: swarm, facts: facts))
    }

    func stop() async { removeFiles() }

    private func removeFiles() {
        for file in files.reversed() { try? FileManager.default.removeItem(atPath: file) }
    }
}
