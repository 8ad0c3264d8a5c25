// Bitswap's streams: performing the state machines' actions, receiving
// messages, serving batches, the timer. Format: formats/bitswap.md.

import Blocks
import Logging
import Multiformats
import NIOCore
import P2P
import Synchronization
import UnixFS

extension Bitswap {
    // MARK: Performing state-machine actions

    func perform(_ actions: WantManager<PeerID>.Actions) {
        guard !actions.isEmpty else { return }
        let now = ContinuousClock.now
        let (deliveries, senders) = state.withLock { state -> ([(Mailbox, Block)], [(PeerSender, [BitswapMessage.Entry])]) in
            var deliveries: [(Mailbox, Block)] = []
            for block in actions.delivered {
                let ids = state.waiting.removeValue(forKey: block.cid.multihash) ?? []
                var regular = false
                for id in ids where id != Self.readAheadID {
                    if let box = state.mailboxes[id] {
                        deliveries.append((box, block))
                        regular = true
                    }
                }
                if ids.contains(Self.readAheadID) {
                    state.readAhead.delivered(block.cid.multihash, bytes: block.bytes.count, now: now)
                    if !regular { state.readAhead.store(block, budget: configuration.readAheadBytes) }
                }
            }
            var senders: [(PeerSender, [BitswapMessage.Entry])] = []
            guard !state.stopped else { return (deliveries, []) }
            for (peer, entries) in actions.entries {
                senders.append((Self.sender(for: peer, in: &state, owner: self), entries))
            }
            for peer in actions.misbehaving {
                state.statistics.misbehavingPeers += 1
                metrics.misbehavingPeers.increment()
                state.server.dropPeer(peer)
            }
            return (deliveries, senders)
        }
        for (box, block) in deliveries { box.put(block) }
        for (sender, entries) in senders { sender.enqueue(.entries(entries)) }
        for peer in actions.misbehaving {
            logger.warning("bitswap: \(peer) sent a block nobody asked it for (or with the wrong hash); disconnecting")
            Task { await host.disconnect(peer) }
        }
    }

    static func sender(for peer: PeerID, in state: inout State, owner: Bitswap) -> PeerSender {
        if let existing = state.senders[peer] { return existing }
        let sender = PeerSender(peer: peer, owner: owner)
        state.senders[peer] = sender
        return sender
    }

    // MARK: Receiving

    /// Reads messages from a Bitswap stream until it ends. Throws (the host
    /// then resets the stream) on an oversized or malformed message, a
    /// wantlist over the cap, or an unwanted block.
    func serve(_ stream: P2PStream, version: BitswapProtocol) async throws {
        do {
            while let frame = try await stream.readLengthPrefixed(maxLength: configuration.limits.maxMessageSize) {
                let message = try BitswapMessage(decoding: frame, limits: configuration.limits)
                try await process(message, from: stream.remotePeer)
            }
        } catch {
            if error is BitswapError || (error as? P2PError).map({ $0 == .limitExceeded || $0 == .malformed }) == true {
                metrics.refusedStreams.increment()
            }
            if !(error is CancellationError) {
                logger.debug("bitswap: stream from \(stream.remotePeer) closed: \(error)")
            }
            throw error
        }
    }

    /// Reads the replies a peer writes on a stream this node opened. When
    /// the peer ends its side, the sender stops using the stream.
    func readReplies(on stream: P2PStream, version: BitswapProtocol, sender: PeerSender) {
        Task { [self] in
            do {
                try await serve(stream, version: version)
                sender.streamEnded(stream)
            } catch {
                stream.reset()
            }
        }
    }

    func process(_ message: BitswapMessage, from peer: PeerID) async throws {
        let now = ContinuousClock.now
        state.withLock { $0.statistics.messagesReceived += 1 }
        metrics.messagesIn.increment()
        if !message.blocks.isEmpty || !message.presences.isEmpty {
            let actions = state.withLock { state -> WantManager<PeerID>.Actions in
                let actions = state.wants.received(from: peer, blocks: message.blocks, presences: message.presences,
                                                   now: now)
                state.statistics.blocksReceived += actions.delivered.count
                state.statistics.bytesReceived += actions.delivered.reduce(0) { $0 + $1.bytes.count }
                state.statistics.duplicateBlocks += message.blocks.count - actions.delivered.count
                return actions
            }
            let bytes = actions.delivered.reduce(0) { $0 + $1.bytes.count }
            metrics.blocksReceived.increment(by: actions.delivered.count)
            metrics.bytesReceived.increment(by: bytes)
            metrics.duplicateBlocks.increment(by: message.blocks.count - actions.delivered.count)
            perform(actions)
            if actions.misbehaving.contains(peer) {
                throw BitswapError(.unwantedBlock, "from \(peer)")
            }
        }
        if !message.wantlist.isEmpty || message.full {
            let sizes = await localSizes(message.wantlist.compactMap { $0.cancel ? nil : $0.cid })
            try state.withLock { state throws(BitswapError) in
                try state.server.receive(message.wantlist, full: message.full, from: peer, sizes: sizes)
            }
            wakeContinuation.yield()
        }
    }

    // MARK: Serving

    func runPump() async {
        for await _ in wakeStream {
            while true {
                let next = state.withLock { state -> (ServerEngine<PeerID>.Batch, PeerSender)? in
                    guard !state.stopped, let batch = state.server.nextBatch() else { return nil }
                    return (batch, Self.sender(for: batch.peer, in: &state, owner: self))
                }
                guard let (batch, sender) = next else { break }
                sender.enqueue(.batch(batch))
            }
        }
    }

    /// The message answering a batch: blocks read now (a block gone since
    /// the lookup becomes DONT_HAVE when asked for), presences.
    func message(for batch: ServerEngine<PeerID>.Batch) async -> BitswapMessage {
        var message = BitswapMessage(pendingBytes: Int32(clamping: batch.pendingBytes))
        let found = await localBlocks(batch.tasks.compactMap {
            if case .block(let cid, _, _) = $0 { return cid }
            return nil
        })
        for task in batch.tasks {
            switch task {
            case .block(let cid, _, let sendDontHave):
                if let bytes = found[cid] {
                    message.blocks.append(Block(cid: cid, bytes: bytes))
                } else if sendDontHave {
                    message.presences.append(.init(cid: cid, type: .dontHave))
                }
            case .have(let cid): message.presences.append(.init(cid: cid, type: .have))
            case .dontHave(let cid): message.presences.append(.init(cid: cid, type: .dontHave))
            }
        }
        return message
    }

    /// A batch's bytes left (or will never leave): the peer may get more.
    func written(_ cost: Int, to peer: PeerID) {
        state.withLock { $0.server.written(cost, to: peer) }
        wakeContinuation.yield()
    }

    func countSent(_ message: BitswapMessage) {
        let bytes = message.blocks.reduce(0) { $0 + $1.bytes.count }
        metrics.messagesOut.increment()
        metrics.blocksSent.increment(by: message.blocks.count)
        metrics.bytesSent.increment(by: bytes)
        state.withLock { state in
            state.statistics.messagesSent += 1
            state.statistics.blocksSent += message.blocks.count
            state.statistics.bytesSent += message.blocks.reduce(0) { $0 + $1.bytes.count }
        }
    }

    /// Tells the server that blocks were added locally: peers that wanted
    /// them (without asking for DONT_HAVE) are sent them.
    public func blocksAdded(_ added: [Block]) {
        let answered = state.withLock { state in
            added.reduce(0) { $0 + state.server.blockAdded($1.cid, size: $1.bytes.count) }
        }
        guard answered > 0 else { return }
        metrics.wantsAnsweredOnAdd.increment(by: answered)
        wakeContinuation.yield()
    }

    /// A stream to `peer` was negotiated at `version`; before 1.2.0 the
    /// want manager stops counting on its presences.
    func peerSpeaks(_ peer: PeerID, _ version: BitswapProtocol) {
        guard !version.hasPresences else { return }
        let actions = state.withLock { state in
            state.stopped ? .init() : state.wants.peerSendsNoPresences(peer, now: .now)
        }
        perform(actions)
    }

    // MARK: Timer

    func tick() {
        let now = ContinuousClock.now
        let connected = Set(host.peers())
        // Whether each peer that announced Bitswap (identify) announced 1.2.0.
        var presences: [PeerID: Bool] = [:]
        for peer in connected {
            guard let protocols = host.peerstore.info(peer)?.protocols,
                  protocols.contains(where: { $0.hasPrefix("/ipfs/bitswap") }) else { continue }
            presences[peer] = protocols.contains(BitswapProtocol.v120.rawValue)
        }
        let speaking = Set(presences.keys)
        let (actions, boxes, gone) = state.withLock { state -> (WantManager<PeerID>.Actions, [Mailbox], [PeerSender]) in
            guard !state.stopped else { return (.init(), [], []) }
            var actions = WantManager<PeerID>.Actions()
            state.inboundPeers.formIntersection(connected)
            let known = Set(state.wants.connectedPeers)
            for peer in speaking.union(state.inboundPeers) where !known.contains(peer) {
                actions.merge(state.wants.peerConnected(peer, sendsPresences: presences[peer] ?? true, now: now))
            }
            var gone: [PeerSender] = []
            for peer in known where !connected.contains(peer) {
                actions.merge(state.wants.peerDisconnected(peer, now: now))
            }
            for (peer, sender) in state.senders where !connected.contains(peer) {
                state.server.dropPeer(peer)
                state.senders[peer] = nil
                gone.append(sender)
            }
            for peer in state.server.peers where !connected.contains(peer) { state.server.dropPeer(peer) }
            // Read-ahead nobody read for the stall timeout (the reader went away) is given up.
            let stale = state.readAhead.expire(olderThan: now - configuration.stallTimeout)
            if !stale.isEmpty { actions.merge(Self.unwant(stale, id: Self.readAheadID, in: &state)) }
            actions.merge(state.wants.tick(now: now))
            return (actions, Array(state.mailboxes.values), gone)
        }
        for sender in gone { sender.close() }
        for box in boxes { box.expire(now: now) }
        perform(actions)
    }
}
