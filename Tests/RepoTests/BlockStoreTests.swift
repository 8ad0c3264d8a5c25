import Blocks
import Foundation
import LMDB
import Multiformats
import Repo
import Synchronization
import Testing

@Suite struct BlockStoreTests {
    /// The 'hello world' dag-pb leaf of formats/unixfs.md and formats/lmdb.md.
    static let helloWorldLeaf = unhex("0a 11 08 02 12 0b 68656c6c6f20776f726c64 18 0b")
    static let helloWorldV0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"

    @Test func putGetHasDeleteRoundTrip() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let blocks = randomBlocks(10, size: 1000, seed: 1)
            try await repo.blocks.put(blocks)
            for block in blocks {
                #expect(try await repo.blocks.get(block.cid) == block.bytes)
                #expect(try await repo.blocks.has(block.cid))
            }
            let absent = randomBlocks(1, size: 10, seed: 99)[0]
            #expect(try await repo.blocks.get(absent.cid) == nil)
            #expect(try await !repo.blocks.has(absent.cid))
            #expect(Set(try await repo.blocks.allMultihashes()) == Set(blocks.map(\.cid.multihash)))

            try await repo.blocks.delete(blocks[0].cid)
            #expect(try await !repo.blocks.has(blocks[0].cid))
            try await repo.blocks.delete(blocks[0].cid)  // absent: not an error
            #expect(try await repo.blocks.allMultihashes().count == 9)
            // Putting the same blocks again changes nothing.
            try await repo.blocks.put(Array(blocks[1...]))
            #expect(try repo.stat().blockCount == 9)
            #expect(try repo.stat().blockBytes == 9 * 1000)
            await repo.close()
        }
    }

    /// The blocking batch reads (Bitswap's server uses them off the
    /// cooperative pool) answer what `get` answers, sizes from the record
    /// headers even for compressed blocks, and leave absent blocks out.
    @Test func blockingBatchReadsMatchGet() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, configuration: .init(compressBlocks: true))
            let compressible = Block(hashing: Array(String(repeating: "abc", count: 3000).utf8), codec: .raw)
            let blocks = randomBlocks(5, size: 777, seed: 4) + [compressible]
            try await repo.blocks.put(blocks)
            #expect(try repo.blocks.storedForm(of: compressible.cid)?.isCompressed == true)
            let absent = randomBlocks(1, size: 10, seed: 98)[0]
            let identity = CID.v1(.raw, Multihash(code: HashFunction.identity.rawValue, digest: [1, 2, 3]))
            let asked = blocks.map(\.cid) + [absent.cid, identity]
            let read = try repo.blocks.blockingBlocks(asked)
            #expect(read.count == blocks.count + 1)
            for block in blocks { #expect(read[block.cid] == block.bytes) }
            #expect(read[absent.cid] == nil)
            #expect(read[identity] == [1, 2, 3])
            let sizes = try repo.blocks.blockingSizes(asked)
            #expect(sizes.count == blocks.count + 1)
            for block in blocks { #expect(sizes[block.cid] == block.bytes.count) }
            #expect(sizes[compressible.cid] == 9000)
            await repo.close()
        }
    }

    /// CIDv0 and CIDv1 (and any codec) of the same bytes share one entry.
    @Test func cidVersionsShareOneEntry() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let v0 = try CID(Self.helloWorldV0)
            try await repo.blocks.put([Block(cid: v0, bytes: Self.helloWorldLeaf)])
            #expect(try await repo.blocks.get(v0.v1) == Self.helloWorldLeaf)
            #expect(try await repo.blocks.has(CID.v1(.raw, v0.multihash)))
            try await repo.blocks.put([Block(cid: v0.v1, bytes: Self.helloWorldLeaf)])
            #expect(try await repo.blocks.allMultihashes() == [v0.multihash])
            try await repo.blocks.delete(v0.v1)
            #expect(try await !repo.blocks.has(v0))
            await repo.close()
        }
    }

    /// Identity CIDs carry their bytes: never stored, always readable.
    @Test func identityBlocksAreNeverStored() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let bytes = Array("inline me".utf8)
            let identity = CID.v1(.raw, Multihash(hashing: bytes, with: .identity))
            try await repo.blocks.put([Block(cid: identity, bytes: bytes)])
            #expect(try await repo.blocks.allMultihashes().isEmpty)
            #expect(try repo.stat().blockCount == 0)
            #expect(try await repo.blocks.has(identity))
            #expect(try await repo.blocks.get(identity) == bytes)
            #expect(try repo.blocks.withBlock(identity) { Array($0) } == bytes)
            try await repo.blocks.delete(identity)
            await repo.close()
        }
    }

    /// `withBlock` lends a view into LMDB's memory map of data.mdb, not a copy.
    @Test func withBlockIsZeroCopy() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let block = randomBlocks(1, size: 100_000, seed: 3)[0]
            try await repo.blocks.put([block])
            let address = try #require(try repo.blocks.withBlock(block.cid) { bytes -> UInt in
                #expect(Array(bytes) == block.bytes)
                return UInt(bitPattern: bytes.baseAddress)
            })
            // /proc/self/maps is not read atomically: while other tests map and
            // unmap files, a read can miss lines. The map does not move here
            // (no resize), so look again until the line shows up.
            var inMap = false
            for _ in 0..<50 where !inMap {
                inMap = try Self.mappings(of: repo.path + "/data.mdb").contains { $0.contains(address) }
            }
            #expect(inMap, "the buffer should point into the data.mdb mapping")
            #expect(try repo.blocks.withBlock(randomBlocks(1, size: 5, seed: 4)[0].cid) { _ in 1 } == nil)
            await repo.close()
        }
    }

    /// Address ranges of `file` in /proc/self/maps.
    static func mappings(of file: String) throws -> [Range<UInt>] {
        // read(2) until EOF: procfs files report size 0, and whole-file
        // readers may stop early on a long maps file.
        let descriptor = open("/proc/self/maps", O_RDONLY)
        guard descriptor >= 0 else { throw POSIXError(.ENOENT) }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            contents += chunk[..<count]
        }
        let maps = String(decoding: contents, as: UTF8.self)
        return maps.split(separator: "\n").compactMap { line in
            guard line.hasSuffix(file) else { return nil }
            let bounds = line.split(separator: " ")[0].split(separator: "-")
            guard let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16) else { return nil }
            return low..<high
        }
    }

    /// Many tasks putting at once share commits, and every block is durable.
    @Test func concurrentPutsAreGroupCommitted() async throws {
        try await withTemporaryDirectory { path in
            let batches = (0..<200).map { randomBlocks(4, size: 4096, seed: 1000 + UInt64($0)) }
            let repo = try Repo(path: path)
            let before = repo.writerStatistics
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in batches {
                    group.addTask { try await repo.blocks.put(batch) }
                }
                try await group.waitForAll()
            }
            let after = repo.writerStatistics
            #expect(after.requests - before.requests == batches.count)
            #expect(after.commits - before.commits < batches.count, "commits: \(after.commits - before.commits)")
            await repo.close()

            let reopened = try Repo(path: path)
            for block in batches.joined() {
                #expect(try await reopened.blocks.get(block.cid) == block.bytes)
            }
            #expect(try reopened.stat().blockCount == batches.count * 4)
            await reopened.close()
        }
    }

    /// From a 64 KiB map, many puts grow it without any error reaching callers.
    @Test func mapGrowsThroughManyPuts() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, configuration: .init(initialMapSize: 64 << 10))
            let batches = (0..<32).map { randomBlocks(2, size: 256 << 10, seed: 500 + UInt64($0)) }
            for batch in batches.prefix(8) { try await repo.blocks.put(batch) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in batches.dropFirst(8) {
                    group.addTask { try await repo.blocks.put(batch) }
                }
                try await group.waitForAll()
            }
            #expect(repo.writerStatistics.mapGrowths >= 5)
            #expect(try repo.stat().mapSize >= 16 << 20)
            for block in batches.joined() {
                #expect(try await repo.blocks.get(block.cid) == block.bytes)
            }
            await repo.close()
        }
    }

    /// Reads keep working while another task's puts grow the map.
    @Test func readsDuringMapGrowth() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, configuration: .init(initialMapSize: 64 << 10))
            let first = randomBlocks(4, size: 4096, seed: 77)
            try await repo.blocks.put(first)
            let writer = Task {
                for index in 0..<24 {
                    try await repo.blocks.put(randomBlocks(2, size: 256 << 10, seed: 900 + UInt64(index)))
                }
            }
            var reads = 0
            while !writer.isCancelled {
                for block in first {
                    #expect(try repo.blocks.withBlock(block.cid) { Array($0) } == block.bytes)
                    reads += 1
                }
                if repo.writerStatistics.requests >= 25 { break }
                await Task.yield()
            }
            try await writer.value
            #expect(repo.writerStatistics.mapGrowths > 0)
            #expect(reads > 0)
            await repo.close()
        }
    }

    @Test func compressionKeptOnlyWhenItSavesAnEighth() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path, configuration: .init(compressBlocks: true))
            var random = SeededBytes(seed: 11)
            let text = Array(String(repeating: "tau stores blocks in LMDB. ", count: 2000).utf8)
            let noise = random.bytes(4096)
            // 4096 random bytes + 300 zeros: zstd saves ~290 of 4398 bytes (< 1/8).
            let slightly = noise + [UInt8](repeating: 0, count: 300)
            // 4096 random bytes + 1200 zeros: saves ~1190 of 5298 (> 1/8).
            let enough = noise + [UInt8](repeating: 0, count: 1200)
            let blocks = [text, slightly, enough, noise].map { Block(hashing: $0, codec: .raw) }
            try await repo.blocks.put(blocks)

            let forms = try blocks.map { try #require(try repo.blocks.storedForm(of: $0.cid)) }
            #expect(forms.map(\.isCompressed) == [true, false, true, false])
            for (form, block) in zip(forms, blocks) {
                #expect(form.blockLength == block.bytes.count)
                let plain = block.bytes.count + 2
                if form.isCompressed { #expect(form.recordLength <= plain - plain / 8) } else { #expect(form.recordLength == plain) }
            }
            #expect(forms[0].recordLength < text.count / 20)
            // Transparent on read, through every API.
            for block in blocks {
                #expect(try await repo.blocks.get(block.cid) == block.bytes)
                #expect(try repo.blocks.withBlock(block.cid) { Array($0) } == block.bytes)
            }
            let stat = try repo.stat()
            #expect(stat.blockBytes == blocks.reduce(0) { $0 + $1.bytes.count })
            #expect(stat.recordBytes == forms.reduce(0) { $0 + $1.recordLength })
            #expect(try await repo.verify().problems.isEmpty)
            await repo.close()

            // Compression is per block: a repo opened without it still reads them.
            let plainRepo = try Repo(path: path)
            #expect(try await plainRepo.blocks.get(blocks[0].cid) == text)
            let another = Block(hashing: text + [1], codec: .raw)
            try await plainRepo.blocks.put([another])
            #expect(try plainRepo.blocks.storedForm(of: another.cid)?.isCompressed == false)
            await plainRepo.close()
        }
    }

    /// Values corrupted behind the repo's back (through the raw LMDB API) are
    /// found by verify, with the reason.
    @Test func verifyFindsCorruptedValues() async throws {
        try await withTemporaryDirectory { path in
            let blocks = randomBlocks(20, size: 3000, seed: 21)
            let compressible = Block(hashing: Array(String(repeating: "abc", count: 3000).utf8), codec: .raw)
            var repo = try Repo(path: path, configuration: .init(compressBlocks: true))
            try await repo.blocks.put(blocks + [compressible])
            var report = try await repo.verify()
            #expect(report.problems.isEmpty && report.checkedBlocks == 21)
            await repo.close()

            let flipped = blocks[3].cid.multihash
            let badHeader = blocks[7].cid.multihash
            let badFrame = compressible.cid.multihash
            do {
                let environment = try Environment(path: path, configuration: .init(maxDatabases: 32))
                try environment.write { transaction throws in
                    let db = try #require(try transaction.openDatabase("blocks-v1"))
                    var value = try #require(try transaction.value(forKey: flipped.bytes, in: db))
                    value[100] ^= 0x01
                    try transaction.put(value, forKey: flipped.bytes, in: db)
                    value = try #require(try transaction.value(forKey: badHeader.bytes, in: db))
                    value[1] = 0x80  // an unknown flag
                    try transaction.put(value, forKey: badHeader.bytes, in: db)
                    value = try #require(try transaction.value(forKey: badFrame.bytes, in: db))
                    #expect(value[1] == 1)
                    value[value.count - 3] ^= 0xff
                    try transaction.put(value, forKey: badFrame.bytes, in: db)
                }
            }

            repo = try Repo(path: path)
            let progress = ProgressLog()
            report = try await repo.verify { progress.append($0) }
            let problems = Dictionary(uniqueKeysWithValues: report.problems.map { ($0.multihash!, $0.reason) })
            #expect(problems.count == 3)
            #expect(problems[flipped] == .hashMismatch)
            if case .corruptRecord(let detail) = problems[badHeader] { #expect(detail.contains("flags")) } else { Issue.record("bad header not reported") }
            if case .corruptRecord = problems[badFrame] {} else if problems[badFrame] != .hashMismatch { Issue.record("bad frame not reported") }
            #expect(report.checkedBlocks == 18)
            #expect(progress.last?.totalBlocks == 21)
            #expect(throws: RepoError.corruptBlock) { try repo.blocks.withBlock(CID.v1(.raw, badHeader)) { _ in () } }
            await repo.close()
        }
    }

    /// formats/lmdb.md's worked example, byte for byte.
    @Test func workedExampleBytes() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let cid = try CID(Self.helloWorldV0)
            #expect(Multihash(hashing: Self.helloWorldLeaf, with: .sha2_256) == cid.multihash)
            try await repo.blocks.put([Block(cid: cid, bytes: Self.helloWorldLeaf)])
            try await repo.pin(cid, .recursive, name: "hello")
            let (value, pin, meta) = try repo.withEnvironment { environment, databases in
                try environment.read { transaction throws in
                    (try transaction.value(forKey: cid.multihash.bytes, in: databases.blocks),
                     try transaction.value(forKey: cid.v1.bytes, in: databases.pins),
                     try ["format-version", "created-by", "block-bytes", "record-bytes"].map {
                         hex(try #require(try transaction.value(forKey: Array($0.utf8), in: databases.meta)))
                     })
                }
            }
            #expect(hex(cid.multihash.bytes) == "1220f852c7fa62f971817f54d8a80dcd63fcf7098b3cbde9ae8ec1ee449013ec5db0")
            #expect(hex(try #require(value)) == "0100" + "0a110802120b68656c6c6f20776f726c64180b")
            #expect(hex(try #require(pin)) == "010201" + hex(Array("hello".utf8)))
            #expect(hex(cid.v1.bytes) == "0170" + hex(cid.multihash.bytes))
            #expect(meta == ["01000000", "746175", "1300000000000000", "1500000000000000"])
            #expect(cid.v1.description == "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa")
            #expect(CID.v1(.raw, cid.multihash).description == "bafkreihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa")
            await repo.close()
        }
    }

    @Test func oversizedBlocksAreRefused() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let big = Block(hashing: [UInt8](repeating: 1, count: Block.maxSize + 1), codec: .raw)
            await #expect(throws: BlockError.tooLarge) { try await repo.blocks.put([big]) }
            let largest = Block(hashing: [UInt8](repeating: 2, count: Block.maxSize), codec: .raw)
            try await repo.blocks.put([largest])
            #expect(try await repo.blocks.get(largest.cid) == largest.bytes)
            await repo.close()
        }
    }

    @Test func closedRepoRefusesWork() async throws {
        try await withTemporaryDirectory { path in
            let repo = try Repo(path: path)
            let block = randomBlocks(1, size: 10, seed: 5)[0]
            try await repo.blocks.put([block])
            await repo.close()
            await #expect(throws: RepoError.closed) { try await repo.blocks.put([block]) }
            #expect(throws: RepoError.closed) { try repo.blocks.withBlock(block.cid) { _ in () } }
            await repo.close()  // idempotent
        }
    }
}

/// Collects progress reports from a background thread.
final class ProgressLog: Sendable {
    private let entries = Mutex<[VerifyProgress]>([])
    func append(_ progress: VerifyProgress) { entries.withLock { $0.append(progress) } }
    var last: VerifyProgress? { entries.withLock { $0.last } }
}
