import ArgumentParser
import Blocks
import Foundation
import Multiformats
import Repo
import UnixFS

struct CatCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Write a file's content to standard output.")

    @Argument(help: "A file: CID, CID/path or /ipfs/CID/path.")
    var path: String

    @Option(name: [.short, .long], help: "Byte offset to start at.")
    var offset: UInt64 = 0

    @Option(name: [.customShort("l"), .long], help: "Number of bytes to write (default: to the end).")
    var length: UInt64?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let target = try ContentPath(path)
        try await withRepo(repoOptions) { repo in
            let reader = UnixFSReader(source: Console.current.blockSource(for: repo))
            let node = try await reader.resolve(target.root, path: target.components)
            guard node.kind == .file else {
                throw CLIError("\(target) is a \(node.kind.rawValue), not a file")
            }
            let end = length.map { offset.addingReportingOverflow($0).overflow ? UInt64.max : offset + $0 } ?? UInt64.max
            try await reader.read(node, range: offset..<max(offset, end)) { slice in
                try slice.withUnsafeBytes { try writeAll(Console.current.output, $0) }
            }
        }
    }
}

struct LsCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List a directory: CID, size and name of each entry.")

    @Argument(help: "A directory: CID, CID/path or /ipfs/CID/path.")
    var paths: [String]

    @Option(help: "Print sizes (file content size; '-' for directories).")
    var size: Bool = true

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let targets = try paths.map(ContentPath.init)
        try await withRepo(repoOptions) { repo in
            let reader = UnixFSReader(source: Console.current.blockSource(for: repo))
            for target in targets {
                let node = try await reader.resolve(target.root, path: target.components)
                if targets.count > 1 { say("\(target):") }
                var rows: [[String]] = []
                if node.kind == .directory || node.kind == .hamtDirectory {
                    for entry in try await reader.entries(of: node) {
                        let child = try await reader.node(entry.cid)
                        let isDirectory = child.kind == .directory || child.kind == .hamtDirectory
                        rows.append([entry.cid.description, isDirectory ? "-" : String(child.size),
                                     entry.name + (isDirectory ? "/" : "")])
                    }
                } else {
                    // `ipfs ls` of a file lists its blocks; a single-block file has none.
                    for link in node.links {
                        rows.append([link.cid.description, String(link.tsize ?? 0), ""])
                    }
                }
                printTable(size ? rows : rows.map { [$0[0], $0[2]] })
                if targets.count > 1 { say("") }
            }
        }
    }

    /// Columns separated by a space and padded as Kubo's tabwriter pads them.
    private func printTable(_ rows: [[String]]) {
        guard let columns = rows.first?.count else { return }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < columns - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 1) }
            }
            say(line)
        }
    }
}

struct GetCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Write a file or directory tree to disk.")

    @Argument(help: "CID, CID/path or /ipfs/CID/path.")
    var path: String

    @Option(name: [.short, .long], help: "Where to write (default: ./NAME, NAME being the CID or the path's last component).")
    var output: String?

    @Option(help: "Show a progress bar (default: when standard error is a terminal).")
    var progress: Bool?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let target = try ContentPath(path)
        let destination = Console.current.resolve(output ?? target.defaultName)
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw CLIError("\(destination) already exists")
        }
        try await withRepo(repoOptions) { repo in
            let reader = UnixFSReader(source: Console.current.blockSource(for: repo))
            let node = try await reader.resolve(target.root, path: target.components)
            let bar = showsProgress(progress)
                ? ProgressBar(label: "getting", total: node.kind == .file ? node.size : nil, enabled: true) : nil
            let temporary = destination + ".tau-partial-\(getpid())"
            do {
                try await write(node, to: temporary, reader: reader, bar: bar)
                // Appears under its name only when complete.
                guard rename(temporary, destination) == 0 else {
                    throw CLIError("\(destination): \(String(cString: strerror(errno)))")
                }
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                throw error
            }
            bar?.finish()
            say("Saving file(s) to \(destination)")
        }
    }

    private func write(_ node: UnixFSNode, to path: String, reader: UnixFSReader, bar: ProgressBar?) async throws {
        switch node.kind {
        case .file:
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
            defer { close(descriptor) }
            try await reader.read(node) { slice in
                try slice.withUnsafeBytes { try writeAll(descriptor, $0) }
                bar?.advance(by: slice.count)
            }
            if let mode = node.unixfs?.mode, mode & 0o777 != 0 { fchmod(descriptor, mode_t(mode & 0o7777)) }
        case .directory, .hamtDirectory:
            guard mkdir(path, 0o755) == 0 else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
            for entry in try await reader.entries(of: node) {
                try DirectoryEntry.checkName(entry.name)
                try await write(try await reader.node(entry.cid), to: path + "/" + entry.name, reader: reader, bar: bar)
            }
        case .symlink:
            guard symlink(node.symlinkTarget ?? "", path) == 0 else {
                throw CLIError("\(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}
