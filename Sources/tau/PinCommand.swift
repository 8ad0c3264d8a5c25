import ArgumentParser
import Multiformats
import Repo
import UnixFS

struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Keep blocks from garbage collection.",
        subcommands: [PinAdd.self, PinRemove.self, PinList.self])
}

struct PinAdd: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Pin DAGs (recursively by default).")

    @Argument(help: "CIDs (or CID/path) to pin.")
    var paths: [String]

    @Option(name: [.short, .long], help: "Pin the whole DAG (true) or only the block (false).")
    var recursive: Bool = true

    @Option(help: "A name for the pin.")
    var name: String?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let targets = try paths.map(ContentPath.init)
        let kind: PinKind = recursive ? .recursive : .direct
        try await withRepo(repoOptions) { repo in
            for target in targets {
                let cid = try await resolveCID(target, in: repo)
                try await repo.pin(cid, kind, name: name)
                say("pinned \(cid) \(recursive ? "recursively" : "directly")")
            }
        }
    }
}

struct PinRemove: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove pins.")

    @Argument(help: "Pinned CIDs.")
    var paths: [String]

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let targets = try paths.map(ContentPath.init)
        try await withRepo(repoOptions) { repo in
            for target in targets {
                let cid = try await resolveCID(target, in: repo)
                _ = try await repo.unpin(cid)
                say("unpinned \(cid)")
            }
        }
    }
}

struct PinList: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List pins: CID, type and name.")

    @Argument(help: "Only these CIDs (shows how each is pinned, indirect included).")
    var paths: [String] = []

    @Option(name: [.short, .long], help: "direct, recursive or all.")
    var type: String = "all"

    @Flag(name: [.short, .long], help: "Print CIDs only.")
    var quiet = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let kind: PinKind?
        switch type {
        case "all": kind = nil
        case "direct": kind = .direct
        case "recursive": kind = .recursive
        default: throw CLIError("invalid type \"\(type)\" (use direct, recursive or all)")
        }
        let targets = try paths.map(ContentPath.init)
        try await withRepo(repoOptions) { repo in
            if targets.isEmpty {
                for pin in try repo.pins(kind) {
                    say(quiet ? pin.cid.description : ["\(pin.cid)", "\(pin.kind)", pin.name].compactMap { $0 }.joined(separator: " "))
                }
                return
            }
            for target in targets {
                let cid = try await resolveCID(target, in: repo)
                guard let status = try repo.pinStatus(of: cid) else { throw CLIError("\(cid) is not pinned") }
                switch status {
                case .direct: say("\(cid) direct")
                case .recursive: say("\(cid) recursive")
                case .indirect(let through): say("\(cid) indirect through \(through)")
                }
            }
        }
    }
}

/// The CID a path names: the root itself, or the entry at its path.
func resolveCID(_ target: ContentPath, in repo: Repo) async throws -> CID {
    guard !target.components.isEmpty else { return target.root }
    return try await UnixFSReader(source: repo.blocks).resolve(target.root, path: target.components).cid
}
