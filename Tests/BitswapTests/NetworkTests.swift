import Bitswap
import Blocks
import ContentCache
import Foundation
import MetricsTestKit
import Multiformats
import NIOCore
import P2P
import Synchronization
import TestSupport
import Testing
import UnixFS

/// A host listening on 127.0.0.1 with a random port, started.
func startedHost() async throws -> P2PHost {
    let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
    try await host.start()
    return host
}

extension P2PHost {
    var dialAddress: Multiaddr { listenAddresses[0].withPeerID(peerID) }
}

/// A file imported into a memory store: its root and bytes.
struct ImportedFile {
    let root: CID
    let bytes: [UInt8]
    let blockCount: Int

    init(size: Int, seed: UInt64, into store: MemoryBlockStore,
         parameters: FileImportParameters = FileImportParameters()) async throws {
        var importer = FileImporter(parameters: parameters)
        let content = rawBlock(size: size, seed: seed).bytes
        var count = 0
        var offset = 0
        while offset < content.count {
            let end = min(content.count, offset + (1 << 20))
            importer.write(Array(content[offset..<end]))
            let blocks = importer.takeBlocks()
            count += blocks.count
            try await store.put(blocks)
            offset = end
        }
        let link = importer.finish()
        let rest = importer.takeBlocks()
        count += rest.count
        try await store.put(rest)
        root = link.cid
        bytes = content
        blockCount = count
    }
}

func readFile(_ root: CID, from source: any BlockSource) async throws -> [UInt8] {
    var out: [UInt8] = []
    try await UnixFSReader(source: source).read(root) { out.append(contentsOf: $0) }
    return out
}

func sha256(_ bytes: [UInt8]) -> String { hex(Multihash(hashing: bytes, with: .sha2_256).digest) }

/// Two or more in-process hosts moving blocks over loopback libp2p connections.
/// Serialized: each test moves megabytes on a 2-core machine.
@Suite("Bitswap over libp2p", .serialized)
struct NetworkTests {
    /// A started host with a started Bitswap over `store`.
    static func node(_ store: MemoryBlockStore = MemoryBlockStore(),
                     configure: (inout Bitswap.Configuration) -> Void = { _ in }) async throws -> (P2PHost, Bitswap) {
        let host = try await startedHost()
        var configuration = Bitswap.Configuration()
        configure(&configuration)
        let bitswap = Bitswap(host: host, blocks: store, configuration: configuration)
        bitswap.start()
        return (host, bitswap)
    }

    static func shutdown(_ nodes: (P2PHost, Bitswap)...) async {
        for (host, bitswap) in nodes {
            await bitswap.stop()
            await host.shutdown()
        }
    }

    @Test func fetchesAMultiMiBFileDAG() async throws {
        let providerStore = MemoryBlockStore()
        let file = try await ImportedFile(size: 24 << 20, seed: 7, into: providerStore)
        let provider = try await Self.node(providerStore)
        let fetcher = try await Self.node()
        let fetcherStore = MemoryBlockStore()
        do {
            try await fetcher.0.connect(provider.0.dialAddress)
            let result = try await fetcher.1.fetchDAG(root: file.root, into: fetcherStore)
            #expect(result.fetchedBlocks == file.blockCount)
            #expect(result.localBlocks == 0)
            let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
            print("bitswap in-process: \(file.bytes.count >> 20) MiB DAG (\(result.fetchedBlocks) blocks) in "
                  + String(format: "%.3f s, %.0f MB/s", seconds, Double(result.fetchedBytes) / seconds / 1e6))
            #expect(fetcherStore.count == file.blockCount)
            #expect(sha256(try await readFile(file.root, from: fetcherStore)) == sha256(file.bytes))
            // Sent blocks are counted once their write returns, which may be after they arrived.
            #expect(await eventually { provider.1.statistics.blocksSent == file.blockCount })
            #expect(fetcher.1.statistics.duplicateBlocks == 0)
            #expect(fetcher.1.wantCount == 0, "every want ended")
            // A second fetch finds everything locally.
            let again = try await fetcher.1.fetchDAG(root: file.root, into: fetcherStore)
            #expect(again.fetchedBlocks == 0 && again.localBlocks == file.blockCount)
        } catch {
            await Self.shutdown(provider, fetcher)
            throw error
        }
        await Self.shutdown(provider, fetcher)
    }

    @Test func blockServiceReadsAFileThroughTheNetworkSource() async throws {
        let providerStore = MemoryBlockStore()
        let parameters = FileImportParameters(rawLeaves: true, cids: CIDBuilder(version: .v1))
        let file = try await ImportedFile(size: 8 << 20 + 12345, seed: 9, into: providerStore, parameters: parameters)
        let provider = try await Self.node(providerStore)
        let fetcher = try await Self.node()
        let local = MemoryBlockStore()
        do {
            try await fetcher.0.connect(provider.0.dialAddress)
            let service = BlockService(cache: ContentCache(byteBudget: 64 << 20), local: local,
                                       network: BitswapNetworkSource(bitswap: fetcher.1, local: local))
            let clock = ContinuousClock()
            let started = clock.now
            let bytes = try await readFile(file.root, from: service)
            print("bitswap BlockService read with read-ahead: 8 MiB in \(clock.now - started)")
            #expect(sha256(bytes) == sha256(file.bytes))
            await service.flush()  // fetched blocks are stored behind the reader
            #expect(local.count == file.blockCount, "fetched blocks were stored")
            #expect(fetcher.1.statistics.blocksReceived == file.blockCount)
            // A block nobody has: nil after the source's timeout, not an error.
            let source = BitswapNetworkSource(bitswap: fetcher.1, timeout: .milliseconds(300))
            #expect(try await source.get(rawBlock("nobody has this").cid) == nil)
        } catch {
            await Self.shutdown(provider, fetcher)
            throw error
        }
        await Self.shutdown(provider, fetcher)
    }

    @Test func movesOnAfterDontHaveToAPeerThatHasIt() async throws {
        let blocks = (0..<20).map { rawBlock(size: 3000, seed: UInt64($0)) }
        let emptyPeer = try await Self.node()
        let fullStore = MemoryBlockStore()
        try await fullStore.put(blocks)
        let fullPeer = try await Self.node(fullStore)
        let fetcher = try await Self.node { configuration in
            // Long enough that only moving on after DONT_HAVE can finish within the bound below.
            configuration.client.blockTimeout = .seconds(30)
            configuration.client.rebroadcastInterval = .seconds(30)
        }
        let into = MemoryBlockStore()
        do {
            try await fetcher.0.connect(emptyPeer.0.dialAddress)
            try await fetcher.0.connect(fullPeer.0.dialAddress)
            #expect(await eventually { fetcher.1.peers.count == 2 })
            // Each want-block goes to one of the two; the empty one answers DONT_HAVE and the
            // want moves to the other (which answered the want-have with HAVE).
            let result = try await fetcher.1.prefetch(blocks.map(\.cid), into: into)
            #expect(result.fetchedBlocks == blocks.count)
            #expect(result.elapsed < .seconds(20), "no waiting for timeouts or rebroadcasts")
            for block in blocks { #expect(try await into.get(block.cid) == block.bytes) }
        } catch {
            await Self.shutdown(emptyPeer, fullPeer, fetcher)
            throw error
        }
        await Self.shutdown(emptyPeer, fullPeer, fetcher)
    }

    @Test func aPeerThatEndsItsSideGetsLaterWantsOnANewStream() async throws {
        // Like py-libp2p after 60 s without messages: the peer answers, then closes the stream.
        let blocks = [rawBlock("first"), rawBlock("second")]
        let streams = Counter()
        let peer = try await startedHost()
        peer.handle(BitswapProtocol.v120.rawValue) { stream in
            streams.increment()
            guard let frame = try await stream.readLengthPrefixed(maxLength: 4 << 20) else { return }
            let message = try BitswapMessage(decoding: Array(frame.readableBytesView))
            let wanted = blocks.filter { block in message.wantlist.contains { $0.cid == block.cid && !$0.cancel } }
            try await stream.write(ByteBuffer(bytes: BitswapMessage(blocks: wanted).framed()))
        }
        let client = try await Self.node()
        do {
            try await client.0.connect(peer.dialAddress)
            #expect(await eventually { client.1.peers.count == 1 })
            #expect(try await client.1.get(blocks[0].cid, timeout: .seconds(10)) == blocks[0])
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await client.1.get(blocks[1].cid, timeout: .seconds(12)) == blocks[1])
            #expect(streams.value == 2)
        } catch {
            await Self.shutdown(client)
            await peer.shutdown()
            throw error
        }
        await Self.shutdown(client)
        await peer.shutdown()
    }
    @Test(arguments: [BitswapProtocol.v110, .v100])
    func olderProtocolVersionsAreNegotiated(version: BitswapProtocol) async throws {
        // A peer speaking only `version`: wants reach it as want-blocks, blocks come back in
        // that version's field (1.0.0: bare bytes, named CIDv0).
        let block = Block(hashing: Array("an old peer's dag-pb block".utf8), codec: .dagPB, version: .v0)
        let peer = try await startedHost()
        let seen = Mutex<[BitswapMessage.Entry]>([])
        peer.handle(version.rawValue) { stream in
            while let frame = try await stream.readLengthPrefixed(maxLength: 4 << 20) {
                let message = try BitswapMessage(decoding: Array(frame.readableBytesView))
                seen.withLock { $0.append(contentsOf: message.wantlist) }
                if message.wantlist.contains(where: { $0.cid == block.cid && !$0.cancel }) {
                    try await stream.write(ByteBuffer(bytes: BitswapMessage(blocks: [block]).framed(for: version)))
                }
            }
        }
        let client = try await Self.node()
        do {
            try await client.0.connect(peer.dialAddress)
            #expect(await eventually { client.1.peers.count == 1 })
            #expect(try await client.1.get(block.cid, timeout: .seconds(10)) == block)
            let entries = seen.withLock { $0 }
            #expect(entries.contains { $0.cid == block.cid && $0.wantType == .block && !$0.sendDontHave })
            #expect(!entries.contains { $0.wantType == .have }, "no want-have before 1.2.0")
        } catch {
            await Self.shutdown(client)
            await peer.shutdown()
            throw error
        }
        await Self.shutdown(client)
        await peer.shutdown()
    }
    /// Rule C11 end to end: a real Bitswap node offering only `version`
    /// holds the blocks, a 1.2.0 node holds none. Rebroadcasts and timeouts
    /// are set to a minute, so the fetch can only finish in time if every
    /// DONT_HAVE from the 1.2.0 node sends the want-block on to the old peer
    /// at once.
    @Test(arguments: [BitswapProtocol.v110, .v100])
    func anOldPeerIsAskedRightAfterADontHave(version: BitswapProtocol) async throws {
        let blocks = (0..<40).map { Block(hashing: Array("old block \($0)".utf8), codec: .dagPB, version: .v0) }
        let oldStore = MemoryBlockStore()
        try await oldStore.put(blocks)
        let old = try await Self.node(oldStore) { $0.protocols = [version] }
        let empty = try await Self.node()
        let client = try await Self.node { configuration in
            configuration.client = .init(blockTimeout: .seconds(60), rebroadcastInterval: .seconds(60))
            configuration.stallTimeout = .seconds(60)
        }
        do {
            try await client.0.connect(old.0.dialAddress)
            try await client.0.connect(empty.0.dialAddress)
            #expect(await eventually { client.1.peers.count == 2 })
            let fetched = MemoryBlockStore()
            let fetch = Task { try await client.1.prefetch(blocks.map(\.cid), into: fetched) }
            let done = await eventually(timeout: .seconds(20)) { fetched.count == blocks.count }
            if !done { fetch.cancel() }
            _ = try? await fetch.value
            #expect(done, "\(fetched.count) of \(blocks.count) blocks; the rest waited for a rebroadcast")
            #expect(empty.1.statistics.blocksSent == 0)
        } catch {
            await Self.shutdown(client, old, empty)
            throw error
        }
        await Self.shutdown(client, old, empty)
    }

    /// The other way round: a node speaking only `version` fetches from a
    /// node speaking all three; the blocks come in that version's field.
    @Test(arguments: [BitswapProtocol.v110, .v100])
    func anOldClientIsServed(version: BitswapProtocol) async throws {
        let blocks = (0..<40).map { Block(hashing: Array("served old \($0)".utf8), codec: .dagPB, version: .v0) }
        let store = MemoryBlockStore()
        try await store.put(blocks)
        let server = try await Self.node(store)
        let client = try await Self.node { $0.protocols = [version] }
        do {
            try await client.0.connect(server.0.dialAddress)
            #expect(await eventually { client.1.peers.count == 1 })
            let fetched = MemoryBlockStore()
            let result = try await client.1.prefetch(blocks.map(\.cid), into: fetched)
            #expect(result.fetchedBlocks == blocks.count)
            #expect(fetched.count == blocks.count)
            // The server counts a block once its write returned, which may be after the client has it.
            #expect(await eventually { server.1.statistics.blocksSent == blocks.count })
        } catch {
            await Self.shutdown(client, server)
            throw error
        }
        await Self.shutdown(client, server)
    }

    @Test func countersForBlocksMessagesAndRefusedStreams() async throws {
        let blocks = (0..<5).map { rawBlock(size: 2000 + $0, seed: UInt64(100 + $0)) }
        let store = MemoryBlockStore()
        try await store.put(blocks)
        let serverMetrics = TestMetrics()
        let clientMetrics = TestMetrics()
        let serverHost = try await startedHost()
        let server = Bitswap(host: serverHost, blocks: store, metricsFactory: serverMetrics)
        server.start()
        let clientHost = try await startedHost()
        let client = Bitswap(host: clientHost, blocks: MemoryBlockStore(), metricsFactory: clientMetrics)
        client.start()
        do {
            try await clientHost.connect(serverHost.dialAddress)
            _ = try await client.prefetch(blocks.map(\.cid), into: MemoryBlockStore())
            let size = blocks.reduce(0) { $0 + $1.bytes.count }
            #expect(try clientMetrics.expectCounter("tau_bitswap_blocks_received_total").totalValue == 5)
            #expect(try clientMetrics.expectCounter("tau_bitswap_received_bytes_total").totalValue == Int64(size))
            // Sent messages are counted once their write returns, which may be after the answer arrived.
            #expect(await eventually {
                ((try? clientMetrics.expectCounter("tau_bitswap_messages_total", [("direction", "out")]).totalValue) ?? 0) >= 1
            })
            #expect(await eventually {
                (try? serverMetrics.expectCounter("tau_bitswap_blocks_sent_total").totalValue) == 5
                    && (try? serverMetrics.expectCounter("tau_bitswap_sent_bytes_total").totalValue) == Int64(size)
            })
            #expect(try serverMetrics.expectCounter("tau_bitswap_messages_total", [("direction", "in")]).totalValue >= 1)
            // A malformed message: the stream is reset and counted.
            let stream = try await clientHost.newStream(to: serverHost.peerID, protocol: BitswapProtocol.v120.rawValue)
            try await stream.write(ByteBuffer(bytes: [0x02, 0x0a, 0x05]))
            #expect(await eventually {
                (try? serverMetrics.expectCounter("tau_bitswap_refused_streams_total").totalValue) == 1
            })
        } catch {
            await Self.shutdown((serverHost, server), (clientHost, client))
            throw error
        }
        await Self.shutdown((serverHost, server), (clientHost, client))
    }
    @Test func readAheadNobodyReadsIsGivenUp() async throws {
        // A file root whose leaves nobody has: reading the root wants them ahead; with no
        // reader and no answer they are cancelled after the stall timeout.
        let providerStore = MemoryBlockStore()
        let file = try await ImportedFile(size: 3 << 18 + 1, seed: 13, into: providerStore)
        let root = try #require(try await providerStore.get(file.root))
        let leaves = try #require(try DAGLinks.links(of: file.root, block: root))
        #expect(leaves.count == 4)
        for leaf in leaves { try await providerStore.delete(leaf) }
        let provider = try await Self.node(providerStore)
        let fetcher = try await Self.node { $0.stallTimeout = .seconds(1) }
        do {
            try await fetcher.0.connect(provider.0.dialAddress)
            let source = BitswapNetworkSource(bitswap: fetcher.1, timeout: .seconds(5), readAhead: 8)
            #expect(try await source.get(file.root) == root)
            #expect(fetcher.1.readAheadWants == 4)
            #expect(fetcher.1.wantCount == 4)
            #expect(await eventually { fetcher.1.readAheadWants == 0 && fetcher.1.wantCount == 0 })
        } catch {
            await Self.shutdown(provider, fetcher)
            throw error
        }
        await Self.shutdown(provider, fetcher)
    }
    @Test func stopEndsFetchesAndInboundStreams() async throws {
        let server = try await Self.node()
        let other = try await startedHost()
        let client = try await Self.node()
        do {
            let stream = try await other.newStream(to: server.0.dialAddress, protocol: BitswapProtocol.v120.rawValue)
            #expect(await eventually { server.1.inboundStreams(from: other.peerID) == 1 })
            try await client.0.connect(server.0.dialAddress)
            let pending = Task { try await client.1.get(rawBlock("nobody has it").cid, timeout: .seconds(20)) }
            #expect(await eventually { client.1.wantCount == 1 })
            await server.1.stop()
            await #expect(throws: P2PError.streamReset) { while try await stream.read() != nil {} }
            await client.1.stop()
            await #expect(throws: BitswapError.stopped) { try await pending.value }
        } catch {
            await Self.shutdown(server, client)
            await other.shutdown()
            throw error
        }
        await server.0.shutdown()
        await client.0.shutdown()
        await other.shutdown()
    }
    @Test func aWaitingWantIsServedWhenTheBlockIsAdded() async throws {
        // A want-block without sendDontHave for a block the server lacks waits in its
        // ledger (rule S4); blocksAdded sends it. The asking peer is a bare host.
        let block = rawBlock(size: 3000, seed: 21)
        let store = MemoryBlockStore()
        let server = try await Self.node(store)
        let asker = try await startedHost()
        let received = Counter()
        asker.handle(BitswapProtocol.v120.rawValue) { stream in
            while let frame = try await stream.readLengthPrefixed(maxLength: 4 << 20) {
                let message = try BitswapMessage(decoding: Array(frame.readableBytesView))
                if message.blocks.contains(block) { received.increment() }
            }
        }
        do {
            let stream = try await asker.newStream(to: server.0.dialAddress, protocol: BitswapProtocol.v120.rawValue)
            let want = BitswapMessage(wantlist: [.init(cid: block.cid, wantType: .block, sendDontHave: false)])
            try await stream.write(ByteBuffer(bytes: want.framed()))
            #expect(await eventually { server.1.wantlistSize(of: asker.peerID) == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(received.value == 0)
            try await store.put([block])
            server.1.blocksAdded([block])
            #expect(await eventually { received.value == 1 })
            #expect(server.1.wantlistSize(of: asker.peerID) == 0)
        } catch {
            await Self.shutdown(server)
            await asker.shutdown()
            throw error
        }
        await Self.shutdown(server)
        await asker.shutdown()
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
