import Bitswap
import Blocks
import Multiformats
import Testing

/// The client's want logic, without sockets or clocks.
@Suite("Bitswap want manager")
struct WantManagerTests {
    typealias Manager = WantManager<String>
    static let start = ContinuousClock.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    static func kinds(_ actions: Manager.Actions) -> [String: [String]] {
        actions.entries.mapValues { entries in
            entries.map { entry in
                entry.cancel ? "cancel" : entry.wantType == .block ? "block" : "have"
            }
        }
    }

    static func manager(peers: [String], timeout: Double = 5, rebroadcast: Double = 2) -> Manager {
        var manager = Manager(configuration: .init(blockTimeout: .milliseconds(Int(timeout * 1000)),
                                                   rebroadcastInterval: .milliseconds(Int(rebroadcast * 1000))))
        for peer in peers { _ = manager.peerConnected(peer, now: at(0)) }
        return manager
    }

    @Test func wantBlockToOnePeerWantHaveToTheRest() throws {
        var manager = Self.manager(peers: ["a", "b", "c"])
        let block = rawBlock("x")
        let actions = manager.want([block.cid], now: Self.at(0))
        let kinds = Self.kinds(actions)
        #expect(kinds.values.filter { $0 == ["block"] }.count == 1)
        #expect(kinds.values.filter { $0 == ["have"] }.count == 2)
        #expect(actions.entries.values.allSatisfy { $0.allSatisfy(\.sendDontHave) })
        let chosen = try #require(manager.blockPeer(for: block.cid))
        #expect(kinds[chosen] == ["block"])
        // Wanting it again sends nothing.
        let r1 = manager.want([block.cid], now: Self.at(0))
        #expect(r1.isEmpty)
    }

    @Test func noPeersThenAPeerConnects() {
        var manager = Self.manager(peers: [])
        let block = rawBlock("x")
        let r2 = manager.want([block.cid], now: Self.at(0))
        #expect(r2.isEmpty)
        let actions = manager.peerConnected("a", now: Self.at(1))
        #expect(Self.kinds(actions) == ["a": ["block"]])
        let more = manager.peerConnected("b", now: Self.at(1))
        #expect(Self.kinds(more) == ["b": ["have"]])
    }

    /// Rule C11: a 1.0.0/1.1.0 peer never gets a want-have (it would be
    /// dropped on the wire) and is asked for the block as soon as the
    /// presence-speaking peers have said DONT_HAVE, not after a rebroadcast.
    @Test func peersWithoutPresencesAreAskedForBlocks() throws {
        var manager = Self.manager(peers: ["new"])
        _ = manager.peerConnected("old", sendsPresences: false, now: Self.at(0))
        let blocks = (0..<8).map { rawBlock("block \($0)") }
        let asked = manager.want(blocks.map(\.cid), now: Self.at(0))
        #expect(!(asked.entries["old"] ?? []).contains { $0.wantType == .have }, "no want-have to an old peer")
        // The new peer lacks every block: each goes to the old peer at once.
        for block in blocks where manager.blockPeer(for: block.cid) == "new" {
            let moved = manager.received(from: "new", blocks: [], presences: [.init(cid: block.cid, type: .dontHave)],
                                         now: Self.at(0.1))
            #expect(Self.kinds(moved) == ["old": ["block"]])
        }
        #expect(blocks.allSatisfy { manager.blockPeer(for: $0.cid) == "old" })
        let done = manager.received(from: "old", blocks: blocks, presences: [], now: Self.at(0.2))
        #expect(done.delivered.count == blocks.count)

        // A peer taken for 1.2.0 whose stream was negotiated at 1.1.0: wants
        // waiting for its HAVE ask it for the block.
        var late = Self.manager(peers: ["new", "old"])
        let block = rawBlock("late")
        _ = late.want([block.cid], now: Self.at(0))
        let first = try #require(late.blockPeer(for: block.cid))
        let second = first == "new" ? "old" : "new"
        _ = late.received(from: first, blocks: [], presences: [.init(cid: block.cid, type: .dontHave)], now: Self.at(0.1))
        #expect(late.blockPeer(for: block.cid) == nil, "waits for a HAVE from \(second)")
        let fixed = late.peerSendsNoPresences(second, now: Self.at(0.2))
        #expect(Self.kinds(fixed) == [second: ["block"]])
        #expect(late.peerSendsNoPresences(second, now: Self.at(0.3)).isEmpty, "once")
    }

    @Test func movesOnAfterDontHave() throws {
        var manager = Self.manager(peers: ["a", "b", "c"])
        let block = rawBlock("x")
        _ = manager.want([block.cid], now: Self.at(0))
        let first = try #require(manager.blockPeer(for: block.cid))
        let others = ["a", "b", "c"].filter { $0 != first }
        // One of the others says HAVE, then the first says DONT_HAVE: the want-block moves to it.
        let r3 = manager.received(from: others[1], blocks: [], presences: [.init(cid: block.cid, type: .have)],
                                 now: Self.at(0.1))
        #expect(r3.isEmpty)
        let moved = manager.received(from: first, blocks: [], presences: [.init(cid: block.cid, type: .dontHave)],
                                     now: Self.at(0.2))
        #expect(Self.kinds(moved) == [others[1]: ["block"]])
        #expect(manager.blockPeer(for: block.cid) == others[1])
        // It says DONT_HAVE too (it lost the block): no candidate left until a HAVE.
        let none = manager.received(from: others[1], blocks: [], presences: [.init(cid: block.cid, type: .dontHave)],
                                    now: Self.at(0.3))
        #expect(none.isEmpty)
        #expect(manager.blockPeer(for: block.cid) == nil)
        let have = manager.received(from: others[0], blocks: [], presences: [.init(cid: block.cid, type: .have)],
                                    now: Self.at(0.4))
        #expect(Self.kinds(have) == [others[0]: ["block"]])
        // The block arrives: delivered; everyone else asked gets a cancel.
        let done = manager.received(from: others[0], blocks: [block], presences: [], now: Self.at(0.5))
        #expect(done.delivered == [block])
        #expect(Self.kinds(done) == [first: ["cancel"], others[1]: ["cancel"]])
        #expect(!manager.isWanted(block.cid))
    }

    @Test func movesOnAfterTimeoutOfASilentPeer() throws {
        var manager = Self.manager(peers: ["a", "b"], timeout: 5, rebroadcast: 60)
        let block = rawBlock("x")
        _ = manager.want([block.cid], now: Self.at(0))
        let first = try #require(manager.blockPeer(for: block.cid))
        let second = first == "a" ? "b" : "a"
        _ = manager.received(from: second, blocks: [], presences: [.init(cid: block.cid, type: .have)],
                             now: Self.at(0.1))
        let r4 = manager.tick(now: Self.at(4.9))
        #expect(r4.isEmpty)
        let moved = manager.tick(now: Self.at(5.0))
        #expect(Self.kinds(moved) == [second: ["block"]])
        #expect(manager.blockPeer(for: block.cid) == second)
    }

    @Test func aBusyPeerDoesNotTimeOut() throws {
        var manager = Self.manager(peers: ["a"], timeout: 5, rebroadcast: 60)
        let blocks = (0..<3).map { rawBlock("b\($0)") }
        _ = manager.want(blocks.map(\.cid), now: Self.at(0))
        // The peer keeps delivering other blocks: the last want does not time out.
        _ = manager.received(from: "a", blocks: [blocks[0]], presences: [], now: Self.at(4))
        _ = manager.received(from: "a", blocks: [blocks[1]], presences: [], now: Self.at(8))
        let r5 = manager.tick(now: Self.at(12))
        #expect(r5.isEmpty)
        #expect(manager.blockPeer(for: blocks[2].cid) == "a")
        // Silent for 5 s: moved on (nowhere to go), then rebroadcast later.
        _ = manager.tick(now: Self.at(13))
        #expect(manager.blockPeer(for: blocks[2].cid) == nil)
    }

    @Test func rebroadcastsWantsNobodyIsAskedFor() throws {
        var manager = Self.manager(peers: ["a", "b"], timeout: 5, rebroadcast: 2)
        let block = rawBlock("x")
        _ = manager.want([block.cid], now: Self.at(0))
        for peer in ["a", "b"] {
            _ = manager.received(from: peer, blocks: [], presences: [.init(cid: block.cid, type: .dontHave)],
                                 now: Self.at(0.5))
        }
        #expect(manager.blockPeer(for: block.cid) == nil)
        let r6 = manager.tick(now: Self.at(1.5))
        #expect(r6.isEmpty)
        let r7 = manager.tick(now: Self.at(2.0))
        let again = Self.kinds(r7)
        #expect(again.values.sorted { $0[0] < $1[0] } == [["block"], ["have"]])
        #expect(manager.blockPeer(for: block.cid) != nil)
        // A want that has a block peer is not rebroadcast.
        let r8 = manager.tick(now: Self.at(4.1))
        #expect(r8.isEmpty)
    }

    @Test func disconnectMovesOn() throws {
        var manager = Self.manager(peers: ["a", "b"])
        let block = rawBlock("x")
        _ = manager.want([block.cid], now: Self.at(0))
        let first = try #require(manager.blockPeer(for: block.cid))
        let second = first == "a" ? "b" : "a"
        _ = manager.received(from: second, blocks: [], presences: [.init(cid: block.cid, type: .have)], now: Self.at(0.1))
        let moved = manager.peerDisconnected(first, now: Self.at(0.2))
        #expect(Self.kinds(moved) == [second: ["block"]])
        #expect(manager.connectedPeers == [second])
    }

    @Test func unwantedAndWrongHashBlocksMarkThePeer() throws {
        var manager = Self.manager(peers: ["a", "b"])
        let wanted = rawBlock("wanted")
        _ = manager.want([wanted.cid], now: Self.at(0))
        // Bytes that do not hash to the CID asked for are named by their own hash: nobody asked for that.
        let forged = CIDPrefix(wanted.cid).block(for: Array("forged".utf8))
        let bad = manager.received(from: "a", blocks: [forged], presences: [], now: Self.at(0.1))
        #expect(bad.misbehaving == ["a"])
        #expect(bad.delivered.isEmpty)
        #expect(manager.isWanted(wanted.cid))
        // A block never asked of this peer at all.
        let r9 = manager.received(from: "b", blocks: [rawBlock("other")], presences: [], now: Self.at(0.2))
        #expect(r9.misbehaving == ["b"])
        // Late duplicates from asked peers are dropped quietly.
        _ = manager.received(from: "a", blocks: [wanted], presences: [], now: Self.at(0.3))
        let late = manager.received(from: "b", blocks: [wanted], presences: [], now: Self.at(0.4))
        #expect(late.isEmpty)
        let again = manager.received(from: "a", blocks: [wanted], presences: [], now: Self.at(0.5))
        #expect(again.isEmpty)
        // A peer asked for a cancelled want may still send it.
        let cancelled = rawBlock("cancelled")
        _ = manager.want([cancelled.cid], now: Self.at(1))
        let cancels = manager.cancel([cancelled.cid], now: Self.at(1.1))
        #expect(Self.kinds(cancels) == ["a": ["cancel"], "b": ["cancel"]])
        let r10 = manager.received(from: "a", blocks: [cancelled], presences: [], now: Self.at(1.2))
        #expect(r10.isEmpty)
    }

    @Test func blocksAreDeliveredUnderTheCIDTheyWereWantedBy() throws {
        var manager = Self.manager(peers: ["a"])
        let v0 = Block(hashing: [0x0a, 0x00], codec: .dagPB, version: .v0)
        _ = manager.want([v0.cid], now: Self.at(0))
        let asV1 = Block(cid: v0.cid.v1, bytes: v0.bytes)
        let actions = manager.received(from: "a", blocks: [asV1], presences: [], now: Self.at(0.1))
        #expect(actions.delivered == [v0])
    }

    @Test func preferredPeerIsTheOneThatDelivers() throws {
        var manager = Self.manager(peers: ["a", "b", "c"])
        for i in 0..<3 {
            let block = rawBlock("warm \(i)")
            _ = manager.want([block.cid], now: Self.at(0))
            _ = manager.received(from: "c", blocks: [block], presences: [], now: Self.at(0.1))
        }
        for i in 0..<5 {
            let block = rawBlock("next \(i)")
            _ = manager.want([block.cid], now: Self.at(1))
            #expect(manager.blockPeer(for: block.cid) == "c")
        }
    }
}
