import ArgumentParser

@main
struct Tau: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tau",
        abstract: "tau: the storage-centric data plane of a peer-to-peer cloud.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self, AddCommand.self, CatCommand.self, GetCommand.self, LsCommand.self,
            PinCommand.self, RepoCommand.self, BlockCommand.self, DagCommand.self,
        ]
    )

    /// Boolean options that, as in `ipfs`, may be given bare (`--raw-leaves`)
    /// or with a value (`--raw-leaves=false`).
    static let optionalValueBooleans: Set<String> = ["--raw-leaves", "--inline", "--pin", "--progress"]

    /// Rewrites a bare `--raw-leaves` into `--raw-leaves=true` so the parser
    /// sees one form.
    static func normalize(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var afterTerminator = false
        for argument in arguments {
            if argument == "--" { afterTerminator = true }
            if !afterTerminator && optionalValueBooleans.contains(argument) {
                result.append(argument + "=true")
            } else {
                result.append(argument)
            }
        }
        return result
    }

    static func main() async {
        do {
            var command = try parseAsRoot(normalize(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
