// Answering queries (server mode): one stream carries any number of
// requests, each answered in turn. Format: formats/dht.md, section 7.

import Foundation
import Multiformats
import NIOCore
import P2P

extension DHT {
    /// Serves `stream` until the peer ends it, goes idle or sends something malformed.
    func serve(_ stream: P2PStream) async throws {
        let peer = stream.remotePeer
        let idle = TimeAmount(configuration.streamIdleTimeout)
        let maxSize = configuration.limits.maxMessageSize
        while true {
            let frame: ByteBuffer?
            do {
                frame = try await withTimeout(idle) { try await stream.readLengthPrefixed(maxLength: maxSize) }
            } catch let error as P2PError where error == .timeout {
                await stream.close()
                return
            }
            guard let frame else {
                await stream.close()
                return
            }
            let request: DHTMessage
            do {
                request = try DHTMessage(decoding: frame.readableBytesView, limits: configuration.limits)
            } catch {
                state.withLock { $0.statistics.requestsRefused += 1 }
                stream.reset()
                throw error
            }
            let response = await answer(request, from: peer)
            state.withLock { $0.statistics.requestsServed += 1 }
            if let response {
                try await stream.writeLengthPrefixed(response.encoded())
            } else if request.kind == .putValue {
                // A refused record: reset, as Kubo does on a handler error, so the sender does not wait.
                stream.reset()
                return
            }
        }
    }

    /// The answer to one request (nil for ADD_PROVIDER, which has none).
    public func answer(_ request: DHTMessage, from peer: PeerID) async -> DHTMessage? {
        switch request.kind {
        case .ping:
            return request
        case .findNode:
            var closer = closerPeers(to: request.key, for: peer)
            if let target = try? PeerID(bytes: request.key), target != peer, !closer.contains(where: { $0.id == target.bytes }) {
                if target == host.peerID {
                    closer = [localPeer]
                } else if !host.peerstore.addresses(target).isEmpty {
                    closer.insert(entry(target), at: 0)
                }
            }
            return DHTMessage(kind: .findNode, key: request.key, closerPeers: closer)
        case .getProviders:
            var response = DHTMessage(kind: .getProviders, key: request.key, closerPeers: closerPeers(to: request.key, for: peer))
            guard (try? Multihash(bytes: request.key)) != nil else { return response }
            let providers = (try? datastore.providers(of: request.key, now: Self.unixNow(),
                                                      limit: configuration.maxProvidersPerAnswer)) ?? []
            response.providerPeers = providers.map { record in
                if record.provider == host.peerID { return localPeer }
                let known = host.peerstore.addresses(record.provider)
                let addresses = known.isEmpty ? record.addresses : known
                return DHTMessage.Peer(id: record.provider.bytes, addresses: addresses.map(\.bytes))
            }
            return response
        case .addProvider:
            await storeProviders(request, from: peer)
            return nil
        case .getValue:
            var response = DHTMessage(kind: .getValue, key: request.key, closerPeers: closerPeers(to: request.key, for: peer))
            if let record = localRecord(request.key) {
                response.record = DHTMessage.Record(key: record.key, value: record.value,
                                                    timeReceived: Self.rfc3339(record.receivedAt))
            }
            return response
        case .putValue:
            guard let record = request.record, record.key == request.key else {
                state.withLock { $0.statistics.recordsRefused += 1 }
                return nil
            }
            do {
                try RecordValidator.validate(key: record.key, value: record.value)
                try await datastore.putRecord(StoredRecord(key: record.key, value: record.value, receivedAt: Self.unixNow()))
                state.withLock { $0.statistics.recordsStored += 1 }
                return request   // go-libp2p-kad-dht echoes the request
            } catch {
                state.withLock { $0.statistics.recordsRefused += 1 }
                logger.debug("dht: refused a record from \(peer): \(error)")
                return nil
            }
        }
    }

    /// ADD_PROVIDER: only the sender may announce itself, with addresses, within its quota.
    func storeProviders(_ request: DHTMessage, from peer: PeerID) async {
        guard (try? Multihash(bytes: request.key)) != nil else { return }
        let expiry = Self.unixNow() + UInt64(configuration.providerTTL.components.seconds)
        for announced in request.providerPeers {
            // As Kubo: the sender only, and only with an address to reach it at.
            let addresses = announced.addresses.compactMap { try? Multiaddr(bytes: $0) }
            let accepted = state.withLock { state -> Bool in
                let keys = state.providedBy[peer] ?? [:]
                guard announced.id == peer.bytes, !addresses.isEmpty,
                      keys[request.key] != nil || keys.count < configuration.maxProvidersPerPeer
                else {
                    state.statistics.providersIgnored += 1
                    return false
                }
                state.providedBy[peer, default: [:]][request.key] = expiry
                state.statistics.providersStored += 1
                return true
            }
            guard accepted else { continue }
            host.peerstore.addAddresses(addresses, for: peer)
            try? await datastore.addProvider(ProviderRecord(key: request.key, provider: peer, addresses: addresses, expiresAt: expiry))
        }
    }

    /// A stored record, or for `/pk/` keys the public key the peerstore knows.
    func localRecord(_ key: [UInt8]) -> StoredRecord? {
        if let stored = try? datastore.record(for: key) { return stored }
        guard key.starts(with: RecordValidator.publicKeyPrefix),
              let peer = try? PeerID(bytes: key.dropFirst(RecordValidator.publicKeyPrefix.count)) else { return nil }
        let publicKey = peer == host.peerID ? host.identity.publicKey : host.peerstore.info(peer)?.publicKey
        guard let publicKey else { return nil }
        return StoredRecord(key: key, value: publicKey.protobuf, receivedAt: Self.unixNow())
    }

    /// The k table peers closest to `key`, leaving out the asker.
    func closerPeers(to key: [UInt8], for asker: PeerID) -> [DHTMessage.Peer] {
        let nearest = state.withLock {
            $0.table.nearest(to: KademliaKey(hashing: key), count: configuration.bucketSize, excluding: [asker])
        }
        return nearest.map { entry($0.peer) }.filter { !$0.addresses.isEmpty }
    }

    static func rfc3339(_ seconds: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

extension TimeAmount {
    /// NIO's time amount for a Swift duration (to the nanosecond).
    init(_ duration: Duration) {
        let parts = duration.components
        self = .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
}
