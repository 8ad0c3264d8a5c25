// The I/O around the router: a stream per peer each way, the heartbeat,
// validation and local delivery. Format: formats/pubsub.md, section 6.

import Logging
import NIOCore
import P2P
import Synchronization

extension PubSub {
    // MARK: Peers and streams

    /// The peer's inbound stream: its RPCs until it ends. The peer joins the
    /// router at once (our RPCs to it wait in its sender until our own stream is open).
    func serve(_ stream: P2PStream, protocolID: PubSubProtocol) async throws {
        let peer = stream.remotePeer
        let actions = state.withLock { state in
            state.stopped ? GossipActions<PeerID>() : addPeer(peer, protocolID: protocolID, in: &state)
        }
        perform(actions)
        do {
            while true {
                let rpc: PubSubRPC
                do {
                    guard let frame = try await stream.readLengthPrefixed(maxLength: configuration.limits.maxRPCSize)
                    else { break }
                    rpc = try PubSubRPC(decoding: frame.readableBytesView, limits: configuration.limits)
                } catch let error as PubSubError {
                    state.withLock { $0.statistics.refusedRPCs += 1 }
                    throw error
                } catch let error as P2PError where error == .limitExceeded || error == .malformed {
                    state.withLock { $0.statistics.refusedRPCs += 1 }
                    throw error
                }
                let now = ContinuousClock.now
                let actions = state.withLock { state -> GossipActions<PeerID> in
                    guard !state.stopped else { return .init() }
                    state.statistics.received += rpc.messages.count
                    let actions = state.router.receive(rpc, from: peer, now: now, messageID: messageID)
                    if actions.graylisted { state.statistics.graylistedRPCs += 1 }
                    state.statistics.duplicates += rpc.messages.count - actions.validate.count
                    return actions
                }
                perform(actions)
            }
        } catch {
            if !(error is CancellationError) { logger.debug("pubsub: stream from \(peer) ended: \(error)") }
            throw error
        }
    }

    /// Adds `peer` with a sender that opens our stream to it.
    func addPeer(_ peer: PeerID, protocolID: PubSubProtocol, in state: inout State) -> GossipActions<PeerID> {
        guard state.senders[peer] == nil else { return .init() }
        let sender = PeerSender(peer: peer, protocolID: protocolID, capacity: configuration.maxQueuedRPCs, owner: self)
        state.senders[peer] = sender
        // The IP address (without port) for the colocation penalty.
        let address = host.connections(to: peer).first?.remoteAddress?.components.first?.valueText
        return state.router.addPeer(peer, protocolID: protocolID, address: address)
    }

    /// A peer whose stream failed or that disconnected leaves the router.
    func dropPeer(_ peer: PeerID, sender: PeerSender) {
        let dropped = state.withLock { state -> Bool in
            guard state.senders[peer] === sender else { return false }
            state.senders[peer] = nil
            state.router.removePeer(peer)
            return true
        }
        if dropped { sender.close() }
    }

    /// The heartbeat: new connected peers that announce a pubsub protocol
    /// join, disconnected ones leave, then the router's heartbeat.
    func tick() {
        let now = ContinuousClock.now
        let connected = Set(host.peers())
        var speaking: [PeerID: PubSubProtocol] = [:]
        for peer in connected {
            guard let protocols = host.peerstore.info(peer)?.protocols else { continue }
            if let best = PubSubProtocol.allCases.first(where: { protocols.contains($0.rawValue) }) { speaking[peer] = best }
        }
        var gone: [PeerSender] = []
        let actions = state.withLock { state -> GossipActions<PeerID> in
            guard !state.stopped else { return .init() }
            var actions = GossipActions<PeerID>()
            for (peer, protocolID) in speaking where state.senders[peer] == nil {
                actions.merge(addPeer(peer, protocolID: protocolID, in: &state))
            }
            for (peer, sender) in state.senders where !connected.contains(peer) {
                state.senders[peer] = nil
                state.router.removePeer(peer)
                gone.append(sender)
            }
            actions.merge(state.router.heartbeat(now: now))
            return actions
        }
        for sender in gone { sender.close() }
        perform(actions)
    }

    // MARK: Actions

    func perform(_ actions: GossipActions<PeerID>) {
        guard !actions.isEmpty else { return }
        if !actions.send.isEmpty {
            let senders = state.withLock { $0.senders }
            for (peer, rpc) in actions.send {
                guard let sender = senders[peer] else { continue }
                if !sender.enqueue(rpc.encoded()) { state.withLock { $0.statistics.droppedRPCs += 1 } }
            }
        }
        for item in actions.validate { validate(item.id, item.message, from: item.from) }
        if !actions.exchangedPeers.isEmpty {
            // Without signed peer records PX carries no addresses; peers we already know can be dialed.
            for bytes in actions.exchangedPeers {
                guard let peer = try? PeerID(bytes: bytes), peer != host.peerID,
                      !host.peerstore.addresses(peer).isEmpty, !host.peers().contains(peer) else { continue }
                Task { [host] in _ = try? await host.newStream(to: peer, protocol: PubSubProtocol.meshsub11.rawValue) }
            }
        }
    }

    /// Signature policy first, then the topic's validator; the router forwards accepted messages.
    func validate(_ id: [UInt8], _ message: PubSubMessage, from peer: PeerID) {
        let policy = configuration.signaturePolicy
        let validator = state.withLock { $0.validators[message.topic] }
        Task {
            var result = ValidationResult.accept
            do {
                try SignedMessages.verify(message, policy: policy)
            } catch {
                state.withLock { $0.statistics.invalidSignatures += 1 }
                logger.debug("pubsub: dropped a message from \(peer): \(error)")
                result = .reject
            }
            if result == .accept, let validator { result = await validator(message, peer) }
            let (actions, local) = state.withLock { state -> (GossipActions<PeerID>, [AsyncStream<Message>.Continuation]) in
                guard !state.stopped else { return (.init(), []) }
                switch result {
                case .accept: break
                case .reject: state.statistics.rejected += 1
                case .ignore: state.statistics.ignored += 1
                }
                let local = result == .accept ? Array(state.subscribers[message.topic]?.values ?? [:].values) : []
                return (state.router.validated(id, result), local)
            }
            deliver(message, id: id, from: peer, to: local)
            perform(actions)
        }
    }

    func deliver(_ message: PubSubMessage, id: [UInt8], from peer: PeerID,
                 to subscribers: [AsyncStream<Message>.Continuation]) {
        guard !subscribers.isEmpty else { return }
        let delivered = Message(topic: message.topic, data: message.data, from: message.from.flatMap { try? PeerID(bytes: $0) },
                                seqno: message.seqno, id: id, receivedFrom: peer)
        for subscriber in subscribers { subscriber.yield(delivered) }
        state.withLock { $0.statistics.delivered += subscribers.count }
    }
}

extension GossipActions {
    mutating func merge(_ other: GossipActions) {
        for (peer, rpc) in other.send {
            edit(peer) { merged in
                merged.subscriptions += rpc.subscriptions
                merged.messages += rpc.messages
                if let control = rpc.control {
                    var into = merged.control ?? PubSubRPC.Control()
                    into.ihave += control.ihave
                    into.iwant += control.iwant
                    into.graft += control.graft
                    into.prune += control.prune
                    into.idontwant += control.idontwant
                    merged.control = into
                }
            }
        }
        validate += other.validate
        exchangedPeers += other.exchangedPeers
        graylisted = graylisted || other.graylisted
    }
}

/// Our stream to one peer: RPCs queued in order, written by one task that
/// opens the stream first. A full queue drops new RPCs (counted).
final class PeerSender: Sendable {
    let peer: PeerID
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(peer: PeerID, protocolID: PubSubProtocol, capacity: Int, owner: PubSub) {
        self.peer = peer
        let (queue, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        self.continuation = continuation
        let host = owner.host
        let writer = Task { [weak owner, weak self] in
            do {
                let stream = try await host.newStream(to: peer, protocol: protocolID.rawValue)
                for await rpc in queue { try await stream.writeLengthPrefixed(rpc) }
                await stream.close()
            } catch {
                owner?.logger.debug("pubsub: stream to \(peer) failed: \(error)")
                if let owner, let self { owner.dropPeer(peer, sender: self) }
            }
        }
        task.withLock { $0 = writer }
    }

    /// Queues `rpc`; false when the queue is full.
    func enqueue(_ rpc: [UInt8]) -> Bool {
        if case .enqueued = continuation.yield(rpc) { return true }
        return false
    }

    func close() {
        continuation.finish()
    }
}
