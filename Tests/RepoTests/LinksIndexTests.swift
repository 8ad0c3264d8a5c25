import Blocks
import Foundation
import LMDB
import Multiformats
import Repo
import Testing
import UnixFS

/// `links-v1`: written with each block that links to something, removed with
/// it, and what pin walks read instead of block data (formats/lmdb.md §3.4).
@Suite struct LinksIndexTests {
    /// The links-v1 entries, keyed by multihash hex.
    static func entries(_ repo: Repo) throws -> [String: [UInt8]] {
        try repo.withEnvironment { environment, databases in
            try environment.read { transaction in
                try transaction.withCursor(on: databases.links) { cursor in
                    var result: [String: [UInt8]] = [:]
                    try cursor.forEach { key, value in
                        result[hex(key)] = Array(value)
                        return true
                    }
                    return result
                }
            }
        }
    }

    @Test func parentsHaveEntriesLeavesDoNot() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            // 5 KiB in 1 KiB chunks: 5 dag-pb leaves and one parent.
            let file = importFile(randomBlocks(1, size: 5 * 1024, seed: 41)[0].bytes)
            try await repo.blocks.put(file.blocks)
            let entries = try Self.entries(repo)
            #expect(entries.count == 1)
            let parent = try #require(entries[hex(file.root.multihashBytes)])
            let node = try DAGPBNode(decoding: file.blocks.last!.bytes)
            #expect(parent == [0x01] + node.links.flatMap(\.cid.bytes))
            try await repo.pin(file.root)
            // A raw block claiming dag-pb, and a block of an unknown codec.
            let bogus = Block(hashing: [0xff, 0x01], codec: .dagPB, version: .v1)
            let unknown = Block(hashing: [1, 2, 3], codec: Multicodec(rawValue: 0x0129), version: .v1)
            try await repo.blocks.put([bogus, unknown])
            let after = try Self.entries(repo)
            #expect(after[hex(bogus.cid.multihashBytes)]?.first == 0xFF)
            #expect(after[hex(unknown.cid.multihashBytes)] == [0xFE])
            await #expect(throws: RepoError.malformedBlock) { try await repo.pin(bogus.cid) }
            await #expect(throws: RepoError.unsupportedCodec) { try await repo.pin(unknown.cid) }
            // GC removes the two unpinned blocks and their entries; the pinned parent's stays.
            let report = try await repo.gc()
            #expect(report.removedBlocks == 2)
            #expect(try Self.entries(repo).keys.sorted() == [hex(file.root.multihashBytes)])
            await repo.close()
        }
    }
}
