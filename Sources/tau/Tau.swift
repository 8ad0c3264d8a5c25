import ArgumentParser
import Foundation
import Node
#if canImport(Glibc)
import CMalloc
#endif

@main
struct Tau: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tau",
        abstract: "tau: the storage-centric data plane of a peer-to-peer cloud.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self, AddCommand.self, CatCommand.self, GetCommand.self, LsCommand.self,
            PinCommand.self, RepoCommand.self, BlockCommand.self, DagCommand.self,
            SiteCommand.self, StartCommand.self, ConfigCommand.self, IDCommand.self, SwarmCommand.self, PubSubCommand.self,
            RoutingCommand.self, ServicesCommand.self, DreamCommand.self,
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

    /// glibc serves allocations above 128 KiB with fresh `mmap`s and returns
    /// freed heap tops to the kernel, so every 256 KiB block and every LMDB
    /// dirty page of an add would be faulted in and zeroed anew. Keeping
    /// allocations under 4 MiB on the heap, and up to 8 MiB of freed memory
    /// for reuse, cut page faults 4× and CPU time ~15 % on a 1 GiB add; the
    /// resident set stays bounded by what is live at once.
    static func configureAllocator() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 8 << 20)
        #endif
    }

    static func main() async {
        configureAllocator()
        do {
            let arguments = normalize(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot(arguments)
            // With a node running on the repo, the node runs the command.
            if let repoCommand = command as? any RepoUsingCommand, repoCommand.runsInsideNode,
                let node = AdminClient.runningNode(repo: repoCommand.repoOptions.path)
            {
                do {
                    let status = try AdminClient.forward(
                        arguments: arguments, to: node.address, token: node.token,
                        sendsInput: repoCommand.readsStandardInput)
                    Foundation.exit(status)
                } catch {
                    writeErr("Error: \(error)\n")
                    Foundation.exit(1)
                }
            }
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
