import Bitswap
import Blocks
import Multiformats
import Testing

/// The server's ledgers and scheduling, without sockets.
@Suite("Bitswap server engine")
struct ServerEngineTests {
    typealias Engine = ServerEngine<String>

    static func cid(_ i: Int) -> CID { rawBlock("block \(i)").cid }

    static func wantBlocks(_ range: Range<Int>, priority: Int32 = 1) -> [BitswapMessage.Entry] {
        range.map { .init(cid: cid($0), priority: priority) }
    }

    static func sizes(_ range: Range<Int>, size: Int) -> [CID: Int] {
        Dictionary(uniqueKeysWithValues: range.map { (cid($0), size) })
    }

    @Test func answersEachKindOfWant() throws {
        var engine = Engine()
        let entries: [BitswapMessage.Entry] = [
            .init(cid: Self.cid(0), wantType: .block),                          // have it: the block
            .init(cid: Self.cid(1), wantType: .block, sendDontHave: true),      // missing: DONT_HAVE
            .init(cid: Self.cid(2), wantType: .block),                          // missing, no DONT_HAVE: waits
            .init(cid: Self.cid(3), wantType: .have),                           // large: HAVE
            .init(cid: Self.cid(4), wantType: .have),                           // ≤ 1024 bytes: the block
            .init(cid: Self.cid(5), wantType: .have, sendDontHave: true),       // missing: DONT_HAVE
            .init(cid: Self.cid(6), wantType: .have),                           // missing, no DONT_HAVE: nothing
        ]
        try engine.receive(entries, from: "a", sizes: [Self.cid(0): 5000, Self.cid(3): 5000, Self.cid(4): 1024])
        let maybe = engine.nextBatch()
        let batch = try #require(maybe)
        #expect(batch.peer == "a")
        #expect(Set(batch.tasks) == [
            .block(Self.cid(0), size: 5000, sendDontHave: false), .dontHave(Self.cid(1)), .have(Self.cid(3)),
            .block(Self.cid(4), size: 1024, sendDontHave: true), .dontHave(Self.cid(5)),
        ])
        let r1 = engine.nextBatch()
        #expect(r1 == nil)
        #expect(engine.wantCount("a") == 4, "the two waiting wants and the two answered DONT_HAVE stay in the ledger")
        // The missing block arrives: the waiting want-block is served; the want-have gets HAVE.
        let r2 = engine.blockAdded(Self.cid(2), size: 10)
        #expect(r2 == 1)
        let r3 = engine.blockAdded(Self.cid(6), size: 4096)
        #expect(r3 == 1)
        let r4 = engine.nextBatch()
        #expect(Set(try #require(r4).tasks) == [
            .block(Self.cid(2), size: 10, sendDontHave: false), .have(Self.cid(6)),
        ])
        let r3b = engine.blockAdded(Self.cid(7), size: 10)
        #expect(r3b == 0)
        // Wants answered DONT_HAVE still wait: added later, the block goes out unasked.
        #expect(engine.wantCount("a") == 2)
        let r5 = engine.blockAdded(Self.cid(1), size: 3000)
        let r6 = engine.blockAdded(Self.cid(5), size: 3000)
        #expect(r5 == 1 && r6 == 1)
        let r7 = engine.nextBatch()
        #expect(Set(try #require(r7).tasks) == [.block(Self.cid(1), size: 3000, sendDontHave: true), .have(Self.cid(5))])
        #expect(engine.wantCount("a") == 0, "a block or a HAVE ends the want")
    }

    @Test func wantsAnsweredDontHaveMakeRoomBeforeAPeerIsDropped() throws {
        var engine = Engine(configuration: .init(maxWantlistEntries: 4))
        let dontHaves = (0..<3).map { BitswapMessage.Entry(cid: Self.cid($0), wantType: .have, sendDontHave: true) }
        try engine.receive(dontHaves, from: "a", sizes: [:])
        let r1 = engine.nextBatch()
        #expect(r1?.tasks.count == 3)
        try engine.receive(Self.wantBlocks(10..<11), from: "a", sizes: [:])
        #expect(engine.wantCount("a") == 4)
        // Two more live wants evict the two oldest DONT_HAVE'd ones.
        try engine.receive(Self.wantBlocks(11..<13), from: "a", sizes: [:])
        #expect(engine.wantCount("a") == 4)
        let r2 = engine.blockAdded(Self.cid(0), size: 10), r3 = engine.blockAdded(Self.cid(2), size: 10)
        #expect(r2 == 0 && r3 == 1, "the oldest went first")
        _ = engine.nextBatch()
        try engine.receive(Self.wantBlocks(13..<14), from: "a", sizes: [:])
        // Full of live wants: the next one drops the peer, as before.
        #expect(throws: BitswapError.limitExceeded) {
            try engine.receive(Self.wantBlocks(14..<15), from: "a", sizes: [:])
        }
    }

    @Test func higherPriorityFirstThenArrivalOrder() throws {
        var engine = Engine()
        try engine.receive([.init(cid: Self.cid(0), priority: 1), .init(cid: Self.cid(1), priority: 5),
                            .init(cid: Self.cid(2), priority: 3), .init(cid: Self.cid(3), priority: 5),
                            .init(cid: Self.cid(4), priority: -7)],
                           from: "a", sizes: Self.sizes(0..<5, size: 100))
        let ordered = engine.nextBatch()
        let order = try #require(ordered).tasks.map(\.cid)
        #expect(order == [1, 3, 2, 0, 4].map(Self.cid))
    }

    @Test func cancelsAndFullWantlists() throws {
        var engine = Engine()
        try engine.receive(Self.wantBlocks(0..<4), from: "a", sizes: Self.sizes(0..<4, size: 100))
        try engine.receive([.cancel(Self.cid(1)), .cancel(Self.cid(9))], from: "a", sizes: [:])
        #expect(engine.queuedCount("a") == 3)
        // A full wantlist replaces everything not in it.
        try engine.receive([.init(cid: Self.cid(3)), .init(cid: Self.cid(5))], full: true, from: "a",
                           sizes: Self.sizes(3..<6, size: 100))
        let r5 = engine.nextBatch()
        #expect(try #require(r5).tasks.map(\.cid) == [Self.cid(3), Self.cid(5)])
        // Cancel after queueing but before the batch: nothing goes out.
        try engine.receive(Self.wantBlocks(6..<7), from: "a", sizes: Self.sizes(6..<7, size: 100))
        try engine.receive([.cancel(Self.cid(6))], from: "a", sizes: [:])
        let r6 = engine.nextBatch()
        #expect(r6 == nil)
        // A want-have does not downgrade a queued want-block.
        try engine.receive([.init(cid: Self.cid(7))], from: "a", sizes: Self.sizes(7..<8, size: 5000))
        try engine.receive([.init(cid: Self.cid(7), wantType: .have)], from: "a", sizes: Self.sizes(7..<8, size: 5000))
        let r7 = engine.nextBatch()
        #expect(try #require(r7).tasks == [.block(Self.cid(7), size: 5000, sendDontHave: false)])
    }

    @Test func peersAreServedRoundRobin() throws {
        var engine = Engine(configuration: .init(maxOutstandingBytes: 1 << 30, maxBatchBytes: 1 << 20))
        let block = 256 * 1024
        try engine.receive(Self.wantBlocks(0..<40), from: "a", sizes: Self.sizes(0..<40, size: block))
        try engine.receive(Self.wantBlocks(100..<140), from: "b", sizes: Self.sizes(100..<140, size: block))
        var served: [String] = []
        for _ in 0..<4 {
            let maybe = engine.nextBatch()
        let batch = try #require(maybe)
            #expect(batch.tasks.count == 4, "1 MiB of 256 KiB blocks")
            served.append(batch.peer)
        }
        #expect(served == ["a", "b", "a", "b"])
        // A third peer joins and gets its turn after the current round.
        try engine.receive(Self.wantBlocks(200..<201), from: "c", sizes: Self.sizes(200..<201, size: block))
        served = (0..<4).compactMap { _ in engine.nextBatch()?.peer }
        #expect(served == ["a", "b", "c", "a"])
        // A lone block larger than a batch still goes (alone).
        try engine.receive(Self.wantBlocks(300..<302), from: "d", sizes: Self.sizes(300..<302, size: 2 << 20))
        while let batch = engine.nextBatch() {
            if batch.peer == "d" { #expect(batch.tasks.count == 1) }
        }
    }

    @Test func outstandingBytesAreCappedPerPeer() throws {
        var engine = Engine(configuration: .init(maxOutstandingBytes: 2 << 20, maxBatchBytes: 1 << 20))
        let block = 512 * 1024
        try engine.receive(Self.wantBlocks(0..<16), from: "a", sizes: Self.sizes(0..<16, size: block))
        let one = engine.nextBatch(), two = engine.nextBatch()
        let first = try #require(one)
        let second = try #require(two)
        #expect(first.pendingBytes == 14 * block && second.pendingBytes == 12 * block)
        #expect(engine.outstandingBytes("a") == first.cost + second.cost)
        let r8 = engine.nextBatch()
        #expect(r8 == nil, "a is at its cap")
        // Another peer is not held back by a's cap.
        try engine.receive(Self.wantBlocks(50..<51), from: "b", sizes: Self.sizes(50..<51, size: block))
        let r9 = engine.nextBatch()
        #expect(r9?.peer == "b")
        engine.written(first.cost, to: "a")
        let r10 = engine.nextBatch()
        #expect(r10?.peer == "a")
        let r11 = engine.nextBatch()
        #expect(r11 == nil)
    }

    @Test func wantlistIsCappedPerPeer() throws {
        var engine = Engine(configuration: .init(maxWantlistEntries: 4096))
        try engine.receive(Self.wantBlocks(0..<10), from: "good", sizes: Self.sizes(0..<10, size: 10))
        try engine.receive(Self.wantBlocks(0..<4096), from: "bad", sizes: [:])
        #expect(engine.wantCount("bad") == 4096)
        // Re-wanting known CIDs does not grow the list.
        try engine.receive(Self.wantBlocks(0..<100), from: "bad", sizes: [:])
        #expect(throws: BitswapError.limitExceeded) {
            try engine.receive(Self.wantBlocks(4096..<4097), from: "bad", sizes: [:])
        }
        #expect(engine.wantCount("bad") == 0, "the offender's ledger is dropped")
        let r12 = engine.nextBatch()
        #expect(r12?.peer == "good")
    }
}
