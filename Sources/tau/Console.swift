#if canImport(Glibc)
import Glibc
#endif
import Blocks
import ContentCache
import DHT
import Node
import P2P
import PubSub
import Repo

/// Where a command's input and output go, and what it runs against.
///
/// From a shell: the process's standard descriptors and its working directory.
/// Inside a running node (a command forwarded over the admin API): pipes to the
/// client's request and response, the client's working directory, and the
/// node's open repo. Commands reach it through `Console.current`.
struct Console: Sendable {
    let input: Int32
    let output: Int32
    let error: Int32
    /// Relative paths are taken from here; `nil` means the process's own.
    let workingDirectory: String?
    /// The node's repo, when the command runs inside the node.
    let repo: Repo?
    /// The node's libp2p host, when the command runs inside a node whose swarm runs.
    var host: P2PHost? = nil
    /// The node's read path (cache → store → peers), when the command runs inside a node.
    var blocks: BlockService? = nil
    /// The node's publish/subscribe service, when it runs.
    var pubsub: PubSub? = nil
    /// The node's DHT, when it runs.
    var dht: DHT? = nil
    /// Whether the client of a forwarded command is still connected.
    var client: ClientPresence? = nil
    let outputIsTerminal: Bool
    let errorIsTerminal: Bool

    static let process = Console(
        input: 0, output: 1, error: 2, workingDirectory: nil, repo: nil,
        outputIsTerminal: isatty(1) == 1, errorIsTerminal: isatty(2) == 1)

    @TaskLocal static var current = Console.process

    /// Where read commands get blocks: inside a node its read path (cache →
    /// store → peers), else the repo's store.
    func blockSource(for repo: Repo) -> any BlockSource {
        blocks ?? repo.blocks
    }

    /// `path` as the command's caller meant it.
    func resolve(_ path: String) -> String {
        guard let workingDirectory, !path.hasPrefix("/"), path != "-" else { return path }
        return workingDirectory + "/" + path
    }
}

/// A line of output (what `print` would write), to the command's output.
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buffer in try? writeAll(Console.current.output, UnsafeRawBufferPointer(buffer)) }
}
