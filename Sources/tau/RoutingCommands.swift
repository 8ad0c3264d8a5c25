import ArgumentParser
import DHT
import Foundation
import Multiformats
import Node
import P2P

struct RoutingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing", abstract: "Find providers, peers and records in the Kademlia DHT (needs a running node).",
        subcommands: [RoutingFindProvs.self, RoutingFindPeer.self, RoutingProvide.self, RoutingGet.self, RoutingPut.self])
}

/// The running node's DHT, or an error saying what is missing.
func requireDHT() throws -> DHT {
    guard let dht = Console.current.dht else {
        if Console.current.repo != nil {
            throw CLIError("the DHT is off on this node (dht.enabled: false, or the swarm is off)")
        }
        throw CLIError("this command needs a running node (tau start)")
    }
    return dht
}

/// A DHT failure as the CLI reports it.
func routingFailure(_ error: Error) -> CLIError {
    if let error = error as? DHTError {
        switch error.code {
        case .notFound: return CLIError("routing: not found")
        case .noPeers: return CLIError("routing: no DHT peers to ask (connect with `tau swarm connect` or set swarm.bootstrap)")
        default: return CLIError("routing: \(error)")
        }
    }
    return CLIError("routing: \(error)")
}

/// `/pk/PEERID` as Kubo spells keys on the command line: the peer ID in text, the key in bytes.
func dhtKey(_ text: String) throws -> [UInt8] {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].isEmpty, parts[1] == "pk", let peer = try? PeerID(parts[2]) else {
        throw CLIError("invalid key \(text.debugDescription): keys are /pk/PEERID")
    }
    return RecordValidator.publicKeyKey(peer)
}

struct RoutingFindProvs: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "findprovs", abstract: "Print the peers that provide CID, one per line.")

    @Argument(help: "The content.")
    var cid: String

    @Option(name: [.customShort("n"), .customLong("num-providers")], help: "Stop after this many providers.")
    var numProviders = 20

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let dht = try requireDHT()
        let content = try parseCID(cid)
        guard numProviders > 0 else { throw CLIError("--num-providers must be at least 1") }
        do {
            for provider in try await dht.findProviders(content, limit: numProviders) { say(provider.peer.description) }
        } catch { throw routingFailure(error) }
    }
}

struct RoutingFindPeer: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "findpeer", abstract: "Print the addresses of PEERID, one per line.")

    @Argument(help: "The peer.")
    var peer: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let dht = try requireDHT()
        let id: PeerID
        do { id = try PeerID(peer) } catch { throw CLIError("invalid peer ID \(peer.debugDescription): \(error)") }
        do {
            for address in try await dht.findPeer(id) { say(address.description) }
        } catch { throw routingFailure(error) }
    }
}

struct RoutingProvide: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "provide", abstract: "Announce to the DHT that this node provides CID (it must be in the repo).")

    @Argument(help: "The content.")
    var cid: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let dht = try requireDHT()
        let content = try parseCID(cid)
        guard let repo = Console.current.repo, try repo.blocks.contains(content) else {
            throw CLIError("\(cid) is not in the repo: provide only what this node has")
        }
        do {
            let told = try await dht.provide(content)
            say("provided \(content) to \(told) peers")
        } catch { throw routingFailure(error) }
    }
}

struct RoutingGet: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Write the value of a DHT record (/pk/PEERID: the peer's public key, protobuf).")

    @Argument(help: "The key, /pk/PEERID.")
    var key: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let dht = try requireDHT()
        let bytes = try dhtKey(key)
        do {
            let value = try await dht.getValue(key: bytes)
            try value.withUnsafeBytes { try writeAll(Console.current.output, $0) }
        } catch let error as CLIError { throw error } catch { throw routingFailure(error) }
    }
}

struct RoutingPut: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Store a record in the DHT: the value from FILE or standard input.")

    @Argument(help: "The key, /pk/PEERID.")
    var key: String

    @Argument(help: "A file whose bytes are the value (default: standard input).")
    var file: String?

    @OptionGroup var repoOptions: RepoOptions

    var readsStandardInput: Bool { file == nil || file == "-" }

    func execute() async throws {
        let dht = try requireDHT()
        let bytes = try dhtKey(key)
        let value = try readFileOrInput(file)
        do {
            let accepted = try await dht.putValue(key: bytes, value: value)
            say("stored \(key) with \(accepted) peers")
        } catch { throw routingFailure(error) }
    }
}

struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "Find the peers that run each service (through the DHT; needs a running node).",
        subcommands: [ServicesLs.self])
}

struct ServicesLs: RepoUsingCommand {
    /// The services a tau node may announce, in the order listed.
    static let known = ["gateway", "pubsub", "bitswap", "hoarder", "kv", "s3", "dns", "functions"]

    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the peers that announce each service (or only SERVICE): SERVICE PEERID per line.")

    @Argument(help: "One service: \(known.joined(separator: ", ")).")
    var service: String?

    @Flag(help: "One JSON object: service → peer IDs.")
    var json = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let dht = try requireDHT()
        if let service, !Self.known.contains(service) {
            throw CLIError("unknown service \(service.debugDescription) (one of \(Self.known.joined(separator: ", ")))")
        }
        var found: [String: [String]] = [:]
        for name in service.map({ [$0] }) ?? Self.known {
            do {
                found[name] = try await dht.findProviders(dht.serviceKey(name), limit: 100).map(\.peer.description).sorted()
            } catch let error as DHTError where error == .noPeers {
                // Only this node itself, then.
                found[name] = []
            } catch { throw routingFailure(error) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            say(String(decoding: try encoder.encode(found), as: UTF8.self))
        } else {
            for name in service.map({ [$0] }) ?? Self.known {
                for peer in found[name] ?? [] { say("\(name) \(peer)") }
            }
        }
    }
}
