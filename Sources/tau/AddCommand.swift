import ArgumentParser
import Blocks
import Chunking
import Foundation
import Multiformats
import UnixFS

struct AddCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add files or directories as UnixFS DAGs and print their CIDs.",
        discussion: """
            Prints one line per file and directory, `added CID NAME`, as `ipfs add` does; \
            CIDs equal Kubo's for the same bytes and flags. With no PATH, reads standard input.
            """
    )

    @Argument(help: "Files or directories to add (standard input if none).")
    var paths: [String] = []

    @Flag(name: [.short, .long], help: "Add directory paths recursively.")
    var recursive = false

    @Flag(name: [.customShort("w"), .customLong("wrap-with-directory")], help: "Wrap files with a directory object.")
    var wrap = false

    @Flag(name: [.customShort("H"), .long], help: "Include files that are hidden (names starting with '.').")
    var hidden = false

    @Flag(name: [.customShort("n"), .customLong("only-hash")], help: "Only chunk and hash; do not write blocks.")
    var onlyHash = false

    @Flag(name: [.short, .long], help: "Write minimal output (CIDs only).")
    var quiet = false

    @Flag(name: [.customShort("Q"), .customLong("quieter")], help: "Write only the final CID.")
    var quieter = false

    @Option(name: .customLong("cid-version"), help: "CID version (0 or 1). CIDv1 implies --raw-leaves unless it is set.")
    var cidVersion: Int?

    @Option(name: .customLong("raw-leaves"), help: "Use raw blocks for leaves (true/false). Default: false for CIDv0, true for CIDv1.")
    var rawLeaves: Bool?

    @Option(name: [.customShort("s"), .long], help: "Chunker: size-N, rabin[-MIN-AVG-MAX], buzhash or fastcdc-MIN-AVG-MAX.")
    var chunker: String?

    @Flag(name: [.short, .long], help: "Use the trickle DAG layout.")
    var trickle = false

    @Option(help: "Inline small blocks into CIDs (identity multihash): true/false.")
    var inline: Bool = false

    @Option(name: .customLong("inline-limit"), help: "Maximum block size to inline, at most 128 bytes.")
    var inlineLimit: Int = 32

    @Option(help: "Hash function: sha2-256 (default) or sha2-512 (implies CIDv1).")
    var hash: String?

    @Option(name: .customLong("max-file-links"), help: "Maximum links per file node (default 174; 1024 with unixfs-v1-2025).")
    var maxFileLinks: Int?

    @Option(name: .customLong("max-directory-links"), help: "Maximum links in a basic directory before it is sharded (0: no limit).")
    var maxDirectoryLinks: Int?

    @Option(name: .customLong("max-hamt-fanout"), help: "HAMT fanout: a power of 2 from 8 to 1024 (default 256).")
    var maxHAMTFanout: Int?

    @Option(help: "Import profile: unixfs-v0-2015 (default) or unixfs-v1-2025.")
    var profile: String?

    @Option(help: "Show a progress bar (default: when standard error is a terminal).")
    var progress: Bool?

    @Option(help: "Pin what is added, recursively (default true).")
    var pin: Bool = true

    @Option(name: .customLong("pin-name"), help: "A name for the pin.")
    var pinName: String?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        var options = ImportOptions()
        if let profile {
            guard let known = ImportProfile(rawValue: profile) else {
                let names = ImportProfile.allCases.map(\.rawValue).joined(separator: ", ")
                throw CLIError("unknown profile \"\(profile)\" (known: \(names))")
            }
            options.profile = known
        }
        options.cidVersion = cidVersion
        options.rawLeaves = rawLeaves
        options.hashFunction = hash
        options.chunker = chunker
        options.trickle = trickle ? true : nil
        options.maxFileLinks = maxFileLinks
        options.maxDirectoryLinks = maxDirectoryLinks
        options.hamtFanout = maxHAMTFanout
        options.inline = inline
        options.inlineLimit = inlineLimit
        let resolved = try options.resolve()

        let showProgress = showsProgress(progress)
        let total = showProgress ? paths.reduce(UInt64(0)) { $0 + Self.totalSize(of: Console.current.resolve($1)) } : nil
        let bar = showProgress ? ProgressBar(label: "adding", total: paths.isEmpty ? nil : total, enabled: true) : nil
        let quiet = self.quiet, quieter = self.quieter
        let settings = Adder.Settings(recursive: recursive, wrap: wrap, hidden: hidden)
        let paths = self.paths
        let emit: (Adder.Output) -> Void = { output in
            guard !quieter else { return }
            bar?.clear()
            say(quiet ? output.cid.description : "added \(output.cid) \(output.name)")
        }
        func importAll(into sink: any BlockSink) async throws -> [CID] {
            let adder = Adder(options: resolved, settings: settings, sink: sink, progress: bar, emit: emit)
            return paths.isEmpty ? [try await adder.addStandardInput()] : try await adder.add(paths: paths)
        }
        let roots: [CID]
        if onlyHash {
            roots = try await importAll(into: DiscardingBlockSink())
        } else {
            let pin = self.pin, pinName = self.pinName
            roots = try await withRepo(repoOptions) { repo in
                // One add session: GC waits until the pins below are committed.
                try await repo.withAddSession { session in
                    let roots = try await importAll(into: session)
                    if pin {
                        for root in roots { try await session.pin(root, .recursive, name: pinName) }
                    }
                    return roots
                }
            }
        }
        bar?.finish()
        if quieter, let last = roots.last { say(last.description) }
    }

    /// Bytes of regular files under `path` (for the progress bar's total).
    static func totalSize(of path: String) -> UInt64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        if info.st_mode & S_IFMT == S_IFREG { return UInt64(info.st_size) }
        guard info.st_mode & S_IFMT == S_IFDIR,
            let names = try? FileManager.default.contentsOfDirectory(atPath: path)
        else { return 0 }
        return names.reduce(0) { $0 + totalSize(of: path + "/" + $1) }
    }
}

extension AddCommand {
    var readsStandardInput: Bool { paths.isEmpty }
    /// Only hashing needs no repo, so it runs here even while a node runs.
    var runsInsideNode: Bool { !onlyHash }
}
