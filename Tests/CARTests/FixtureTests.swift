import Blocks
import CAR
import Foundation
import Multiformats
import Testing
import TestSupport
import UnixFS

/// Every CAR of the gateway conformance suite: it imports with every block
/// verified, and exporting its roots again gives the same roots and the same
/// set of blocks.
@Suite("gateway-conformance CAR fixtures")
struct FixtureTests {
    /// The fixture whose middle block is absent on purpose.
    static let missingBlockFixture = "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car"

    @Test func fixturesArePresent() {
        #expect(Fixtures.names().count >= 15, "fixtures in \(Fixtures.directory.path)")
    }

    @Test(arguments: Fixtures.names())
    func importsWithEveryBlockVerified(_ name: String) async throws {
        let bytes = try Fixtures.bytes(name)
        let store = MemoryBlockStore()
        let pieces = AsyncStream<[UInt8]> { continuation in
            for piece in Pieces.fixed(4096).split(bytes) { continuation.yield(Array(piece)) }
            continuation.finish()
        }
        let summary = try await CARImport.load(from: pieces, into: store)
        let events = try readCAR(bytes)
        #expect(summary.roots == events.header?.roots)
        #expect(summary.roots.count == 1)
        #expect(summary.blockCount == events.blocks.count)
        for block in events.blocks {
            // Verified by the reader; and stored under its multihash.
            #expect(try await store.get(block.cid) == block.bytes)
        }
        #expect(store.count == Set(events.blocks.map(\.cid.multihash)).count)
    }

    @Test(arguments: Fixtures.names())
    func exportGivesTheSameRootsAndBlocks(_ name: String) async throws {
        let bytes = try Fixtures.bytes(name)
        let events = try readCAR(bytes)
        let roots = try #require(events.header?.roots)
        let held = Dictionary(events.blocks.map { ($0.cid, $0.bytes) }, uniquingKeysWith: { first, _ in first })
        let source = try await store(events.blocks)

        var missing = Set<CID>()
        let expected = try reachable(from: roots, in: held, missing: &missing)

        if name == Self.missingBlockFixture {
            // The fixture is incomplete on purpose: the export must stop and name the absent block.
            #expect(missing.count == 1)
            let absent = try #require(missing.first)
            let error = await #expect(throws: CARError.missingBlock) {
                try await exportCAR(roots: roots, from: source)
            }
            #expect(error?.description.contains(absent.description) == true, "\(String(describing: error))")
            return
        }
        #expect(missing.isEmpty, "blocks linked but not in \(name): \(missing)")

        let (exported, summary) = try await exportCAR(roots: roots, from: source)
        let reread = try readCAR(exported)
        #expect(reread.header?.roots == roots)
        #expect(summary.blockCount == reread.blocks.count)
        #expect(Set(reread.blocks.map(\.cid)).count == reread.blocks.count, "no duplicate sections")
        // An export holds what the roots reach (found by `reachable`, a walk
        // independent of the exporter). A fixture could hold more, bundling
        // unrelated blocks; none of the current ones does, and then only the
        // reachable subset can be compared.
        #expect(Set(reread.blocks.map(\.cid)) == expected)
        #expect(expected.isSubset(of: Set(held.keys)))
        if Set(held.keys) == expected {
            // The fixtures were written by `ipfs dag export`: depth-first, first
            // seen, one copy each. Ours are the same bytes, order included.
            #expect(exported == bytes, "\(name): export differs from the fixture")
        }
    }
}
