import ArgumentParser
import Foundation
import Repo

struct RepoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo", abstract: "Inspect and maintain the repo.",
        subcommands: [RepoStatCommand.self, RepoGCCommand.self, RepoVerifyCommand.self])
}

struct RepoStatCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "stat", abstract: "Blocks, bytes and pins in the repo.")

    @Flag(name: [.customShort("H"), .long], help: "Print sizes in human units.")
    var human = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        try await withRepo(repoOptions) { repo in
            let stat = try repo.stat()
            let size = { (bytes: Int) in human ? ProgressBar.bytes(UInt64(bytes)) : String(bytes) }
            let rows: [(String, String)] = [
                ("NumObjects", String(stat.blockCount)),
                ("BlockBytes", size(stat.blockBytes)),
                ("RepoSize", size(stat.fileBytes)),
                ("UsedBytes", size(stat.usedBytes)),
                ("PinnedRoots", "\(stat.pinnedRoots) (\(stat.recursivePins) recursive, \(stat.directPins) direct)"),
                ("RepoPath", repo.path),
                ("Version", "tau-repo@\(Repo.formatVersion)"),
            ]
            for (name, value) in rows {
                say((name + ":").padding(toLength: 14, withPad: " ", startingAt: 0) + value)
            }
        }
    }
}

struct RepoGCCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Delete every block no pin reaches (safe while adds run).")

    @Flag(name: [.short, .long], help: "Print nothing.")
    var quiet = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        try await withRepo(repoOptions) { repo in
            let report = try await repo.gc()
            if !quiet {
                say("removed \(report.removedBlocks) blocks (\(report.removedBytes) bytes), kept \(report.markedBlocks) pinned blocks")
            }
        }
    }
}

struct RepoVerifyCommand: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Re-hash every block; list bad ones and exit non-zero if any.")

    @Option(help: "Show progress (default: when standard error is a terminal).")
    var progress: Bool?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let show = showsProgress(progress)
        let callback: (@Sendable (VerifyProgress) -> Void)? = show ? Self.drawProgress : nil
        let report = try await withRepo(repoOptions) { repo in try await repo.verify(progress: callback) }
        if show { writeErr("\u{1B}[2K\r") }
        for problem in report.problems { say("block \(problem) was corrupt") }
        guard report.problems.isEmpty else {
            throw CLIError("verify complete, \(report.problems.count) of \(report.checkedBlocks + report.uncheckedBlocks) blocks corrupt")
        }
        say("verify complete, all \(report.checkedBlocks) blocks validated.")
    }

    @Sendable static func drawProgress(_ state: VerifyProgress) {
        writeErr("\u{1B}[2K\r\(state.checkedBlocks)/\(state.totalBlocks) blocks verified")
    }
}
