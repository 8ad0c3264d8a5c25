import Blocks
import Multiformats
import Repo
import Testing
import UnixFS

@Suite struct PinTests {
    @Test func recursiveDirectAndNamedPins() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 31)
            let file = importFile(random.bytes(10_000))
            let loose = randomBlocks(2, size: 100, seed: 32)
            try await repo.blocks.put(file.blocks + loose)
            #expect(file.blocks.count > 10)

            try await repo.pin(file.root, .recursive, name: "docs")
            try await repo.pin(loose[0].cid, .direct)
            #expect(try repo.pins() == [
                Pin(cid: file.root, kind: .recursive, name: "docs"),
                Pin(cid: loose[0].cid, kind: .direct),
            ].sorted { $0.cid.v1.bytes.lexicographicallyPrecedes($1.cid.v1.bytes) })
            #expect(try repo.pins(.direct).map(\.cid) == [loose[0].cid])
            #expect(try repo.pinStatus(of: file.root) == .recursive)
            #expect(try repo.pinStatus(of: file.blocks[0].cid) == .indirect(through: file.root))
            #expect(try repo.pinStatus(of: loose[0].cid) == .direct)
            #expect(try repo.pinStatus(of: loose[1].cid) == nil)
            #expect(try !repo.isPinned(loose[1].cid))
            // CIDv0 and CIDv1 name one pin; it is listed as pinned.
            #expect(file.root.version == .v0)
            #expect(try repo.pin(for: file.root.v1)?.cid == file.root)
            #expect(try repo.stat().recursivePins == 1 && repo.stat().directPins == 1)

            // Renaming: pinning again with another name.
            try await repo.pin(file.root.v1, .recursive, name: "renamed")
            #expect(try repo.pin(for: file.root)?.name == "renamed")
            // A recursive pin is not downgraded to direct.
            await #expect(throws: RepoError.alreadyPinnedRecursively) { try await repo.pin(file.root, .direct) }
            // A direct pin upgrades to recursive.
            try await repo.pin(loose[0].cid, .recursive)
            #expect(try repo.pin(for: loose[0].cid)?.kind == .recursive)

            #expect(try await repo.unpin(file.root).name == "renamed")
            await #expect(throws: RepoError.notPinned) { try await repo.unpin(file.root) }
            #expect(try repo.pinStatus(of: file.blocks[0].cid) == nil)
            await #expect(throws: RepoError.invalidPinName) {
                try await repo.pin(loose[1].cid, .direct, name: String(repeating: "n", count: 256))
            }
            await repo.close()
        }
    }

    /// A recursive pin is refused while its DAG is incomplete, naming the
    /// first missing block in walk order; nothing is written.
    @Test func recursivePinRequiresTheWholeDAG() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 41)
            let file = importFile(random.bytes(8_000), chunkSize: 1000)
            let root = try #require(file.blocks.last)
            #expect(root.cid == file.root)
            let links = try #require(try DAGLinks.links(of: root.cid, block: root.bytes))
            #expect(links.count == 8)
            // Drop the 3rd and 6th leaves.
            let missing = Set([links[2], links[5]])
            try await repo.blocks.put(file.blocks.filter { !missing.contains($0.cid) })

            do {
                try await repo.pin(file.root)
                Issue.record("pin of an incomplete DAG succeeded")
            } catch let error as RepoError {
                #expect(error == .dagIncomplete)
                #expect(error.cid == links[2])
                #expect(error.description.contains("\(links[2])"))
            }
            #expect(try repo.pins().isEmpty)

            try await repo.blocks.put(file.blocks.filter { missing.contains($0.cid) })
            try await repo.pin(file.root)
            #expect(try repo.pins().count == 1)

            // A direct pin needs its block, not the DAG.
            let absent = randomBlocks(1, size: 10, seed: 42)[0]
            await #expect(throws: RepoError.dagIncomplete) { try await repo.pin(absent.cid, .direct) }
            try await repo.pin(links[0], .direct)
            // Identity CIDs are always present.
            let identity = CID.v1(.raw, Multihash(hashing: Array("x".utf8), with: .identity))
            try await repo.pin(identity, .recursive)
            await repo.close()
        }
    }

    /// dag-cbor DAGs are walked too, and a pin on a codec without known links is refused.
    @Test func dagCBORAndUnknownCodecs() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let leaf = randomBlocks(1, size: 50, seed: 51)[0]
            let document: DAGCBOR = ["name": "leaf", "child": .link(leaf.cid)]
            let node = Block(hashing: try document.encoded(), codec: .dagCBOR)
            try await repo.blocks.put([node])
            await #expect(throws: RepoError.dagIncomplete) { try await repo.pin(node.cid) }
            try await repo.blocks.put([leaf])
            try await repo.pin(node.cid)
            #expect(try repo.pinStatus(of: leaf.cid) == .indirect(through: node.cid))

            let odd = Block(hashing: [1, 2, 3], codec: Multicodec(rawValue: 0x300001))
            try await repo.blocks.put([odd])
            await #expect(throws: RepoError.unsupportedCodec) { try await repo.pin(odd.cid) }
            try await repo.pin(odd.cid, .direct)
            await repo.close()
        }
    }

    /// Deleting a pinned block is refused (directly, as a root, or inside a DAG).
    @Test func pinnedBlocksCannotBeDeleted() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            var random = SeededBytes(seed: 61)
            let file = importFile(random.bytes(5_000))
            let loose = randomBlocks(2, size: 20, seed: 62)
            try await repo.blocks.put(file.blocks + loose)
            try await repo.pin(file.root)
            try await repo.pin(loose[0].cid, .direct)
            for cid in [file.root, file.blocks[1].cid, loose[0].cid] {
                do {
                    try await repo.blocks.delete(cid)
                    Issue.record("deleted pinned block \(cid)")
                } catch let error as RepoError {
                    #expect(error == .pinned && error.cid == cid)
                }
            }
            // Nothing of a refused batch is deleted.
            await #expect(throws: RepoError.pinned) { try await repo.blocks.delete([loose[1].cid, loose[0].cid]) }
            #expect(try await repo.blocks.has(loose[1].cid))
            try await repo.blocks.delete(loose[1].cid)
            #expect(try await !repo.blocks.has(loose[1].cid))
            // Inside an add session a delete would wait for the session itself.
            try await repo.withAddSession { _ in
                await #expect(throws: RepoError.wouldDeadlock) { try await repo.blocks.delete(loose[0].cid) }
            }
            await repo.close()
        }
    }
}
