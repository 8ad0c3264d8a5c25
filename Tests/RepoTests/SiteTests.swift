import Blocks
import Foundation
import Multiformats
import Repo
import Testing
import UnixFS

/// The site registry (`sites-v1`): publish, history, rollback, pins.
@Suite struct SiteTests {
    func storeFile(_ repo: Repo, _ text: String) async throws -> CID {
        let file = importFile(Array(text.utf8))
        try await repo.blocks.put(file.blocks)
        return file.root
    }

    @Test func publishKeepsHistoryAndPinsRoots() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let v1 = try await storeFile(repo, "version one")
            let v2 = try await storeFile(repo, "version two")
            try await repo.publishSite(domain: "WWW.Example.TEST.", root: v1, spa: false, publishedAt: 100)
            let record = try await repo.publishSite(domain: "www.example.test", root: v2, spa: true, publishedAt: 200)
            #expect(record.domain == "www.example.test")
            #expect(record.versions.map(\.root) == [v1, v2])
            #expect(record.current.spa && record.current.publishedAt == 200)
            #expect(try repo.site("www.example.test") == record)
            #expect(try repo.sites().map(\.domain) == ["www.example.test"])
            // Both versions are pinned, so GC keeps them.
            #expect(try repo.pins(.recursive).map(\.name) == ["site:www.example.test", "site:www.example.test"])
            let back = try await repo.rollbackSite(domain: "www.example.test")
            #expect(back.current.root == v1)
            // The dropped version lost its pin; the live one kept it.
            #expect(try repo.pins().map(\.cid) == [v1])
            await #expect(throws: RepoError.noEarlierVersion) { try await repo.rollbackSite(domain: "www.example.test") }
            await #expect(throws: RepoError.noSuchSite) { try await repo.rollbackSite(domain: "other.test") }
            await repo.close()
        }
    }

    @Test func incompleteRootsAndBadDomainsAreRefused() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let absent = importFile(Array("never stored".utf8)).root
            await #expect(throws: RepoError.dagIncomplete) {
                try await repo.publishSite(domain: "a.test", root: absent, spa: false, publishedAt: 1)
            }
            #expect(try repo.sites().isEmpty)
            for bad in ["", "localhost", "-a.test", "a..test", "a_b.test", "é.test", String(repeating: "a", count: 64) + ".test", "a.test:8080"] {
                #expect(throws: RepoError.invalidDomain, "\(bad)") { try Repo.canonicalDomain(bad) }
            }
            await repo.close()
        }
    }

    @Test func historyIsBoundedAndUserPinsAreKept() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let userPinned = try await storeFile(repo, "pinned by the user")
            try await repo.pin(userPinned, .recursive, name: "mine")
            try await repo.publishSite(domain: "s.test", root: userPinned, spa: false, publishedAt: 0)
            for i in 1...Repo.maxSiteHistory {
                try await repo.publishSite(domain: "s.test", root: try await storeFile(repo, "v\(i)"), spa: false, publishedAt: Int64(i))
            }
            let record = try #require(try repo.site("s.test"))
            #expect(record.versions.count == Repo.maxSiteHistory)
            #expect(!record.versions.contains { $0.root == userPinned })
            // Dropped from the site's history, but the user's pin stays, with its name.
            #expect(try repo.pins().first { $0.cid == userPinned }?.name == "mine")
            #expect(try repo.pins().count == Repo.maxSiteHistory + 1)
            await repo.close()
        }
    }
}
