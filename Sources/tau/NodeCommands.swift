import ArgumentParser
import Foundation
import Logging
import Node
import Repo

struct StartCommand: TauCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run the node: gateway, admin API and /metrics, until SIGINT or SIGTERM.",
        discussion: """
            Reads the configuration from --config, else the repo's config.yaml, else defaults \
            (tau config generate prints them); flags override it. While the node runs, other tau \
            commands on the same repo run inside it through the admin API.
            """)

    @Option(help: "Configuration file (YAML).")
    var config: String?

    @Option(help: "Gateway address, host:port (default 127.0.0.1:8080).")
    var gateway: String?

    @Option(help: "Admin API address, host:port on loopback (default 127.0.0.1:5001).")
    var admin: String?

    @Option(help: "libp2p listen multiaddr (default /ip4/127.0.0.1/tcp/4001).")
    var swarm: [String] = []

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let repoPath = repoOptions.path
        let defaultConfig = repoPath + "/config.yaml"
        var configuration: NodeConfiguration
        if let config {
            configuration = try NodeConfiguration.load(from: Console.current.resolve(config))
        } else if FileManager.default.fileExists(atPath: defaultConfig) {
            configuration = try NodeConfiguration.load(from: defaultConfig)
        } else {
            configuration = NodeConfiguration()
        }
        if let gateway { configuration.gateway.listen = gateway }
        if let admin { configuration.admin.listen = admin }
        if !swarm.isEmpty { configuration.swarm.listen = swarm }
        try configuration.validate()

        var logger = Logger(label: "tau")
        logger.logLevel = Logger.Level(rawValue: configuration.log.level) ?? .info
        let options = TauNode.Options(
            configuration: configuration, repoPath: repoPath,
            runCommand: { invocation in await Tau.runInsideNode(invocation) },
            onReady: { info in
                var lines = ["tau node running on \(repoPath)"]
                if let admin = info.admin { lines.append("admin API: http://\(admin)/ (metrics: /metrics)") }
                if let gateway = info.gateway { lines.append("gateway: http://\(gateway)/ipfs/{cid}") }
                for address in info.swarm { lines.append("swarm: \(address)") }
                for line in lines { say(line) }
            })
        let node = try TauNode(options: options, logger: logger)
        try await node.run()
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Node configuration.", subcommands: [ConfigGenerate.self])
}

struct ConfigGenerate: TauCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Print the default node configuration as YAML (or write it to a file).")

    @Option(name: [.short, .long], help: "Write to this file instead of standard output (refuses to overwrite).")
    var output: String?

    func execute() async throws {
        let text = try NodeConfiguration().yaml()
        guard let output else {
            say(text.hasSuffix("\n") ? String(text.dropLast()) : text)
            return
        }
        let path = Console.current.resolve(output)
        guard !FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path) already exists") }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        say("wrote \(path)")
    }
}

/// A command that uses the repo, and so runs inside the node when one runs.
protocol RepoUsingCommand: TauCommand {
    var repoOptions: RepoOptions { get }
    /// Whether the command reads standard input (its bytes then go to the node).
    var readsStandardInput: Bool { get }
    /// Whether to run inside a running node at all.
    var runsInsideNode: Bool { get }
}

extension RepoUsingCommand {
    var readsStandardInput: Bool { false }
    var runsInsideNode: Bool { true }
}

extension Tau {
    /// Commands that may not run inside a node (they manage the node or the repo itself).
    static func isRefusedInsideNode(_ command: any ParsableCommand) -> Bool {
        command is StartCommand || command is InitCommand || command is ConfigGenerate
    }

    /// Runs a forwarded command with the client's pipes and the node's repo.
    static func runInsideNode(_ invocation: CommandInvocation) async -> Int32 {
        var console = Console(
            input: invocation.input, output: invocation.output, error: invocation.error,
            workingDirectory: invocation.workingDirectory, repo: invocation.repo,
            outputIsTerminal: invocation.outputIsTerminal, errorIsTerminal: invocation.errorIsTerminal)
        console.host = invocation.host
        console.blocks = invocation.blocks
        console.pubsub = invocation.pubsub
        console.dht = invocation.dht
        console.client = invocation.client
        return await Console.$current.withValue(console) {
            do {
                var command = try parseAsRoot(normalize(invocation.arguments))
                if isRefusedInsideNode(command) {
                    writeErr("Error: this command cannot run while the node runs on the repo\n")
                    return 1
                }
                if var asyncCommand = command as? AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
                return 0
            } catch {
                let message = fullMessage(for: error)
                let code = exitCode(for: error).rawValue
                if !message.isEmpty {
                    if code == 0 { say(message) } else { writeErr(message + "\n") }
                }
                return code
            }
        }
    }
}
