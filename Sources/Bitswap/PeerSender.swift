// One peer's outbound Bitswap stream: everything this node sends the peer
// (wantlist entries, cancels, blocks, presences) goes through it, in order.
// Format: formats/bitswap.md, section 5 (rules N1-N4).

import Blocks
import Multiformats
import NIOCore
import P2P
import Synchronization

/// Sends messages to one peer over one outbound stream, opened on first use
/// (protocols tried newest first) and reopened once when a write fails. The
/// stream is read too: py-libp2p answers on the stream a wantlist came on.
final class PeerSender: Sendable {
    enum Item: Sendable {
        case entries([BitswapMessage.Entry])
        case batch(ServerEngine<PeerID>.Batch)
    }

    private struct State {
        var queue: [Item] = []
        var running = false
        var stream: P2PStream?
        var version: BitswapProtocol?
        var closed = false
    }

    let peer: PeerID
    private let state = Mutex(State())
    private let owner: Bitswap

    init(peer: PeerID, owner: Bitswap) {
        self.peer = peer
        self.owner = owner
    }

    func enqueue(_ item: Item) {
        enum Outcome { case started, queued, dropped }
        let outcome = state.withLock { state -> Outcome in
            guard !state.closed else { return .dropped }
            state.queue.append(item)
            if state.running { return .queued }
            state.running = true
            return .started
        }
        switch outcome {
        case .started: Task { await self.run() }
        case .queued: break
        case .dropped: if case .batch(let batch) = item { owner.written(batch.cost, to: peer) }
        }
    }

    /// Stops sending: queued items are dropped, the stream is reset.
    func close() {
        let (stream, dropped) = state.withLock { state -> (P2PStream?, [Item]) in
            state.closed = true
            defer {
                state.stream = nil
                state.queue = []
            }
            return (state.stream, state.queue)
        }
        stream?.reset()
        for case .batch(let batch) in dropped { owner.written(batch.cost, to: peer) }
    }

    /// The peer closed its side of `stream` (py-libp2p does after 60 s
    /// without messages): it reads no more, so the next message opens a new one.
    func streamEnded(_ stream: P2PStream) {
        let ended = state.withLock { state -> Bool in
            guard let current = state.stream, current === stream else { return false }
            state.stream = nil
            return true
        }
        if ended { Task { await stream.close() } }
    }

    private func run() async {
        while true {
            let items = state.withLock { state -> [Item]? in
                if state.queue.isEmpty || state.closed {
                    state.running = false
                    return nil
                }
                defer { state.queue = [] }
                return state.queue
            }
            guard let items else { return }
            var entries: [BitswapMessage.Entry] = []
            for item in items {
                switch item {
                case .entries(let more): entries.append(contentsOf: more)
                case .batch(let batch):
                    if !entries.isEmpty {
                        await sendEntries(entries)
                        entries = []
                    }
                    let message = await owner.message(for: batch)
                    _ = await write(message)
                    owner.written(batch.cost, to: peer)
                }
            }
            if !entries.isEmpty { await sendEntries(entries) }
        }
    }

    private func sendEntries(_ entries: [BitswapMessage.Entry]) async {
        let limit = max(1, owner.configuration.maxEntriesPerMessage)
        var start = 0
        while start < entries.count {
            let end = min(entries.count, start + limit)
            _ = await write(BitswapMessage(wantlist: Array(entries[start..<end])))
            start = end
        }
    }

    /// Writes `message`, opening (or once reopening) the stream. False when the peer cannot be reached.
    private func write(_ message: BitswapMessage) async -> Bool {
        guard !message.isEmpty else { return true }
        for _ in 0..<2 {
            do {
                let (stream, version) = try await openStream()
                var frame = ByteBuffer()
                message.writeFramed(for: version, into: &frame)
                try await stream.write(frame)
                owner.countSent(message)
                return true
            } catch {
                let stale = state.withLock { state -> P2PStream? in
                    defer { state.stream = nil }
                    return state.stream
                }
                stale?.reset()
                owner.logger.debug("bitswap: write to \(peer) failed: \(error)")
                if state.withLock({ $0.closed }) { return false }
            }
        }
        return false
    }

    private func openStream() async throws -> (P2PStream, BitswapProtocol) {
        if let current = state.withLock({ state in state.stream.map { ($0, state.version ?? .v120) } }) {
            return current
        }
        let known = state.withLock { $0.version }
        var lastError: Error = BitswapError(.stopped, "no Bitswap protocol")
        for version in known.map({ [$0] }) ?? owner.configuration.protocols {
            do {
                let stream = try await owner.host.newStream(to: peer, protocol: version.rawValue)
                let closed = state.withLock { state -> Bool in
                    if state.closed { return true }
                    state.stream = stream
                    state.version = version
                    return false
                }
                if closed {
                    stream.reset()
                    throw BitswapError(.stopped, "sender closed")
                }
                owner.readReplies(on: stream, version: version, sender: self)
                owner.peerSpeaks(peer, version)
                return (stream, version)
            } catch let error as P2PError where error == .protocolNotSupported {
                lastError = error
                continue
            }
        }
        throw lastError
    }
}
