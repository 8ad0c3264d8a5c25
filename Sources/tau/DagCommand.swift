import ArgumentParser
import Blocks
import CAR
import Foundation
import Multiformats
import Repo
import UnixFS

struct DagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dag", abstract: "Move whole DAGs in and out as CAR files.",
        subcommands: [DagExport.self, DagImport.self])
}

struct DagExport: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the DAG under a CID to standard output as a CAR.")

    @Argument(help: "The root CID.")
    var cid: String

    @Option(name: .customLong("car-version"), help: "1 (default) or 2 (with an index).")
    var carVersion: Int = 1

    @Option(help: "Show a progress bar (default: when standard error is a terminal).")
    var progress: Bool?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let root = try parseCID(cid)
        guard carVersion == 1 || carVersion == 2 else { throw CLIError("car-version must be 1 or 2") }
        if Console.current.outputIsTerminal { throw CLIError("refusing to write a CAR to a terminal; redirect standard output") }
        let bar = showsProgress(progress) ? ProgressBar(label: "exporting", total: nil, enabled: true) : nil
        try await withRepo(repoOptions) { repo in
            guard try repo.blocks.contains(root) || root.isIdentity else {
                throw CLIError("block \(root) not found in the repo")
            }
            let emit: ([UInt8]) async throws -> Void = { chunk in
                try chunk.withUnsafeBytes { try writeAll(Console.current.output, $0) }
                bar?.advance(by: chunk.count)
            }
            let links: CARExport.LinkReader = { cid, bytes in try DAGLinks.links(of: cid, block: bytes) }
            if carVersion == 1 {
                _ = try await CARExport.writeV1(roots: [root], from: repo.blocks, links: links, emit: emit)
            } else {
                _ = try await CARExport.writeV2(roots: [root], from: repo.blocks, links: links, emit: emit)
            }
        }
        bar?.finish()
    }
}

struct DagImport: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import CAR files (v1 or v2), verifying every block, and pin their roots.")

    @Argument(help: "CAR files (standard input if none).")
    var files: [String] = []

    @Option(name: .customLong("pin-roots"), help: "Pin the roots recursively (default true). A root whose DAG is incomplete fails the import.")
    var pinRoots: Bool = true

    @Option(help: "Show a progress bar (default: when standard error is a terminal).")
    var progress: Bool?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let show = showsProgress(progress)
        let pinRoots = self.pinRoots
        try await withRepo(repoOptions) { repo in
            for file in files.isEmpty ? ["-"] : files {
                let standardInput = file == "-"
                let descriptor: Int32 = standardInput ? Console.current.input : open(Console.current.resolve(file), O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw CLIError("\(file): \(String(cString: strerror(errno)))") }
                defer { if !standardInput { close(descriptor) } }
                var info = stat()
                let total: UInt64? = fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG ? UInt64(info.st_size) : nil
                let bar = show ? ProgressBar(label: "importing", total: total, enabled: true) : nil
                // Blocks and pins in one add session: a failed import pins nothing,
                // and its blocks stay unpinned for GC.
                let summary = try await repo.withAddSession { session in
                    let summary = try await CARImport.load(
                        from: FileDescriptorPieces(descriptor: descriptor, pieceSize: 1 << 20, progress: bar), into: session)
                    if pinRoots {
                        for root in summary.roots {
                            do {
                                try await session.pin(root, .recursive)
                            } catch {
                                throw CLIError("\(file): root \(root) cannot be pinned: \(describe(error))")
                            }
                        }
                    }
                    return summary
                }
                bar?.finish()
                for root in summary.roots {
                    say(pinRoots ? "Pinned root\t\(root)\tsuccess" : "Root\t\(root)")
                }
                if !show { continue }
                writeErr("imported \(summary.blockCount) blocks (\(ProgressBar.bytes(summary.byteCount)))\n")
            }
        }
    }
}

extension DagImport {
    var readsStandardInput: Bool { files.isEmpty || files.contains("-") }
}
