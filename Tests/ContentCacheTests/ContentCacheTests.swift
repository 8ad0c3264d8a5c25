import Blocks
import ContentCache
import Multiformats
import TestSupport
import Testing

/// A raw block of `size` bytes whose content is a function of `seed`.
func makeBlock(_ seed: Int, size: Int = 1024) -> Block {
    var generator = SeededBytes(seed: UInt64(seed) &+ 1)
    return Block(hashing: generator.bytes(size), codec: .raw)
}

/// What one cached block of `size` bytes costs: bytes, its sha2-256 multihash key, overhead.
func blockCost(_ size: Int) -> Int { size + 34 + ContentCache.entryOverhead }

@Suite struct ContentCacheTests {
    @Test func hitsMissesAndEvictionsStayWithinTheBudget() {
        let budget = 64 * blockCost(1024)
        let cache = ContentCache(byteBudget: budget, shardCount: 1)
        let blocks = (0..<200).map { makeBlock($0) }
        for block in blocks { cache.insertBlock(block.bytes, for: block.cid) }
        var stats = cache.statistics
        #expect(stats.block.bytes <= budget)
        #expect(stats.block.entries == 64)
        #expect(stats.block.bytes == 64 * blockCost(1024))
        #expect(stats.block.evictions == 136)

        // The newest blocks are in the small FIFO; the oldest are gone.
        #expect(cache.block(for: blocks[199].cid) == blocks[199].bytes)
        #expect(cache.block(for: blocks[0].cid) == nil)
        stats = cache.statistics
        #expect(stats.block.hits == 1)
        #expect(stats.block.misses == 1)
    }

    @Test func aHitReturnsTheInsertedArrayWithoutCopying() {
        let cache = ContentCache(byteBudget: 1 << 20, shardCount: 4)
        let block = makeBlock(1, size: 4096)
        cache.insertBlock(block.bytes, for: block.cid)
        let hit = cache.block(for: block.cid)!
        let inserted = block.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let returned = hit.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(inserted == returned)
    }

    @Test func cidV0AndV1OfTheSameBytesShareOneEntry() throws {
        let cache = ContentCache(byteBudget: 1 << 20)
        let bytes: [UInt8] = [0x0a, 0x02, 0x08, 0x01]  // a dag-pb node: {Data: UnixFS Directory}
        let v0 = Block(hashing: bytes, codec: .dagPB, version: .v0).cid
        cache.insertBlock(bytes, for: v0)
        #expect(cache.block(for: v0.v1) == bytes)
        #expect(cache.statistics.block.entries == 1)
    }

    @Test func identityBlocksAreNeverCached() throws {
        let cache = ContentCache(byteBudget: 1 << 20)
        let identity = CID.v1(.raw, Multihash(code: HashFunction.identity.rawValue, digest: [1, 2, 3]))
        cache.insertBlock([1, 2, 3], for: identity)
        #expect(cache.statistics.block.entries == 0)
    }

    @Test func anEntryLargerThanAShardIsNotCached() {
        let cache = ContentCache(byteBudget: 64 << 10, shardCount: 4)
        let big = makeBlock(7, size: 20 << 10)  // a shard holds 16 KiB
        cache.insertBlock(big.bytes, for: big.cid)
        #expect(cache.block(for: big.cid) == nil)
        #expect(cache.statistics.bytes == 0)
    }

    /// The S3-FIFO property the gateway relies on: reading a large file once
    /// (a scan of blocks nobody asks for again) leaves the hot set in place.
    @Test(arguments: [1, 4])
    func aOneTimeScanDoesNotEvictTheHotSet(shards: Int) {
        let budget = 1 << 20
        let cache = ContentCache(byteBudget: budget, shardCount: shards)
        let hot = (0..<80).map { makeBlock($0, size: 4096) }  // ≈ 33 % of the budget
        func readThrough(_ block: Block) -> Bool {
            if cache.block(for: block.cid) != nil { return true }
            cache.insertBlock(block.bytes, for: block.cid)
            return false
        }
        for _ in 0..<4 { for block in hot { _ = readThrough(block) } }

        // A scan eight times the budget, each block read once.
        for index in 0..<2048 { _ = readThrough(makeBlock(100_000 + index, size: 4096)) }

        let hotHits = hot.filter { cache.block(for: $0.cid) != nil }.count
        #expect(hotHits >= hot.count * 95 / 100, "hot blocks still cached after the scan: \(hotHits) of \(hot.count)")
        #expect(cache.statistics.bytes <= budget)
    }

    @Test func resolvedPathsAreCachedAtAFixedCost() throws {
        let cache = ContentCache(byteBudget: 1 << 20, shardCount: 2)
        let root = makeBlock(1).cid
        let otherRoot = makeBlock(2).cid
        let file = ResolvedPath(cid: makeBlock(3).cid, size: 1026, kind: .file, contentType: "text/plain; charset=utf-8")
        cache.insertResolvedPath(file, root: root, path: "docs/readme.txt")
        #expect(cache.resolvedPath(root: root, path: "docs/readme.txt") == file)
        #expect(cache.resolvedPath(root: otherRoot, path: "docs/readme.txt") == nil)
        #expect(cache.resolvedPath(root: root, path: "docs") == nil)
        let stats = cache.statistics
        #expect(stats.path.entries == 1)
        #expect(stats.path.bytes == ContentCache.pathEntryCost)
        #expect(stats.path.hits == 1)
        #expect(stats.path.misses == 2)
    }

    @Test func derivedValuesComeBackAsTheirType() {
        struct Rendered: Sendable, Equatable { var text: String }
        let cache = ContentCache(byteBudget: 1 << 20)
        cache.insertDerivedValue(Rendered(text: "hello"), forKey: Array("page:/".utf8), cost: 5)
        #expect(cache.derivedValue(forKey: Array("page:/".utf8)) as? Rendered == Rendered(text: "hello"))
        #expect(cache.derivedValue(forKey: Array("page:/x".utf8)) == nil)
        #expect(cache.statistics.derived.bytes == 5 + 6 + ContentCache.entryOverhead)
    }

    @Test func replacingAnEntryKeepsOneEntryAndTheNewCost() {
        let cache = ContentCache(byteBudget: 1 << 20, shardCount: 1)
        cache.insertDerivedValue(1, forKey: [1], cost: 100)
        cache.insertDerivedValue(2, forKey: [1], cost: 300)
        let stats = cache.statistics
        #expect(stats.derived.entries == 1)
        #expect(stats.derived.bytes == 300 + 1 + ContentCache.entryOverhead)
        #expect(cache.derivedValue(forKey: [1]) as? Int == 2)
    }

    @Test func removeAllEmptiesTheCache() {
        let cache = ContentCache(byteBudget: 1 << 20, shardCount: 4)
        for index in 0..<10 { let block = makeBlock(index); cache.insertBlock(block.bytes, for: block.cid) }
        cache.removeAll()
        #expect(cache.statistics.entries == 0)
        #expect(cache.statistics.bytes == 0)
    }

    /// Many tasks reading and inserting at once over a key space larger than
    /// the budget: no crash, and the counters add up afterwards.
    @Test func concurrentHammeringKeepsStatisticsConsistent() async {
        let budget = 512 * blockCost(1024)
        let cache = ContentCache(byteBudget: budget, shardCount: 8)
        let blocks = (0..<2000).map { makeBlock($0) }
        let tasks = 16, operations = 5000
        let lookups = await withTaskGroup(of: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var generator = SeededBytes(seed: UInt64(task + 1))
                    var lookups = 0
                    for _ in 0..<operations {
                        // Skewed: half the reads go to the first 100 blocks.
                        let roll = generator.next()
                        let index = roll & 1 == 0 ? Int((roll >> 1) % 100) : Int((roll >> 1) % UInt64(blocks.count))
                        let block = blocks[index]
                        lookups += 1
                        if let hit = cache.block(for: block.cid) {
                            precondition(hit == block.bytes, "a hit returned another block's bytes")
                        } else {
                            cache.insertBlock(block.bytes, for: block.cid)
                        }
                    }
                    return lookups
                }
            }
            return await group.reduce(0, +)
        }
        let stats = cache.statistics
        #expect(stats.block.hits + stats.block.misses == lookups)
        #expect(stats.block.bytes <= budget)
        #expect(stats.block.bytes == stats.block.entries * blockCost(1024))
        #expect(stats.block.hits > 0 && stats.block.evictions > 0)
    }
}
