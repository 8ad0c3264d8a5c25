import ArgumentParser
import Foundation
import Node
import P2P
import PubSub

struct PubSubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub", abstract: "Publish and subscribe to topics (GossipSub; needs a running node).",
        subcommands: [PubSubSub.self, PubSubPub.self, PubSubLs.self, PubSubPeers.self])
}

/// The running node's pubsub service, or an error saying what is missing.
func requirePubSub() throws -> PubSub {
    guard let pubsub = Console.current.pubsub else {
        if Console.current.repo != nil {
            throw CLIError("pubsub is off on this node (pubsub.enabled: false, or the swarm is off)")
        }
        throw CLIError("this command needs a running node (tau start)")
    }
    return pubsub
}

struct PubSubSub: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Print the messages of a topic as they arrive, until interrupted.",
        discussion: "Each message's data, then a newline; with --json one object per line: from, seqno and data (base64), topicIDs.")

    @Argument(help: "The topic.")
    var topic: String

    @Flag(help: "One JSON object per message.")
    var json = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let pubsub = try requirePubSub()
        let messages = pubsub.subscribe(topic)
        let client = Console.current.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in messages {
                    try Self.print(message, json: json)
                }
            }
            // The subscription lasts while the client is connected.
            group.addTask { await client?.waitUntilGone() }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    static func print(_ message: PubSub.Message, json: Bool) throws {
        var line: [UInt8]
        if json {
            struct Output: Encodable {
                let from: String?
                let seqno: String?
                let data: String
                let topicIDs: [String]
            }
            let output = Output(from: message.from?.description, seqno: message.seqno.map { Data($0).base64EncodedString() },
                                data: Data(message.data).base64EncodedString(), topicIDs: [message.topic])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = Array(try encoder.encode(output))
        } else {
            line = message.data
        }
        line.append(0x0A)
        try line.withUnsafeBytes { try writeAll(Console.current.output, $0) }
    }
}

struct PubSubPub: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub", abstract: "Publish one message to a topic: the bytes of FILE, or of standard input.")

    @Argument(help: "The topic.")
    var topic: String

    @Argument(help: "A file whose bytes are the message (default: standard input).")
    var file: String?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let pubsub = try requirePubSub()
        let data = try readFileOrInput(file)
        do {
            try pubsub.publish(data, to: topic)
        } catch {
            throw CLIError("cannot publish to \(topic): \(error)")
        }
    }
}

extension PubSubPub {
    var readsStandardInput: Bool { file == nil || file == "-" }
}

struct PubSubLs: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the topics this node is subscribed to.")

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        for topic in try requirePubSub().topics { say(topic) }
    }
}

struct PubSubPeers: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers", abstract: "List the peers we speak pubsub with; with a topic, those subscribed to it.")

    @Argument(help: "A topic (default: all peers).")
    var topic: String?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        for peer in try requirePubSub().peers(topic: topic) { say(peer.description) }
    }
}
