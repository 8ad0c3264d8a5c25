import ArgumentParser
import Foundation
import Node
import Repo

struct InitCommand: TauCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a tau repo (default ~/.tau, or --repo / $TAU_REPO)."
    )

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let path = repoOptions.path
        if repoOptions.exists { throw CLIError("a tau repo already exists at \(path)") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError("\(path) exists and is not a directory") }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard contents.isEmpty else { throw CLIError("\(path) exists and is not empty") }
        }
        let repo = try Repo(path: path, databases: TauNode.serviceDatabases)
        await repo.close()
        let identity = try NodeIdentity.loadOrCreate(repo: path)
        say("initialized tau repo at \(path)")
        say("peer identity: \(identity.peerID)")
    }
}
