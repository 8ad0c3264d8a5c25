// GossipSub's parameters. Format: formats/pubsub.md, section 5.

/// The pubsub protocols a peer may speak, most preferred first.
public enum PubSubProtocol: String, CaseIterable, Hashable, Sendable {
    case meshsub11 = "/meshsub/1.1.0"
    case meshsub10 = "/meshsub/1.0.0"
    case floodsub = "/floodsub/1.0.0"

    /// Whether the peer takes part in meshes and gossip (not FloodSub).
    public var isGossip: Bool { self != .floodsub }
}

/// GossipSub's router parameters; the defaults are the spec's (and
/// go-libp2p-pubsub's) unless noted.
public struct GossipConfiguration: Hashable, Sendable {
    /// Mesh degree: the peers a topic's mesh aims for (6), its low and high
    /// water marks (5 and 12: below D_lo the heartbeat grafts, above D_hi it prunes).
    public var d = 6, dLow = 5, dHigh = 12
    /// Peers outside the mesh that get IHAVE gossip each heartbeat: at least
    /// `dLazy` (6), or `gossipFactor` (0.25) of the eligible peers if more.
    public var dLazy = 6
    public var gossipFactor = 0.25
    public var heartbeatInterval: Duration = .seconds(1)
    /// A fanout (a topic published to without subscribing) is forgotten this long after its last publish: 60 s.
    public var fanoutTTL: Duration = .seconds(60)
    /// How long a pruned peer may not graft again: 60 s; after leaving a topic: 10 s.
    public var pruneBackoff: Duration = .seconds(60)
    public var unsubscribeBackoff: Duration = .seconds(10)
    /// Peers offered in a PRUNE's peer exchange (v1.1): 16.
    public var prunePeers = 16
    /// Message cache: windows kept (5) and gossiped (3), IWANT replies per message and peer (3).
    public var historyLength = 5, historyGossip = 3, gossipRetransmission = 3
    /// Seen-message IDs are kept this long: 120 s.
    public var seenTTL: Duration = .seconds(120)
    /// Publish to every peer of the topic, not only the mesh (v1.1 flood publishing): true.
    public var floodPublish = true
    /// IHAVE limits per peer and heartbeat: message IDs asked for with IWANT
    /// (5,000) and IHAVE messages taken (10).
    public var maxIHaveLength = 5000, maxIHaveMessages = 10
    /// The v1.1 peer score (section 7): on by default, with tau's parameters.
    public var scoring = true
    public var scoreParameters = PeerScoreParameters()
    public var scoreThresholds = PeerScoreThresholds()
    /// Heartbeats between opportunistic grafts: 60.
    public var opportunisticGraftTicks = 60
    /// Peers grafted by one opportunistic graft: 2.
    public var opportunisticGraftPeers = 2
    /// Topics one peer may be subscribed to (beyond them its subscriptions are ignored): 1,024.
    public var maxTopicsPerPeer = 1024

    public init() {}

    public static let standard = GossipConfiguration()
}
