import ArgumentParser
import Foundation
import Multiformats
import Repo
import Sites
import UnixFS

struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site", abstract: "Host websites: a domain points at a UnixFS directory.",
        subcommands: [SitePublish.self, SiteList.self, SiteRollback.self])
}

struct SitePublish: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Add a directory and point a domain at it (the previous version is kept for rollback).")

    @Argument(help: "The site's directory.")
    var directory: String

    @Option(help: "The domain that serves it, e.g. www.example.test.")
    var domain: String

    @Flag(help: "Single-page app: paths that match no file serve the root's index.html.")
    var spa = false

    @Flag(name: [.customShort("H"), .long], help: "Include hidden files (names starting with '.').")
    var hidden = false

    @Option(help: "Import profile: unixfs-v0-2015 (default) or unixfs-v1-2025.")
    var profile: String?

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let domain = try SiteRegistry.canonicalDomain(self.domain)
        var options = ImportOptions()
        if let profile {
            guard let known = ImportProfile(rawValue: profile) else { throw CLIError("unknown profile \"\(profile)\"") }
            options.profile = known
        }
        let resolved = try options.resolve()
        var isDirectory: ObjCBool = false
        let path = Console.current.resolve(directory)
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("\(directory) is not a directory")
        }
        let spa = self.spa, hidden = self.hidden
        let record = try await withRepo(repoOptions) { repo in
            let registry = try SiteRegistry(repo: repo)
            // One add session from the first block to the pin: no GC in between.
            return try await repo.withAddSession { session in
                let adder = Adder(options: resolved, settings: Adder.Settings(recursive: true, wrap: false, hidden: hidden),
                                  sink: session, progress: nil, emit: { _ in })
                let root = try await adder.add(paths: [path])[0]
                return try await registry.publish(domain: domain, root: root, spa: spa,
                                                  publishedAt: Int64(Date().timeIntervalSince1970))
            }
        }
        say("published \(record.current.root) at \(record.domain) (version \(record.versions.count))")
    }
}

struct SiteList: RepoUsingCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List published sites: domain, live root, versions.")

    @Flag(name: .long, help: "Also list every earlier version, newest first.")
    var history = false

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let sites = try await withRepo(repoOptions) { repo in try SiteRegistry(repo: repo).sites() }
        for site in sites {
            let spa = site.current.spa ? " spa" : ""
            say("\(site.domain) \(site.current.root) \(site.versions.count) version\(site.versions.count == 1 ? "" : "s")\(spa)")
            if history {
                for (index, version) in site.versions.enumerated().reversed() {
                    let date = Date(timeIntervalSince1970: TimeInterval(version.publishedAt))
                    say("  \(index + 1) \(version.root) \(ISO8601DateFormatter().string(from: date))\(version.spa ? " spa" : "")")
                }
            }
        }
    }
}

struct SiteRollback: RepoUsingCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Serve the previous version of a site again.")

    @Argument(help: "The domain.")
    var domain: String

    @OptionGroup var repoOptions: RepoOptions

    func execute() async throws {
        let domain = self.domain
        let record = try await withRepo(repoOptions) { repo in try await SiteRegistry(repo: repo).rollback(domain: domain) }
        say("\(record.domain) now serves \(record.current.root) (version \(record.versions.count))")
    }
}
