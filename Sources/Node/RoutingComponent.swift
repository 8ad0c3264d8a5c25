// The DHT inside the node: its lifecycle, the provide strategy, service
// announcements, and provider search for reads no connected peer answers.
// Format: formats/dht.md, section 8.

import Blocks
import DHT
import Logging
import Multiformats
import P2P
import Repo
import UnixFS

/// Runs the DHT; announces the node's content (per `dht.provide`) and
/// services, again every reprovide interval, and new roots as they are
/// pinned (also a pin of blocks the repo already held).
final class DHTComponent: NodeComponent {
    let name = "dht"
    let dht: DHT
    let repo: Repo
    let strategy: String
    let services: [String]
    let logger: Logger
    private let announcer = LockedTask()
    private let provided = LockedValue<Set<CID>>([])
    private let wake = LockedValue<AsyncStream<Void>.Continuation?>(nil)

    init(dht: DHT, repo: Repo, strategy: String, services: [String], logger: Logger) {
        self.dht = dht
        self.repo = repo
        self.strategy = strategy
        self.services = services
        self.logger = logger
    }

    var address: String? { nil }

    func start() async throws {
        do { try await dht.start() } catch {
            throw ServiceStartError(service: name, reason: "\(error)")
        }
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wake.value = continuation
        // New blocks may come with new pins: look again (coalesced; never on the writer thread).
        repo.observeAddedBlocks { _ in continuation.yield() }
        repo.observeAddedPins { _ in continuation.yield() }
        announcer.set(Task { [self] in await announce(changes: changes) })
    }

    func stop() async {
        wake.value?.finish()
        await announcer.cancelAndWait()
        await dht.stop()
    }

    /// Announces once the first peers are known, then after each change and
    /// every reprovide interval.
    func announce(changes: AsyncStream<Void>) async {
        let interval = dht.configuration.reprovideInterval
        let ticker = Task { [wake] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                provided.value = []   // reprovide everything
                wake.value?.yield()
            }
        }
        defer { ticker.cancel() }
        // Wait for a routing table: providing into an empty one reaches nobody.
        while !Task.isCancelled, dht.routingTable.isEmpty { try? await Task.sleep(for: .milliseconds(250)) }
        wake.value?.yield()
        for await _ in changes {
            guard !Task.isCancelled else { return }
            let wanted = Set(services.map(dht.serviceKey)).union((try? await contentToProvide()) ?? [])
            let fresh = wanted.subtracting(provided.value)
            guard !fresh.isEmpty else { continue }
            var done: Set<CID> = []
            // Provide in batches of 8 lookups at a time; failures are tried again at the next pass.
            let batch = Array(fresh)
            for start in stride(from: 0, to: batch.count, by: 8) {
                await withTaskGroup(of: CID?.self) { group in
                    for cid in batch[start..<min(start + 8, batch.count)] {
                        group.addTask { (try? await self.dht.provide(cid)) != nil ? cid : nil }
                    }
                    for await cid in group { if let cid { done.insert(cid) } }
                }
            }
            provided.value.formUnion(done)
            logger.info("dht: provided \(done.count) of \(fresh.count) keys (strategy \(strategy))")
            if done.count < fresh.count { wake.value?.yield() }
            // Passes at most every 5 s: with `pinned` or `all` each walks the repo.
            try? await Task.sleep(for: .seconds(5))
        }
    }

    /// The CIDs the strategy announces (provider records name multihashes,
    /// so a block's raw CID stands for every CID of the same hash).
    func contentToProvide() async throws -> Set<CID> {
        switch strategy {
        case "none": return []
        case "roots": return Set(try repo.pins(.recursive).map(\.cid))
        case "all": return Set(try await repo.blocks.allMultihashes().map { CID.v1(.raw, $0) })
        default:   // pinned: every block reachable from a pin
            var seen = Set<CID>()
            var queue = try repo.pins().map(\.cid)
            while let cid = queue.popLast() {
                guard !cid.isIdentity, seen.insert(cid).inserted else { continue }
                guard let bytes = try await repo.blocks.get(cid) else { continue }
                queue.append(contentsOf: (try? DAGLinks.links(of: cid, block: bytes)) ?? [])
            }
            return seen
        }
    }
}

/// A network source that, when a block has not arrived within
/// `searchDelay` (1 s, as boxo's provider search delay), asks the DHT for
/// providers and connects to them; Bitswap then asks the new peers.
public struct ProviderSearchingSource: VerifiedBlockSource {
    public let inner: any VerifiedBlockSource
    public let dht: DHT
    public let searchDelay: Duration
    /// Providers connected per search: 3.
    public let providersPerSearch: Int

    public init(inner: any VerifiedBlockSource, dht: DHT, searchDelay: Duration = .seconds(1), providersPerSearch: Int = 3) {
        self.inner = inner
        self.dht = dht
        self.searchDelay = searchDelay
        self.providersPerSearch = providersPerSearch
    }

    public func get(_ cid: CID) async throws -> [UInt8]? { try await verifiedBlock(cid)?.bytes }

    public func has(_ cid: CID) async throws -> Bool { try await inner.has(cid) }

    public func verifiedBlock(_ cid: CID) async throws -> Block? {
        let (dht, delay, count) = (dht, searchDelay, providersPerSearch)
        let search = Task {
            try await Task.sleep(for: delay)
            let providers = try await dht.findProviders(cid, limit: count)
            for provider in providers where provider.peer != dht.host.peerID && dht.host.connections(to: provider.peer).isEmpty {
                dht.host.peerstore.addAddresses(provider.addresses, for: provider.peer)
                for address in provider.addresses {
                    if (try? await dht.host.connect(address.withPeerID(provider.peer))) != nil { break }
                }
            }
        }
        defer { search.cancel() }
        return try await inner.verifiedBlock(cid)
    }
}
