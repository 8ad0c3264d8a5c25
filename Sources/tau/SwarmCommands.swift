import ArgumentParser
import Foundation
import Node
import P2P

struct IDCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "id", abstract: "Show this node's peer identity as JSON, as `ipfs id` does.")

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let identity: KeyPair
        var addresses: [String] = []
        var protocols: [String] = []
        if let host = Console.current.host {
            identity = host.identity
            addresses = host.addresses.map { $0.withPeerID(host.peerID).description }
            protocols = host.protocols.sorted()
        } else if Console.current.repo != nil {
            // Inside a node whose swarm is off: the identity it would use.
            identity = try NodeIdentity.loadOrCreate(repo: repoOptions.path)
        } else {
            // Only a running node answers (its live addresses and protocols);
            // a node is reached through its admin API, so none is up here.
            guard repoOptions.exists else { throw CLIError("no tau repo at \(repoOptions.path) (run `tau init`)") }
            let peer = (try? NodeIdentity.loadOrCreate(repo: repoOptions.path))?.peerID.description ?? "unknown"
            if let facts = NodeFacts.read(repo: repoOptions.path) {
                throw CLIError("the node running on \(repoOptions.path) (pid \(facts.pid)) has no admin API (admin.enabled: false); its peer ID is \(facts.peerID ?? peer)")
            }
            throw CLIError("no node is running on \(repoOptions.path) (tau start); the repo's peer ID is \(peer)")
        }
        struct Output: Encodable {
            let ID: String
            let PublicKey: String
            let Addresses: [String]
            let AgentVersion: String
            let Protocols: [String]
        }
        let output = Output(
            ID: identity.peerID.description, PublicKey: Data(identity.publicKey.protobuf).base64EncodedString(),
            Addresses: addresses, AgentVersion: "tau/\(Tau.configuration.version)", Protocols: protocols)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        say(String(decoding: try encoder.encode(output), as: UTF8.self))
    }
}

struct SwarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm", abstract: "The node's libp2p connections (needs a running node).",
        subcommands: [SwarmPeers.self, SwarmConnect.self])
}

/// The running node's host, or an error saying a node is needed.
func requireHost() throws -> P2PHost {
    guard let host = Console.current.host else {
        throw CLIError("this command needs a running node with its swarm on (tau start)")
    }
    return host
}

struct SwarmPeers: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "peers", abstract: "List connected peers as full multiaddrs.")

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let host = try requireHost()
        var lines: [String] = []
        for peer in host.peers() {
            let remote = host.connections(to: peer).first?.remoteAddress
            lines.append(remote.map { $0.withPeerID(peer).description } ?? "/p2p/\(peer)")
        }
        for line in lines.sorted() { say(line) }
    }
}

struct SwarmConnect: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "connect", abstract: "Connect to a peer by multiaddr.")

    @Argument(help: "Multiaddrs such as /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…")
    var addresses: [String]

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let host = try requireHost()
        for text in addresses {
            let address: Multiaddr
            do { address = try Multiaddr(text) } catch { throw CLIError("invalid multiaddr \"\(text)\": \(error)") }
            do {
                let peer = try await host.connect(address)
                say("connect \(peer) success")
            } catch {
                throw CLIError("connect \(text) failure: \(error)")
            }
        }
    }
}
