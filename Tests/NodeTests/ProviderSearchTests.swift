import Bitswap
import Blocks
import DHT
import Foundation
import Multiformats
import Node
import P2P
import TestSupport
import Testing

/// Reads that no connected peer answers find providers through the DHT (formats/dht.md §8 rule 3).
@Suite struct ProviderSearchTests {
    struct Peer {
        let host: P2PHost
        let dht: DHT
        let bitswap: Bitswap
        let store: MemoryBlockStore

        static func start(maintenance: Duration = .milliseconds(100)) async throws -> Peer {
            let host = P2PHost(identity: .generate(), listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")])
            try await host.start()
            var configuration = DHT.Configuration()
            configuration.maintenanceInterval = maintenance
            let dht = DHT(host: host, configuration: configuration)
            try await dht.start()
            let store = MemoryBlockStore()
            let bitswap = Bitswap(host: host, blocks: store)
            bitswap.start()
            return Peer(host: host, dht: dht, bitswap: bitswap, store: store)
        }

        var address: Multiaddr { host.listenAddresses[0].withPeerID(host.peerID) }

        func stop() async {
            await bitswap.stop()
            await dht.stop()
            await host.shutdown()
        }
    }

    @Test func aBlockOnlyAFarProviderHasIsFetchedAfterTheSearchDelay() async throws {
        // provider — middle — reader: the reader is connected to the middle only.
        let provider = try await Peer.start(), middle = try await Peer.start()
        var peers = [provider, middle]
        defer { Task { [peers] in for peer in peers { await peer.stop() } } }
        let block = Block(hashing: Array("only the provider has this block".utf8), codec: .raw)
        try await provider.store.put([block])
        try await provider.host.connect(middle.address)
        #expect(await eventually { !provider.dht.routingTable.isEmpty })
        _ = try await provider.dht.provide(block.cid)
        await provider.host.disconnect(middle.host.peerID)

        // The reader runs no maintenance (no refresh lookups that would dial
        // the provider on their own): its only lookups are the search's.
        let reader = try await Peer.start(maintenance: .seconds(3600))
        peers.append(reader)
        try await reader.host.connect(middle.address)
        reader.dht.addPeer(middle.host.peerID)
        let plain = BitswapNetworkSource(bitswap: reader.bitswap, timeout: .seconds(1), readAhead: 0)
        // Without the search the block never comes: nobody connected has it.
        #expect(try await plain.verifiedBlock(block.cid) == nil)
        #expect(!reader.host.peers().contains(provider.host.peerID))
        let searching = ProviderSearchingSource(inner: BitswapNetworkSource(bitswap: reader.bitswap, timeout: .seconds(10), readAhead: 0),
                                                dht: reader.dht, searchDelay: .milliseconds(200))
        let fetched = try await searching.verifiedBlock(block.cid)
        #expect(fetched?.bytes == block.bytes)
        #expect(reader.host.peers().contains(provider.host.peerID))
    }
}
