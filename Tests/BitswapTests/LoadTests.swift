import Bitswap
import Blocks
import Multiformats
import P2P
import Synchronization
import Testing
import TestSupport
import UnixFS

/// A store whose puts wait until the test opens it (a disk slower than the
/// network): counts the puts waiting and the blocks stored.
final class GatedStore: BlockStore {
    let inner = MemoryBlockStore()
    private let state = Mutex<(open: Bool, waiting: Int, waiters: [CheckedContinuation<Void, Never>])>((false, 0, []))

    var waitingPuts: Int { state.withLock { $0.waiting } }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func put(_ blocks: [Block]) async throws {
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state in
                if state.open { return true }
                state.waiting += 1
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
        try await inner.put(blocks)
    }

    func get(_ cid: CID) async throws -> [UInt8]? { try await inner.get(cid) }
    func has(_ cid: CID) async throws -> Bool { try await inner.has(cid) }
    func delete(_ cid: CID) async throws { try await inner.delete(cid) }
    func allMultihashes() async throws -> [Multihash] { try await inner.allMultihashes() }
}

/// Several nodes at once, and a store slower than the network.
@Suite("Bitswap under load")
struct LoadTests {
    /// One seed, four leechers fetching the same 24 MiB DAG at once: each
    /// gets every block once, the seed sends each block to each.
    @Test func oneSeedFourLeechers() async throws {
        let seedStore = MemoryBlockStore()
        let file = try await ImportedFile(size: 24 << 20, seed: 41, into: seedStore)
        let seed = try await NetworkTests.node(seedStore)
        var leechers: [(P2PHostAndBitswap)] = []
        do {
            for _ in 0..<4 {
                let leecher = try await NetworkTests.node()
                try await leecher.0.connect(seed.0.dialAddress)
                leechers.append(leecher)
            }
            let stores = (0..<4).map { _ in MemoryBlockStore() }
            let results = try await withThrowingTaskGroup(of: (Int, Bitswap.FetchResult).self) { group in
                for (index, leecher) in leechers.enumerated() {
                    group.addTask { (index, try await leecher.1.fetchDAG(root: file.root, into: stores[index])) }
                }
                var results: [Int: Bitswap.FetchResult] = [:]
                for try await (index, result) in group { results[index] = result }
                return results
            }
            for index in 0..<4 {
                #expect(results[index]?.fetchedBlocks == file.blockCount)
                #expect(sha256(try await readFile(file.root, from: stores[index])) == sha256(file.bytes))
                #expect(leechers[index].1.statistics.duplicateBlocks == 0)
            }
            #expect(await eventually { seed.1.statistics.blocksSent == 4 * file.blockCount })
        } catch {
            for leecher in leechers { await NetworkTests.shutdown(leecher) }
            await NetworkTests.shutdown(seed)
            throw error
        }
        for leecher in leechers { await NetworkTests.shutdown(leecher) }
        await NetworkTests.shutdown(seed)
    }

    /// The fetching node's store takes nothing: the fetch holds at its
    /// window plus one batch of blocks to store, wants nothing more, and
    /// the seed sends nothing more, so memory stays within that bound
    /// however large the file. Opened, the fetch completes.
    @Test func aSlowStoreHoldsTheFetchBack() async throws {
        let blocks = (0..<256).map { rawBlock(size: 256 << 10, seed: UInt64(500 + $0)) }
        let seedStore = MemoryBlockStore()
        try await seedStore.put(blocks)
        let seed = try await NetworkTests.node(seedStore)
        let fetcher = try await NetworkTests.node()
        let store = GatedStore()
        do {
            try await fetcher.0.connect(seed.0.dialAddress)
            #expect(await eventually { fetcher.1.peers.count == 1 })
            let window = 8
            let fetch = Task { try await fetcher.1.prefetch(blocks.map(\.cid), into: store, window: window) }
            // The fetch stores in batches of 8 MiB (32 blocks): the first waits
            // at the gate while the window's 8 more arrive, then nothing is wanted.
            let held = 32 + window
            let settled = await eventually(timeout: .seconds(20)) {
                store.waitingPuts == 1 && fetcher.1.statistics.blocksReceived == held && fetcher.1.wantCount == 0
            }
            #expect(settled, "received \(fetcher.1.statistics.blocksReceived), wanted \(fetcher.1.wantCount)")
            #expect(fetcher.1.statistics.bytesReceived <= held * (256 << 10) + held * 64)
            #expect(seed.1.statistics.blocksSent <= held)
            store.open()
            let result = try await fetch.value
            #expect(result.fetchedBlocks == blocks.count)
            #expect(store.inner.count == blocks.count)
        } catch {
            store.open()
            await NetworkTests.shutdown(fetcher, seed)
            throw error
        }
        await NetworkTests.shutdown(fetcher, seed)
    }
}

typealias P2PHostAndBitswap = (P2PHost, Bitswap)
