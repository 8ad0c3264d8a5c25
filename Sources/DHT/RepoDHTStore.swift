// The DHT's datastore inside the repo: three service databases in the
// repo's LMDB environment. Layouts: formats/dht.md, section 5.

import P2P
import Repo

/// Provider records, value records and routing-table peers in the repo.
///
/// ```
/// dht-providers-v1  key:   u8 multihash length M | M multihash bytes | peer ID bytes
///                   value: u64 LE expiry (Unix s) | u8 address count | (u16 LE length | address bytes)*
/// dht-records-v1    key:   record key bytes
///                   value: u64 LE received at (Unix s) | value bytes
/// dht-peers-v1      key:   peer ID bytes
///                   value: u8 address count | (u16 LE length | address bytes)*
/// ```
public final class RepoDHTStore: DHTDatastore {
    public static let providersDatabase = ServiceDatabase(name: "dht-providers", version: 1)
    public static let recordsDatabase = ServiceDatabase(name: "dht-records", version: 1)
    public static let peersDatabase = ServiceDatabase(name: "dht-peers", version: 1)
    /// What a repo must register for this store.
    public static let databases = [providersDatabase, recordsDatabase, peersDatabase]

    let repo: Repo

    /// - Throws: `RepoError.unknownDatabase` unless the repo was opened with `databases`.
    public init(repo: Repo) throws {
        for database in Self.databases where !repo.serviceDatabases.contains(database) {
            throw RepoError(.unknownDatabase, "\(database): open the repo with RepoDHTStore.databases")
        }
        self.repo = repo
    }

    static func providerPrefix(_ key: [UInt8]) -> [UInt8] { [UInt8(truncatingIfNeeded: key.count)] + key }

    public func addProvider(_ record: ProviderRecord) async throws {
        guard record.key.count <= 255 else { throw DHTError(.limitExceeded, "provider key of \(record.key.count) bytes") }
        let key = Self.providerPrefix(record.key) + record.provider.bytes
        var encoded = Self.littleEndian(record.expiresAt)
        Self.appendAddresses(record.addresses, to: &encoded)
        let value = encoded
        try await repo.write { transaction in try transaction.put(value, forKey: key, in: Self.providersDatabase) }
    }

    public func providers(of key: [UInt8], now: UInt64, limit: Int) throws -> [ProviderRecord] {
        guard key.count <= 255 else { return [] }
        let prefix = Self.providerPrefix(key)
        return try repo.read { snapshot in
            var found: [ProviderRecord] = []
            try snapshot.forEach(in: Self.providersDatabase, from: prefix) { rawKey, rawValue in
                guard rawKey.starts(with: prefix), found.count < limit else { return false }
                guard rawValue.count >= 8, Self.readUInt64(rawValue, at: 0) > now,
                      let peer = try? PeerID(bytes: rawKey.dropFirst(prefix.count)) else { return true }
                found.append(ProviderRecord(key: key, provider: peer, addresses: Self.readAddresses(rawValue, from: 8),
                                            expiresAt: Self.readUInt64(rawValue, at: 0)))
                return true
            }
            return found
        }
    }

    public func putRecord(_ record: StoredRecord) async throws {
        let value = Self.littleEndian(record.receivedAt) + record.value
        let key = record.key
        try await repo.write { transaction in try transaction.put(value, forKey: key, in: Self.recordsDatabase) }
    }

    public func record(for key: [UInt8]) throws -> StoredRecord? {
        guard !key.isEmpty else { return nil }
        return try repo.read { snapshot in
            try snapshot.withValue(forKey: key, in: Self.recordsDatabase) { raw -> StoredRecord? in
                guard raw.count >= 8 else { return nil }
                return StoredRecord(key: key, value: Array(raw[8...]), receivedAt: Self.readUInt64(raw, at: 0))
            } ?? nil
        }
    }

    public func removeExpired(now: UInt64, recordsBefore: UInt64) async throws -> Int {
        try await repo.write { transaction in
            var expired: [([UInt8], ServiceDatabase)] = []
            try transaction.forEach(in: Self.providersDatabase) { key, value in
                if value.count < 8 || Self.readUInt64(value, at: 0) <= now { expired.append((Array(key), Self.providersDatabase)) }
                return true
            }
            try transaction.forEach(in: Self.recordsDatabase) { key, value in
                if value.count < 8 || Self.readUInt64(value, at: 0) < recordsBefore { expired.append((Array(key), Self.recordsDatabase)) }
                return true
            }
            for (key, database) in expired { try transaction.delete(key: key, in: database) }
            return expired.count
        }
    }

    public func saveRoutingPeers(_ peers: [SavedPeer]) async throws {
        let entries = peers.map { peer -> ([UInt8], [UInt8]) in
            var value: [UInt8] = []
            Self.appendAddresses(peer.addresses, to: &value)
            return (peer.peer.bytes, value)
        }
        try await repo.write { transaction in
            var old: [[UInt8]] = []
            try transaction.forEach(in: Self.peersDatabase) { key, _ in
                old.append(Array(key))
                return true
            }
            for key in old { try transaction.delete(key: key, in: Self.peersDatabase) }
            for (key, value) in entries { try transaction.put(value, forKey: key, in: Self.peersDatabase) }
        }
    }

    public func routingPeers() throws -> [SavedPeer] {
        try repo.read { snapshot in
            var peers: [SavedPeer] = []
            try snapshot.forEach(in: Self.peersDatabase) { key, value in
                if let peer = try? PeerID(bytes: key) { peers.append(SavedPeer(peer: peer, addresses: Self.readAddresses(value, from: 0))) }
                return true
            }
            return peers
        }
    }

    // MARK: Encoding

    static func littleEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    static func readUInt64(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(raw[offset + $1]) << (8 * $1) }
    }

    static func appendAddresses(_ addresses: [Multiaddr], to bytes: inout [UInt8]) {
        let kept = addresses.prefix(255).map(\.bytes).filter { $0.count <= Multiaddr.maxBinaryLength }
        bytes.append(UInt8(kept.count))
        for address in kept {
            bytes.append(UInt8(truncatingIfNeeded: address.count))
            bytes.append(UInt8(truncatingIfNeeded: address.count >> 8))
            bytes.append(contentsOf: address)
        }
    }

    /// The addresses from `offset`; a truncated or unreadable tail is dropped.
    static func readAddresses(_ raw: UnsafeRawBufferPointer, from offset: Int) -> [Multiaddr] {
        guard raw.count > offset else { return [] }
        var position = offset + 1
        var addresses: [Multiaddr] = []
        for _ in 0..<Int(raw[offset]) {
            guard position + 2 <= raw.count else { break }
            let length = Int(raw[position]) | Int(raw[position + 1]) << 8
            position += 2
            guard position + length <= raw.count else { break }
            if let address = try? Multiaddr(bytes: raw[position..<position + length]) { addresses.append(address) }
            position += length
        }
        return addresses
    }
}
