import Blocks
import Foundation
import Multiformats
import Repo
import Sites
import Testing
import UnixFS

/// The site registry (`sites-v1`): publish, history, rollback, pins.
@Suite struct SiteRegistryTests {
    func storeFile(_ repo: Repo, _ text: String) async throws -> CID {
        let file = importFile(Array(text.utf8))
        try await repo.blocks.put(file.blocks)
        return file.root
    }

    @Test func publishKeepsHistoryAndPinsRoots() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [SiteRegistry.database])
            let registry = try SiteRegistry(repo: repo)
            let v1 = try await storeFile(repo, "version one")
            let v2 = try await storeFile(repo, "version two")
            try await registry.publish(domain: "WWW.Example.TEST.", root: v1, spa: false, publishedAt: 100)
            let record = try await registry.publish(domain: "www.example.test", root: v2, spa: true, publishedAt: 200)
            #expect(record.domain == "www.example.test")
            #expect(record.versions.map(\.root) == [v1, v2])
            #expect(record.current.spa && record.current.publishedAt == 200)
            #expect(try registry.site("www.example.test") == record)
            #expect(try registry.sites().map(\.domain) == ["www.example.test"])
            // Both versions are pinned, so GC keeps them.
            #expect(try repo.pins(.recursive).map(\.name) == ["site:www.example.test", "site:www.example.test"])
            let back = try await registry.rollback(domain: "www.example.test")
            #expect(back.current.root == v1)
            // The dropped version lost its pin; the live one kept it.
            #expect(try repo.pins().map(\.cid) == [v1])
            await #expect(throws: SiteError.noEarlierVersion) { try await registry.rollback(domain: "www.example.test") }
            await #expect(throws: SiteError.noSuchSite) { try await registry.rollback(domain: "other.test") }
            await repo.close()
        }
    }

    @Test func incompleteRootsAndBadDomainsAreRefused() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [SiteRegistry.database])
            let registry = try SiteRegistry(repo: repo)
            let absent = importFile(Array("never stored".utf8)).root
            await #expect(throws: RepoError.dagIncomplete) {
                try await registry.publish(domain: "a.test", root: absent, spa: false, publishedAt: 1)
            }
            #expect(try registry.sites().isEmpty)
            for bad in ["", "localhost", "-a.test", "a..test", "a_b.test", "é.test", String(repeating: "a", count: 64) + ".test", "a.test:8080"] {
                #expect(throws: SiteError.invalidDomain, "\(bad)") { try SiteRegistry.canonicalDomain(bad) }
            }
            await repo.close()
        }
    }

    @Test func historyIsBoundedAndUserPinsAreKept() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [SiteRegistry.database])
            let registry = try SiteRegistry(repo: repo)
            let userPinned = try await storeFile(repo, "pinned by the user")
            try await repo.pin(userPinned, .recursive, name: "mine")
            try await registry.publish(domain: "s.test", root: userPinned, spa: false, publishedAt: 0)
            for i in 1...SiteRegistry.maxHistory {
                try await registry.publish(domain: "s.test", root: try await storeFile(repo, "v\(i)"), spa: false, publishedAt: Int64(i))
            }
            let record = try #require(try registry.site("s.test"))
            #expect(record.versions.count == SiteRegistry.maxHistory)
            #expect(!record.versions.contains { $0.root == userPinned })
            // Dropped from the site's history, but the user's pin stays, with its name.
            #expect(try repo.pins().first { $0.cid == userPinned }?.name == "mine")
            #expect(try repo.pins().count == SiteRegistry.maxHistory + 1)
            await repo.close()
        }
    }

    @Test func aRepoOpenedWithoutTheDatabaseIsRefused() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            #expect(throws: RepoError.unknownDatabase) { try SiteRegistry(repo: repo) }
            await repo.close()
        }
    }
}
