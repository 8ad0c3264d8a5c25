// Where the DHT keeps what must survive a restart: provider records, value
// records and the routing table's peers. Times are Unix seconds, so expiry
// holds across restarts. Format: formats/dht.md, section 5.

import P2P
import Synchronization

/// "`peer` can provide the content whose multihash is `key`, until `expiresAt`."
public struct ProviderRecord: Hashable, Sendable {
    public var key: [UInt8]
    public var provider: PeerID
    public var addresses: [Multiaddr]
    /// Unix seconds.
    public var expiresAt: UInt64
    public init(key: [UInt8], provider: PeerID, addresses: [Multiaddr], expiresAt: UInt64) {
        self.key = key
        self.provider = provider
        self.addresses = addresses
        self.expiresAt = expiresAt
    }
}

/// A value record as stored: what PUT_VALUE sent and when it arrived.
public struct StoredRecord: Hashable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    /// Unix seconds.
    public var receivedAt: UInt64
    public init(key: [UInt8], value: [UInt8], receivedAt: UInt64) {
        self.key = key
        self.value = value
        self.receivedAt = receivedAt
    }
}

/// A routing-table peer as saved, to seed the table after a restart.
public struct SavedPeer: Hashable, Sendable {
    public var peer: PeerID
    public var addresses: [Multiaddr]
    public init(peer: PeerID, addresses: [Multiaddr]) {
        self.peer = peer
        self.addresses = addresses
    }
}

/// The DHT's storage. `MemoryDHTStore` for tests and the simulator; the node
/// uses `RepoDHTStore`, inside the repo's LMDB environment.
public protocol DHTDatastore: Sendable {
    /// Adds or refreshes one provider of one key (keyed by both).
    func addProvider(_ record: ProviderRecord) async throws
    /// The unexpired providers of `key`, at most `limit`.
    func providers(of key: [UInt8], now: UInt64, limit: Int) throws -> [ProviderRecord]
    func putRecord(_ record: StoredRecord) async throws
    func record(for key: [UInt8]) throws -> StoredRecord?
    /// Deletes providers past their expiry and records received before
    /// `recordsBefore`. Returns how many went.
    func removeExpired(now: UInt64, recordsBefore: UInt64) async throws -> Int
    /// Replaces the saved routing-table peers.
    func saveRoutingPeers(_ peers: [SavedPeer]) async throws
    func routingPeers() throws -> [SavedPeer]
}

/// A `DHTDatastore` in memory.
public final class MemoryDHTStore: DHTDatastore {
    struct State {
        var providers: [[UInt8]: [PeerID: ProviderRecord]] = [:]
        var records: [[UInt8]: StoredRecord] = [:]
        var peers: [SavedPeer] = []
    }

    let state = Mutex(State())
    public init() {}

    public func addProvider(_ record: ProviderRecord) async throws {
        state.withLock { $0.providers[record.key, default: [:]][record.provider] = record }
    }

    public func providers(of key: [UInt8], now: UInt64, limit: Int) throws -> [ProviderRecord] {
        state.withLock { state in
            Array((state.providers[key] ?? [:]).values.filter { $0.expiresAt > now }
                .sorted { $0.provider < $1.provider }.prefix(limit))
        }
    }

    public func putRecord(_ record: StoredRecord) async throws { state.withLock { $0.records[record.key] = record } }
    public func record(for key: [UInt8]) throws -> StoredRecord? { state.withLock { $0.records[key] } }

    public func removeExpired(now: UInt64, recordsBefore: UInt64) async throws -> Int {
        state.withLock { state in
            var removed = 0
            for (key, providers) in state.providers {
                let kept = providers.filter { $0.value.expiresAt > now }
                removed += providers.count - kept.count
                state.providers[key] = kept.isEmpty ? nil : kept
            }
            let records = state.records.count
            state.records = state.records.filter { $0.value.receivedAt >= recordsBefore }
            return removed + records - state.records.count
        }
    }

    public func saveRoutingPeers(_ peers: [SavedPeer]) async throws { state.withLock { $0.peers = peers } }
    public func routingPeers() throws -> [SavedPeer] { state.withLock { $0.peers } }
}
