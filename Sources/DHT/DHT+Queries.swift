// Lookups: the pure `Lookup` driven over real streams, α queries at a time,
// and the operations built on it. Format: formats/dht.md, section 4.

import Multiformats
import NIOCore
import P2P
import Synchronization

/// A provider found for some content.
public struct Provider: Hashable, Sendable {
    public var peer: PeerID
    public var addresses: [Multiaddr]
}

extension DHT {
    /// Sends `request` to `peer` on a new stream and reads one answer
    /// (none for ADD_PROVIDER), within `queryTimeout`.
    func send(_ request: DHTMessage, to peer: PeerID, expectAnswer: Bool = true) async throws -> DHTMessage? {
        state.withLock { $0.statistics.queriesSent += 1 }
        let timeout = TimeAmount(configuration.queryTimeout)
        let host = self.host, protocolID = self.protocolID, limits = configuration.answerLimits
        do {
            return try await withTimeout(timeout) {
                let stream = try await host.newStream(to: peer, protocol: protocolID)
                return try await withTaskCancellationHandler {
                    do {
                        try await stream.writeLengthPrefixed(request.encoded())
                        guard expectAnswer else {
                            await stream.close()
                            return nil
                        }
                        guard let frame = try await stream.readLengthPrefixed(maxLength: limits.maxMessageSize) else {
                            throw DHTError(.malformed, "\(peer) closed the stream without answering")
                        }
                        let answer = try DHTMessage(decoding: frame.readableBytesView, limits: limits)
                        await stream.close()
                        return answer
                    } catch {
                        stream.reset()
                        throw error
                    }
                } onCancel: {
                    stream.reset()
                }
            }
        } catch {
            state.withLock { $0.statistics.queriesFailed += 1 }
            throw error
        }
    }

    /// The peers an answer names, with their addresses filed in the peerstore.
    func learn(_ peers: [DHTMessage.Peer]) -> [(PeerID, KademliaKey)] {
        peers.compactMap { entry in
            guard let peer = try? PeerID(bytes: entry.id), peer != host.peerID else { return nil }
            let addresses = entry.addresses.compactMap { try? Multiaddr(bytes: $0) }
            if !addresses.isEmpty { host.peerstore.addAddresses(addresses, for: peer) }
            return (peer, KademliaKey(hashing: entry.id))
        }
    }

    /// Runs a lookup for `target` sending `request(key)` to each peer queried;
    /// `onAnswer` sees every answer and returns true to end the lookup early.
    /// - Returns: the closest peers that answered, closest first.
    /// - Throws: `.noPeers` when the routing table is empty.
    func lookup(target: KademliaKey, request: DHTMessage,
                onAnswer: @escaping @Sendable (PeerID, DHTMessage) -> Bool = { _, _ in false }) async throws -> [PeerID] {
        let seeds = state.withLock { $0.table.nearest(to: target, count: configuration.bucketSize) }.map { ($0.peer, $0.key) }
        guard !seeds.isEmpty else { throw DHTError(.noPeers, "the routing table is empty: connect to a DHT peer first") }
        var lookup = DisjointLookup(target: target, seeds: seeds, paths: configuration.disjointPaths,
                                    resultCount: configuration.bucketSize, parallelism: configuration.parallelism,
                                    excluding: [host.peerID])
        await withTaskGroup(of: (PeerID, DHTMessage?).self) { group in
            while !Task.isCancelled {
                for peer in lookup.nextQueries() {
                    group.addTask { (peer, try? await self.send(request, to: peer)) }
                }
                guard !lookup.isFinished, let (peer, answer) = await group.next() else { break }
                guard let answer else {
                    lookup.failed(peer)
                    // A lookup cancelled by its caller says nothing about the peers it was asking.
                    if !Task.isCancelled { state.withLock { $0.table.recordFailure(peer) } }
                    continue
                }
                lookup.answered(peer, closer: learn(answer.closerPeers))
                addPeer(peer)   // it answered: a server
                if onAnswer(peer, answer) { break }
            }
            group.cancelAll()
        }
        return lookup.closest
    }

    /// The k peers closest to `key` in the network (FIND_NODE lookup).
    public func closestPeers(to key: [UInt8]) async throws -> [PeerID] {
        try await closestPeers(to: KademliaKey(hashing: key), key: key)
    }

    func closestPeers(to target: KademliaKey, key: [UInt8]) async throws -> [PeerID] {
        try await lookup(target: target, request: DHTMessage(kind: .findNode, key: key))
    }

    /// The addresses of `peer`: from the peerstore when connected, else by a
    /// FIND_NODE lookup that stops at the first answer naming it.
    /// - Throws: `.notFound` when no peer knows it.
    public func findPeer(_ peer: PeerID) async throws -> [Multiaddr] {
        if !host.connections(to: peer).isEmpty, !host.peerstore.addresses(peer).isEmpty {
            return host.peerstore.addresses(peer)
        }
        let found = Locked<[Multiaddr]>([])
        let target = peer.bytes
        _ = try await lookup(target: KademliaKey(hashing: target), request: DHTMessage(kind: .findNode, key: target)) { _, answer in
            guard let entry = answer.closerPeers.first(where: { $0.id == target }), !entry.addresses.isEmpty else { return false }
            found.set(entry.addresses.compactMap { try? Multiaddr(bytes: $0) })
            return true
        }
        let addresses = found.value
        guard !addresses.isEmpty else { throw DHTError(.notFound, "no peer in the DHT knows \(peer)") }
        return addresses
    }

    /// Up to `limit` providers of `cid`'s multihash: our own records, then a
    /// GET_PROVIDERS lookup that ends once `limit` are known.
    public func findProviders(_ cid: CID, limit: Int = 20) async throws -> [Provider] {
        let key = cid.multihash.bytes
        let collected = Locked<[PeerID: Provider]>([:])
        for record in (try? datastore.providers(of: key, now: Self.unixNow(), limit: limit)) ?? [] {
            let addresses = record.provider == host.peerID ? host.addresses : record.addresses
            collected.update { $0[record.provider] = Provider(peer: record.provider, addresses: addresses) }
        }
        if collected.value.count >= limit { return Array(collected.value.values.prefix(limit)) }
        let host = self.host
        do {
            _ = try await lookup(target: KademliaKey(hashing: key), request: DHTMessage(kind: .getProviders, key: key)) { _, answer in
                for entry in answer.providerPeers {
                    guard let peer = try? PeerID(bytes: entry.id) else { continue }
                    let addresses = entry.addresses.compactMap { try? Multiaddr(bytes: $0) }
                    if !addresses.isEmpty, peer != host.peerID { host.peerstore.addAddresses(addresses, for: peer) }
                    collected.update { $0[peer] = $0[peer] ?? Provider(peer: peer, addresses: addresses) }
                }
                return collected.value.count >= limit
            }
        } catch let error as DHTError where error == .noPeers && !collected.value.isEmpty {}
        return Array(collected.value.values.sorted { $0.peer < $1.peer }.prefix(limit))
    }

    /// Announces that this node provides `cid`: our own record, then
    /// ADD_PROVIDER to the k peers closest to its multihash.
    /// - Returns: how many peers were told.
    @discardableResult
    public func provide(_ cid: CID) async throws -> Int {
        let key = cid.multihash.bytes
        let expiry = Self.unixNow() + UInt64(configuration.providerTTL.components.seconds)
        try await datastore.addProvider(ProviderRecord(key: key, provider: host.peerID, addresses: [], expiresAt: expiry))
        let closest = try await closestPeers(to: key)
        let message = DHTMessage(kind: .addProvider, key: key, providerPeers: [localPeer])
        return await withTaskGroup(of: Bool.self) { group in
            for peer in closest {
                group.addTask {
                    do {
                        _ = try await self.send(message, to: peer, expectAnswer: false)
                        return true
                    } catch { return false }
                }
            }
            var told = 0
            for await sent in group where sent { told += 1 }
            return told
        }
    }

    /// Stores a record locally and with the k peers closest to its key.
    /// - Throws: `.invalidRecord` when its validator refuses it.
    /// - Returns: how many peers accepted it.
    @discardableResult
    public func putValue(key: [UInt8], value: [UInt8]) async throws -> Int {
        try RecordValidator.validate(key: key, value: value)
        try await datastore.putRecord(StoredRecord(key: key, value: value, receivedAt: Self.unixNow()))
        let closest = try await closestPeers(to: key)
        let message = DHTMessage(kind: .putValue, key: key, record: DHTMessage.Record(key: key, value: value))
        return await withTaskGroup(of: Bool.self) { group in
            for peer in closest {
                group.addTask { (try? await self.send(message, to: peer))?.record?.value == value }
            }
            var accepted = 0
            for await ok in group where ok { accepted += 1 }
            return accepted
        }
    }

    /// The value filed under `key`: ours, or the first valid one a GET_VALUE lookup finds.
    /// - Throws: `.notFound` when no peer has a valid one.
    public func getValue(key: [UInt8]) async throws -> [UInt8] {
        if let local = localRecord(key) { return local.value }
        let found = Locked<[UInt8]?>(nil)
        _ = try await lookup(target: KademliaKey(hashing: key), request: DHTMessage(kind: .getValue, key: key)) { _, answer in
            guard let record = answer.record, record.key.isEmpty || record.key == key,
                  (try? RecordValidator.validate(key: key, value: record.value)) != nil else { return false }
            found.set(record.value)
            return true
        }
        guard let value = found.value else { throw DHTError(.notFound, "no peer has a valid record for this key") }
        return value
    }
}

/// A value shared between a lookup's callback and its caller.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func set(_ value: Value) { storage.withLock { $0 = value } }
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}
