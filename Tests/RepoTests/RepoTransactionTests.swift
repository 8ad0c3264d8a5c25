import Blocks
import Foundation
import Multiformats
import Repo
import Synchronization
import Testing

/// The transaction API services write through (formats/lmdb.md §3.6).
@Suite struct RepoTransactionTests {
    let notes = ServiceDatabase(name: "notes", version: 1)

    @Test func recordsBlocksAndPinsCommitTogether() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [notes])
            let file = importFile(Array(repeating: 7, count: 5000))
            try await repo.write(blocks: file.blocks) { [notes] transaction in
                try transaction.put(file.root.bytes, forKey: Array("head".utf8), in: notes)
                try transaction.pin(Pin(cid: file.root, kind: .recursive, name: "notes:head"))
            }
            let (head, pinned, complete) = try repo.read { snapshot in
                (try snapshot.value(forKey: Array("head".utf8), in: notes),
                 try snapshot.pin(for: file.root),
                 try file.blocks.allSatisfy { try snapshot.containsBlock($0.cid) })
            }
            #expect(head == file.root.bytes)
            #expect(pinned?.name == "notes:head")
            #expect(complete)
            await repo.close()
        }
    }

    @Test func aThrowingBodyLeavesNeitherBlocksNorRecords() async throws {
        struct Refused: Error {}
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [notes])
            let file = importFile(Array(repeating: 9, count: 5000))
            await #expect(throws: Refused.self) {
                try await repo.write(blocks: file.blocks) { [notes] transaction in
                    try transaction.put([1], forKey: [1], in: notes)
                    throw Refused()
                }
            }
            // A recursive pin of a DAG that is not all there aborts its transaction too.
            await #expect(throws: RepoError.dagIncomplete) {
                try await repo.write(blocks: [file.blocks[0]]) { [notes] transaction in
                    try transaction.put([2], forKey: [2], in: notes)
                    try transaction.pin(Pin(cid: file.root, kind: .recursive))
                }
            }
            let (records, anyBlock) = try repo.read { snapshot in
                var records = 0
                try snapshot.forEach(in: notes) { _, _ in records += 1; return true }
                return (records, try file.blocks.contains { try snapshot.containsBlock($0.cid) })
            }
            #expect(records == 0)
            #expect(!anyBlock)
            #expect(try repo.stat().blockCount == 0)
            await repo.close()
        }
    }

    @Test func transactionsSeeTheirOwnWritesAndScanInKeyOrder() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [notes])
            let seen = try await repo.write { [notes] transaction in
                for key in ["b", "a", "c"] { try transaction.put(Array(key.utf8), forKey: Array(key.utf8), in: notes) }
                #expect(try transaction.delete(key: Array("c".utf8), in: notes))
                #expect(try !transaction.delete(key: Array("zz".utf8), in: notes))
                var keys: [String] = []
                try transaction.forEach(in: notes) { key, _ in keys.append(String(decoding: key, as: UTF8.self)); return true }
                return keys
            }
            #expect(seen == ["a", "b"])
            let fromB = try repo.read { snapshot in
                var keys: [String] = []
                try snapshot.forEach(in: notes, from: Array("b".utf8)) { key, _ in
                    keys.append(String(decoding: key, as: UTF8.self)); return true
                }
                return keys
            }
            #expect(fromB == ["b"])
            await #expect(throws: RepoError.keyTooLong) {
                try await repo.write { [notes] transaction in
                    try transaction.put([0], forKey: [UInt8](repeating: 1, count: 600), in: notes)
                }
            }
            await repo.close()
        }
    }

    @Test func databasesAreDeclaredVersionedAndChecked() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [notes])
            #expect(repo.serviceDatabases == [notes])
            let other = ServiceDatabase(name: "other", version: 1)
            await #expect(throws: RepoError.unknownDatabase) {
                try await repo.write { transaction in try transaction.put([1], forKey: [1], in: other) }
            }
            #expect(throws: RepoError.unknownDatabase) { try repo.read { try $0.value(forKey: [1], in: other) } }
            await repo.close()
            // Another version of a database the repo holds needs a migration: refused.
            #expect(throws: RepoError.incompatibleVersion) {
                try Repo(path: path, databases: [ServiceDatabase(name: "notes", version: 2)])
            }
            for bad in [ServiceDatabase(name: "blocks", version: 1), ServiceDatabase(name: "Notes", version: 1),
                        ServiceDatabase(name: "9lives", version: 1), ServiceDatabase(name: "x", version: 0)] {
                #expect(throws: RepoError.invalidDatabase, "\(bad)") { try Repo(path: path, databases: [bad]) }
            }
            // Opening without it leaves the data alone; registering it again finds it.
            try await Repo(path: path).close()
            let reopened = try Repo(path: path, databases: [notes])
            #expect(try reopened.read { try $0.value(forKey: [1], in: notes) } == nil)
            await reopened.close()
        }
    }

    @Test func observersHearOfNewBlocksOnlyOnce() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, databases: [notes])
            let heard = Mutex<[CID]>([])
            repo.observeAddedBlocks { blocks in heard.withLock { $0.append(contentsOf: blocks.map(\.cid)) } }
            let file = importFile(Array(repeating: 3, count: 3000))
            try await repo.blocks.put(file.blocks)
            try await repo.write(blocks: file.blocks) { _ in }  // already there: not reported again
            let single = Block(hashing: Array("one".utf8), codec: .raw)
            try await repo.write { transaction in try transaction.putBlock(single) }
            let expected = Set(file.blocks.map(\.cid)).union([single.cid])
            #expect(heard.withLock { $0 }.count == expected.count)
            #expect(Set(heard.withLock { $0 }) == expected)
            await repo.close()
        }
    }

    @Test func pinObserversHearOfPinsOfBlocksAlreadyStored() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let heard = Mutex<[Pin]>([])
            repo.observeAddedPins { pins in heard.withLock { $0.append(contentsOf: pins) } }
            let file = importFile(Array(repeating: 5, count: 3000))
            try await repo.blocks.put(file.blocks)   // stored, not pinned: nothing yet
            #expect(heard.withLock { $0 }.isEmpty)
            try await repo.pin(file.root)
            let single = Block(hashing: Array("two".utf8), codec: .raw)
            try await repo.write { transaction in
                try transaction.putBlock(single)
                try transaction.pin(Pin(cid: single.cid, kind: .direct))
            }
            #expect(heard.withLock { $0 }.map(\.cid) == [file.root, single.cid])
            #expect(heard.withLock { $0 }.map(\.kind) == [.recursive, .direct])
            await repo.close()
        }
    }
}
