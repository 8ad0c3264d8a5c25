// GossipSub on a libp2p host: streams, signatures, validators, local
// subscribers and the heartbeat around the pure GossipRouter.
// Format: formats/pubsub.md, section 6.

import Crypto
import Foundation
import Logging
import NIOCore
import P2P
import Synchronization

/// Publish/subscribe over `/meshsub/1.1.0`, `/meshsub/1.0.0` and `/floodsub/1.0.0`.
///
/// - `subscribe(_:)` returns an async sequence of the topic's messages
///   (ours included, as Kubo delivers them); ending the iteration (or the
///   task) leaves the topic when no other subscriber is left.
/// - `publish(_:to:)` signs with the host's identity (StrictSign) and sends.
/// - `setValidator(_:for:)` decides, per topic, whether a received message
///   is accepted (delivered and forwarded), rejected or ignored.
/// - Messages that fail the signature policy are dropped and counted.
public final class PubSub: Sendable {
    public struct Configuration: Sendable {
        public var gossip = GossipConfiguration()
        public var signaturePolicy = SignaturePolicy.strictSign
        public var limits = PubSubRPC.Limits()
        /// RPCs queued for one peer before newer ones are dropped (a peer
        /// that does not read cannot grow our memory): 512.
        public var maxQueuedRPCs = 512
        /// Messages buffered for one local subscriber before newer ones are dropped: 1,024.
        public var subscriberBuffer = 1024
        public init() {}
    }

    /// A message as delivered to a local subscriber.
    public struct Message: Sendable, Hashable {
        public var topic: String
        public var data: [UInt8]
        /// The author (nil under StrictNoSign).
        public var from: PeerID?
        public var seqno: [UInt8]?
        public var id: [UInt8]
        /// The peer it arrived from (this host for our own messages).
        public var receivedFrom: PeerID
    }

    public typealias Validator = @Sendable (PubSubMessage, PeerID) async -> ValidationResult

    public let host: P2PHost
    public let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>

    struct State: ~Copyable {
        var router: GossipRouter<PeerID>
        var senders: [PeerID: PeerSender] = [:]
        var subscribers: [String: [UInt64: AsyncStream<Message>.Continuation]] = [:]
        var validators: [String: Validator] = [:]
        var nextSubscriber: UInt64 = 1
        var seqno: UInt64
        var heartbeat: Task<Void, Never>?
        var stopped = false
        var statistics = Statistics()
    }

    /// Counters for metrics and tests.
    public struct Statistics: Sendable, Hashable {
        public var published = 0, received = 0, delivered = 0, duplicates = 0
        public var invalidSignatures = 0, rejected = 0, ignored = 0
        /// RPCs refused (malformed or over a limit; the stream is reset) and RPCs dropped on a full send queue.
        public var refusedRPCs = 0, droppedRPCs = 0
        /// RPCs ignored because their sender's score is below the graylist threshold.
        public var graylistedRPCs = 0
    }

    public init(host: P2PHost, configuration: Configuration = .init(), logger: Logger = Logger(label: "tau.pubsub")) {
        self.host = host
        self.configuration = configuration
        self.logger = logger
        // Seqnos start at the wall clock in nanoseconds, as go-libp2p-pubsub's,
        // so a restarted node does not repeat the IDs of its earlier messages.
        let start = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        state = Mutex(State(router: GossipRouter(configuration: configuration.gossip, seed: UInt64.random(in: 0...UInt64.max),
                                                 peerIDBytes: { $0.bytes }), seqno: start))
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    // MARK: Lifecycle

    /// Registers the protocol handlers and starts the heartbeat.
    public func start() {
        for protocolID in PubSubProtocol.allCases {
            host.handle(protocolID.rawValue) { [weak self] stream in
                try await self?.serve(stream, protocolID: protocolID)
            }
        }
        let interval = configuration.gossip.heartbeatInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.tick()
            }
        }
        state.withLock { $0.heartbeat = task }
    }

    /// Stops the heartbeat, closes every stream and ends every subscription.
    public func stop() {
        let (task, senders, subscribers) = state.withLock { state in
            state.stopped = true
            let subscribers = state.subscribers.values.flatMap(\.values)
            state.subscribers = [:]
            defer { state.senders = [:] }
            return (state.heartbeat, Array(state.senders.values), subscribers)
        }
        task?.cancel()
        for protocolID in PubSubProtocol.allCases { host.removeHandler(protocolID.rawValue) }
        for sender in senders { sender.close() }
        for subscriber in subscribers { subscriber.finish() }
    }

    // MARK: API

    /// The topics with local subscribers, sorted.
    public var topics: [String] { state.withLock { $0.router.subscriptions.sorted() } }

    /// Peers that speak pubsub with us; with a topic, those subscribed to it.
    public func peers(topic: String? = nil) -> [PeerID] {
        state.withLock { state in
            state.router.peers.filter { topic == nil || $0.value.topics.contains(topic!) }.keys.sorted()
        }
    }

    /// The peers in our mesh for `topic`.
    /// A peer's v1.1 score (formats/pubsub.md §7).
    public func score(of peer: PeerID) -> Double { state.withLock { $0.router.score(of: peer, now: .now) } }

    /// Sets the application-specific part of a peer's score (P5), e.g. the
    /// hoarder's trust in a member.
    public func setApplicationScore(_ value: Double, for peer: PeerID) {
        state.withLock { $0.router.setApplicationScore(peer, value) }
    }

    public func mesh(_ topic: String) -> [PeerID] { state.withLock { ($0.router.mesh[topic] ?? []).sorted() } }

    /// Sets (or, with nil, removes) the validator of `topic`.
    public func setValidator(_ validator: Validator?, for topic: String) {
        state.withLock { $0.validators[topic] = validator }
    }

    /// The messages of `topic` from now on, until the sequence is dropped or the service stops.
    public func subscribe(_ topic: String) -> AsyncStream<Message> {
        let (stream, continuation) = AsyncStream<Message>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.subscriberBuffer))
        let (id, actions) = state.withLock { state -> (UInt64, GossipActions<PeerID>) in
            guard !state.stopped else { return (0, .init()) }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[topic, default: [:]][id] = continuation
            return (id, state.router.subscribe(topic, now: .now))
        }
        guard id != 0 else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(topic, id) }
        perform(actions)
        return stream
    }

    private func unsubscribe(_ topic: String, _ id: UInt64) {
        let actions = state.withLock { state -> GossipActions<PeerID> in
            state.subscribers[topic]?[id] = nil
            guard state.subscribers[topic]?.isEmpty ?? true else { return .init() }
            state.subscribers[topic] = nil
            return state.stopped ? .init() : state.router.unsubscribe(topic, now: .now)
        }
        perform(actions)
    }

    /// Signs `data` as a message of `topic` and sends it; local subscribers get it too.
    /// - Returns: the message ID.
    @discardableResult
    public func publish(_ data: [UInt8], to topic: String) throws(PubSubError) -> [UInt8] {
        guard data.count + topic.utf8.count + 256 <= configuration.limits.maxRPCSize else {
            throw PubSubError(.limitExceeded, "message of \(data.count) bytes (limit \(configuration.limits.maxRPCSize) per RPC)")
        }
        let now = ContinuousClock.now
        let identity = host.identity
        let (message, id, actions, local) = state.withLock { state in
            state.seqno &+= 1
            let message: PubSubMessage = switch configuration.signaturePolicy {
            case .strictSign: SignedMessages.sign(data: data, topic: topic, seqno: state.seqno, author: identity)
            case .strictNoSign: PubSubMessage(data: data, topic: topic)
            }
            let id = messageID(message)
            state.statistics.published += 1
            let local = Array(state.subscribers[topic]?.values ?? [:].values)
            return (message, id, state.router.publish(message, id: id, now: now), local)
        }
        deliver(message, id: id, from: host.peerID, to: local)
        perform(actions)
        return id
    }

    /// The message ID of `message`: `from` + `seqno` when signed; for
    /// StrictNoSign (no author) the SHA-256 of the data, as Kubo's content IDs.
    func messageID(_ message: PubSubMessage) -> [UInt8] {
        message.from == nil && message.seqno == nil
            ? Array(SHA256.hash(data: message.data)) : SignedMessages.defaultID(of: message)
    }
}
